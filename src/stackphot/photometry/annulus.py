"""The local sky of aperture photometry: the sigma-clipped median of an annulus, for all annuli at once."""

from __future__ import annotations

import math

import numpy as np

from stackphot.numerics import box_pixels, median_over_frames

__all__ = ["MEDIAN_ERROR_FACTOR", "annulus_sky"]

# Standard error of the median of n normal values: sqrt(pi / 2) sigma / sqrt(n).
MEDIAN_ERROR_FACTOR = 1.2533


def annulus_sky(data, annulus, invalid, sigma, *, maxiters: int = 5, chunk: int = 2000):
    """Sigma-clipped median of each annulus, its standard error and the number of pixels it used.

    The statistics of photutils' ``ApertureStats(data, annulus, mask=invalid, sigma_clip=SigmaClip(sigma))``
    (the pixels whose centres lie in the annulus, clipped around the median by the standard deviation at
    most ``maxiters`` times, as astropy's ``SigmaClip`` does by default), computed for all annuli at once on
    arrays of their pixels instead of one sigma clip per source.
    """
    x, y = np.atleast_2d(annulus.positions).T
    r_in, r_out = annulus.r_in, annulus.r_out
    half = math.ceil(r_out)
    size = 2 * half + 1
    local_y, local_x = (g.ravel() for g in np.indices((size, size)))
    median, std, n_sky = (np.full(x.size, np.nan) for _ in range(3))
    for first in range(0, x.size, chunk):  # bounded memory on a large catalog
        part = slice(first, first + chunk)
        x_start = np.rint(x[part]).astype(int) - half
        y_start = np.rint(y[part]).astype(int) - half
        pixels, on_image = box_pixels(data.shape, x_start, y_start, size)
        distance2 = ((x_start[:, None] + local_x - x[part, None]) ** 2
                     + (y_start[:, None] + local_y - y[part, None]) ** 2)
        kept = on_image & ~np.take(invalid, pixels) & (distance2 >= r_in**2) & (distance2 < r_out**2)
        values = np.take(data, pixels)
        for _ in range(maxiters):
            centre, spread = _row_median(values, kept)[:, None], _row_std(values, kept)[:, None]
            still = kept & (values >= centre - sigma * spread) & (values <= centre + sigma * spread)
            if np.array_equal(still, kept):
                break
            kept = still
        median[part], std[part], n_sky[part] = _row_median(values, kept), _row_std(values, kept), kept.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):  # an annulus with no valid pixel: NaN
        median_err = MEDIAN_ERROR_FACTOR * std / np.sqrt(n_sky)
    return median, median_err, n_sky


def _row_median(values, kept):
    """Median of each row's kept values (NaN for none), as the stack's median over frames computes it."""
    return median_over_frames(np.where(kept, values, np.nan).T, kept.T, kept.sum(axis=1))


def _row_std(values, kept):
    """Standard deviation of each row's kept values (NaN for none)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        count = kept.sum(axis=1)
        mean = np.where(kept, values, 0.0).sum(axis=1) / count
        return np.sqrt(np.where(kept, (values - mean[:, None]) ** 2, 0.0).sum(axis=1) / count)
