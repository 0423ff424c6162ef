"""Registration, second step: the subpixel translation between a prepared frame and the prepared reference.

The correlation is the plain (unnormalised) cross-correlation of the prepared images
(``normalization=None``): the phase-normalised one whitens the spectrum, which on faint, noisy frames gives
the noise as much weight as the stars (on the M13 frames it scatters by pixels where the plain one agrees
with star matching to a few tenths).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import fft

from stackphot.geometry import Transform


class RegistrationError(ValueError):
    """A frame cannot be registered against the reference."""


class NothingToRegisterError(RegistrationError):
    """A prepared image holds no light above the registration threshold (a blank or closed-dome frame)."""


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
        dy, dx, overlap_correlation(reference, moving, dy, dx), float(error), Transform.translation(dy, dx).overlap(moving.shape)
    )


def overlap_correlation(reference, moving, dy: float, dx: float) -> float:
    """Pearson correlation of two images where they overlap after shifting ``moving`` by the rounded shift."""
    iy, ix = int(round(dy)), int(round(dx))
    ny, nx = reference.shape
    ref = reference[max(iy, 0) : ny + min(iy, 0), max(ix, 0) : nx + min(ix, 0)]
    mov = moving[max(-iy, 0) : ny + min(-iy, 0), max(-ix, 0) : nx + min(-ix, 0)]
    if ref.size < 2:
        return 0.0
    ref, mov = (np.array(image, dtype=np.float64).ravel() for image in (ref, mov))  # copies, centred in place
    ref -= ref.mean()
    mov -= mov.mean()
    norm = math.sqrt(float(ref @ ref) * float(mov @ mov))
    return float(ref @ mov) / norm if norm > 0 else 0.0
