"""Registration by the stars: a frame's stars matched to the reference's, and a transform fitted to them.

Matching needs no first guess, so it finds any rotation (a meridian flip's 180 degrees too), a scale within
``scale_range`` and any offset the frames share stars at:

1. the brightest ``PATTERN_STARS`` of each star list form triangles with their nearest neighbours. A
   triangle's shape (two ratios of its sorted sides) does not change under translation, rotation or scale,
   so the same three stars make nearly the same point in that plane in the frame and in the reference, and
   a KD-tree finds the pairs;
2. every pair of similar triangles votes for its three star correspondences; the pairs whose stars collected
   the most votes give similarity hypotheses, and the one that brings the most frame stars within
   ``tolerance`` of a reference star wins;
3. all stars are paired by it (one to one, nearest first) and the chosen model is fitted by least squares,
   leaving out pairs more than ``CLIP`` robust sigmas off, then paired and fitted again until the pairs no
   longer change.

This is the method of astroalign (Beroiz et al. 2020, Astronomy and Computing 32, 100384) and, with quads,
of Siril and astrometry.net. It is written here on scipy's KD-tree rather than taken from astroalign because
it works on the star positions the registration already measures (astroalign finds its own with ``sep``),
and it keeps the scale range, the model choice and a first guess (the cross-correlation's translation),
which rescues frames with too few stars to form triangles.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations

import numpy as np
from scipy.spatial import cKDTree

from stackphot.geometry import Transform

MODELS = ("translation", "similarity", "affine")
# Triangles are formed from the brightest stars only: both lists then hold mostly the same stars, and the
# number of triangles stays small however crowded the field.
PATTERN_STARS = 80
NEIGHBOURS = 4  # each star's triangles use it and its four nearest neighbours: 10 triangles a star
# Two triangles are similar when their side ratios differ by less than this (the ratios lie in (0, 1]).
INVARIANT_RADIUS = 0.01
HYPOTHESES = 40  # the best-voted triangle pairs tried as hypotheses
CLIP = 4.0  # a pair further off than this many robust sigmas (per axis) is an outlier
MAX_ITERATIONS = 10
# The floor of the clipping distance (px): perfect centroids (noiseless tests) must not clip good pairs.
MIN_CLIP = 0.05
# A triangle with a side shorter than this (px) has a shape set by centroid noise, not by the stars.
MIN_SIDE = 3.0
# A star's position error is about its width over its signal-to-noise ratio, and never below the floor
# (the peak positions' own bias).
POSITION_SCALE = 1.5
POSITION_FLOOR = 0.02
_MIN_PAIRS = {"translation": 1, "similarity": 2, "affine": 3}
_FREE_PARAMETERS = {"translation": 2, "similarity": 4, "affine": 6}
# The median of a 2D Gaussian offset's length is sigma * sqrt(2 ln 2).
_RAYLEIGH_MEDIAN = np.sqrt(2 * np.log(2))


@dataclass(frozen=True)
class StarMatch:
    """Stars of a frame paired with the reference's and the transform fitted to them.

    ``frame_index`` and ``reference_index`` index the two star lists (pair i is ``frame_index[i]`` with
    ``reference_index[i]``), ``weights`` the pairs' weights in the fit (inverse position variances);
    ``residual`` is the weighted RMS distance (px) of the pairs after the transform; ``covariance`` that of
    the ``model``'s parameters, from the pairs' scatter, and ``uncertainty`` the fit's standard error (px RMS)
    where the pairs are (``position_error`` gives it anywhere).
    """

    transform: Transform
    frame_index: np.ndarray
    reference_index: np.ndarray
    weights: np.ndarray
    residual: float
    model: str
    covariance: np.ndarray
    uncertainty: float

    def rms(self, offsets) -> float:
        """Weighted RMS length of per-pair offsets ((n, 2) array), as ``residual`` is of the fit's."""
        return float(np.sqrt(np.sum(self.weights * np.sum(np.square(offsets), axis=1)) / np.sum(self.weights)))

    def position_error(self, xy) -> float:
        """RMS over the frame positions ``xy`` ((n, 2) array) of the standard error (px) of where the fitted
        transform puts them: larger away from the stars, where a rotation's error grows."""
        jacobian = _jacobian(self.model, np.asarray(xy, dtype=float))
        variance = np.einsum("nip,pq,niq->n", jacobian, self.covariance, jacobian)
        return float(np.sqrt(np.mean(variance)))

    @property
    def n_matched(self) -> int:
        return int(self.frame_index.size)


