"""Frame offsets from matched stars alone, no cross-correlation: the independent check of the registration
on real frames (tests/test_m13.py) and simulated ones (tests/test_quality.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import ndimage

# The brightest stars matched per pair of frames (four times as many are detected for the voting).
N_STARS = 150

def _detect(image, *, fwhm: float, nsigma: float, n_brightest: int | None) -> np.ndarray:
    """(y, x) of the sources DAOStarFinder finds in an image smoothed to the stars' scale."""
    from astropy.stats import mad_std
    from photutils.detection import DAOStarFinder

    smoothed = ndimage.gaussian_filter(image, fwhm / 2.3548)
    found = DAOStarFinder(fwhm=fwhm, threshold=nsigma * mad_std(smoothed), n_brightest=n_brightest,
                          exclude_border=True)(smoothed)
    if found is None:
        return np.empty((0, 2))
    return np.column_stack([found["y_centroid"], found["x_centroid"]])


def vote_offset(reference_stars, stars, *, max_shift: float, radius: float = 2.0) -> tuple[float, float]:
    """Shift that pairs up most stars, with no starting guess.

    All pairwise position differences are counted on a one-pixel grid, each cell with its neighbours within
    ``radius``; the median of the differences around the best cell is the shift.
    """
    differences = (np.asarray(reference_stars)[:, None, :] - np.asarray(stars)[None, :, :]).reshape(-1, 2)
    edges = np.arange(-max_shift - 0.5, max_shift + 1)
    counts, _, _ = np.histogram2d(differences[:, 0], differences[:, 1], bins=[edges, edges])
    r = int(np.ceil(radius))
    disk = (np.hypot(*np.mgrid[-r : r + 1, -r : r + 1]) <= radius).astype(float)
    iy, ix = np.unravel_index(np.argmax(ndimage.convolve(counts, disk, mode="constant")), counts.shape)
    best = np.array([edges[iy] + 0.5, edges[ix] + 0.5])
    near = differences[np.hypot(*(differences - best).T) <= radius + 1]
    dy, dx = np.median(near, axis=0)
    return float(dy), float(dx)


def star_shifts(frames, *, fwhm: float, max_shift: float = 80.0, n_stars: int = N_STARS, iterations: int = 3,
                margin: int | None = None, detected=None) -> pd.DataFrame:
    """Shifts of frames against the first, from the positions of matched stars: no cross-correlation.

    An independent check of the registration. Stars are paired by voting over all position differences
    (no guess needed); then, ``iterations`` times, the frames are summed at the current whole-pixel shifts to
    find the ``n_stars`` brightest stars reliably, each star's position is fitted in every frame with a
    circular Gaussian of the given ``fwhm`` (photutils ``PSFPhotometry``), and a frame's shift is the
    median of its stars' position differences against the first frame.

    Parameters
    ----------
    frames : sequence of 2D arrays
        Background-subtracted frames, cleaned of banding and isolated outliers, NaN-free; the first is the
        reference.
    fwhm : float
        Stars' FWHM in pixels (for detection and the fitted profile).
    detected : sequence of (n, 2) arrays, optional
        Each frame's stars as ``_detect`` finds them with ``nsigma=4`` and ``4 * n_stars`` (found here without).

    Returns
    -------
    DataFrame with one row per frame: dy, dx (the shift to apply), their standard errors err_dy, err_dx
    (1.2533 sigma / sqrt(n) of the median), and n_stars used.
    """
    from astropy.table import Table
    from photutils.psf import CircularGaussianPRF, PSFPhotometry

    frames = [np.asarray(frame, dtype=float) for frame in frames]
    margin = int(max_shift) if margin is None else margin
    if detected is None:
        detected = [_detect(frame, fwhm=fwhm, nsigma=4.0, n_brightest=4 * n_stars) for frame in frames]
    offsets = np.array([vote_offset(detected[0], stars, max_shift=max_shift) for stars in detected], dtype=float)
    profile = CircularGaussianPRF(fwhm=fwhm)
    profile.fwhm.fixed = True
    fit_size = 2 * int(np.ceil(fwhm)) + 1
    fitter = PSFPhotometry(profile, (fit_size, fit_size), aperture_radius=fwhm, xy_bounds=(fwhm, fwhm))
    previous = None
    for _ in range(iterations):
        whole = np.round(offsets).astype(int)
        if previous is not None and np.array_equal(whole, previous):
            break  # the same whole-pixel shifts: the same sum, stars and fits as the last iteration's
        previous = whole
        deep = np.mean([np.roll(frame, tuple(shift), axis=(0, 1)) for frame, shift in zip(frames, whole)], axis=0)
        stars = _detect(deep, fwhm=fwhm, nsigma=5.0, n_brightest=n_stars)
        ny, nx = deep.shape
        inside = (stars[:, 0] > margin) & (stars[:, 0] < ny - margin) & (stars[:, 1] > margin) & (stars[:, 1] < nx - margin)
        stars = stars[inside]
        fitted = []
        for frame, shift in zip(frames, whole):
            table = fitter(frame, init_params=Table({"x": stars[:, 1] - shift[1], "y": stars[:, 0] - shift[0]}))
            fitted.append(np.column_stack([table["y_fit"], table["x_fit"]]))
        rows = []
        for positions in fitted:
            differences = fitted[0] - positions
            differences = differences[np.isfinite(differences).all(axis=1)]
            centre = np.median(differences, axis=0)
            for _ in range(3):  # drop stars whose fit wandered to a neighbour or to noise
                kept = differences[np.abs(differences - centre).max(axis=1) < fwhm / 2]
                centre = np.median(kept, axis=0)
            error = 1.2533 * kept.std(axis=0) / np.sqrt(len(kept))
            rows.append({"dy": centre[0], "dx": centre[1], "err_dy": error[0], "err_dx": error[1], "n_stars": len(kept)})
        offsets = np.array([[row["dy"], row["dx"]] for row in rows])
    return pd.DataFrame(rows)


