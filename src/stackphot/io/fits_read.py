"""Products read back: the project's own files straight from their structural cards, anything else by astropy.

The fast path reads only what ``write_image`` and ``write_cube`` write: unscaled images whose structural
cards it can parse exactly, each card under a standard keyword. Anything else (scaled or compressed data,
BLANK, a quoted value it cannot parse exactly, HIERARCH or non-standard keywords, a gzipped file, repeated
names) goes to astropy, so that what comes back is always what astropy reads. A product cut short is an
error either way, never silently short data.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from astropy.io import fits

from stackphot.io.files import FrameError
from stackphot.io.fits_write import BLOCK, END_CARD, FITS_DTYPES

# The failures astropy reports for a file it cannot read.
ASTROPY_ERRORS = (OSError, ValueError, TypeError, IndexError, KeyError)
NO_END = "is not FITS or is truncated: no header END card"


def read_image(path, *extensions: str):
    """Primary data, header and the named extensions of a FITS file (names as astropy matches them).

    Returns ``(data, header, {name: array})`` as astropy reads them (data None for an empty primary HDU); a
    missing extension is a FrameError naming the file. The project's own products are read from their
    structural cards, only the arrays asked for (``python bench/fits_io.py`` compares the time).
    """
    with open(path, "rb") as file:
        hdus = _product_hdus(file, path)
        if hdus is not None:
            primary = next(iter(hdus.values()))
            found = _read_named(file, hdus, extensions, path)
            return _read_array(file, primary), fits.Header.fromstring(primary.header), found
    return _astropy_read(path, extensions, with_primary=True)


def read_arrays(path, *names: str) -> dict[str, np.ndarray]:
    """The named arrays of a FITS file (``PRIMARY``: the primary data; otherwise EXTNAMEs), and nothing else:
    a product's header is not parsed beyond its structural cards."""
    with open(path, "rb") as file:
        hdus = _product_hdus(file, path)
        if hdus is not None:
            return _read_named(file, hdus, names, path)
    return _astropy_read(path, names)


class CubeRows:
    """A cube of a FITS file, read a block of rows of every plane at a time.

    ``reader[:, r0:r1, :]`` returns the (n_planes, r1 - r0, nx) block as a new array. A product's cube is
    read with explicit reads: unlike a memory map, the pages read do not stay in the process, so its
    resident memory is the blocks it holds, not the part of the cube it has gone through (a memory-mapped
    cube read to the end is all resident, which cluster memory limits count). Any other cube (scaled,
    compressed) is read through astropy's ``section``, which also reads only the rows asked for. Use as a
    context manager, or call ``close``.

    Raises
    ------
    FrameError
        The extension is not a 3D image, or the file is shorter than its header says.
    """

    def __init__(self, path, extension=0):
        self.path = Path(path)
        self._file, self._hdul, self._section, self._offset = open(self.path, "rb"), None, None, None
        try:
            self.shape, self.dtype = self._open(extension)
        except BaseException:
            self.close()
            raise

    def _open(self, extension):
        """The cube's shape and dtype; keeps the fast path's data offset, or else astropy's section."""
        hdu = _product_hdu(self._file, self.path, extension)
        if hdu is not None:
            self._offset, shape = hdu.offset, hdu.shape
        else:
            try:
                self._hdul = fits.open(self.path, memmap=False)
                if isinstance(extension, str) and extension not in self._hdul:
                    raise FrameError(self.path, f"has no {extension} extension; was it written by stackphot?")
                self._section, shape = self._hdul[extension].section, tuple(self._hdul[extension].shape)
            except FrameError:
                raise
            except ASTROPY_ERRORS as err:
                raise FrameError(self.path, f"cannot be read as FITS ({err})") from err
        if len(shape) != 3:
            raise FrameError(self.path, f"extension {extension} is not a 3D cube (shape {shape})")
        return shape, hdu.dtype if hdu is not None else self._section[:, :1, :].dtype

    def __getitem__(self, key):
        planes, rows, columns = key
        n_planes, ny, nx = self.shape
        if planes != slice(None) or columns != slice(None) or not isinstance(rows, slice) or rows.step not in (
                None, 1):
            raise IndexError("CubeRows reads blocks of whole rows only: reader[:, r0:r1, :]")
        r0, r1, _ = rows.indices(ny)
        if self._section is not None:
            return self._section[:, r0:max(r0, r1), :]
        block = np.empty((n_planes, max(r1 - r0, 0), nx), self.dtype)
        if block.size == 0:
            return block
        for index, plane in enumerate(block):
            start = self._offset + (index * ny + r0) * nx * self.dtype.itemsize
            if os.preadv(self._file.fileno(), [plane], start) != plane.nbytes:
                raise FrameError(self.path, f"truncated: plane {index + 1}, rows {r0}-{r1} are missing")
        return block

    def close(self):
        self._file.close()
        if self._hdul is not None:
            self._hdul.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _astropy_read(path, names, *, with_primary=False):
    """What ``read_image`` (``with_primary``) or ``read_arrays`` return, read by astropy."""
    found = {}
    try:
        with fits.open(path, memmap=False) as hdul:
            for name in names:
                if name not in hdul:
                    raise FrameError(path, f"has no {name} extension; was it written by stackphot?")
                found[name] = hdul[name].data
            return (hdul[0].data, hdul[0].header, found) if with_primary else found
    except FrameError:
        raise
    except ASTROPY_ERRORS as err:
        with open(path, "rb") as file:
            if _header_text(file, 0, path) is None:
                raise FrameError(path, NO_END) from err
        raise FrameError(path, f"cannot be read as FITS ({err})") from err