@dataclass(frozen=True)
class Triangles:
    """The triangles of a star list: their vertices (indices, ordered by the opposite side, shortest first)
    and their shapes, in a KD-tree. Made once for the reference and reused for every frame."""

    vertices: np.ndarray  # (n, 3) int
    invariants: np.ndarray  # (n, 2): shortest / middle side, middle / longest side
    tree: cKDTree | None


def triangles(xy) -> Triangles:
    """The triangles of the brightest ``PATTERN_STARS`` of ``xy`` (an (n, 2) array of x, y, brightest
    first), each star with its ``NEIGHBOURS`` nearest neighbours."""
    points = np.asarray(xy, dtype=float)[:PATTERN_STARS]
    if len(points) < 3:
        return Triangles(np.empty((0, 3), int), np.empty((0, 2)), None)
    k = min(NEIGHBOURS + 1, len(points))
    _, near = cKDTree(points).query(points, k=k)
    groups = np.array([list(combo) for combo in combinations(range(k), 3)])
    vertices = np.unique(np.sort(near[:, groups].reshape(-1, 3), axis=1), axis=0)
    corners = points[vertices]
    # Side i is the one opposite vertex i.
    sides = np.stack([np.hypot(*(corners[:, (i + 1) % 3] - corners[:, (i + 2) % 3]).T) for i in range(3)], axis=1)
    order = np.argsort(sides, axis=1, kind="stable")
    sides = np.take_along_axis(sides, order, axis=1)
    vertices = np.take_along_axis(vertices, order, axis=1)
    good = sides[:, 0] >= MIN_SIDE
    vertices, sides = vertices[good], sides[good]
    invariants = np.stack([sides[:, 0] / sides[:, 1], sides[:, 1] / sides[:, 2]], axis=1)
    return Triangles(vertices, invariants, cKDTree(invariants) if len(invariants) else None)


def fit_transform(source, target, model: str = "similarity", weights=None) -> Transform:
    """Least-squares transform of ``model`` taking the points ``source`` onto ``target`` ((n, 2) arrays of
    x, y): a translation, a similarity (rotation, one scale, translation) or a general affine map; each pair
    weighted by ``weights`` (its inverse position variance; default: all equal)."""
    source = np.asarray(source, dtype=float)
    target = np.asarray(target, dtype=float)
    weights = np.ones(len(source)) if weights is None else np.asarray(weights, dtype=float)
    if model == "translation":
        dx, dy = np.average(target - source, axis=0, weights=weights)
        return Transform.translation(dy, dx)
    if model == "similarity":
        z = source[:, 0] + 1j * source[:, 1]
        w = target[:, 0] + 1j * target[:, 1]
        a, b = _similarity(z[None], w[None], weights[None])
        return _similarity_transform(a[0], b[0])
    if model == "affine":
        root = np.sqrt(weights)[:, None]
        design = np.column_stack([source, np.ones(len(source))]) * root
        (m_xx, m_yx), (m_xy, m_yy), (dx, dy) = np.linalg.lstsq(design, target * root, rcond=None)[0]
        return Transform(((float(m_xx), float(m_xy)), (float(m_yx), float(m_yy))), float(dy), float(dx))
    raise ValueError(f"unknown registration model {model!r}; use one of {', '.join(MODELS)}")


