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
    filled = np.where(bad, 0.0, data)
    resampled = _resample(filled, transform, order=order, mode="nearest", prefilter=order > 1)
    valid = transform.covered(data.shape).copy()
    if bad.any():
        # Output pixels whose interpolation used a bad pixel's (filled) value are not data.
        if transform.is_translation:
            touched = _touched_by_translation(bad, transform.sampling()[1])
        else:
            touched = _resample(bad.astype(np.float32), transform, order=1, mode="constant") > 0
        if order > 1:  # the cubic spline reaches one pixel further than linear interpolation
            touched = ndimage.binary_dilation(touched)
        valid &= ~touched
    area = abs(transform.determinant)  # reference pixels per frame pixel
    if area != 1.0:
        resampled = resampled / area
    resampled = np.where(valid, resampled, np.nan).astype(np.float32)
    resampled_error = None
    if error is not None:
        variance = np.nan_to_num(np.asarray(error, dtype=np.float64) ** 2, nan=0.0)
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
