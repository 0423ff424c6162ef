"""Colour (Bayer) mosaics split without interpolation into 2 x 2 superpixel planes.

A colour sensor's pixel sees one colour, by its place in a 2 x 2 cell of the colour filter array. Each cell
becomes one pixel of five planes: ``R`` and ``B`` (the cell's red and blue pixels), ``G1`` and ``G2`` (its
two greens, in the pattern's order) and the luminance ``L`` (the sum of its four pixels, what registration
and detection see). No pixel is interpolated, so no star centroid moves; but each colour samples the cell at
its own place, a quarter of a superpixel from its centre, and each plane says where (``CHANOFFX``,
``CHANOFFY``) so that alignment puts the colours of a star on one another (``channel_offset``). The two
greens stay apart until they are aligned: their mean in the cell would sample a star at two places at once,
a wider star than the red's and blue's, whose cores would then look magenta on a green ring.

Pixel convention: superpixel ``(i, j)`` (0-based row, column) is the cell of mosaic rows ``2i, 2i+1`` and
columns ``2j, 2j+1``; its centre is mosaic ``(2i + 0.5, 2j + 0.5)``. A mosaic of odd size loses its last row
or column.
"""

from __future__ import annotations

import numpy as np

from stackphot.geometry import Transform
from stackphot.provenance import Product

PATTERNS = ("RGGB", "BGGR", "GRBG", "GBRG")
CHANNELS = ("R", "G", "B")
# The planes a mosaic is split into; every one but L is a single pixel of the cell.
PLANES = ("L", "R", "G1", "G2", "B")
# Cards that describe the mosaic and no longer the planes made of it.
MOSAIC_CARDS = ("BAYERPAT", "COLORTYP", "XBAYROFF", "YBAYROFF", "ROWORDER", "SATURATE")
ROW_ORDERS = ("TOP-DOWN", "BOTTOM-UP")


class PatternError(ValueError):
    """A colour pattern that is not one of PATTERNS, or a colour frame that cannot be split."""


def bayer_pattern(header, *, configured: str | None = None, n_rows: int | None = None) -> str | None:
    """The colours of the data's first 2 x 2 cell, ``data[0:2, 0:2]`` row by row ("GRBG"); None: monochrome.

    ``configured`` (the config's ``ingest: bayer_pattern``) wins: a pattern of the data as stored, or
    ``"mono"`` to take a colour frame as monochrome. Else the header's ``BAYERPAT`` (or ``COLORTYP``) moved by
    ``XBAYROFF``/``YBAYROFF``; with ``ROWORDER = 'BOTTOM-UP'`` the pattern is the sensor's from its top row,
    so for a frame of ``n_rows`` (odd and even heights differ) the rows are counted from the other end.

    Raises
    ------
    PatternError
        A pattern that is not one of PATTERNS, or a ROWORDER that is neither TOP-DOWN nor BOTTOM-UP.
    """
    if configured is not None:
        return None if configured.lower() == "mono" else _checked(configured, "ingest: bayer_pattern")
    value = header.get("BAYERPAT", header.get("COLORTYP"))
    if not isinstance(value, str) or not value.strip() or value.strip().upper() in ("MONO", "NONE"):
        return None
    pattern = _checked(value, f"BAYERPAT = {value!r}")
    y_offset, x_offset = int(header.get("YBAYROFF", 0)) % 2, int(header.get("XBAYROFF", 0)) % 2
    order = str(header.get("ROWORDER", "TOP-DOWN")).strip().upper()
    if order not in ROW_ORDERS:
        raise PatternError(f"ROWORDER = {order!r} is neither of {', '.join(ROW_ORDERS)}")
    if order == "BOTTOM-UP" and n_rows is None:
        n_rows = int(header["NAXIS2"])

    def sensor_row(row):  # the sensor's row, counted from its top, of the data's row
        return n_rows - 1 - row if order == "BOTTOM-UP" else row

    cell = [[pattern[2 * ((sensor_row(row) + y_offset) % 2) + (column + x_offset) % 2] for column in (0, 1)]
            for row in (0, 1)]
    return "".join(cell[0] + cell[1])


def _checked(value: str, what: str) -> str:
    pattern = value.strip().upper()
    if pattern not in PATTERNS:
        raise PatternError(f"{what} is not a 2 x 2 colour pattern: give one of {', '.join(PATTERNS)} (or mono)")
    return pattern


def cell_places(pattern: str) -> dict[str, tuple[int, int]]:
    """The (row, column) in the 2 x 2 cell of ``pattern`` of each single-pixel plane: R, G1, G2, B."""
    places, greens = {}, iter(("G1", "G2"))
    for index, colour in enumerate(_checked(pattern, "pattern")):
        places[next(greens) if colour == "G" else colour] = divmod(index, 2)
    return places


def plane_colour(plane: str) -> str:
    """The colour of a plane: R, G or B (both greens are G), or L."""
    return plane[0]