def match_stars(frame_xy, reference_xy, *, model: str = "similarity", scale_range=(0.9, 1.1),
                tolerance: float = 1.5, guesses=(), reference_triangles: Triangles | None = None,
                frame_snr=None, reference_snr=None) -> StarMatch | None:
    """Pair the stars of a frame with the reference's and fit ``model`` to the pairs (see the module's notes).

    Parameters
    ----------
    frame_xy, reference_xy : (n, 2) arrays
        Star positions (x, y), brightest first.
    model : str
        ``translation``, ``similarity`` or ``affine``.
    scale_range : (float, float)
        Lowest and highest scale (frame to reference) a pattern match may have.
    tolerance : float
        Largest distance (px) between a transformed frame star and its reference star for a pair.
    guesses : sequence of Transform
        First estimates (the cross-correlation's translation, the frames' WCS). Their pairings are refined
        too, and the result with most pairs wins: a frame with too few stars for triangles, or a scale
        outside ``scale_range``, can still be matched. Invalid ones (NaN) are left out.
    reference_triangles : Triangles, optional
        ``triangles(reference_xy)``, made once per reference.
    frame_snr, reference_snr : arrays, optional
        Each star's signal-to-noise ratio: a pair weighs in the fit by the inverse variance of its positions,
        ``(POSITION_SCALE / snr)**2 + POSITION_FLOOR**2`` for each star. Default: all pairs weigh the same.

    Returns
    -------
    StarMatch, or None when no hypothesis pairs enough stars to fit the model.
    """
    if model not in MODELS:
        raise ValueError(f"unknown registration model {model!r}; use one of {', '.join(MODELS)}")
    frame_xy = np.asarray(frame_xy, dtype=float).reshape(-1, 2)
    reference_xy = np.asarray(reference_xy, dtype=float).reshape(-1, 2)
    if len(frame_xy) < _MIN_PAIRS[model] or len(reference_xy) < _MIN_PAIRS[model]:
        return None
    reference_tree = cKDTree(reference_xy)
    starts = _pattern_hypotheses(frame_xy, reference_xy, reference_tree, scale_range, tolerance,
                                 reference_triangles or triangles(reference_xy))
    starts += [guess for guess in guesses if guess is not None and guess.is_valid]
    frame_variance, reference_variance = (_position_variance(snr, len(xy)) for snr, xy in
                                          ((frame_snr, frame_xy), (reference_snr, reference_xy)))
    results = [_refine(frame_xy, reference_xy, reference_tree, start, model, tolerance,
                       (frame_variance, reference_variance)) for start in starts]
    results = [result for result in results if result is not None]
    # Most pairs wins; of equally many, the smaller residual.
    return min(results, key=lambda result: (-result.n_matched, result.residual), default=None)


def _position_variance(snr, n):
    """Variance (px^2 per axis) of each star's position, from its signal-to-noise ratio."""
    if snr is None:
        return np.ones(n)
    return (POSITION_SCALE / np.maximum(np.asarray(snr, dtype=float), 1.0)) ** 2 + POSITION_FLOOR**2


def _similarity(z, w, weights=None):
    """Least-squares ``w = a z + b`` (complex) for each row of point sets ``z``, ``w``, optionally weighted."""
    weights = np.ones(z.shape) if weights is None else weights
    total = weights.sum(axis=1, keepdims=True)
    z_mean, w_mean = (weights * z).sum(axis=1, keepdims=True) / total, (weights * w).sum(axis=1, keepdims=True) / total
    zc, wc = z - z_mean, w - w_mean
    a = np.sum(weights * wc * np.conj(zc), axis=1) / np.sum(weights * np.abs(zc) ** 2, axis=1)
    return a, w_mean[:, 0] - a * z_mean[:, 0]


def _similarity_transform(a, b) -> Transform:
    return Transform(((float(a.real), float(-a.imag)), (float(a.imag), float(a.real))), float(b.imag), float(b.real))


def _pattern_hypotheses(frame_xy, reference_xy, reference_tree, scale_range, tolerance, reference_triangles):
    """The best pattern hypothesis (a similarity), as a list of at most one Transform."""
    frame_triangles = triangles(frame_xy)
    if reference_triangles.tree is None or not len(frame_triangles.invariants):
        return []
    distance, nearest = reference_triangles.tree.query(frame_triangles.invariants, k=3,
                                                       distance_upper_bound=INVARIANT_RADIUS)
    frame_pair, slot = np.nonzero(np.isfinite(distance))
    if not frame_pair.size:
        return []
    frame_vertices = frame_triangles.vertices[frame_pair]
    reference_vertices = reference_triangles.vertices[nearest[frame_pair, slot]]
    votes = np.zeros((min(len(frame_xy), PATTERN_STARS), min(len(reference_xy), PATTERN_STARS)), int)
    np.add.at(votes, (frame_vertices.ravel(), reference_vertices.ravel()), 1)
    score = votes[frame_vertices, reference_vertices].sum(axis=1)
    z = frame_xy[frame_vertices, 0] + 1j * frame_xy[frame_vertices, 1]
    w = reference_xy[reference_vertices, 0] + 1j * reference_xy[reference_vertices, 1]
    a, b = _similarity(z, w)
    in_range = (np.abs(a) >= scale_range[0]) & (np.abs(a) <= scale_range[1])
    candidates = np.flatnonzero(in_range)[np.argsort(-score[in_range], kind="stable")[:HYPOTHESES]]
    best, best_count = None, 0
    points = frame_xy[:PATTERN_STARS]
    for index in candidates:
        mapped = a[index] * (points[:, 0] + 1j * points[:, 1]) + b[index]
        distance, _ = reference_tree.query(np.column_stack([mapped.real, mapped.imag]),
                                           distance_upper_bound=2 * tolerance)
        count = int(np.isfinite(distance).sum())
        if count > best_count:
            best, best_count = _similarity_transform(a[index], b[index]), count
    return [] if best is None else [best]


