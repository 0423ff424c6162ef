"""A target's differential light curve and every star's variability, from the per-frame photometry.

``series`` gives the photometry as matrices ``[n_frames, n_stars]``; ``ensemble`` and ``variability`` do the
arithmetic. This module decides what goes in: which measurements count (no flag), which stars may compare
(unflagged in the stack's photometry: isolated, unsaturated), which frame quantities detrend.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from stackphot.lightcurve.colours import colour_alike
from stackphot.lightcurve.ensemble import (choose_comparisons, detrend, differential_light_curve, ensemble_curve,
                                           ensemble_weights, robust_sigma)
from stackphot.lightcurve.series import least_crowded, star_crowding, star_matrix
from stackphot.photometry import CROWDED_SKY, NEIGHBOUR
from stackphot.lightcurve.variability import scintillation, variability_table

# Columns of frames/times tables a light curve may be detrended against (`lightcurve: detrend`).
REGRESSORS = {"airmass": "airmass", "time": "bjd_tdb", "fwhm": "fwhm", "sky": "sky"}
# The variability search's ensemble: this many of the brightest stars unflagged in 90% of the frames.
REFERENCE_STARS = 50
# A star is searched for variability where it was measured without a flag in this fraction of the frames.
MIN_SEARCH_FRACTION = 0.5
# A crowded field's ensemble: at least this many of its least crowded stars ...
MIN_REFERENCE_STARS = 10
# ... each measured at this signal-to-noise ratio or more (median over the frames).
REFERENCE_MIN_SNR = 10.0
# Comparison stars within this many magnitudes of the target: their noise and colour alike.
COMPARISON_MAG_RANGE = 2.0


@dataclass
class Matrices:
    """One flux column of every star in every frame, its errors and flags; flagged values NaN in ``clean``."""

    ids: list
    flux: np.ndarray
    error: np.ndarray
    flags: np.ndarray
    clean: np.ndarray = field(init=False)

    def __post_init__(self):
        self.clean = np.where(self.flags == 0, self.flux, np.nan)

    @classmethod
    def of(cls, photometry: pd.DataFrame, column: str, frames) -> Matrices:
        """The matrices of ``column``; of the flags, those that make one frame's value doubtful (off the frame,
        a pixel without data, saturated, a cosmic ray), the aperture's own (``flags_r4`` for ``flux_r4``) where the
        table has them, else the largest aperture's (``flags``). A neighbour, and the crowded annulus it leaves, is
        the star's in every frame: ``crowding`` weighs it."""
        ids = sorted(photometry["id"].unique())
        error_column = column.replace("flux_", "flux_err_", 1)
        flags_column = column.replace("flux_", "flags_", 1)
        flags_column = flags_column if flags_column in photometry else "flags"
        flux, error = (star_matrix(photometry, name, frames, ids) for name in (column, error_column))
        # star_matrix marks a star not measured in a frame -1 in ``flags`` only: an aperture's flags come back NaN.
        flags = np.nan_to_num(star_matrix(photometry, flags_column, frames, ids), nan=-1).astype(int)
        return cls(ids, flux, error, np.where(flags < 0, flags, flags & ~(NEIGHBOUR | CROWDED_SKY)))


def _indices(ids, wanted, what: str) -> list[int]:
    missing = [value for value in wanted if value not in ids]
    if missing:
        raise ValueError(f"lightcurve: {what} {missing} are not in the catalog")
    return [ids.index(value) for value in wanted]


