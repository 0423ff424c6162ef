"""Registration: the subpixel shift that lines a frame up with the reference, by cross-correlation.

A raw cross-correlation of CCD frames is dominated by what does not move with the sky: row banding, hot and
dead pixels and the noise pattern are fixed to the detector and correlate perfectly at zero shift, so it
reports (0, 0) however far the pointing moved. Each frame is therefore first reduced to the light of its
sources (``prepare_for_registration``):

1. row and column medians are subtracted (banding is fixed to detector rows and columns, stars are not);
2. isolated outliers (hot and dead pixels, cosmic rays) are replaced by their 3x3 median. Only pixels far
   from their median *and* several times brighter than it are touched: a plain median filter also
   reshapes star cores, differently for each subpixel position, which biased shifts by 0.03 px;
3. a Gaussian filter matched to the stars raises their signal over the pixel noise;
4. what is below ``threshold`` times the smoothed noise is set to zero, smoothly (``max(x - t, 0)``);
5. an asinh stretch compresses the brightest stars, so that the correlation hears many stars instead of
   the few brightest (a plain correlation weighs each star by its flux squared).

Step 4 is the intensity-threshold mask, applied to the data instead of passed to skimage as a mask:
``phase_cross_correlation`` ignores ``upsample_factor`` when masks are given, which would silently lose the
subpixel precision. The correlation is the plain (unnormalised) cross-correlation of these images
(``normalization=None``): the phase-normalised one whitens the spectrum, which on faint, noisy frames gives
the noise as much weight as the stars (on the M13 frames it scatters by pixels where the plain one agrees
with star matching to a few tenths). Saturated pixels keep their (clipped) values: a flat-topped core is the
same in every frame, while a hole cut where it saturated would depend on the star's subpixel position.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from astropy.stats import mad_std
from scipy import fft, ndimage

from stackphot.numerics import replace_outliers


# The asinh stretch is linear up to this many times the smoothed noise, logarithmic beyond.
STRETCH_SCALE = 10.0


class RegistrationError(ValueError):
    """A frame cannot be registered against the reference."""


class NothingToRegisterError(RegistrationError):
    """A prepared image holds no light above the registration threshold (a blank or closed-dome frame)."""


def destripe(data, *, mask=None) -> np.ndarray:
    """Subtract each row's and then each column's median (ignoring masked and NaN pixels)."""
    work = np.array(data, dtype=np.float32)
    if mask is not None:
        work[np.asarray(mask, dtype=bool)] = np.nan
    work -= np.nan_to_num(np.nanmedian(work, axis=1, keepdims=True))
    work -= np.nan_to_num(np.nanmedian(work, axis=0, keepdims=True))
    return work


def crop_region(shape, crop) -> tuple[slice, slice]:
    """Slices of a crop region given as ``[y0, y1, x0, x1]`` (None: the whole frame), checked against the shape."""
    if crop is None:
        return slice(None), slice(None)
    y0, y1, x0, x1 = (int(v) for v in crop)
    if not (0 <= y0 < y1 <= shape[0] and 0 <= x0 < x1 <= shape[1]):
        raise ValueError(f"crop region {crop} does not fit in a frame of shape {shape}")
    return slice(y0, y1), slice(x0, x1)


def prepare_for_registration(
    data, *, mask=None, crop=None, smooth_sigma: float = 2.0, threshold: float | None = 2.0
) -> np.ndarray:
    """Reduce a background-subtracted frame to the light of its sources, for cross-correlation:
    ``stretch(smooth(clean_for_registration(...)))``.

    Parameters
    ----------
    data : 2D array
        Background-subtracted frame. NaN and masked pixels count as sky (zero).
    mask : 2D bool array, optional
        Pixels without data (non-finite). Leave saturated pixels unmasked (see the module's notes).
    crop : [y0, y1, x0, x1], optional
        Use only this detector region (the same for every frame).
    smooth_sigma : float
        Gaussian filter sigma in pixels, about the stars' sigma (FWHM / 2.355).
    threshold : float or None
        Soft threshold in units of the smoothed image's robust noise; None keeps everything (and then
        no stretch is applied either, since the stretch's scale is the threshold's noise).

    Returns
    -------
    2D float32 array, non-negative where a threshold is used.
    """
    return stretch(smooth(clean_for_registration(data, mask=mask, crop=crop), smooth_sigma), threshold)


def clean_for_registration(data, *, mask=None, crop=None) -> np.ndarray:
    """The frame's region ``crop`` with its row banding removed, no-data pixels set to 0 (sky) and isolated
    outliers replaced (see ``prepare_for_registration``)."""
    rows, cols = crop_region(np.shape(data), crop)
    region = np.asarray(data)[rows, cols]
    region_mask = None if mask is None else np.asarray(mask, dtype=bool)[rows, cols]
    return replace_outliers(np.nan_to_num(destripe(region, mask=region_mask), nan=0.0))


def smooth(cleaned, smooth_sigma: float) -> np.ndarray:
    """Gaussian smoothing to the stars' scale (a matched filter); 0 leaves the image as it is."""
    return ndimage.gaussian_filter(cleaned, smooth_sigma) if smooth_sigma else cleaned