def _pairs(frame_xy, reference_tree, transform: Transform, tolerance):
    """One-to-one pairs (frame index, reference index, distance) within ``tolerance``, nearest first."""
    x, y = transform.apply(frame_xy[:, 0], frame_xy[:, 1])
    distance, nearest = reference_tree.query(np.column_stack([x, y]), distance_upper_bound=tolerance)
    frame_index = np.flatnonzero(np.isfinite(distance))
    order = np.argsort(distance[frame_index], kind="stable")
    frame_index = frame_index[order]
    _, first = np.unique(nearest[frame_index], return_index=True)
    frame_index = np.sort(frame_index[first])
    return frame_index, nearest[frame_index]


def _residuals(transform: Transform, source, target):
    x, y = transform.apply(source[:, 0], source[:, 1])
    return np.hypot(x - target[:, 0], y - target[:, 1])


def _refine(frame_xy, reference_xy, reference_tree, start: Transform, model, tolerance,
            variances) -> StarMatch | None:
    transform, previous = start, None
    for _ in range(MAX_ITERATIONS):
        frame_index, reference_index = _pairs(frame_xy, reference_tree, transform, tolerance)
        weights = 1.0 / (variances[0][frame_index] + variances[1][reference_index])
        keep = np.ones(frame_index.size, bool)
        # Fit, drop the outliers, fit again until the set stays: one bad pair must not bend the transform.
        for _ in range(MAX_ITERATIONS):
            if keep.sum() < _MIN_PAIRS[model]:
                break
            source, target = frame_xy[frame_index[keep]], reference_xy[reference_index[keep]]
            transform = fit_transform(source, target, model, weights[keep])
            offsets = _residuals(transform, frame_xy[frame_index], reference_xy[reference_index])
            # Offsets in units of each pair's own error: a faint star may be further off than a bright one.
            scaled = offsets * np.sqrt(weights)
            good = (scaled <= CLIP * np.median(scaled[keep]) / _RAYLEIGH_MEDIAN) | (offsets <= MIN_CLIP)
            if np.array_equal(good, keep) or good.sum() < _MIN_PAIRS[model]:
                break
            keep = good
        if keep.sum() < _MIN_PAIRS[model]:
            return None
        pairs = (frame_index[keep], reference_index[keep], weights[keep])
        if previous is not None and all(np.array_equal(p, q) for p, q in zip(pairs, previous)):
            break
        previous = pairs
    frame_index, reference_index, weights = previous
    offsets = _residuals(transform, frame_xy[frame_index], reference_xy[reference_index])
    # Weighted least squares: the parameters' covariance is s^2 (J^T W J)^-1, s^2 the scatter per unit weight.
    free = _FREE_PARAMETERS[model]
    unit_variance = np.sum(weights * offsets**2) / max(2 * offsets.size - free, 1)
    jacobian = _jacobian(model, frame_xy[frame_index])
    normal = np.einsum("n,nip,niq->pq", weights, jacobian, jacobian)
    covariance = unit_variance * np.linalg.pinv(normal)
    residual = float(np.sqrt(np.sum(weights * offsets**2) / np.sum(weights)))
    # Where the pairs are, weighted as they are in the fit.
    variance = np.einsum("nip,pq,niq->n", jacobian, covariance, jacobian)
    uncertainty = float(np.sqrt(np.sum(weights * variance) / np.sum(weights)))
    return StarMatch(transform, frame_index, reference_index, weights, residual, model, covariance, uncertainty)


def _jacobian(model: str, xy) -> np.ndarray:
    """(n, 2, p): how the transformed (x, y) of each point change with the ``model``'s p parameters
    (translation: tx, ty; similarity: a, b, tx, ty of x' = a x - b y + tx, y' = b x + a y + ty; affine: the
    six)."""
    x, y = xy[:, 0], xy[:, 1]
    one, zero = np.ones_like(x), np.zeros_like(x)
    rows = {"translation": ([one, zero], [zero, one]),
            "similarity": ([x, -y, one, zero], [y, x, zero, one]),
            "affine": ([x, y, one, zero, zero, zero], [zero, zero, zero, x, y, one])}[model]
    return np.stack([np.stack(row, axis=-1) for row in rows], axis=1)