def star_shift_network(frames, *, fwhm: float, max_shift: float = 80.0) -> pd.DataFrame:
    """Shifts of frames against the first from matched stars of every pair of frames, adjusted together.

    ``star_shifts`` of one pair is limited by the faint stars' centroid noise (on the M13 frames its pair
    estimates fail to close around a triangle by about 0.5 px). Measuring every pair and solving the
    weighted least-squares network (each pair measures the difference of two frames' positions) uses all
    the information and averages that noise down, still without any cross-correlation.

    Returns
    -------
    DataFrame with one row per frame: dy, dx (the shift to apply; 0 for the first frame) and the rms
    residuals of the network, residual_dy, residual_dx (the same for every row).
    """
    from itertools import combinations

    n = len(frames)
    detected = [_detect(frame, fwhm=fwhm, nsigma=4.0, n_brightest=4 * N_STARS) for frame in frames]
    design, measured, weights = [], [], []
    for i, j in combinations(range(n), 2):
        pair = star_shifts([frames[i], frames[j]], fwhm=fwhm, max_shift=max_shift,
                           detected=[detected[i], detected[j]]).iloc[1]
        row = np.zeros(n)
        row[i], row[j] = -1.0, 1.0  # a frame's shift is minus its position: pair shift = shift_j - shift_i
        design.append(row)
        measured.append([pair.dy, pair.dx])
        weights.append([1 / pair.err_dy, 1 / pair.err_dx])
    design, measured, weights = np.array(design), np.array(measured), np.array(weights)
    anchor = np.zeros(n)
    anchor[0] = 1.0  # the first frame is the reference: shift 0
    solution, residual = [], []
    for axis in (0, 1):
        a = np.vstack([design * weights[:, [axis]], 1e3 * anchor])
        b = np.append(measured[:, axis] * weights[:, axis], 0.0)
        fitted = np.linalg.lstsq(a, b, rcond=None)[0]
        solution.append(fitted)
        residual.append(np.sqrt(np.mean((design @ fitted - measured[:, axis]) ** 2)))
    return pd.DataFrame({"dy": solution[0], "dx": solution[1], "residual_dy": residual[0], "residual_dx": residual[1]})
