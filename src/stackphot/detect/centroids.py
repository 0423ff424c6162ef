"""Centroids refined in a box around each detection: photutils' functions, and a 2D Gaussian fit of all
boxes at once."""

from __future__ import annotations

import warnings

import numpy as np
from astropy.utils.exceptions import AstropyUserWarning
from photutils.centroids import centroid_1dg, centroid_com, centroid_quadratic, centroid_sources
from scipy import ndimage

from stackphot.detect.finders import invalid_pixels
from stackphot.numerics import box_pixels, levenberg_marquardt

__all__ = ["CENTROID_METHODS", "refine_centroids", "gaussian_centroids"]

CENTROID_METHODS = ("com", "quadratic", "1dg", "2dg")
# 2dg is fitted here, all boxes at once (gaussian_centroids); the others are photutils' per-box functions.
_PHOTUTILS_CENTROIDS = {"com": centroid_com, "quadratic": centroid_quadratic, "1dg": centroid_1dg}


def refine_centroids(data, x, y, *, method: str = "com", box_size: int = 11, mask=None,
                     max_shift: float | None = None):
    """Recentroid sources in a box around given positions with a photutils centroid function.

    Parameters
    ----------
    data : 2D array
        Background-subtracted image; NaN and infinite pixels are masked.
    x, y : array_like
        Starting positions (0-based pixels), e.g. the ``x``, ``y`` columns of ``find_sources``.
    method : {'com', 'quadratic', '1dg', '2dg'}
        photutils ``centroid_com`` (centre of mass: fast, but pulled towards the box centre by noise and
        neighbours), ``centroid_quadratic`` (a quadratic fitted to the 5 x 5 pixels around the peak),
        ``centroid_1dg`` (Gaussians fitted to the marginal sums) or a 2D Gaussian fit (``2dg``, the fit of
        photutils' ``centroid_2dg`` done for all boxes at once by ``gaussian_centroids``).
    box_size : int
        Odd side (px) of the box centred on each starting position; a few FWHM suits isolated stars.
    mask : 2D bool array, optional
        Pixels to ignore (True), in addition to the non-finite ones.
    max_shift : float, optional
        Largest move (px) accepted from the starting position; default ``box_size / 2``. In a crowded
        field a neighbour in the box pulls the centroid of a faint star towards it: on a simulated cluster
        stack, 2dg centroids with no limit left 2.3 % of the sources more than 1.5 px from any true star,
        with a 1 px limit 0.7 %.

    Returns
    -------
    x_new, y_new : numpy.ndarray
        Refined positions, 1D float arrays of the inputs' length. A source keeps its starting position
        where the centroid fails (NaN, e.g. a fit that does not converge), moves more than ``max_shift``
        px (it ran off to a neighbour), where its box holds no valid pixel, or where the start is not
        finite or off the image.

    Raises
    ------
    ValueError
        Unknown ``method`` (the valid ones are listed), ``box_size`` not an odd integer >= 3, ``x`` and
        ``y`` of different lengths, or ``mask`` of the wrong shape.
    """
    if method not in CENTROID_METHODS:
        raise ValueError(f"unknown centroid method {method!r}; choose one of {', '.join(CENTROID_METHODS)}")
    if int(box_size) != box_size or box_size < 3 or box_size % 2 == 0:
        raise ValueError(f"box_size must be an odd integer >= 3, got {box_size}")
    data = np.asarray(data, dtype=float)
    x = np.atleast_1d(np.asarray(x, dtype=float)).copy()
    y = np.atleast_1d(np.asarray(y, dtype=float)).copy()
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError(f"x and y must be 1D and of the same length, got shapes {x.shape} and {y.shape}")
    invalid = invalid_pixels(data, mask)

    # centroid_sources refuses any position off the image (and an empty list): centroid the others only.
    inside = np.isfinite(x) & np.isfinite(y) & (x >= 0) & (y >= 0)
    inside &= (x <= data.shape[1] - 1) & (y <= data.shape[0] - 1)
    if invalid.any():
        # photutils raises on a box with no valid pixel: those sources keep their start too.
        usable = ndimage.maximum_filter(~invalid, size=int(box_size), mode="constant", cval=False)
        inside[inside] = usable[np.rint(y[inside]).astype(int), np.rint(x[inside]).astype(int)]
    if not inside.any():
        return x, y
    if method == "2dg":
        cx, cy = gaussian_centroids(data, x[inside], y[inside], box_size=int(box_size), mask=invalid)
    else:
        with warnings.catch_warnings():
            # Failed fits return NaN, handled below; their warnings would only repeat that per source.
            warnings.simplefilter("ignore", AstropyUserWarning)
            warnings.simplefilter("ignore", RuntimeWarning)
            cx, cy = centroid_sources(
                data, x[inside], y[inside], box_size=int(box_size), mask=invalid,
                centroid_func=_PHOTUTILS_CENTROIDS[method],
            )
    limit = box_size / 2 if max_shift is None else max_shift
    good = np.isfinite(cx) & np.isfinite(cy) & (np.hypot(cx - x[inside], cy - y[inside]) <= limit)
    index = np.flatnonzero(inside)[good]
    x[index], y[index] = cx[good], cy[good]
    return x, y


