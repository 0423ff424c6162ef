"""Moffat PSF photometry of every source of an image at once, to subtract them and find what they hid.

The PSF is photutils' ``MoffatPSF``: ``flux * (beta - 1) / (pi alpha**2) * (1 + r**2 / alpha**2)**-beta``,
evaluated at pixel centres. Its shape (``alpha``, ``beta``) is the median of free fits to the brightest
sources, fitted all at once (``stackphot.numerics``). Then the positions and fluxes of all sources are one
least-squares problem with a sparse system of normal equations, as in DAOPHOT's ALLSTAR: sources whose
boxes overlap are fitted together, as photutils' ``PSFPhotometry`` fits a group of them with an astropy
compound model, at a small fraction of its cost.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from stackphot.numerics import box_pixels, levenberg_marquardt, moffat_fwhm

__all__ = ["MoffatShape", "PSFFitError", "PSFFit", "fit_moffat_shape", "fit_psf_photometry"]


class PSFFitError(ValueError):
    """No PSF model could be fitted to the image's sources."""


@dataclass(frozen=True)
class MoffatShape:
    """A Moffat profile's core width ``alpha`` (px) and wing slope ``beta`` (> 1)."""

    alpha: float
    beta: float

    @property
    def fwhm(self) -> float:
        return moffat_fwhm(self.alpha, self.beta)

    def radius(self, enclosed: float) -> float:
        """The radius (px) within which the profile holds the fraction ``enclosed`` of its light:
        ``(1 + r**2 / alpha**2) ** (1 - beta) = 1 - enclosed``; infinite for ``beta <= 1`` (no finite light)."""
        if self.beta <= 1:
            return math.inf
        return self.alpha * math.sqrt((1.0 - enclosed) ** (1.0 / (1.0 - self.beta)) - 1.0)


@dataclass
class PSFFit:
    """Fitted positions and fluxes (0 for a source the fit dropped) and the model image of all sources."""

    x: np.ndarray
    y: np.ndarray
    flux: np.ndarray
    fitted: np.ndarray
    model: np.ndarray
    iterations: int


def _moffat(grid_x, grid_y, params, shape: MoffatShape | None, *, jacobian: bool = True):
    """Model and Jacobian at box pixels of parameters ``(flux, x0, y0)``, plus ``(alpha, beta)`` when
    ``shape`` is None (free); only the model if not ``jacobian``."""
    flux, x0, y0 = params[:, 0:1], params[:, 1:2], params[:, 2:3]
    alpha, beta = (params[:, 3:4], params[:, 4:5]) if shape is None else (shape.alpha, shape.beta)
    dx, dy = grid_x - x0, grid_y - y0
    r2 = dx**2 + dy**2
    u = 1.0 + r2 / alpha**2
    unit = (beta - 1.0) / (np.pi * alpha**2) * u**-beta
    model = flux * unit
    if not jacobian:
        return model
    slope = 2.0 * beta * model / (alpha**2 * u)  # d model / d x0, per unit dx
    columns = [unit, slope * dx, slope * dy]
    if shape is None:
        columns += [model * (-2.0 / alpha + 2.0 * beta * r2 / (alpha**3 * u)),
                    model * (1.0 / (beta - 1.0) - np.log(u))]
    return model, np.stack(columns, axis=-1)


def _boxes(data, invalid, error, x, y, size):
    """Boxes of ``size`` px centred on the pixels nearest to the positions: their first column and row,
    pixel indices, data and weights (0 off the image and on invalid pixels)."""
    x_start = np.rint(np.asarray(x, dtype=float)).astype(int) - size // 2
    y_start = np.rint(np.asarray(y, dtype=float)).astype(int) - size // 2
    pixels, on_image = box_pixels(data.shape, x_start, y_start, size)
    valid = on_image & ~np.take(invalid, pixels)
    sigma = 1.0 if error is None else np.take(error, pixels)
    weights = np.where(valid, 1.0 / np.where(valid, sigma, 1.0), 0.0)
    return x_start, y_start, pixels, np.where(valid, np.take(data, pixels), 0.0), weights


