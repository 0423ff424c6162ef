"""Nearest-neighbour matching of two sets of positions within a radius."""

from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree

__all__ = ["cross_match"]


def _positions(x, y) -> np.ndarray:
    x, y = (np.atleast_1d(np.asarray(v, dtype=float)) for v in (x, y))
    if x.ndim != 1 or x.shape != y.shape:
        raise ValueError(f"x and y must be 1D and of the same length, got shapes {x.shape} and {y.shape}")
    return np.column_stack([x, y])


def cross_match(x1, y1, x2, y2, *, radius: float):
    """Nearest neighbour in a second set of positions for each position of a first set, within a radius.

    Parameters
    ----------
    x1, y1 : array_like
        Positions to match (px).
    x2, y2 : array_like
        Positions to match them to (px).
    radius : float
        Largest accepted distance (px), inclusive.

    Returns
    -------
    index : numpy.ndarray of int
        For each position of the first set, the index into the second set of its nearest neighbour, or
        -1 when none is within ``radius`` (also for non-finite positions, and when the second set is
        empty). The match is not one-to-one: two positions can share a neighbour.
    distance : numpy.ndarray of float
        The distance to that neighbour, NaN where ``index`` is -1.

    Raises
    ------
    ValueError
        ``radius`` not positive, or the x and y of a set of different lengths.
    """
    if not (np.isfinite(radius) and radius > 0):
        raise ValueError(f"radius must be positive and finite, got {radius}")
    first, second = (_positions(x, y) for x, y in ((x1, y1), (x2, y2)))
    index = np.full(len(first), -1)
    distance = np.full(len(first), np.nan)
    usable = np.flatnonzero(np.isfinite(second).all(axis=1))  # a NaN in the tree would poison its queries
    queried = np.isfinite(first).all(axis=1)
    if usable.size == 0 or not queried.any():
        return index, distance
    # scipy's upper bound is exclusive; the next float up makes the radius inclusive.
    bound = np.nextafter(radius, np.inf)
    found_distance, found = cKDTree(second[usable]).query(first[queried], distance_upper_bound=bound)
    hit = np.isfinite(found_distance)
    rows = np.flatnonzero(queried)[hit]
    index[rows] = usable[found[hit]]
    distance[rows] = found_distance[hit]
    return index, distance