def plane_offsets(pattern: str) -> dict[str, tuple[float, float]]:
    """Where each plane's pixel ``(i, j)`` lies on the superpixel grid, as ``(dy, dx)`` from ``(i, j)``: its
    place in the cell less the cell's centre, in superpixels (the luminance: 0)."""
    offsets = {"L": (0.0, 0.0)}
    for plane, (row, column) in cell_places(pattern).items():
        offsets[plane] = ((row - 0.5) / 2, (column - 0.5) / 2)
    return offsets


def split_mosaic(data, error, mask, *, pattern: str) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """The planes of a mosaic (PLANES): each ``(data, error, mask)`` at half the size (odd edges dropped).

    ``L`` is the sum of a cell's four pixels, its error their errors in quadrature and its mask the bitwise
    OR of theirs (a saturated pixel masks the cell's luminance); the others are the cell's pixels of their
    place. NaN stays NaN.
    """
    ny, nx = (size - size % 2 for size in np.shape(data))
    values, errors, masks = (np.asarray(a)[:ny, :nx] for a in (data, error, mask))
    places = cell_places(pattern)
    planes = {plane: (values[row::2, column::2].astype(np.float32), errors[row::2, column::2].astype(np.float32),
                      masks[row::2, column::2].copy()) for plane, (row, column) in places.items()}
    total = sum(planes[plane][0].astype(np.float64) for plane in places)
    variance = sum(np.square(planes[plane][1], dtype=np.float64) for plane in places)
    planes["L"] = (total.astype(np.float32), np.sqrt(variance).astype(np.float32),
                   np.bitwise_or.reduce([planes[plane][2] for plane in places], axis=0))
    return {plane: planes[plane] for plane in PLANES}


def _plane_cards(header, plane: str, offset: tuple[float, float]) -> dict[str, object]:
    """The cards of one plane: its colour, where it lies, its noise model and its WCS on the superpixel grid."""
    dy, dx = offset
    cards: dict[str, object] = {
        "CHANNEL": (plane_colour(plane), "Bayer colour (L: sum of a 2x2 cell)"),
        "CFAPLANE": (plane, "plane of the Bayer mosaic it was split into"),
        "CHANOFFX": (dx, "superpixels: pixel x lies at x + CHANOFFX"),
        "CHANOFFY": (dy, "superpixels: pixel y lies at y + CHANOFFY"),
    }
    read_noise = header.get("RDNOISE")
    if plane == "L" and isinstance(read_noise, (int, float)):
        cards["RDNOISE"] = (float(2 * read_noise), "e-: the read noise of four pixels summed")
    for axis, shift in (("1", dx), ("2", dy)):
        if f"CRPIX{axis}" in header:
            # FITS pixel p of the mosaic is superpixel (p + 0.5) / 2 (both 1-based), less the plane's offset.
            cards[f"CRPIX{axis}"] = (header[f"CRPIX{axis}"] + 0.5) / 2 - shift
        if f"CDELT{axis}" in header and not any(key.startswith("CD") and "_" in key for key in header):
            cards[f"CDELT{axis}"] = 2 * header[f"CDELT{axis}"]
    for key in ("CD1_1", "CD1_2", "CD2_1", "CD2_2"):
        if key in header:
            cards[key] = 2 * header[key]
    return cards


def split_products(data, error, mask, header, *, pattern: str) -> dict[str, Product]:
    """The planes of ``split_mosaic`` as products to write over the mosaic's header: each says which plane it
    is, where its pixels lie (``channel_offset``), its read noise and WCS on the superpixel grid, and drops the
    mosaic's cards (BAYERPAT; SATURATE: the mask says what was saturated). The gain stays: every plane holds
    sums of whole pixels' ADU."""
    offsets = plane_offsets(pattern)
    products = {}
    for plane, (values, errors, masks) in split_mosaic(data, error, mask, pattern=pattern).items():
        what = "the sum of the cell" if plane == "L" else "one pixel of each cell"
        history = [f"stackphot colour: plane {plane} of the {pattern} mosaic, {what}, no interpolation"]
        products[plane] = Product(values, {"ERR": errors, "MASK": masks},
                                  _plane_cards(header, plane, offsets[plane]), history, removed=MOSAIC_CARDS)
    return products


def channel_offset(header) -> tuple[Transform, dict[str, float]]:
    """The translation from a plane's pixels to the luminance grid (its CHANOFFX, CHANOFFY; none for a
    monochrome frame), which alignment applies before the frame's registration so that the colours of a star
    land on one pixel of the reference; and the cards of the plane once aligned (on that grid: offset 0)."""
    if "CHANOFFX" not in header:
        return Transform(), {}
    offset = Transform.translation(float(header["CHANOFFY"]), float(header["CHANOFFX"]))
    return offset, {"CHANOFFX": 0.0, "CHANOFFY": 0.0}