def gaussian_centroids(data, x, y, *, box_size: int, mask=None, max_iterations: int = 200):
    """Centres of 2D Gaussians fitted by least squares to the box around each position, all boxes at once.

    The fit is photutils' ``centroid_2dg`` run through ``centroid_sources``: the same box (astropy's
    ``overlap_slices``, cut at the image's edges), an elliptical Gaussian with no constant term fitted to
    the box's valid pixels with equal weights, started from the moments of the box minus its minimum. It
    is solved by Levenberg-Marquardt iterations on every box together (arrays of boxes x pixels x
    parameters) instead of one astropy fit per box, which is what makes 2dg affordable on crowded fields
    (``python bench/centroids.py`` times both).

    Parameters
    ----------
    data : 2D array
        Background-subtracted image.
    x, y : 1D arrays
        Box centres (px), on the image.
    box_size : int
        Odd side of the boxes (px).
    mask : 2D bool array, optional
        Pixels to leave out of the fits (True), besides the non-finite ones.
    max_iterations : int
        Iterations after which a fit that still improves stops where it is. As with photutils (whose fit
        stops after 100 evaluations), this happens when the Gaussian narrows towards a spike on a pixel;
        its centre has settled long before its width.

    Returns
    -------
    x_fit, y_fit : numpy.ndarray
        The fitted centres (px); NaN where there is nothing to fit (fewer than 6 valid pixels, a flat
        box, moments with no width) or the fit diverges.
    """
    data = np.asarray(data, dtype=float)
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    invalid = invalid_pixels(data, mask)
    x_start = np.ceil(x - box_size / 2).astype(int)
    y_start = np.ceil(y - box_size / 2).astype(int)
    # ``on_image`` marks the pixels of photutils' boxes, which are cut at the image's edges.
    pixels, on_image = box_pixels(data.shape, x_start, y_start, box_size)
    weights = ~np.take(invalid, pixels) & on_image
    boxes = np.where(weights, np.take(data, pixels), 0.0)
    weights = weights.astype(float)
    grid_y, grid_x = (g.ravel().astype(float) for g in np.indices((box_size, box_size)))
    start, fittable = _gaussian_moments(boxes, weights, on_image, grid_x, grid_y)
    fitted = _fit_gaussians(boxes[fittable], weights[fittable], start[fittable], grid_x, grid_y, max_iterations)
    x_fit, y_fit = np.full(len(x), np.nan), np.full(len(x), np.nan)
    index = np.flatnonzero(fittable)
    x_fit[index] = fitted[:, 1] + x_start[index]
    y_fit[index] = fitted[:, 2] + y_start[index]
    return x_fit, y_fit


def _gaussian_moments(boxes, weights, on_image, grid_x, grid_y):
    """photutils' starting point (``_gaussian2d_moments`` of the box minus its minimum, masked pixels
    being 0) as ``(amplitude, x0, y0, a, b, c)`` of the exponent ``a dx^2 + b dx dy + c dy^2``
    (astropy's Gaussian2D), and whether a box can be fitted at all."""
    shifted = np.where(on_image, boxes - np.where(on_image, boxes, np.inf).min(axis=1, keepdims=True), 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        total = shifted.sum(axis=1)
        x_mean = (shifted * grid_x).sum(axis=1) / total
        y_mean = (shifted * grid_y).sum(axis=1) / total
        dx, dy = grid_x - x_mean[:, None], grid_y - y_mean[:, None]
        mu_20, mu_02, mu_11 = ((shifted * moment).sum(axis=1) / total for moment in (dx**2, dy**2, dx * dy))
        # The exponent's quadratic form is half the inverse of the moments' covariance.
        determinant = mu_20 * mu_02 - mu_11**2
        start = np.column_stack([shifted.max(axis=1), x_mean, y_mean, 0.5 * mu_02 / determinant,
                                 -mu_11 / determinant, 0.5 * mu_20 / determinant])
        fittable = (weights.sum(axis=1) >= 6) & (total > 0) & (determinant > 0) & np.isfinite(start).all(axis=1)
    return start, fittable


def _fit_gaussians(boxes, weights, start, grid_x, grid_y, max_iterations):
    """The Gaussians' fitted parameters (NaN for a fit that diverged), by ``levenberg_marquardt``."""

    def model_and_jacobian(p):
        dx, dy = grid_x - p[:, 1:2], grid_y - p[:, 2:3]
        a, b, c = p[:, 3:4], p[:, 4:5], p[:, 5:6]
        profile = np.exp(-(a * dx**2 + b * dx * dy + c * dy**2))
        model = p[:, 0:1] * profile
        jacobian = np.stack([profile, model * (2 * a * dx + b * dy), model * (b * dx + 2 * c * dy),
                             -model * dx**2, -model * dx * dy, -model * dy**2], axis=-1)
        return model, jacobian

    return levenberg_marquardt(model_and_jacobian, boxes, weights, start, max_iterations=max_iterations)
