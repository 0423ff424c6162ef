"""A frame's geometry: the affine transform that maps its pixels onto the reference's.

One type for every stage that moves or describes a frame: the registration table, the alignment, the
coverage, the WCS of the aligned frames, the provenance of the cube and the stack, and the simulator's truth.
A translation, a similarity (rotation and scale) and a general affine map are the same object with more or
fewer free parameters, so a registration that measures rotation changes what fills the table, not the
stages that read it.

Conventions: pixel coordinates are 0-based and name pixel centres, ``x`` along columns and ``y`` along rows;
a frame pixel ``(x, y)`` lands on the reference at ``matrix @ (x, y) + (dx, dy)``. For a translation,
``(dy, dx)`` is the shift to apply to the frame, the convention of ``phase_cross_correlation(reference,
moving)``: a star at ``(y, x)`` in the frame is at ``(y + dy, x + dx)`` in the reference.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

# Columns a transform fills in a table row: the translation, its rotation and scale, and the full matrix.
COLUMNS = ("dy", "dx", "rotation", "scale", "m_xx", "m_xy", "m_yx", "m_yy")

# A source position exactly on the frame's edge (an integer shift) is on the frame, despite rounding.
EDGE_TOLERANCE = 1e-6
# Two transforms are compared on GRID x GRID points spanning the frame.
GRID = 5


def frame_grid(shape) -> np.ndarray:
    """``GRID`` x ``GRID`` pixel positions (x, y) spanning a frame of ``shape``, corners included: (n, 2)."""
    ny, nx = shape
    x, y = np.meshgrid(np.linspace(0, nx - 1, GRID), np.linspace(0, ny - 1, GRID))
    return np.column_stack([x.ravel(), y.ravel()])


def rms_distance(transform: Transform, other: Transform, shape) -> float:
    """RMS distance (px) between where two transforms put the pixels of a frame of ``shape`` (its grid)."""
    grid = frame_grid(shape)
    here = np.column_stack(transform.apply(grid[:, 0], grid[:, 1]))
    there = np.column_stack(other.apply(grid[:, 0], grid[:, 1]))
    return float(np.sqrt(np.mean(np.sum((here - there) ** 2, axis=1))))


@dataclass(frozen=True)
class Transform:
    """Reference pixel ``(x, y)`` = ``matrix @ (x, y) + (dx, dy)`` of a frame pixel ``(x, y)``."""

    matrix: tuple[tuple[float, float], tuple[float, float]] = ((1.0, 0.0), (0.0, 1.0))
    dy: float = 0.0
    dx: float = 0.0

    @classmethod
    def translation(cls, dy: float, dx: float) -> Transform:
        return cls(dy=float(dy), dx=float(dx))

    @classmethod
    def unknown(cls) -> Transform:
        """The transform of a frame that could not be registered: NaN throughout, so it covers nothing."""
        nan = math.nan
        return cls(((nan, nan), (nan, nan)), nan, nan)

    @classmethod
    def similarity(cls, *, rotation: float, scale: float, dy: float, dx: float) -> Transform:
        """Rotation by ``rotation`` degrees (counter-clockwise from +x towards +y), scaling by ``scale``
        about pixel (0, 0), then the translation."""
        cos, sin = math.cos(math.radians(rotation)), math.sin(math.radians(rotation))
        return cls(((scale * cos, -scale * sin), (scale * sin, scale * cos)), float(dy), float(dx))

    @classmethod
    def about(cls, centre, *, rotation: float, scale: float, dy: float = 0.0, dx: float = 0.0) -> Transform:
        """A similarity about the pixel ``centre`` (x, y) instead of (0, 0), then the shift (dy, dx)."""
        turn = cls.similarity(rotation=rotation, scale=scale, dy=0.0, dx=0.0)
        x, y = turn.apply(*centre)
        return cls(turn.matrix, dy + centre[1] - float(y), dx + centre[0] - float(x))

    @classmethod
    def from_row(cls, row) -> Transform:
        """The transform of a table row with the ``COLUMNS`` (a namedtuple, a Series or a mapping)."""
        get = row.get if hasattr(row, "get") else lambda key: getattr(row, key)
        return cls(((float(get("m_xx")), float(get("m_xy"))), (float(get("m_yx")), float(get("m_yy")))),
                   float(get("dy")), float(get("dx")))

    def columns(self) -> dict[str, float]:
        """The ``COLUMNS`` of a table row: what a person reads (dy, dx, rotation, scale) and the matrix."""
        (m_xx, m_xy), (m_yx, m_yy) = self.matrix
        return {"dy": self.dy, "dx": self.dx, "rotation": self.rotation, "scale": self.scale,
                "m_xx": m_xx, "m_xy": m_xy, "m_yx": m_yx, "m_yy": m_yy}

    @property
    def linear(self) -> np.ndarray:
        return np.array(self.matrix, dtype=float)

    @property
    def is_translation(self) -> bool:
        return self.matrix == ((1.0, 0.0), (0.0, 1.0))

    @property
    def is_valid(self) -> bool:
        """False for the transform of a frame that could not be registered (NaN in it)."""
        return bool(np.all(np.isfinite(self.linear)) and math.isfinite(self.dy) and math.isfinite(self.dx))

    @property
    def rotation(self) -> float:
        """Rotation (degrees, counter-clockwise from +x towards +y) of the matrix's first column."""
        (m_xx, _), (m_yx, _) = self.matrix
        return math.degrees(math.atan2(m_yx, m_xx))

    @property
    def scale(self) -> float:
        """Linear scale: the square root of the area ratio (the determinant's absolute value)."""
        return math.sqrt(abs(self.determinant))

    @property
    def determinant(self) -> float:
        (m_xx, m_xy), (m_yx, m_yy) = self.matrix
        return m_xx * m_yy - m_xy * m_yx

    def apply(self, x, y):
        """Reference pixel coordinates of frame pixels ``(x, y)`` (scalars or arrays)."""
        (m_xx, m_xy), (m_yx, m_yy) = self.matrix
        return m_xx * x + m_xy * y + self.dx, m_yx * x + m_yy * y + self.dy

    def then(self, other: Transform) -> Transform:
        """This transform followed by ``other``: a frame's onto an intermediate frame, then that one's."""
        matrix = other.linear @ self.linear
        dx, dy = other.apply(self.dx, self.dy)
        return Transform(tuple(tuple(float(v) for v in row) for row in matrix), float(dy), float(dx))

    def inverse(self) -> Transform:
        """Frame pixel of a reference pixel: the inverse map."""
        if self.is_translation:
            return Transform.translation(-self.dy, -self.dx)
        inverse = np.linalg.inv(self.linear)
        dx, dy = -inverse @ np.array([self.dx, self.dy])
        return Transform(tuple(tuple(float(v) for v in row) for row in inverse), float(dy), float(dx))

    def sampling(self) -> tuple[np.ndarray, np.ndarray]:
        """``(matrix, offset)`` for ``scipy.ndimage.affine_transform``: the frame's (row, column) sampled by
        each aligned pixel. A translation gives the diagonal, which scipy samples as ``ndimage.shift``."""
        inverse = self.inverse()
        offset = np.array([inverse.dy, inverse.dx])
        if self.is_translation:
            return np.ones(2), offset
        (i_xx, i_xy), (i_yx, i_yy) = inverse.matrix
        return np.array([[i_yy, i_yx], [i_xy, i_xx]]), offset

    def covered(self, shape) -> np.ndarray:
        """Pixels of the aligned frame (reference grid of ``shape``) whose source lies on the frame."""
        ny, nx = shape
        inverse = self.inverse()
        if self.is_translation:  # the rows and the columns apart
            x, y = np.arange(nx)[np.newaxis, :] + inverse.dx, np.arange(ny)[:, np.newaxis] + inverse.dy
        else:
            x, y = inverse.apply(np.arange(nx)[np.newaxis, :], np.arange(ny)[:, np.newaxis])
        inside_x = (x >= -EDGE_TOLERANCE) & (x <= nx - 1 + EDGE_TOLERANCE)
        inside_y = (y >= -EDGE_TOLERANCE) & (y <= ny - 1 + EDGE_TOLERANCE)
        return np.broadcast_to(inside_x & inside_y, shape)

    def overlap(self, shape) -> float:
        """Fraction of a frame's area (``shape``, the same as the reference's) that lands on the reference."""
        ny, nx = shape
        if self.is_translation:
            return float(max(ny - abs(self.dy), 0) * max(nx - abs(self.dx), 0) / (ny * nx))
        corners = np.array([[-0.5, -0.5], [nx - 0.5, -0.5], [nx - 0.5, ny - 0.5], [-0.5, ny - 0.5]])
        landed = np.column_stack(self.apply(corners[:, 0], corners[:, 1]))
        inside = _clip_to_box(landed, (-0.5, -0.5, nx - 0.5, ny - 0.5))
        return float(_polygon_area(inside) / (abs(self.determinant) * ny * nx)) if len(inside) else 0.0

    def moved_wcs_cards(self, header) -> dict[str, float]:
        """The WCS cards of an aligned frame, from the frame's ``header``: the sky that was at frame pixel
        ``p`` is now at ``matrix @ p + (dx, dy)``, so the reference pixel moves with it and the linear part
        (CD, or PC with CDELT) is composed with the inverse matrix. Every alternate WCS (A-Z) too; a header
        without a WCS gives no cards. Distortion terms (SIP) keep describing the frame's own pixel offsets:
        exact for a translation, to be refitted by a registration that rotates or scales."""
        cards = {}
        for alternate in (" " + "ABCDEFGHIJKLMNOPQRSTUVWXYZ"):
            key = alternate.strip()
            if f"CRPIX1{key}" not in header or f"CRPIX2{key}" not in header:
                continue
            crpix = np.array([header[f"CRPIX1{key}"], header[f"CRPIX2{key}"]], dtype=float)
            # matrix @ (crpix - 1) + shift + 1, written so that a translation adds exactly (dx, dy).
            moved = crpix + (self.linear - np.eye(2)) @ (crpix - 1) + np.array([self.dx, self.dy])
            cards[f"CRPIX1{key}"], cards[f"CRPIX2{key}"] = float(moved[0]), float(moved[1])
            if not self.is_translation:
                cards.update(_linear_wcs_cards(header, key, np.linalg.inv(self.linear)))
        return cards

    def __str__(self) -> str:
        text = f"dy {self.dy:+.3f} dx {self.dx:+.3f} px"
        if not self.is_translation:
            text += f", rotation {self.rotation:+.4f} deg, scale {self.scale:.6f}"
        return text