def stretch(smoothed, threshold: float | None, noise: float | None = None) -> np.ndarray:
    """Soft threshold at ``threshold`` times the robust ``noise`` (default: ``mad_std(smoothed)``), then
    an arcsinh stretch, so the brightest stars do not dominate the correlation. None: no change."""
    if threshold is not None:
        noise = mad_std(smoothed) if noise is None else noise
        smoothed = np.clip(smoothed - threshold * noise, 0, None)
        smoothed = np.arcsinh(smoothed / (STRETCH_SCALE * noise))
    return np.asarray(smoothed, dtype=np.float32)


def padded_shape(shape) -> tuple[int, int]:
    """A fast FFT size at least as large as ``shape`` (scipy's next_fast_len)."""
    return tuple(fft.next_fast_len(int(n), real=True) for n in shape)


def spectrum(prepared, shape=None) -> np.ndarray:
    """Fourier transform of a prepared image, zero-padded to ``shape`` (default: a fast size).

    The reference's spectrum is computed once and reused for every frame.
    """
    shape = padded_shape(np.shape(prepared)) if shape is None else shape
    return fft.fft2(prepared, s=shape)


@dataclass
class Shift:
    """The shift to apply to a frame to line it up with the reference, and how much to trust it.

    ``dy, dx`` follow ``phase_cross_correlation(reference, moving)``: shifting the frame by them lines it
    up. ``correlation`` is the correlation coefficient of the two prepared images at the found shift (1 for
    identical light, near 0 for unrelated frames); ``xcorr_error`` is skimage's translation-invariant error;
    ``overlap`` the fraction of the frame that stays on the reference after the shift.
    """

    dy: float
    dx: float
    correlation: float
    xcorr_error: float
    overlap: float


def measure_shift(reference, moving, *, upsample_factor: int = 100, reference_spectrum=None) -> Shift:
    """Shift of a prepared frame against the prepared reference, to 1/``upsample_factor`` pixel.

    Pass ``reference_spectrum`` (from ``spectrum(reference)``) to reuse the reference's FFT across frames.
    Both images are zero-padded to a fast FFT size, which also keeps light from wrapping around the edges.

    Raises
    ------
    NothingToRegisterError
        If either prepared image holds no light (nothing above the threshold).
    RegistrationError
        If the shapes differ.
    """
    from skimage.registration import phase_cross_correlation

    reference = np.asarray(reference, dtype=np.float32)
    moving = np.asarray(moving, dtype=np.float32)
    if reference.shape != moving.shape:
        raise RegistrationError(f"frame shape {moving.shape} differs from the reference's {reference.shape}")
    for name, image in (("reference", reference), ("frame", moving)):
        if not np.any(image):
            raise NothingToRegisterError(f"the {name} has nothing above the registration threshold; lower register.threshold")
    if reference_spectrum is None:
        reference_spectrum = spectrum(reference)
    moving_spectrum = fft.fft2(moving, s=reference_spectrum.shape)
    shift, error, _ = phase_cross_correlation(
        reference_spectrum, moving_spectrum, upsample_factor=upsample_factor, space="fourier", normalization=None
    )
    dy, dx = (float(v) for v in shift)
    return Shift(
        dy, dx, overlap_correlation(reference, moving, dy, dx), float(error), overlap_fraction(moving.shape, dy, dx)
    )


def overlap_fraction(shape, dy: float, dx: float) -> float:
    """Fraction of a frame's area that lands on the reference after shifting by (dy, dx)."""
    ny, nx = shape
    return float(max(ny - abs(dy), 0) * max(nx - abs(dx), 0) / (ny * nx))


def overlap_correlation(reference, moving, dy: float, dx: float) -> float:
    """Pearson correlation of two images where they overlap after shifting ``moving`` by the rounded shift."""
    iy, ix = int(round(dy)), int(round(dx))
    ny, nx = reference.shape
    ref = reference[max(iy, 0) : ny + min(iy, 0), max(ix, 0) : nx + min(ix, 0)]
    mov = moving[max(-iy, 0) : ny + min(-iy, 0), max(-ix, 0) : nx + min(-ix, 0)]
    if ref.size < 2 or np.std(ref) == 0 or np.std(mov) == 0:
        return 0.0
    return float(np.corrcoef(ref.ravel(), mov.ravel())[0, 1])
