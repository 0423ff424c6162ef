"""Differential photometry against an ensemble of comparison stars.

- ``choose_comparisons``: stars of the target's brightness, measured cleanly in nearly every frame.
- ``ensemble_weights``: Broeg, Fernandez & Neuhaeuser (2005, AN 326, 134) iterative weights, each star
  weighted by the scatter of its own light curve against the others; variable comparisons dropped.
- ``ensemble_curve``: the weighted ensemble's flux per frame (common transparency, extinction, exposure).
- ``differential_light_curve``: the target divided by the ensemble, as relative flux and magnitude.
- ``detrend``: an optional linear least-squares fit in magnitudes against airmass, time, FWHM, sky.

Every function takes 2D arrays ``flux[n_frames, n_stars]`` and ``flux_err`` of the same shape, NaN where a
star was not measured. Doubtful measurements (flagged) are best set to NaN before the weights and the curves:
``np.where(flags == 0, flux, np.nan)``.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from stackphot.numerics import MAD_TO_SIGMA

__all__ = ["choose_comparisons", "detrend", "differential_light_curve", "ensemble_curve", "ensemble_weights"]

# 2.5 / ln(10): a fractional flux error as a magnitude error.
MAG_PER_FRACTION = 2.5 / np.log(10.0)


def _median_mag(flux: np.ndarray, good: np.ndarray) -> np.ndarray:
    """Instrumental magnitude of each star's median good flux; NaN where none is good or positive."""
    with warnings.catch_warnings(), np.errstate(invalid="ignore", divide="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns are expected here
        median = np.nanmedian(np.where(good, flux, np.nan), axis=0)
        return np.where(median > 0, -2.5 * np.log10(median), np.nan)


def choose_comparisons(
    flux,
    flux_err,
    flags,
    *,
    target: int,
    exclude=(),
    max_stars: int = 20,
    mag_range: float = 2.0,
    min_good_fraction: float = 0.9,
    usable=None,
) -> np.ndarray:
    """Comparison stars for one target: similar brightness, cleanly measured, brightest first.

    Parameters
    ----------
    flux, flux_err : numpy.ndarray, (n_frames, n_stars)
        Per-frame fluxes and their errors; NaN where unmeasured.
    flags : numpy.ndarray of int, (n_frames, n_stars)
        Nonzero where a measurement is doubtful.
    target : int
        The target's star index.
    exclude : sequence of int
        Stars never to use: check stars, other targets, known variables.
    max_stars : int
        At most this many comparisons.
    mag_range : float
        Candidates lie within this many magnitudes of the target's median magnitude, either side.
    min_good_fraction : float
        A candidate has an unflagged, finite, positive flux (and finite error) in at least this fraction
        of the frames, so that the ensemble keeps the same members from frame to frame.
    usable : numpy.ndarray of bool, (n_stars,), optional
        Stars fit to compare against (e.g. isolated and not saturated); every star when None.

    Returns
    -------
    numpy.ndarray of int
        Star indices, brightest first: among stars within ``mag_range`` the brighter have the smaller
        photon noise, so they dilute the target's noise least. Empty, with a warning, when no star
        qualifies.

    Raises
    ------
    ValueError
        When the target has no good measurement, so that its brightness is unknown.
    """
    flux = np.asarray(flux, dtype=float)
    good = np.isfinite(flux) & np.isfinite(np.asarray(flux_err, dtype=float)) & (flux > 0) & (np.asarray(flags) == 0)
    mag = _median_mag(flux, good)
    if not np.isfinite(mag[target]):
        raise ValueError(f"target {target} has no good measurement in any frame")
    candidate = (good.mean(axis=0) >= min_good_fraction) & (np.abs(mag - mag[target]) <= mag_range)
    if usable is not None:
        candidate &= np.asarray(usable, dtype=bool)
    candidate[[target, *exclude]] = False
    chosen = np.flatnonzero(candidate)
    chosen = chosen[np.argsort(mag[chosen], kind="stable")][:max_stars]
    if chosen.size == 0:
        warnings.warn(f"no comparison star for target {target} within {mag_range} mag", stacklevel=2)
    return chosen


def _normalised(flux, flux_err, comparisons):
    """The comparisons' fluxes and errors divided by each star's median good flux; NaN where not good."""
    f = np.asarray(flux, dtype=float)[:, comparisons]
    e = np.asarray(flux_err, dtype=float)[:, comparisons]
    good = np.isfinite(f) & np.isfinite(e) & (f > 0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        scale = np.nanmedian(np.where(good, f, np.nan), axis=0)
    return np.where(good, f / scale, np.nan), np.where(good, e / scale, np.nan)


def robust_sigma(values: np.ndarray, axis: int = 0) -> np.ndarray:
    """1.4826 times the median absolute deviation, ignoring NaN."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        median = np.nanmedian(values, axis=axis, keepdims=True)
        return MAD_TO_SIGMA * np.nanmedian(np.abs(values - median), axis=axis)


def ensemble_weights(flux, flux_err, comparisons, *, iterations: int = 10, clip: float = 4.0):
    """Broeg et al. (2005) weights: each comparison by the scatter of its light curve against the others.

    Each comparison's flux is divided by its median. Weights start as ``1 / median(fractional error)**2``;
    then, each iteration, every comparison is divided by the weighted mean of the *other* kept
    comparisons, its scatter ``sigma`` (1.4826 MAD, so a few bad frames do not decide) is measured and its
    weight becomes ``1 / sigma**2``. A variable comparison thereby loses weight, which in turn cleans the
    ensemble the others are measured against.

    Dropping: ``ratio = sigma / expected``, with ``expected`` the median scatter its own errors and the
    others' ensemble error predict. The worst comparison is dropped (weight 0) when its ratio exceeds
    ``clip`` times the median ratio of the kept comparisons (at least ``clip`` itself), one star per
    iteration, so that one variable does not get its neighbours dropped too. Taking the median ratio as the
    yardstick means errors underestimated by the same factor for every star drop no one. At least two
    comparisons are always kept (with two, neither can be told from the other).

    Parameters
    ----------
    flux, flux_err : numpy.ndarray, (n_frames, n_stars)
        Per-frame fluxes and errors, NaN where unmeasured (or doubtful).
    comparisons : sequence of int
        The comparison stars' indices.
    iterations : int
        At most this many reweightings; it stops earlier when no weight changes by more than 1e-4 of itself.
    clip : float
        The dropping threshold above.

    Returns
    -------
    weights : numpy.ndarray, (n_comparisons,)
        Summing to 1, zero for dropped stars; in the order of ``comparisons``. A single comparison gets
        weight 1 (there are no others to measure it against).
    dropped : numpy.ndarray of bool, (n_comparisons,)

    Raises
    ------
    ValueError
        When ``comparisons`` is empty or a comparison has no good measurement.
    """
    comparisons = np.asarray(comparisons, dtype=int)
    if comparisons.size == 0:
        raise ValueError("no comparison stars")
    norm, norm_err = _normalised(flux, flux_err, comparisons)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        weights = 1.0 / np.nanmedian(norm_err, axis=0) ** 2
    if not np.all(np.isfinite(weights)):
        raise ValueError(f"comparisons {comparisons[~np.isfinite(weights)].tolist()} have no good measurement")
    dropped = np.zeros(comparisons.size, dtype=bool)
    measured = np.isfinite(norm)
    values, variances = np.nan_to_num(norm), np.nan_to_num(norm_err) ** 2
    for _ in range(iterations if comparisons.size > 1 else 0):
        w = np.where(measured & ~dropped, weights, 0.0)
        # Leave-one-out ensemble of each comparison: the sums over all kept stars minus its own term.
        total_w = w.sum(axis=1, keepdims=True) - w
        with warnings.catch_warnings(), np.errstate(invalid="ignore", divide="ignore"):
            warnings.simplefilter("ignore", RuntimeWarning)  # a comparison unmeasured where all others are
            others = ((w * values).sum(axis=1, keepdims=True) - w * values) / total_w
            others_var = ((w**2 * variances).sum(axis=1, keepdims=True) - w**2 * variances) / total_w**2
            relative = np.where(measured & (total_w > 0), norm / others, np.nan)
            relative /= np.nanmedian(relative, axis=0)
            sigma = robust_sigma(relative)
            expected = np.sqrt(np.nanmedian(np.where(measured, norm_err**2 + others_var, np.nan), axis=0))
        new_weights = np.where(dropped, 0.0, 1.0 / sigma**2)
        converged = np.all(np.abs(new_weights - weights) <= 1e-4 * np.abs(weights))
        weights = new_weights
        ratio = np.where(dropped, -np.inf, sigma / expected)
        worst = int(np.argmax(ratio))
        if (~dropped).sum() > 2 and ratio[worst] > clip * max(1.0, np.median(ratio[~dropped])):
            dropped[worst] = True
            weights[worst] = 0.0
        elif converged:
            break
    return weights / weights.sum(), dropped


def ensemble_curve(flux, flux_err, *, comparisons, weights) -> tuple[np.ndarray, np.ndarray]:
    """The weighted mean of the comparisons' median-normalised fluxes in each frame, and its error.

    Parameters
    ----------
    flux, flux_err : numpy.ndarray, (n_frames, n_stars)
    comparisons : sequence of int
    weights : sequence of float
        One per comparison (from ``ensemble_weights``); zero-weight stars are ignored.

    Returns
    -------
    curve, curve_err : numpy.ndarray, (n_frames,)
        Near 1 in a clear frame: it follows transparency and extinction. In a frame where some
        comparisons are unmeasured the weights are renormalised over the rest; NaN where none is measured.
        ``curve_err`` is the propagated (fractional, since the curve is near 1) error.
    """
    norm, norm_err = _normalised(flux, flux_err, np.asarray(comparisons, dtype=int))
    w = np.where(np.isfinite(norm), np.asarray(weights, dtype=float), 0.0)
    total = w.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        curve = (w * np.nan_to_num(norm)).sum(axis=1) / total
        curve_err = np.sqrt((w**2 * np.nan_to_num(norm_err) ** 2).sum(axis=1)) / total
    unmeasured = total <= 0
    return np.where(unmeasured, np.nan, curve), np.where(unmeasured, np.nan, curve_err)


def differential_light_curve(flux, flux_err, *, target: int, comparisons, weights) -> pd.DataFrame:
    """The target's flux relative to the comparison ensemble, frame by frame.

    Parameters
    ----------
    flux, flux_err : numpy.ndarray, (n_frames, n_stars)
    target : int
        The target's star index.
    comparisons, weights : sequence
        As for ``ensemble_curve``.

    Returns
    -------
    pandas.DataFrame
        One row per frame (index: frame number) with ``rel_flux`` (target / ensemble, normalised to its
        median, so ~1), ``rel_flux_err`` (the target's and the ensemble's fractional errors in quadrature),
        ``mag`` (``-2.5 log10 rel_flux``: relative to the target's median magnitude) and ``mag_err``. NaN
        where the target or every comparison is unmeasured; ``mag`` also NaN where ``rel_flux <= 0`` (a
        faint target in a bad frame). ``attrs`` holds the comparisons and weights used.
    """
    curve, curve_err = ensemble_curve(flux, flux_err, comparisons=comparisons, weights=weights)
    f = np.asarray(flux, dtype=float)[:, target]
    e = np.asarray(flux_err, dtype=float)[:, target]
    with warnings.catch_warnings(), np.errstate(invalid="ignore", divide="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)  # a target never measured gives an all-NaN curve
        ratio = f / curve
        scale = np.nanmedian(ratio)
        rel = ratio / scale
        fractional = np.hypot(e / f, curve_err / curve)
        rel_err = np.abs(rel) * fractional
        positive = rel > 0
        mag = np.where(positive, -2.5 * np.log10(np.where(positive, rel, 1.0)), np.nan)
        mag_err = np.where(positive, MAG_PER_FRACTION * fractional, np.nan)
    table = pd.DataFrame({"rel_flux": rel, "rel_flux_err": rel_err, "mag": mag, "mag_err": mag_err})
    table.index.name = "frame"
    table.attrs.update(target=int(target), comparisons=[int(c) for c in comparisons],
                       weights=[float(w) for w in weights])
    return table


def detrend(rel_flux, rel_flux_err, regressors: dict, *, fit_mask=None) -> tuple[np.ndarray, dict]:
    """Remove a linear trend in magnitudes against airmass, time, FWHM, sky or any per-frame quantity.

    Fits ``mag = c0 + sum_k c_k (r_k - mean r_k)`` by weighted least squares (weights ``1 / mag_err**2``)
    and divides the fitted trend, without its constant, out of the relative flux: the median level stays.

    Parameters
    ----------
    rel_flux, rel_flux_err : numpy.ndarray, (n_frames,)
        A differential light curve (``differential_light_curve``'s columns).
    regressors : dict of str to numpy.ndarray, (n_frames,)
        The quantities to fit against, by name. An empty dict returns the curve unchanged.
    fit_mask : numpy.ndarray of bool, (n_frames,), optional
        Frames to fit, e.g. outside a transit, so that the trend does not absorb the signal; the trend is
        removed from every frame. All frames when None.

    Returns
    -------
    detrended : numpy.ndarray, (n_frames,)
        The relative flux with the trend divided out; NaN where the flux, its error or a regressor is NaN,
        or the flux is not positive. Its errors: ``rel_flux_err * detrended / rel_flux``.
    coefficients : dict of str to float
        Magnitudes per unit of each regressor, and ``"constant"``.

    Raises
    ------
    ValueError
        When fewer frames than two per coefficient can be fitted.
    """
    rel = np.asarray(rel_flux, dtype=float)
    err = np.asarray(rel_flux_err, dtype=float)
    names = list(regressors)
    columns = np.column_stack([np.asarray(regressors[name], dtype=float) for name in names]) if names \
        else np.empty((rel.size, 0))
    usable = np.isfinite(rel) & (rel > 0) & np.isfinite(err) & (err > 0) & np.all(np.isfinite(columns), axis=1)
    fit = usable & (np.ones(rel.size, dtype=bool) if fit_mask is None else np.asarray(fit_mask, dtype=bool))
    if fit.sum() < 2 * (len(names) + 1):
        raise ValueError(f"{fit.sum()} usable frames cannot fit {len(names) + 1} coefficients")
    centred = columns - columns[fit].mean(axis=0)
    design = np.column_stack([np.ones(rel.size), centred])
    mag = -2.5 * np.log10(np.where(usable, rel, 1.0))
    sigma = MAG_PER_FRACTION * err[fit] / rel[fit]
    solution, *_ = np.linalg.lstsq(design[fit] / sigma[:, None], mag[fit] / sigma, rcond=None)
    trend = centred @ solution[1:]
    detrended = np.where(usable, rel * 10.0 ** (0.4 * trend), np.nan)
    return detrended, {"constant": float(solution[0]), **dict(zip(names, map(float, solution[1:])))}