def _read_named(file, hdus, names, path) -> dict[str, np.ndarray]:
    found = {}
    for name in names:
        key = name.strip().upper()
        if key not in hdus:
            raise FrameError(path, f"has no {name} extension; was it written by stackphot?")
        found[name] = _read_array(file, hdus[key])
    return found


@dataclass(frozen=True)
class _ImageHdu:
    header: str  # its cards, END included
    dtype: np.dtype
    shape: tuple[int, ...]
    offset: int  # of its data in the file

    @property
    def n_bytes(self) -> int:
        return math.prod(self.shape) * self.dtype.itemsize if self.shape else 0

    @property
    def end(self) -> int:
        """Where the next HDU starts."""
        return self.offset + self.n_bytes + -self.n_bytes % BLOCK


class _Unrecognised(Exception):
    """An HDU the fast path does not read exactly: astropy reads the file."""


def _product_hdus(file, path) -> dict[str, _ImageHdu] | None:
    """Every HDU of a product by the name astropy matches (the first: PRIMARY), or None when the fast path
    does not recognise one of them.

    Raises
    ------
    FrameError
        The file is truncated (a product cut short is not read as short data).
    """
    size = os.fstat(file.fileno()).st_size
    hdus: dict[str, _ImageHdu] = {}
    try:
        for index, (name, hdu) in enumerate(_scan(file, path)):
            if hdu.offset + hdu.n_bytes > size:
                raise FrameError(path, f"truncated: HDU {index} ends beyond the end of the file")
            if name in hdus:  # astropy takes the first of two with one name, EXTVER aside
                raise _Unrecognised
            if name:
                hdus[name] = hdu
    except _Unrecognised:
        return None
    return hdus


def _product_hdu(file, path, extension) -> _ImageHdu | None:
    """The HDU ``extension`` (index or name) of a product, or None when the fast path does not recognise
    the HDUs up to it, or it is missing (astropy then reads or names it)."""
    key = extension if isinstance(extension, int) else str(extension).strip().upper()
    try:
        for index, (name, hdu) in enumerate(_scan(file, path)):
            if key in (index, name):
                return hdu
    except _Unrecognised:
        pass
    return None


def _scan(file, path):
    """Yield ``(name, _ImageHdu)`` of each HDU in file order; _Unrecognised at the first the fast path
    cannot read exactly."""
    size = os.fstat(file.fileno()).st_size
    position, index = 0, 0
    while position < size:
        text = _header_text(file, position, path)
        if text is None:  # not a product's bytes (gzipped, say, or trailing bytes)
            raise _Unrecognised
        name, dtype, shape = _structure(text, index)
        hdu = _ImageHdu(text, dtype, shape, position + len(text) + -len(text) % BLOCK)
        yield name, hdu
        position, index = hdu.end, index + 1


