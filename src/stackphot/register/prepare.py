"""Registration, first step: each frame reduced to the light of its sources, the image that is correlated.

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
5. an asinh stretch compresses the brightest stars above 100 times the smoothed noise, so that a few
   saturated or very bright stars do not drown the others (a plain correlation weighs each star by its flux
   squared). It starts there, not lower: flattening every star's core blunts the correlation peak and costs
   precision (the README's registration section has the figures).

Step 4 is the intensity-threshold mask, applied to the data instead of passed to skimage as a mask:
``phase_cross_correlation`` ignores ``upsample_factor`` when masks are given, which would silently lose the
subpixel precision. Saturated pixels keep their (clipped) values: a flat-topped core is the same in every
frame, while a hole cut where it saturated would depend on the star's subpixel position. Every other masked
pixel (no data, blank borders, defects, the camera's bad pixels) counts as sky, and stays out of the noise
that sets the threshold, which a wide zero-filled border would otherwise pull down.
"""

from __future__ import annotations

import numpy as np
from astropy.stats import mad_std
from scipy import ndimage

from stackphot.numerics import nanmedian, replace_outliers


# The asinh stretch is linear up to this many times the smoothed noise, logarithmic beyond (step 5 above).
STRETCH_SCALE = 100.0


def subtract_line_medians(data, *, mask=None) -> np.ndarray:
    """Subtract each row's and then each column's median (ignoring masked and NaN pixels): the banding fixed
    to detector rows and columns. A row or column masked whole (a blank border) has no median: 0."""
    work = np.array(data, dtype=np.float32)
    if mask is not None:
        work[np.asarray(mask, dtype=bool)] = np.nan
    work -= np.nan_to_num(nanmedian(work, axis=1))[:, None]
    work -= np.nan_to_num(nanmedian(work, axis=0))[None, :]
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
        Pixels without sky: no data, blank borders, defects (``register.NOT_SKY`` of the MASK extension).
        Leave saturated pixels unmasked (see the module's notes).
    crop : [y0, y1, x0, x1], optional
        Use only this detector region (the same for every frame).
    smooth_sigma : float
        Gaussian filter sigma in pixels, about the stars' sigma (FWHM / 2.355).
    threshold : float or None
        Soft threshold in units of the smoothed image's robust noise; None keeps everything (and then
        no stretch is applied either, since the stretch's scale is the threshold's noise).

    Returns
    -------
    2D float32 array, non-negative where a threshold is used; all zero where no pixel is sky.
    """
    smoothed = smooth(clean_for_registration(data, mask=mask, crop=crop), smooth_sigma)
    return stretch(smoothed, threshold, sky_noise(smoothed, mask=mask, crop=crop))


def sky_noise(smoothed, *, mask=None, crop=None) -> float:
    """Robust noise (``mad_std``) of a smoothed registration image over its sky pixels (not ``mask``, which
    is the whole frame's, cut to ``crop`` here); 0 where no pixel is sky.

    Measured on every other pixel of every other row: the smoothing has made neighbours nearly the same, so the
    other three quarters add little but time."""
    smoothed = np.asarray(smoothed)[::2, ::2]
    if mask is not None:
        rows, cols = crop_region(np.shape(mask), crop)
        smoothed = smoothed[~np.asarray(mask, dtype=bool)[rows, cols][::2, ::2]]
    return float(mad_std(smoothed)) if np.size(smoothed) else 0.0


def clean_for_registration(data, *, mask=None, crop=None) -> np.ndarray:
    """The frame's region ``crop`` with its row banding removed, no-data pixels set to 0 (sky) and isolated
    outliers replaced (see ``prepare_for_registration``)."""
    rows, cols = crop_region(np.shape(data), crop)
    region = np.asarray(data)[rows, cols]
    region_mask = None if mask is None else np.asarray(mask, dtype=bool)[rows, cols]
    cleaned = np.nan_to_num(subtract_line_medians(region, mask=region_mask), nan=0.0)
    # The outliers' threshold: the noise of a quarter of the pixels (a million on a 2048 x 2048 frame) is known
    # to a tenth of a percent, at a quarter of the time.
    return replace_outliers(cleaned, noise=mad_std(cleaned[::2, ::2]))


def smooth(cleaned, smooth_sigma: float) -> np.ndarray:
    """Gaussian smoothing to the stars' scale (a matched filter); 0 leaves the image as it is."""
    return ndimage.gaussian_filter(cleaned, smooth_sigma) if smooth_sigma else cleaned


def stretch(smoothed, threshold: float | None, noise: float | None = None) -> np.ndarray:
    """Soft threshold at ``threshold`` times the robust ``noise`` (default: ``mad_std(smoothed)``), then
    an arcsinh stretch, so the brightest stars do not dominate the correlation. None: no change. An image
    without noise (one value, or nothing but masked pixels) has nothing above any threshold: all zero."""
    if threshold is not None:
        noise = mad_std(smoothed) if noise is None else noise
        if not noise > 0:
            return np.zeros(np.shape(smoothed), np.float32)
        smoothed = np.clip(smoothed - threshold * noise, 0, None)
        smoothed = np.arcsinh(smoothed / (STRETCH_SCALE * noise))
    return np.asarray(smoothed, dtype=np.float32)