def target_light_curve(matrices: Matrices, frames: pd.DataFrame, *, target: int, usable=None, crowding=None,
                       variable=None, colour=None, comparisons=None, checks=None, max_comparisons: int = 20,
                       detrend_by=()) -> tuple[pd.DataFrame, dict]:
    """The differential light curve of catalog id ``target``: a row per frame of ``frames`` (``frame, bjd_tdb,
    jd_utc, airmass`` and the other frame columns, then ``rel_flux, rel_flux_err, mag, mag_err, flags``, and
    ``check_rel_flux`` of the check star), and what made it (the ensemble's ids, weights and dropped stars, the
    check star, the detrending).

    ``comparisons`` and ``checks`` are catalog ids; None chooses them (``choose_comparisons``: similar brightness,
    unflagged in 90% of the frames, ``usable``, not ``variable`` (the variability search's verdict: a variable
    compares with nothing and checks nothing), of a ``colour`` index near the target's where the stars' colours
    are known (``colour_alike``), and of those the least blended by their ``crowding``), the check star the
    best candidate outside the ensemble. ``detrend_by`` names ``REGRESSORS``.
    """
    ids = matrices.ids
    index = _indices(ids, [target], "target id")[0]
    if usable is not None and variable is not None:
        usable = np.asarray(usable) & ~np.asarray(variable, bool)
    colour_range = None
    if colour is not None:
        allowed = np.ones(len(ids), bool) if usable is None else np.asarray(usable, bool)
        usable, colour_range = colour_alike(np.asarray(colour, float), index, allowed, minimum=max_comparisons)
    if usable is not None and crowding is not None:
        with np.errstate(invalid="ignore", divide="ignore"):
            level = np.nanmedian(matrices.flux, axis=0)
            similar = np.abs(2.5 * np.log10(level / level[index])) <= COMPARISON_MAG_RANGE
        usable = least_crowded(np.nan_to_num(crowding, nan=np.inf), np.asarray(usable) & similar,
                               minimum=2 * max_comparisons)
    check_index = _indices(ids, checks, "check ids") if checks else []
    if comparisons:
        chosen = np.array(_indices(ids, comparisons, "comparison ids"))
    else:
        chosen = choose_comparisons(matrices.flux, matrices.error, matrices.flags, target=index, exclude=check_index,
                                    max_stars=max_comparisons, mag_range=COMPARISON_MAG_RANGE, usable=usable)
    if not check_index:
        # The check star: the least blended candidate the ensemble left (its curve tests the ensemble, not its
        # neighbours' seeing); where it left none, one of its own, kept out of it (an ensemble of 3 or more).
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # no candidate left: said by the check_id of None
            spare = list(choose_comparisons(matrices.flux, matrices.error, matrices.flags, target=index,
                                            exclude=list(chosen), max_stars=max_comparisons,
                                            mag_range=COMPARISON_MAG_RANGE, usable=usable))
        if not spare and not comparisons and len(chosen) >= 3:
            spare = list(chosen)
        if spare:
            check_index = [int(min(spare, key=lambda star: 0 if crowding is None else crowding[star]))]
            chosen = np.array([star for star in chosen if star != check_index[0]])
    if len(chosen) == 0:
        raise ValueError(f"no comparison star for target id {target}: give lightcurve: comparisons")
    weights, dropped = ensemble_weights(matrices.clean, matrices.error, chosen)
    curve = differential_light_curve(matrices.clean, matrices.error, target=index, comparisons=chosen, weights=weights)
    meta = {"target_id": int(target), "comparison_ids": [int(ids[i]) for i in chosen],
            "comparison_weights": [round(float(w), 6) for w in weights],
            "dropped_comparisons": [int(ids[i]) for i in np.asarray(chosen)[dropped]],
            "check_id": int(ids[check_index[0]]) if check_index else None}
    if colour_range is not None:  # None where the colours did not narrow the choice
        meta["comparison_colour_range"] = float(colour_range) if np.isfinite(colour_range) else None
    table = frames.reset_index(drop=True).copy()
    for column in ("rel_flux", "rel_flux_err", "mag", "mag_err"):
        table[column] = curve[column].to_numpy()
    table["flags"] = matrices.flags[:, index]
    if check_index:
        check = differential_light_curve(matrices.clean, matrices.error, target=check_index[0], comparisons=chosen,
                                         weights=weights)
        table["check_rel_flux"] = check["rel_flux"].to_numpy()
        table["check_rel_flux_err"] = check["rel_flux_err"].to_numpy()
    if detrend_by:
        regressors = {name: table[REGRESSORS[name]].to_numpy(dtype=float) for name in detrend_by}
        detrended, coefficients = detrend(table["rel_flux"].to_numpy(), table["rel_flux_err"].to_numpy(), regressors)
        table["rel_flux"] = detrended
        table["mag"] = -2.5 * np.log10(detrended)
        meta["detrend_coefficients_mag"] = {key: float(value) for key, value in coefficients.items()}
    return table, meta