def fit_moffat_shape(data, x, y, *, invalid, error=None, box_size: int = 11,
                     max_iterations: int = 100) -> MoffatShape:
    """The median Moffat shape of free fits (flux, position, alpha, beta) to the listed sources.

    Each source is fitted alone in its box, weighted by ``error``, from alpha 2 px, beta 2.5 and the box's
    sum; fits that fail or end with a width or slope out of bounds are left out of the median.

    Raises
    ------
    PSFFitError
        If no fit ends with alpha > 0 and beta > 1.
    """
    data = np.asarray(data, dtype=float)
    x_start, y_start, _, boxes, weights = _boxes(data, invalid, error, x, y, box_size)
    grid_y, grid_x = (g.ravel().astype(float) for g in np.indices((box_size, box_size)))
    start = np.column_stack([boxes.sum(axis=1), np.asarray(x) - x_start, np.asarray(y) - y_start,
                             np.full(len(boxes), 2.0), np.full(len(boxes), 2.5)])
    fitted = levenberg_marquardt(lambda p: _moffat(grid_x, grid_y, p, None), boxes, weights, start,
                                 max_iterations=max_iterations)
    alpha, beta = np.abs(fitted[:, 3]), fitted[:, 4]  # the profile depends on alpha squared
    good = np.isfinite(fitted).all(axis=1) & (alpha > 0) & (beta > 1) & (fitted[:, 0] > 0)
    if not good.any():
        raise PSFFitError(f"no Moffat PSF fits the {len(boxes)} brightest sources")
    return MoffatShape(float(np.median(alpha[good])), float(np.median(beta[good])))


def _draw(flat_image, shape, centre_x, centre_y, params, psf: MoffatShape, size: int, chunk: int = 2000):
    """Add sources of parameters ``(flux, x, y)`` (image pixels) to a flattened image, each drawn in a box
    centred on the pixel nearest to its centre."""
    grid_y, grid_x = (g.ravel().astype(float) for g in np.indices((size, size)))
    for first in range(0, len(params), chunk):  # bounded memory on a large catalog
        part = slice(first, first + chunk)
        x_start = np.rint(centre_x[part]).astype(int) - size // 2
        y_start = np.rint(centre_y[part]).astype(int) - size // 2
        pixels, on_image = box_pixels(shape, x_start, y_start, size)
        offset = np.column_stack([np.zeros(len(x_start)), x_start, y_start])
        values = _moffat(grid_x, grid_y, params[part] - offset, psf, jacobian=False)
        np.add.at(flat_image, pixels[on_image], values[on_image])


class _Stamps:
    """The pixels of each source's model stamp that lie in the fitted pixels: where the fit's model and
    Jacobian are evaluated (fixed, as the stamps stay centred on the starting positions); ``near``: those
    at most ``near`` px from the stamp's centre in x and y."""

    def __init__(self, shape, centre_x, centre_y, size: int, fitted_index, near: int, chunk: int = 2000):
        sources, rows, grid_x, grid_y = [], [], [], []
        half = size // 2
        local_y, local_x = (g.ravel() for g in np.indices((size, size)))
        for first in range(0, len(centre_x), chunk):  # bounded memory on a large catalog
            part = slice(first, first + chunk)
            x_start = np.rint(centre_x[part]).astype(int) - half
            y_start = np.rint(centre_y[part]).astype(int) - half
            pixels, on_image = box_pixels(shape, x_start, y_start, size)
            index = np.where(on_image, fitted_index[pixels], -1)
            source, where = np.nonzero(index >= 0)
            # A few hundred entries per source in a crowded field: 4-byte integers keep them small.
            sources.append((source + first).astype(np.int32))
            rows.append(index[source, where].astype(np.int32))
            grid_x.append((x_start[source] + local_x[where]).astype(np.int32))
            grid_y.append((y_start[source] + local_y[where]).astype(np.int32))
        self.source, self.row = np.concatenate(sources), np.concatenate(rows)
        self.x, self.y = np.concatenate(grid_x), np.concatenate(grid_y)
        self.near = ((np.abs(self.x - np.rint(centre_x)[self.source]) <= near)
                     & (np.abs(self.y - np.rint(centre_y)[self.source]) <= near))

    def evaluate(self, params, psf: MoffatShape, entries, *, jacobian: bool):
        """Model (entries, 1) and Jacobian (entries, 1, 3) at these stamp pixels, of each one's own source."""
        return _moffat(self.x[entries, None].astype(float), self.y[entries, None].astype(float),
                       params[self.source[entries]], psf, jacobian=jacobian)


