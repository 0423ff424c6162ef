"""Alignment: a frame resampled onto the reference's pixels by its transform, uncovered pixels marked NaN.

The resampling is a cubic B-spline interpolation (``scipy.ndimage.affine_transform``, order 3; for a pure
translation scipy samples exactly as ``ndimage.shift``). A Fourier shift would be exact for band-limited
images, but it is circular: light leaving one edge comes back on the other, and a hot pixel or cosmic ray
rings across the whole row. The spline is local (a defect spreads over 4x4 pixels) and keeps a star's flux
and shape (see the tests). Pixels whose source position falls outside the frame are NaN, never zero, so a
stack can tell "no data" from "no light". Where the transform scales the frame, values are divided by the
area ratio, so a star keeps its counts.

The aligned cube is built here too: its planes are the aligned frames, and its header says how each was
moved.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
from astropy.io import fits
from scipy import ndimage

from stackphot.geometry import Transform
from stackphot.io import add_cards
from stackphot.provenance import Product


@dataclass
class AlignedFrame:
    data: np.ndarray  # float32, NaN where not covered or touched by a bad pixel
    error: np.ndarray | None  # float32, NaN where data is NaN
    valid: np.ndarray  # bool


def _resample(image, transform: Transform, *, order: int, mode: str, prefilter: bool = False):
    matrix, offset = transform.sampling()
    return ndimage.affine_transform(image, matrix, offset, order=order, mode=mode, cval=0.0, prefilter=prefilter)


# scipy pads an image by this much (its edge values) before the spline prefilter of mode "nearest".
SPLINE_PADDING = 12


def _translated(image, offset, *, order: int, prefilter: bool) -> np.ndarray:
    """``_resample(image, translation, order=order, mode="nearest", prefilter=prefilter)`` in float64, for a
    translation sampling ``offset`` (row, column), as two 1D interpolations.

    A translation moves every pixel by the same fraction, so along each axis the interpolation is one weighted
    sum of ``order + 1`` shifted copies of the spline coefficients, with scipy's own weights
    (``_spline_weights``), instead of ``zoom_shift``'s (order + 1)² weights per pixel: half the time. The
    coefficients are scipy's (the same padding and prefilter), taps beyond them take the nearest, as scipy's;
    the values differ from scipy's by the rounding of the sums' order (``tests/test_fast_paths_stack.py``).
    """
    if prefilter and order > 1:
        padding = SPLINE_PADDING
        coefficients = ndimage.spline_filter(np.pad(image, padding, mode="edge"), order, output=np.float64,
                                             mode="nearest")
    else:
        padding, coefficients = 0, np.asarray(image, dtype=np.float64)
    taps = []  # per axis: the first tap's index in the coefficients, and the weights
    for shift in offset:
        start = math.floor(shift + 0.5) if order % 2 == 0 else math.floor(shift)  # scipy's first tap + order // 2
        taps.append((padding + start - order // 2, _spline_weights(shift - start, order)))
    # Taps off the coefficients (a shift beyond the padding) take the edge's: padded once more, as far as needed.
    extra = [(max(0, -first), max(0, first + length + order - size))
             for (first, _), length, size in zip(taps, np.shape(image), coefficients.shape, strict=True)]
    if any(before or after for before, after in extra):
        coefficients = np.pad(coefficients, extra, mode="edge")
    for axis, ((first, weights), length) in enumerate(zip(taps, np.shape(image), strict=True)):
        first += extra[axis][0]

        def tap(k, axis=axis, first=first, length=length):
            window = slice(first + k, first + k + length)
            return coefficients[window] if axis == 0 else coefficients[:, window]

        result = weights[0] * tap(0)
        for k in range(1, order + 1):
            result += weights[k] * tap(k)
        coefficients = result
    return coefficients


@functools.lru_cache(maxsize=64)
def _spline_weights(fraction: float, order: int) -> tuple[float, ...]:
    """The ``order + 1`` weights scipy's spline interpolation gives the taps of a sample ``fraction`` past its
    first tap's position plus ``order // 2``: read off scipy itself, by interpolating unit vectors."""
    position = [[fraction + order // 2]]
    return tuple(float(ndimage.map_coordinates(unit, position, order=order, prefilter=False, mode="nearest")[0])
                 for unit in np.eye(order + 2)[: order + 1])


def _touched_by_translation(bad, offset):
    """``_resample(bad, order=1, mode="constant") > 0`` for a translation sampling ``offset`` (row, column),
    six times faster: the OR of the source pixels each output pixel gives a nonzero weight, along one axis
    and then the other (a translation's linear interpolation is separable).

    Which source pixels those are follows scipy's own arithmetic (``ndimage.zoom_shift``, order 1), so the
    result is the same bit for bit, whatever the shift: an output pixel samples ``index + offset``; outside
    ``[0, n - 1]`` it gets the constant 0; inside, pixel ``floor`` has weight ``w = 1 - fraction`` (never 0)
    and the next one ``1 - w``, which is 0 for an integer position and for a fraction below about 1e-16. The
    weights are at least 1e-16, so their products cannot underflow the float32 output to 0.
    """
    touched = bad
    for axis, shift in enumerate(offset):
        n = bad.shape[axis]
        position = np.arange(n) + shift
        inside = (position >= 0) & (position <= n - 1)
        first = np.floor(np.where(inside, position, 0))
        weight = 1.0 - (position - first)
        second = inside & (1.0 - weight > 0)
        first = first.astype(np.intp)
        shape = (n, 1) if axis == 0 else (1, n)
        touched = (np.take(touched, first, axis=axis) & inside.reshape(shape)) | (
            np.take(touched, np.minimum(first + 1, n - 1), axis=axis) & second.reshape(shape))
    return touched


def _grown(mask, steps: int) -> np.ndarray:
    """``ndimage.binary_dilation(mask, iterations=steps)`` (a cross each step), by ORs of shifted copies."""
    for _ in range(steps):
        grown = mask.copy()
        grown[1:] |= mask[:-1]
        grown[:-1] |= mask[1:]
        grown[:, 1:] |= mask[:, :-1]
        grown[:, :-1] |= mask[:, 1:]
        mask = grown
    return mask


def align_frame(data, transform: Transform, *, error=None, mask=None, order: int = 3) -> AlignedFrame:
    """Resample a background-subtracted frame onto the reference by ``transform`` (frame to reference).

    Parameters
    ----------
    data : 2D array
        Background-subtracted frame (so that filling a bad pixel with 0 means "sky").
    transform : Transform
        The frame's registration.
    error : 2D array, optional
        One-sigma error map; its variance is resampled with linear interpolation (never negative).
    mask : 2D bool array, optional
        Bad pixels. Every output pixel whose interpolation touches one becomes NaN, instead of the bad
        value being smeared into its neighbours.
    order : int
        Spline order (3: cubic; 1: linear, which never overshoots).
    """
    data = np.asarray(data, dtype=np.float32)
    bad = ~np.isfinite(data)
    if mask is not None:
        bad |= np.asarray(mask, dtype=bool)
    filled = np.where(bad, np.float32(0), data)
    offset = transform.sampling()[1] if transform.is_translation else None  # a translation's: the fast paths
    if offset is not None:
        resampled = _translated(filled, offset, order=order, prefilter=order > 1)
    else:
        resampled = _resample(filled, transform, order=order, mode="nearest", prefilter=order > 1)
    valid = transform.covered(data.shape).copy()
    if bad.any():
        # Output pixels whose interpolation used a bad pixel's (filled) value are not data.
        if offset is not None:
            touched = _touched_by_translation(bad, offset)
        else:
            touched = _resample(bad.astype(np.float32), transform, order=1, mode="constant") > 0
        if order > 1:
            # A spline of order k takes k + 1 taps a side, linear interpolation 2: k // 2 pixels further each
            # way. Grown by a cross, the footprint leaves out the corners of the spline's square of taps, whose
            # weights are small (at most 1/36 for the cubic): taking them too would cost a star's aperture
            # wherever a defect is near it in every frame (tests/test_fast_paths_stack.py).
            touched = _grown(touched, order // 2)
        valid &= ~touched
    area = abs(transform.determinant)  # reference pixels per frame pixel
    if area != 1.0:
        resampled = resampled / area
    resampled = np.where(valid, resampled, np.nan).astype(np.float32)
    resampled_error = None
    if error is not None:
        # np.nan_to_num's values (NaN 0, an infinite error the largest float), in two passes where it takes four.
        variance = np.square(np.asarray(error, dtype=np.float64))
        variance[np.isnan(variance)] = 0.0
        np.minimum(variance, np.finfo(np.float64).max, out=variance)
        if offset is not None:
            variance = _translated(variance, offset, order=1, prefilter=False)
        else:
            variance = _resample(variance, transform, order=1, mode="nearest")
        if area != 1.0:
            variance = variance / area**2
        resampled_error = np.where(valid, np.sqrt(np.clip(variance, 0, None)), np.nan).astype(np.float32)
    return AlignedFrame(resampled, resampled_error, valid)


def aligned_product(data, transform: Transform, header, *, error, mask, order: int) -> Product:
    """The aligned frame as a product over the frame's ``header``: its ERR, the applied shift, the WCS moved
    with the pixels (so it is the reference's sky), and how it was made. A frame that could not be
    registered covers nothing: all NaN."""
    if not transform.is_valid:
        blank = np.full_like(data, np.nan, dtype=np.float32)
        return Product(blank, {"ERR": blank.copy()}, history=[_align_history(transform, order)])
    aligned = align_frame(data, transform, error=error, mask=mask, order=order)
    cards = {"SHIFTY": (transform.dy, "applied shift along y (px)"),
             "SHIFTX": (transform.dx, "applied shift along x (px)")}
    if not transform.is_translation:
        cards["ROTATION"] = (transform.rotation, "applied rotation (deg, +x towards +y)")
        cards["SCALE"] = (transform.scale, "applied scale")
    cards.update(transform.moved_wcs_cards(header))
    return Product(aligned.data, {"ERR": aligned.error}, cards=cards, history=[_align_history(transform, order)])


def _align_history(transform: Transform, order: int) -> str:
    if transform.is_translation or not transform.is_valid:
        return f"stackphot align: scipy.ndimage.shift order {order}; uncovered pixels NaN"
    return (f"stackphot align: scipy.ndimage.affine_transform order {order} by {transform}; values divided by "
            f"the area ratio {abs(transform.determinant):.6f}; uncovered pixels NaN")


def cube_header(selection, *, unit: str) -> fits.Header:
    """Header of the aligned cube of the accepted frames of ``selection`` (frame_selection.csv: frame,
    accepted, reason and the transform's columns), naming how each plane was moved and why frames are not
    in it."""
    accepted = selection["accepted"].to_numpy()
    header = fits.Header()
    header["BUNIT"] = unit
    header["NFRAMES"] = (int(accepted.sum()), "planes along axis 3, in frames-table order")
    add_cards(header, "COMMENT", ["Aligned, background-subtracted frames; NaN: not covered by that frame.",
                                  "Extension ERR: one-sigma errors of the same planes; COVERAGE: frames per pixel."])
    planes = []
    for index, row in enumerate(selection[accepted].itertuples()):
        transform = Transform.from_row(row)
        line = f"plane {index + 1}: {row.frame} shifted by ({transform.dy:.3f}, {transform.dx:.3f}) px"
        if not transform.is_translation:
            line += f", rotated by {transform.rotation:+.4f} deg, scaled by {transform.scale:.6f}"
        planes.append(line)
    add_cards(header, "HISTORY", planes + [f"rejected {row.frame}: {row.reason}"
                                           for row in selection[~accepted].itertuples()])
    return header