def _comparison_tables(matrices: Matrices, meta: dict) -> dict[int, pd.DataFrame]:
    """Each comparison star's light curve (``differential_light_curve``) against the rest of the ensemble."""
    ids, chosen = matrices.ids, [matrices.ids.index(value) for value in meta["comparison_ids"]]
    weights = np.asarray(meta["comparison_weights"], dtype=float)
    tables = {}
    for position, star in enumerate(chosen):
        others = [c for c in chosen if c != star]
        rest = np.delete(weights, position)
        if not others or rest.sum() <= 0:
            continue
        tables[int(ids[star])] = differential_light_curve(matrices.clean, matrices.error, target=star,
                                                          comparisons=np.array(others), weights=rest / rest.sum())
    return tables


def comparison_curves(matrices: Matrices, meta: dict) -> dict[int, np.ndarray]:
    """Each comparison star's relative flux against the rest of the ensemble, by catalog id, for the plot."""
    return {star: table["rel_flux"].to_numpy() for star, table in _comparison_tables(matrices, meta).items()}


def comparison_noise(matrices: Matrices, meta: dict) -> tuple[float, float]:
    """How the ensemble's own stars (the dropped ones left out) scatter against the rest of it: the median of
    their robust scatters (1.4826 MAD, fractional), and the median of each one's scatter over the scatter its
    errors predict. NaN, NaN with fewer than two comparisons."""
    weights = dict(zip(meta["comparison_ids"], meta["comparison_weights"]))
    scatters, ratios = [], []
    for star, table in _comparison_tables(matrices, meta).items():
        if weights[star] <= 0:
            continue
        scatter = float(robust_sigma(table["rel_flux"].to_numpy()))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # a comparison unmeasured in every frame
            ratios.append(scatter / np.nanmedian(table["rel_flux_err"].to_numpy()))
        scatters.append(scatter)
    finite = np.isfinite(scatters) & np.isfinite(ratios)
    if not finite.any():
        return float("nan"), float("nan")
    return float(np.median(np.asarray(scatters)[finite])), float(np.median(np.asarray(ratios)[finite]))


# Light-curve columns whose errors the ensemble's error scale applies to.
ERROR_COLUMNS = ("rel_flux_err", "mag_err", "check_rel_flux_err")


def best_light_curve(photometry: pd.DataFrame, frames: pd.DataFrame, catalog: pd.DataFrame, *, columns, target: int,
                     **choice) -> tuple[Matrices, pd.DataFrame, dict]:
    """The target's light curve (``target_light_curve`` with ``choice``; the crowding worked out for each
    aperture) through each flux column of ``columns``, the one whose comparison stars scatter least
    (``comparison_noise``), as AstroImageJ's users and EXOTIC choose an aperture: not by the target's own
    curve, which may vary. ``made`` names the column and, where there were several, each one's scatter.

    The errors are those propagated from each measurement's, times ``error_scale`` (in ``made``): how much more
    the ensemble's own stars scatter than their errors predict (at least 1). What the error maps do not hold
    (flat-field and crowding noise, a faint neighbour's light that the seeing moves) is in every star of the
    ensemble alike, so the target's and check star's errors say what their curves can show.
    """
    best, scatters = None, {}
    for column in columns:
        matrices = Matrices.of(photometry, column, frames["frame"])
        crowding = star_crowding(catalog, matrices.ids, column=column, frames=frames)
        curve, made = target_light_curve(matrices, frames, target=target, crowding=crowding, **choice)
        scatter, ratio = comparison_noise(matrices, made)
        scatters[column] = scatter
        if best is None or scatter < scatters[best[0]] or not np.isfinite(scatters[best[0]]):
            best = column, matrices, curve, made, ratio
    column, matrices, curve, made, ratio = best
    made["flux_column"] = column
    if len(scatters) > 1:
        made["comparison_scatter"] = {name: round(value, 6) for name, value in scatters.items()}
    made["error_scale"] = round(max(1.0, ratio), 4) if np.isfinite(ratio) else 1.0
    for name in ERROR_COLUMNS:
        if name in curve:
            curve[name] *= made["error_scale"]
    return matrices, curve, made