def fit_psf_photometry(data, x, y, psf: MoffatShape, *, invalid, error=None, fit_size: int, model_size: int,
                       tolerance: float = 1e-3, max_iterations: int = 50) -> PSFFit:
    """Position and flux of every source at once, with a fixed Moffat shape.

    One least-squares problem for all sources: the fitted pixels are those of every source's box of
    ``fit_size`` px (each pixel once), the model there is the sum of every source's PSF, drawn over
    ``model_size`` px, and the normal equations of all positions and fluxes are one sparse system. Sources
    whose boxes overlap are thus fitted together, as photutils' ``PSFPhotometry`` fits a group, and each
    source's wings are subtracted from its neighbours' boxes as well. Levenberg-Marquardt iterations fix a
    source once it and every source sharing fitted pixels with it moved by less than ``tolerance`` px (and
    their fluxes by less than that fraction) in one iteration, so that later iterations fit only the
    sources still moving (in a PSF's mismatch around a saturated star some slide for long).

    Parameters
    ----------
    data : 2D array
        Background-subtracted image.
    x, y : 1D arrays
        Starting positions (px).
    psf : MoffatShape
    invalid : 2D bool array
        Pixels left out of the fits.
    error : 2D array, optional
        One-sigma error per pixel (positive where valid), weighting the fits.
    fit_size : int
        Odd side of each source's fitting box (px), centred on the pixel nearest to its starting position.
    model_size : int
        Odd side of the box each source's model is drawn in (px), centred as its fitting box.
    tolerance : float
        Largest move (px) and relative change of flux of a settled source.
    max_iterations : int
        After these, sources still moving stay where they are.

    Returns
    -------
    PSFFit
        A source with no valid pixel in its box, or whose fit leaves its box or ends with no positive flux,
        is dropped: flux 0, its starting position, ``fitted`` False. Its light is left in the residual.
    """
    from scipy import sparse
    from scipy.sparse.linalg import spsolve

    data = np.asarray(data, dtype=float)
    shape = data.shape
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    n = x.size
    if n == 0:
        return PSFFit(np.empty(0), np.empty(0), np.empty(0), np.empty(0, dtype=bool), np.zeros(shape), 0)
    x_start, y_start, pixels, boxes, weights = _boxes(data, invalid, error, x, y, fit_size)
    centre_x, centre_y = x_start + fit_size // 2, y_start + fit_size // 2
    in_fit = np.unique(pixels[weights > 0])
    fitted_index = np.full(shape[0] * shape[1], -1, dtype=np.int64)
    fitted_index[in_fit] = np.arange(in_fit.size)
    values = np.take(data, in_fit)
    sigma = np.ones(in_fit.size) if error is None else np.take(error, in_fit)
    pixel_weight = 1.0 / sigma**2
    stamps = _Stamps(shape, centre_x, centre_y, model_size, fitted_index, near=fit_size)

    # Start: each flux the least-squares amplitude of the PSF at its starting position, alone in its box.
    grid_y, grid_x = (g.ravel().astype(float) for g in np.indices((fit_size, fit_size)))
    unit = _moffat(grid_x, grid_y, np.column_stack([np.ones(n), x - x_start, y - y_start]), psf,
                   jacobian=False) * weights
    with np.errstate(invalid="ignore", divide="ignore"):
        flux = np.nan_to_num(((boxes * weights) * unit).sum(axis=1) / (unit**2).sum(axis=1))
    params = np.column_stack([flux, x, y])
    fitted = flux > 0
    params[~fitted, 0] = 0.0

    # Sources still fitted; the light of those that have settled (with all their neighbours) is fixed.
    active = fitted.copy()
    settled = np.zeros(in_fit.size)
    damping, iterations = 1e-3, 0
    for iterations in range(1, max_iterations + 1):
        if not active.any():
            break
        columns = np.flatnonzero(active)
        column_of = np.full(n, -1)
        column_of[columns] = np.arange(columns.size)
        entries = active[stamps.source]
        cols = column_of[stamps.source[entries]]
        # Only the pixels that the moving sources reach change: the problem is posed on those.
        pixels_reached, rows = np.unique(stamps.row[entries], return_inverse=True)
        target = values[pixels_reached] - settled[pixels_reached]
        weight = pixel_weight[pixels_reached]

        def light(p):
            model = stamps.evaluate(p, psf, entries, jacobian=False)[:, 0]
            return np.bincount(rows, weights=model, minlength=pixels_reached.size)

        model, jacobian = stamps.evaluate(params, psf, entries, jacobian=True)
        residual = target - np.bincount(rows, weights=model[:, 0], minlength=pixels_reached.size)
        current = float((weight * residual**2).sum())
        # The gradient is exact; the normal matrix leaves out each source's far wings (beyond a fitting box's
        # side from its centre), which changes the steps a little but not the minimum, for a fraction of the cost.
        gradient = np.bincount((3 * cols[:, None] + np.arange(3)).ravel(),
                               weights=(jacobian[:, 0, :] * (weight * residual)[rows, None]).ravel(),
                               minlength=3 * columns.size)
        near = stamps.near[entries]
        j = sparse.csr_matrix((jacobian[near, 0, :].ravel(),
                               (np.repeat(rows[near], 3), (3 * cols[near, None] + np.arange(3)).ravel())),
                              shape=(pixels_reached.size, 3 * columns.size))
        normal = (j.T @ j.multiply(weight[:, None]).tocsr()).tocsc()
        diagonal = sparse.diags(normal.diagonal())
        while damping < 1e8:
            step = spsolve((normal + damping * diagonal).tocsc(), gradient).reshape(-1, 3)
            trial = params.copy()
            trial[columns] += step
            if float((weight * (target - light(trial)) ** 2).sum()) < current:
                params, damping = trial, max(damping / 3, 1e-7)
                break
            damping *= 4
        else:  # no step lowers chi-square: the minimum, to rounding
            break
        lost = ~((params[columns, 0] > 0) & (np.abs(params[columns, 1] - centre_x[columns]) <= fit_size / 2)
                 & (np.abs(params[columns, 2] - centre_y[columns]) <= fit_size / 2))
        unsettled = ((np.abs(step[:, 1:]).max(axis=1) > tolerance)
                     | ~(np.abs(step[:, 0]) <= tolerance * params[columns, 0]))
        # A source settles when it and every source sharing fitted pixels with it moved less than the tolerance.
        sharing = sparse.csr_matrix((np.ones(rows.size), (rows, cols)), shape=(pixels_reached.size, columns.size))
        near_unsettled = (sharing.T @ (sharing @ (unsettled | lost).astype(float))) > 0
        settle = columns[~near_unsettled & ~lost]
        settling = np.isin(stamps.source, settle)
        light_settling = stamps.evaluate(params, psf, settling, jacobian=False)[:, 0]
        settled += np.bincount(stamps.row[settling], weights=light_settling, minlength=in_fit.size)
        dropped = columns[lost]
        params[dropped] = np.column_stack([np.zeros(dropped.size), x[dropped], y[dropped]])
        fitted[dropped] = active[dropped] = active[settle] = False
    model = np.zeros(shape[0] * shape[1])
    _draw(model, shape, centre_x, centre_y, params, psf, model_size)
    return PSFFit(params[:, 1], params[:, 2], params[:, 0], fitted, model.reshape(shape), iterations)