# A standard keyword: upper-case letters, digits, '-' and '_', left-justified in the first 8 columns.
_KEYWORD = re.compile(r"[A-Z0-9_-]{0,8} *")
_INTEGER = re.compile(r" *([+-]?[0-9]+) *(?:/.*)?")
_TRUE = re.compile(r" *T *(?:/.*)?")
_STRING = re.compile(r" *'([^']*)' *(?:/.*)?")  # no quote inside: a doubled quote is astropy's to read
# Cards the fast path reads itself; those that change how the data are read send the file to astropy.
_READ = {"SIMPLE", "XTENSION", "BITPIX", "NAXIS", "EXTEND", "EXTNAME", "PCOUNT", "GCOUNT"}
_NOT_READ = {"BZERO", "BSCALE", "BLANK", "GROUPS", "HIERARCH"}


def _structure(text: str, index: int):
    """Name, big-endian dtype and shape of an unscaled image HDU whose structural cards are parsed exactly."""
    values = {}
    for start in range(0, len(text) - 80, 80):
        keyword = text[start:start + 8]
        if not _KEYWORD.fullmatch(keyword):
            raise _Unrecognised
        keyword = keyword.rstrip()
        if keyword in _NOT_READ:
            raise _Unrecognised
        if keyword in _READ or keyword.startswith("NAXIS"):
            if keyword in values or text[start + 8:start + 10] != "= ":
                raise _Unrecognised
            values[keyword] = text[start + 10:start + 80]
    first = "XTENSION" if index else "SIMPLE"
    if not text.startswith(first.ljust(8)) or ("SIMPLE" if index else "XTENSION") in values:
        raise _Unrecognised
    if index == 0 and (not _TRUE.fullmatch(values["SIMPLE"]) or not _TRUE.fullmatch(values.get("EXTEND", ""))
                       or {"EXTNAME", "PCOUNT", "GCOUNT"} & set(values)):  # astropy adds a missing EXTEND
        raise _Unrecognised
    if index and (_string(values["XTENSION"]) != "IMAGE" or _integer(values, "PCOUNT", 0) != 0
                  or _integer(values, "GCOUNT", 1) != 1):
        raise _Unrecognised
    dtype = FITS_DTYPES.get(_integer(values, "BITPIX"))
    n_axes = _integer(values, "NAXIS")
    shape = tuple(_integer(values, f"NAXIS{axis}") for axis in range(n_axes, 0, -1))
    if dtype is None or not 0 <= n_axes <= 999 or any(length < 1 for length in shape):
        raise _Unrecognised
    name = "PRIMARY" if index == 0 else _string(values["EXTNAME"]).strip().upper() if "EXTNAME" in values else ""
    return name, dtype, shape


def _integer(values: dict, keyword: str, default=None) -> int:
    if keyword not in values and default is not None:
        return default
    match = _INTEGER.fullmatch(values.get(keyword, ""))
    if match is None:
        raise _Unrecognised
    return int(match[1])


def _string(value: str) -> str:
    match = _STRING.fullmatch(value)
    if match is None or match[1].rstrip().endswith("&"):  # '&': continued on CONTINUE cards
        raise _Unrecognised
    return match[1].rstrip()


def _header_text(file, position: int, path) -> str | None:
    """The cards of the header that starts at ``position``, END included, read a FITS block at a time;
    None when no ASCII header starts there (astropy decides what the bytes are).

    Raises
    ------
    FrameError
        A header starts there and the file ends before its END card.
    """
    blocks = bytearray()
    while len(block := os.pread(file.fileno(), BLOCK, position + len(blocks))) == BLOCK:
        if not blocks and not block.startswith((b"SIMPLE  =", b"XTENSION=")):
            return None
        blocks += block
        end = next((card for card in range(len(blocks) - BLOCK, len(blocks), 80)
                    if blocks[card:card + 80] == END_CARD), None)
        if end is not None:
            try:
                return bytes(blocks[:end + 80]).decode("ascii")
            except UnicodeDecodeError:
                return None
    if blocks:
        raise FrameError(path, NO_END)
    return None


def _read_array(file, hdu: _ImageHdu) -> np.ndarray | None:
    if not hdu.shape:
        return None
    array = np.empty(hdu.shape, hdu.dtype)
    os.preadv(file.fileno(), [array], hdu.offset)
    return array
