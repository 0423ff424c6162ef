"""Checks of the workflow's results against a truth or an independent measurement."""

from __future__ import annotations

import numpy as np
import pandas as pd


def shift_errors(measured: pd.DataFrame, truth: pd.DataFrame) -> pd.DataFrame:
    """Measured minus true shift per frame and axis (tables with columns frame, dy, dx).

    Raises
    ------
    ValueError
        If a frame is missing from either table.
    """
    merged = measured[["frame", "dy", "dx"]].merge(
        truth[["frame", "dy", "dx"]], on="frame", how="outer", suffixes=("", "_true"), indicator=True
    )
    unmatched = merged[merged["_merge"] != "both"].frame.tolist()
    if unmatched:
        raise ValueError(f"frames not in both the measured and the true shifts: {', '.join(unmatched)}")
    return pd.DataFrame(
        {
            "frame": merged.frame,
            "dy": merged.dy,
            "dx": merged.dx,
            "dy_true": merged.dy_true,
            "dx_true": merged.dx_true,
            "error_dy": merged.dy - merged.dy_true,
            "error_dx": merged.dx - merged.dx_true,
        }
    )


def star_offset(reference_stars, stars, *, guess=(0.0, 0.0), tolerance: float = 3.0):
    """Shift to apply to ``stars`` to match ``reference_stars``, from matched positions, not correlation.

    Parameters
    ----------
    reference_stars, stars : (n, 2) arrays of (y, x)
        Source positions in the reference and in the frame.
    guess : (dy, dx)
        Approximate shift, good to about ``tolerance``, used only to pair the stars.
    tolerance : float
        Pairing radius in pixels.

    Returns
    -------
    (dy, dx, n_matched, (err_dy, err_dx))
        The median of the matched position differences, and its standard error (1.2533 sigma/sqrt(n)).
    """
    from scipy.spatial import cKDTree

    reference_stars = np.asarray(reference_stars, dtype=float)
    moved = np.asarray(stars, dtype=float) + np.asarray(guess, dtype=float)
    distance, index = cKDTree(moved).query(reference_stars, distance_upper_bound=tolerance)
    matched = np.isfinite(distance)
    if matched.sum() < 3:
        return np.nan, np.nan, int(matched.sum()), (np.nan, np.nan)
    differences = reference_stars[matched] - np.asarray(stars, dtype=float)[index[matched]]
    dy, dx = np.median(differences, axis=0)
    standard_error = 1.2533 * np.std(differences, axis=0) / np.sqrt(matched.sum())
    return float(dy), float(dx), int(matched.sum()), tuple(float(v) for v in standard_error)