def _linear_wcs_cards(header, key: str, inverse: np.ndarray) -> dict[str, float]:
    """CD (or PC) cards of a WCS whose pixels were mapped by a matrix with this ``inverse``."""
    if any(f"CD{i}_{j}{key}" in header for i in (1, 2) for j in (1, 2)):
        name, current = "CD", np.array([[header.get(f"CD{i}_{j}{key}", 0.0) for j in (1, 2)] for i in (1, 2)])
    else:
        name, current = "PC", _pc_matrix(header, key)
    composed = current @ inverse
    return {f"{name}{i}_{j}{key}": float(composed[i - 1, j - 1]) for i in (1, 2) for j in (1, 2)}


def _pc_matrix(header, key: str) -> np.ndarray:
    """The PC matrix of a header's WCS, from the PC cards or the older CROTA2 form (FITS paper II)."""
    if any(f"PC{i}_{j}{key}" in header for i in (1, 2) for j in (1, 2)) or "CROTA2" not in header:
        return np.array([[header.get(f"PC{i}_{j}{key}", float(i == j)) for j in (1, 2)] for i in (1, 2)])
    angle = math.radians(header["CROTA2"])
    ratio = header.get(f"CDELT2{key}", 1.0) / header.get(f"CDELT1{key}", 1.0)
    return np.array([[math.cos(angle), -math.sin(angle) * ratio], [math.sin(angle) / ratio, math.cos(angle)]])


def _clip_to_box(polygon: np.ndarray, box) -> np.ndarray:
    """Sutherland-Hodgman clipping of a convex polygon (vertices in order) to ``box`` (x0, y0, x1, y1)."""
    x0, y0, x1, y1 = box
    edges = [(0, x0, 1), (0, x1, -1), (1, y0, 1), (1, y1, -1)]  # axis, bound, side (+1: keep above)
    for axis, bound, side in edges:
        kept = []
        for start, end in zip(polygon, np.roll(polygon, -1, axis=0)):
            start_in, end_in = side * (start[axis] - bound) >= 0, side * (end[axis] - bound) >= 0
            if start_in:
                kept.append(start)
            if start_in != end_in:
                fraction = (bound - start[axis]) / (end[axis] - start[axis])
                kept.append(start + fraction * (end - start))
        polygon = np.array(kept)
        if not len(polygon):
            break
    return polygon


def _polygon_area(polygon: np.ndarray) -> float:
    x, y = polygon[:, 0], polygon[:, 1]
    return 0.5 * abs(float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))
