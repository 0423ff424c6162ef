"""A light calibrated by the masters: (light - zero level) / flat, its error map, and the pixels not to trust."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from stackphot.calibrate.masters import Master, ZeroLevel

# Bits of the MASK extension that calibration adds to ingest's (NONFINITE 1, SATURATED 2).
HOT = 4  # dark current far above the rest: a hot pixel
LOW_RESPONSE = 8  # the flat says the pixel sees little light: dead, or deep in the vignetting


@dataclass(frozen=True)
class CalibratedLight:
    data: np.ndarray  # float32, ADU of a pixel of mean response, above the zero level
    error: np.ndarray  # float32 ADU
    mask: np.ndarray  # uint8: ingest's bits and HOT, LOW_RESPONSE


def hot_pixels(dark: Master, *, nsigma: float) -> np.ndarray:
    """Pixels of a master dark whose level stands more than ``nsigma`` robust sigmas above its median."""
    from astropy.stats import mad_std

    data = dark.data
    level, spread = np.nanmedian(data), mad_std(data, ignore_nan=True)
    return np.isfinite(data) & (data > level + nsigma * max(spread, np.finfo(np.float32).tiny))


def hot_in_any(darks, shape, *, nsigma: float) -> np.ndarray:
    """The pixels hot (``hot_pixels``) in any of the master ``darks``, as a mask of ``shape``: none without darks."""
    hot = np.zeros(shape, bool)
    for dark in darks:
        hot |= hot_pixels(dark, nsigma=nsigma)
    return hot


def calibrate_light(data, mask, *, zero: ZeroLevel, flat: Master | None, gain: float, read_noise: float,
                    hot=None, min_flat: float = 0.5) -> CalibratedLight:
    """A light (``data``, ADU as stored, its ``mask``) less its ``zero`` level and divided by the ``flat``.

    The error map is made anew from the counts above the zero level (Poisson noise of the photo-electrons
    and dark electrons, read noise; the bias is no photons) and the zero level's and the flat's own errors:
    ``var = (counts / gain + (read_noise / gain)^2 + zero_error^2) / flat^2 + (value * flat_error / flat)^2``.
    ``hot`` pixels (``hot_pixels``) and those whose flat is below ``min_flat`` get their bits in the mask;
    pixels with no flat (non-finite or not positive) become NaN.
    """
    counts = np.asarray(data, dtype=np.float64)
    if zero.data is not None:
        counts = counts - zero.data
    variance = np.clip(counts, 0, None) / gain + (read_noise / gain) ** 2
    if zero.error is not None:
        variance = variance + np.square(zero.error, dtype=np.float64)
    mask = np.array(mask, dtype=np.uint8, copy=True)
    if hot is not None:
        mask[hot] |= HOT
    if flat is None:
        return CalibratedLight(counts.astype(np.float32), np.sqrt(variance).astype(np.float32), mask)
    response = np.asarray(flat.data, dtype=np.float64)
    usable = np.isfinite(response) & (response > 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        value = np.where(usable, counts / response, np.nan)
        relative = np.asarray(flat.error, dtype=np.float64) / response
        error = np.where(usable, np.sqrt(variance / response**2 + (value * relative) ** 2), np.nan)
    mask[~usable | (response < min_flat)] |= LOW_RESPONSE
    return CalibratedLight(value.astype(np.float32), error.astype(np.float32), mask)
