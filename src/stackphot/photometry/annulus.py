"""The local sky of aperture photometry: the sigma-clipped median of an annulus, for all annuli at once."""

from __future__ import annotations

import math

import numpy as np

from stackphot.numerics import box_pixels

__all__ = ["MEDIAN_ERROR_FACTOR", "annulus_sky"]

# Standard error of the median of n normal values: sqrt(pi / 2) sigma / sqrt(n).
MEDIAN_ERROR_FACTOR = 1.2533


def annulus_sky(data, annulus, invalid, sigma, *, maxiters: int = 5, chunk: int = 2000):
    """Sigma-clipped median of each annulus, its standard error and the number of pixels it used.

    The statistics of photutils' ``ApertureStats(data, annulus, mask=invalid, sigma_clip=SigmaClip(sigma))``
    (the pixels whose centres lie in the annulus, clipped around the median by the standard deviation at
    most ``maxiters`` times, as astropy's ``SigmaClip`` does by default), computed for all annuli at once on
    arrays of their pixels instead of one sigma clip per source.

    Each annulus's values are sorted once: what a clip keeps is then a run of them, so each iteration only moves
    the run's ends, and the run's median is its middle value and its mean and deviation come from running sums.
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
        values = np.where(kept, np.take(data, pixels), np.nan).astype(float, copy=False)
        values.sort(axis=1)  # NaN last: each row's kept values are its first ones
        count = kept.sum(axis=1)
        median[part], std[part], n_sky[part] = _clipped_run(values[:, :max(count.max(), 1)], count, sigma, maxiters)
    with np.errstate(invalid="ignore", divide="ignore"):  # an annulus with no valid pixel: NaN
        median_err = MEDIAN_ERROR_FACTOR * std / np.sqrt(n_sky)
    return median, median_err, n_sky


def _clipped_run(ordered, count, sigma, maxiters):
    """Median, standard deviation and number of each row's values (``ordered``: sorted, NaN last, ``count`` of
    them finite) kept by sigma clipping: the run from ``start`` to ``end`` of the sorted values."""
    rows = np.arange(len(ordered))
    start, end = np.zeros_like(count), count
    # Running sums of the values less each row's median: small numbers, so that the variance keeps its digits.
    reference = _run_median(ordered, rows, start, end)
    shifted = np.where(np.arange(ordered.shape[1]) < count[:, None], ordered - reference[:, None], 0.0)
    sums, squares = (np.zeros((len(ordered), ordered.shape[1] + 1)) for _ in range(2))
    np.cumsum(shifted, axis=1, out=sums[:, 1:])
    np.cumsum(shifted**2, axis=1, out=squares[:, 1:])
    for iteration in range(maxiters + 1):
        number = end - start
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = (sums[rows, end] - sums[rows, start]) / number
            spread = np.sqrt(np.fmax((squares[rows, end] - squares[rows, start]) / number - mean**2, 0.0))
        centre = _run_median(ordered, rows, start, end)
        if iteration == maxiters:
            break
        new_start = np.maximum(start, (ordered < (centre - sigma * spread)[:, None]).sum(axis=1))
        new_end = np.minimum(end, (ordered <= (centre + sigma * spread)[:, None]).sum(axis=1))
        if np.array_equal(new_start, start) and np.array_equal(new_end, end):
            break
        start, end = new_start, new_end
    return centre, spread, (end - start).astype(float)


def _run_median(ordered, rows, start, end):
    """The median of each row's sorted values from ``start`` to ``end`` (NaN where the run is empty)."""
    number = end - start
    lower = ordered[rows, np.minimum(start + (number - 1) // 2, ordered.shape[1] - 1)]
    upper = ordered[rows, np.minimum(start + number // 2, ordered.shape[1] - 1)]
    return np.where(number > 0, (lower + upper) / 2, np.nan)