def variability(matrices: Matrices, frames: pd.DataFrame, *, nsigma: float, diameter=None, altitude=None,
                crowding=None) -> pd.DataFrame:
    """Every star's scatter against the ensemble of the ``REFERENCE_STARS`` brightest steady, least crowded
    stars, the noise expected of it, and whether it varies (``variability_table``); a row per catalog id.

    The expected noise is each measurement's own error (the error maps': Poisson noise of the star and of the
    sky above the camera's zero level, read noise, the masters' errors); with the telescope's ``diameter`` (m),
    scintillation at each frame's airmass (``scintillation``; the site ``altitude`` in m); and a blend's
    ``crowding`` (a fraction per star, ``series.star_crowding``), which the seeing moves in and out of its
    aperture: so a blend is a variable only where it varies by more than its neighbours' light.
    """
    n_frames = len(frames)
    good = ((matrices.flags == 0) & np.isfinite(matrices.flux)).sum(axis=0) >= 0.9 * n_frames
    # A star never measured has NaN medians: it is no reference, and nothing to warn of.
    with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        # A reference star stands clear of the noise in every frame (a faint one's flux may measure below 0).
        good &= np.nanmedian(matrices.flux / matrices.error, axis=0) > REFERENCE_MIN_SNR
        level = np.nanmedian(matrices.flux, axis=0)
    crowding = np.zeros(len(matrices.ids)) if crowding is None else np.nan_to_num(crowding, nan=np.inf)
    steady = least_crowded(crowding, good, minimum=MIN_REFERENCE_STARS)
    brightness = np.where(steady, level, -np.inf)
    reference = np.argsort(brightness)[::-1][: min(REFERENCE_STARS, int(steady.sum()))]
    if len(reference) == 0:
        warnings.warn(f"no star was measured at a signal-to-noise ratio over {REFERENCE_MIN_SNR:g} without a flag in "
                      f"90% of the {n_frames} frames: nothing to compare the others with, no variable searched for",
                      stacklevel=2)
        curve = curve_err = np.full(n_frames, np.nan)
    else:
        weights, _ = ensemble_weights(matrices.clean, matrices.error, reference)
        curve, curve_err = ensemble_curve(matrices.clean, matrices.error, comparisons=reference, weights=weights)
    with np.errstate(invalid="ignore", divide="ignore"):
        expected = np.hypot(matrices.error / matrices.flux, crowding[None, :])
    if diameter:
        expected = np.hypot(expected, scintillation(diameter=diameter, altitude=altitude,
                                                    exptime=frames["exptime"].to_numpy(dtype=float)[:, None],
                                                    airmass=frames["airmass"].to_numpy(dtype=float)[:, None]))
    table = variability_table(matrices.clean, matrices.error, matrices.flags, reference=curve,
                              reference_err=curve_err, expected=expected, nsigma=nsigma)
    table.insert(0, "id", matrices.ids)
    table["crowding"] = crowding
    table["reference_star"] = np.isin(np.arange(len(matrices.ids)), reference)
    # A star measured in few frames (at the edge of a drifting field) has too short a curve to judge.
    table["variable"] &= table["n_good"] >= MIN_SEARCH_FRACTION * n_frames
    return table.reset_index(drop=True)
