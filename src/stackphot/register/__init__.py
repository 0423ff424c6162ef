"""Registration: each frame's transform onto the reference, with the figures that say whether to trust it.

The stage's steps, each in its module: ``prepare`` reduces a frame to the light of its sources,
``correlate`` measures the subpixel translation against the reference by cross-correlation, ``stars``
counts the frame's stars and measures their FWHM on the way, ``select`` judges every frame against the
quality limits, and ``assess`` compares the result with a simulation's truth. ``register_frame`` is one
frame's row of the registration table: its ``stackphot.geometry.Transform`` in the table's columns, and the
quality figures.
"""

from __future__ import annotations

import numpy as np
from astropy.stats import mad_std

from stackphot.geometry import Transform
from stackphot.ingest import NONFINITE
from stackphot.register.correlate import (NothingToRegisterError, RegistrationError, Shift, measure_shift,
                                          spectrum)
from stackphot.register.prepare import (clean_for_registration, crop_region, prepare_for_registration, smooth,
                                        stretch, subtract_line_medians)
from stackphot.register.stars import StarFigures, star_figures

__all__ = ["NothingToRegisterError", "RegistrationError", "Shift", "StarFigures", "clean_for_registration",
           "crop_region", "measure_shift", "prepare_for_registration", "prepare_frame", "register_frame",
           "smooth", "spectrum", "star_figures", "stretch", "subtract_line_medians"]


def prepare_frame(data, mask, *, crop, smooth_sigma, threshold):
    """A background-subtracted frame reduced for registration as ``prepare_for_registration`` does, with its
    stars counted and their FWHM measured on the way: ``(prepared image, StarFigures)``."""
    cleaned = clean_for_registration(data, mask=(mask & NONFINITE) > 0, crop=crop)
    smoothed = smooth(cleaned, smooth_sigma)
    noise = mad_std(smoothed)
    stars = star_figures(cleaned, smoothed, noise=noise, bad=mask[crop_region(data.shape, crop)] > 0)
    return stretch(smoothed, threshold, noise), stars


def register_frame(data, mask, reference, *, crop, smooth_sigma, threshold, upsample_factor,
                   reference_spectrum=None) -> tuple[dict, str | None]:
    """One frame's row of the registration table against the prepared ``reference`` (its FFT:
    ``reference_spectrum``, computed once per batch), and a warning when the frame holds nothing to register.

    The row: the transform's columns (``stackphot.geometry.COLUMNS``), ``correlation, xcorr_error, overlap``
    and the frame's ``n_stars, fwhm``. A blank frame is no reason to stop: its transform is unknown (NaN)
    and the frame selection rejects it. A blank reference is: NothingToRegisterError.
    """
    prepared, stars = prepare_frame(data, mask, crop=crop, smooth_sigma=smooth_sigma, threshold=threshold)
    warning = None
    try:
        shift = measure_shift(reference, prepared, upsample_factor=upsample_factor,
                              reference_spectrum=reference_spectrum)
        transform = Transform.translation(shift.dy, shift.dx)
    except NothingToRegisterError as error:
        if not np.any(reference):
            raise
        warning = str(error)
        shift = Shift(dy=np.nan, dx=np.nan, correlation=0.0, xcorr_error=np.nan, overlap=0.0)
        transform = Transform.unknown()
    row = {**transform.columns(), "correlation": shift.correlation, "xcorr_error": shift.xcorr_error,
           "overlap": shift.overlap, "n_stars": stars.n_stars, "fwhm": stars.fwhm}
    return row, warning
