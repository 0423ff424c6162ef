"""FITS in and out: finding frames, reading them with validation, writing products atomically.

Every error names the file and the problem, because a user with a folder of a thousand frames needs to know
which one to look at. Writes go to a temporary file in the target folder and are renamed into place, so a
killed job never leaves a half-written file under a name a later run would take for finished.
"""

from __future__ import annotations

import itertools
import logging
import math
import os
import re
import textwrap
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from astropy.io import fits

from stackphot.provenance import Product

FITS_SUFFIXES = (".fits", ".fit", ".fts")


class FrameError(ValueError):
    """A frame cannot be used; the message names the file and the problem."""

    def __init__(self, path, problem: str):
        self.path = Path(path)
        self.problem = problem
        super().__init__(f"{path}: {problem}")


def frame_stem(path) -> str | None:
    """Name of a frame file without its FITS suffix (and ``.gz``), or None if it is not a FITS name."""
    name = Path(path).name
    lower = name.lower()
    if lower.endswith(".gz"):
        name, lower = name[:-3], lower[:-3]
    for suffix in FITS_SUFFIXES:
        if lower.endswith(suffix):
            return name[: -len(suffix)]
    return None


def find_frames(directory) -> dict[str, Path]:
    """Map frame name to path for every FITS file (``.fits``, ``.fit``, ``.fts``, gzipped too) in a folder.

    Raises
    ------
    FileNotFoundError
        If the folder does not exist.
    FrameError
        If it holds no FITS file, or two files share a frame name (``a.fits`` and ``a.fits.gz``).
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise FileNotFoundError(f"{directory}: no such folder of frames")
    frames: dict[str, Path] = {}
    for path in sorted(directory.iterdir()):
        stem = frame_stem(path)
        if stem is None or not path.is_file():
            continue
        if stem in frames:
            raise FrameError(path, f"has the same frame name {stem!r} as {frames[stem].name}; keep one")
        frames[stem] = path
    if not frames:
        raise FrameError(directory, f"holds no FITS frame (looked for {', '.join(FITS_SUFFIXES)}, also .gz)")
    return frames


@dataclass
class RawFrame:
    """A frame as read from disk: physical values (BZERO/BSCALE applied) as float32, and its header."""

    data: np.ndarray
    header: fits.Header
    path: Path
    hdu_index: int
    integer_max: float | None  # largest value the stored integer type can hold (saturation), if integer


def read_raw_frame(path) -> RawFrame:
    """Read a 2D image frame, read-only, from the first HDU that holds image data.

    BZERO/BSCALE are applied (a uint16 camera frame stored as int16 with BZERO 32768 comes back as its
    physical counts). The file is opened read-only and never changed.

    Raises
    ------
    FrameError
        Not a FITS file, truncated or corrupt, no image HDU, an image that is not 2D, or not numeric.
    """
    path = Path(path)
    try:
        with fits.open(path, mode="readonly", memmap=False, lazy_load_hdus=False) as hdul:
            for index, hdu in enumerate(hdul):
                if isinstance(hdu, (fits.PrimaryHDU, fits.ImageHDU, fits.CompImageHDU)) and hdu.data is not None:
                    return _validated(path, index, hdu)
            if any(isinstance(hdu, (fits.BinTableHDU, fits.TableHDU)) for hdu in hdul):
                raise FrameError(path, "holds a table, not an image; take it out of the frames folder")
    except FrameError:
        raise
    except (OSError, ValueError, TypeError, IndexError) as err:
        raise FrameError(path, f"cannot be read as FITS ({err}); is it truncated, corrupt or not FITS at all?") from err
    raise FrameError(path, "holds no image data")


def _validated(path: Path, index: int, hdu) -> RawFrame:
    raw_dtype = hdu.data.dtype
    if not (np.issubdtype(raw_dtype, np.number) and not np.issubdtype(raw_dtype, np.complexfloating)):
        raise FrameError(path, f"image data are {raw_dtype}, not real numbers")
    if hdu.data.ndim != 2:
        raise FrameError(path, f"image has {hdu.data.ndim} axes {hdu.data.shape}; a frame must be one 2D image")
    integer_max = None
    bitpix = hdu.header.get("BITPIX")
    if bitpix in (8, 16, 32):
        bzero = hdu.header.get("BZERO", 0.0)
        bscale = hdu.header.get("BSCALE", 1.0)
        stored_max = {8: 255, 16: 32767, 32: 2147483647}[bitpix]
        integer_max = float(bzero + bscale * stored_max)
    header = hdu.header.copy()
    for key in ("BZERO", "BSCALE", "BLANK"):
        header.remove(key, ignore_missing=True)
    return RawFrame(np.asarray(hdu.data, dtype=np.float32), header, path, index, integer_max)


def clean_card_text(text: str, width: int = 72) -> list[str]:
    """Split free text into strings valid for COMMENT/HISTORY cards: printable ASCII, at most ``width`` long.

    Lines break between words where they can; control and non-ASCII characters become ``?``.
    """
    printable = re.sub(r"[^\x20-\x7e]", "?", str(text))
    return textwrap.wrap(printable, width, break_on_hyphens=False) or [""]


def add_cards(header: fits.Header, kind: str, lines) -> None:
    """Append COMMENT or HISTORY lines to a header, each cleaned and wrapped to valid FITS cards."""
    add = header.add_history if kind == "HISTORY" else header.add_comment
    for line in lines:
        for piece in clean_card_text(line):
            add(piece)


# Cards that describe a stored array: written from the array itself, never copied from another header.
STRUCTURAL_KEYS = ("SIMPLE", "XTENSION", "BITPIX", "NAXIS", "NAXIS1", "NAXIS2", "NAXIS3", "EXTEND", "PCOUNT",
                   "GCOUNT", "BZERO", "BSCALE", "BLANK", "CHECKSUM", "DATASUM", "EXTNAME")


def image_header(header: fits.Header | None) -> fits.Header:
    """A copy of a header without the cards that describe the stored array (astropy rewrites those)."""
    header = fits.Header() if header is None else header.copy()
    for key in STRUCTURAL_KEYS:
        header.remove(key, ignore_missing=True, remove_all=True)
    return header


@contextmanager
def atomic_write(path):
    """Yield a temporary path beside ``path``; on success it becomes ``path`` (one rename), on failure it is
    removed. A killed job therefore never leaves a half-written file under the final name."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex}.part")
    try:
        yield temporary
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temporary, 0o666 & ~umask)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def write_image(path, data, header=None, *, extensions=(), history=(), comments=()) -> Path:
    """Write an image with optional named extensions ``[(name, array, header_or_None), ...]``, atomically.

    The headers' cards are written as they are, after the structural cards the arrays need: the same bytes
    as astropy's HDU classes write, which re-verify every card of every product, in less than half the CPU
    time for a 256 x 256 frame (``python bench/fits_io.py``). Cards from outside come in through
    ``valid_header`` (at ingest); the rest are set with astropy's Header API, which validates each card.
    """
    primary_header = fits.Header() if header is None else header.copy()
    add_cards(primary_header, "COMMENT", comments)
    add_cards(primary_header, "HISTORY", history)
    with atomic_write(path) as temporary, open(temporary, "wb") as stream:
        _write_hdu(stream, np.asarray(data), primary_header)
        for name, array, ext_header in extensions:
            _write_hdu(stream, np.asarray(array), ext_header, name=name)
    return Path(path)


def write_product(path, product: Product, header=None) -> Path:
    """Write a stage's ``Product`` over ``header`` (its input's), atomically: its cards set, its
    ``removed`` cards taken out, its HISTORY and COMMENT lines added, its extensions in their order."""
    header = fits.Header() if header is None else header.copy()
    for key in product.removed:
        header.remove(key, ignore_missing=True, remove_all=True)
    for key, value in product.cards.items():
        header[key] = value
    return write_image(path, product.data, header, extensions=[(name, array, None) for name, array in
                                                              product.extensions.items()],
                       history=product.history, comments=product.comments)


def valid_header(header: fits.Header) -> tuple[fits.Header, list[str]]:
    """A raw frame's header as valid FITS cards, and what was wrong with the cards left out.

    Fixable cards are fixed as astropy would on writing (an unquoted string is quoted); a card that cannot
    be (an illegal keyword, unprintable text) is left out rather than losing the frame.
    """
    import warnings

    kept, problems = [], []
    for card in image_header(header).cards:
        try:
            with warnings.catch_warnings():  # the problem is returned, for the caller to report with the file
                warnings.simplefilter("ignore", fits.verify.VerifyWarning)
                card.verify("silentfix")
            kept.append(card)
        except fits.VerifyError as error:
            message = " ".join(str(error).split())
            problems.append(re.sub(r"^Verification reported errors: (Unfixable error: )?| Note: .*$", "", message))
    return fits.Header(kept), problems


# FITS BITPIX of the array types a product is written in; others would need BZERO scaling.
BITPIX = {np.dtype(np.uint8): 8, np.dtype(np.int16): 16, np.dtype(np.int32): 32, np.dtype(np.int64): 64,
          np.dtype(np.float32): -32, np.dtype(np.float64): -64}
FITS_DTYPES = {bitpix: np.dtype(dtype).newbyteorder(">") for dtype, bitpix in BITPIX.items()}
BLOCK = 2880
END_CARD = b"END".ljust(80)


def _structural_cards(shape, dtype, *, extension: bool, name=None) -> list[str]:
    """The cards, in FITS order and with astropy's comments, that describe an image HDU's array."""
    try:
        bitpix = BITPIX[np.dtype(dtype).newbyteorder("=")]
    except KeyError:
        raise TypeError(f"cannot write {np.dtype(dtype)} arrays to FITS; use one of {list(BITPIX)}") from None
    first = ("XTENSION", "IMAGE", "Image extension") if extension else ("SIMPLE", True, "conforms to FITS standard")
    cards = [first, ("BITPIX", bitpix, "array data type"), ("NAXIS", len(shape), "number of array dimensions")]
    cards += [(f"NAXIS{axis}", length, None) for axis, length in enumerate(reversed(shape), start=1)]
    if extension:
        cards += [("PCOUNT", 0, "number of parameters"), ("GCOUNT", 1, "number of groups")]
        if name is not None:
            cards.append(("EXTNAME", name, "extension name"))
    else:
        cards.append(("EXTEND", True, None))
    return [fits.Card(*card).image for card in cards]


def _header_block(shape, dtype, header=None, *, extension: bool, name=None) -> bytes:
    """An image HDU's header, padded to whole FITS blocks: structural cards, then ``header``'s others."""
    images = _structural_cards(shape, dtype, extension=extension, name=name)
    if header is not None:
        images += [card.image for card in header.cards if card.keyword not in STRUCTURAL_KEYS]
    images.append(END_CARD.decode("ascii"))
    text = "".join(images)
    return (text + " " * (-len(text) % BLOCK)).encode("ascii")


def _write_padding(stream, n_bytes: int) -> None:
    stream.write(bytes(-n_bytes % BLOCK))


def _write_hdu(stream, array: np.ndarray, header=None, *, name=None) -> None:
    stream.write(_header_block(array.shape, array.dtype, header, extension=stream.tell() > 0, name=name))
    _write_big_endian(stream, array)
    _write_padding(stream, array.nbytes)


def _write_big_endian(stream, array: np.ndarray, chunk_bytes: int = 2**20) -> None:
    """The array's values as FITS stores them, converted a chunk at a time into one small buffer (a whole
    converted copy of a 2048 x 2048 frame cost more than the conversion)."""
    flat = array.reshape(-1)
    step = max(1, chunk_bytes // flat.itemsize)
    buffer = np.empty(min(step, flat.size), flat.dtype.newbyteorder(">"))
    for start in range(0, flat.size, step):
        piece = buffer[: min(step, flat.size - start)]
        piece[...] = flat[start : start + step]
        stream.write(memoryview(piece).cast("B"))


def write_table(path, table) -> Path:
    """Write a pandas DataFrame as CSV atomically (a killed job leaves no partial table)."""
    with atomic_write(path) as temporary:
        table.to_csv(temporary, index=False, float_format="%.6f", lineterminator="\n")
    return Path(path)


def read_table(path, *text_columns: str):
    """A CSV table as ``write_table`` writes it, its ``frame`` column (and any ``text_columns``) read as
    text: a frame named 0001 stays 0001, where a bare ``pd.read_csv`` would make it the number 1."""
    import pandas as pd

    return pd.read_csv(path, dtype=dict.fromkeys(("frame", *text_columns), str))


def log_to(path) -> logging.Logger:
    """A logger that writes to a rule's log file (and the console), for scripts."""
    logger = logging.getLogger("stackphot")
    logger.setLevel(logging.INFO)
    logger.handlers.clear()
    formatter = logging.Formatter("%(asctime)s %(levelname)s %(message)s")
    for handler in (logging.FileHandler(path, mode="w"), logging.StreamHandler()):
        handler.setFormatter(formatter)
        logger.addHandler(handler)
    logging.captureWarnings(True)
    logging.getLogger("py.warnings").handlers = logger.handlers
    return logger


def write_cube(path, planes, *, header=None, extensions=(), images=()) -> Path:
    """Write a data cube one plane at a time, so the whole cube is never held in memory.

    ``planes`` is a sequence of zero-argument callables each returning one (ny, nx) float32 plane (so a
    plane is read only when written); ``extensions`` are ``(name, planes)`` pairs written as further cubes
    of the same shape; ``images`` are ``(name, callable)`` pairs of 2D images appended last, called after
    the cubes are written (so they can summarise what was streamed). The file appears under its name only
    once complete.
    """
    with atomic_write(path) as temporary, open(temporary, "wb") as stream:
        for index, (name, loaders) in enumerate([(None, planes), *extensions]):
            first = np.asarray(loaders[0](), dtype=np.float32)
            stream.write(_header_block((len(loaders), *first.shape), np.float32, header if index == 0 else None,
                                       extension=index > 0, name=name))
            for plane in itertools.chain([first], (np.asarray(load(), dtype=np.float32) for load in loaders[1:])):
                if plane.shape != first.shape:
                    raise ValueError(f"{path}: plane shape {plane.shape} differs from {first.shape}")
                _write_big_endian(stream, plane)
            _write_padding(stream, len(loaders) * first.nbytes)
        for name, make in images:
            _write_hdu(stream, np.asarray(make()), name=name)
    return Path(path)


class CubeRows:
    """A float cube of a FITS file, read a block of rows of every plane at a time with explicit reads.

    ``reader[:, r0:r1, :]`` returns the (n_planes, r1 - r0, nx) block as a new big-endian array. Unlike a
    memory map, the pages read do not stay in the process: its resident memory is the blocks it holds, not
    the part of the cube it has gone through (a memory-mapped 6 GB cube read to the end is 6 GB of RSS, which
    cluster memory limits count). Use as a context manager, or call ``close``.

    Raises
    ------
    FrameError
        The extension is not a 3D float image without scaling (what ``write_cube`` writes), or the file is
        shorter than its header says.
    """

    def __init__(self, path, extension=0):
        self.path = Path(path)
        with fits.open(self.path, memmap=False, lazy_load_hdus=True) as hdul:
            hdu = hdul[extension]
            header = hdu.header
            offset = hdu.fileinfo()["datLoc"]
        bitpix = header.get("BITPIX")
        if header.get("NAXIS") != 3 or bitpix not in (-32, -64) or header.get("BSCALE", 1) != 1 or header.get(
                "BZERO", 0) != 0:
            raise FrameError(self.path, f"extension {extension} is not an unscaled 3D float cube (NAXIS "
                                        f"{header.get('NAXIS')}, BITPIX {bitpix})")
        self.shape = (header["NAXIS3"], header["NAXIS2"], header["NAXIS1"])
        self.dtype = np.dtype(f">f{abs(bitpix) // 8}")
        self._offset = offset
        self._file = open(self.path, "rb")

    def __getitem__(self, key):
        planes, rows, columns = key
        n_planes, ny, nx = self.shape
        if planes != slice(None) or columns != slice(None) or not isinstance(rows, slice) or rows.step not in (
                None, 1):
            raise IndexError("CubeRows reads blocks of whole rows only: reader[:, r0:r1, :]")
        r0, r1, _ = rows.indices(ny)
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

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def read_image(path, *extensions: str):
    """Primary data, header and the named extensions of a product written by ``write_image``.

    Returns ``(data, header, {name: array})``; a missing extension is a FrameError naming the file. The HDUs
    are located from their structural cards and only the arrays asked for are read, in a seventh of the CPU
    time astropy's HDU classes take for a 256 x 256 frame with two extensions (``python bench/fits_io.py``).
    """
    with open(path, "rb") as file:
        hdus = _image_hdus(file, path)
        found = _read_named(file, hdus, extensions, path)
        primary = hdus["PRIMARY"]
        return _read_array(file, primary), fits.Header.fromstring(primary.header), found


def read_arrays(path, *names: str) -> dict[str, np.ndarray]:
    """The named arrays of a product written by ``write_image`` or ``write_cube`` (``PRIMARY``: the primary
    data; otherwise EXTNAMEs), and nothing else: no header is parsed."""
    with open(path, "rb") as file:
        return _read_named(file, _image_hdus(file, path), names, path)


def _read_named(file, hdus, names, path) -> dict[str, np.ndarray]:
    found = {}
    for name in names:
        if name not in hdus:
            raise FrameError(path, f"has no {name} extension; was it written by stackphot?")
        found[name] = _read_array(file, hdus[name])
    return found


@dataclass(frozen=True)
class _ImageHdu:
    header: str  # its cards, END included
    dtype: np.dtype
    shape: tuple[int, ...]
    offset: int  # of its data in the file


def _image_hdus(file, path) -> dict[str, _ImageHdu]:
    """Every HDU of an image file without scaled data, by EXTNAME (the first: PRIMARY).

    Raises
    ------
    FrameError
        The file is not FITS, is truncated, or holds an HDU that is not an unscaled image.
    """
    size = os.fstat(file.fileno()).st_size
    hdus, position = {}, 0
    while position < size:
        text = _header_text(file, position, path)
        values = {text[i:i + 8].rstrip(): text[i + 10:i + 80].split("/")[0].strip()
                  for i in range(0, len(text), 80) if text[i + 8:i + 10] == "= "}
        try:
            dtype = FITS_DTYPES[int(values["BITPIX"])]
            shape = tuple(int(values[f"NAXIS{axis}"]) for axis in range(int(values["NAXIS"]), 0, -1))
        except (KeyError, ValueError):
            raise FrameError(path, f"HDU {len(hdus)} is not an image HDU") from None
        if values.get("XTENSION", "'IMAGE'").strip("' ") != "IMAGE" or "BZERO" in values or "BSCALE" in values:
            raise FrameError(path, f"HDU {len(hdus)} is not an unscaled image; was it written by stackphot?")
        offset = position + len(text) + -len(text) % BLOCK
        n_bytes = math.prod(shape) * dtype.itemsize if shape else 0
        if offset + n_bytes > size:
            raise FrameError(path, f"truncated: HDU {len(hdus)} ends beyond the end of the file")
        name = values.get("EXTNAME", "'PRIMARY'").strip("' ").upper() if hdus else "PRIMARY"
        hdus[name] = _ImageHdu(text, dtype, shape, offset)
        position = offset + n_bytes + -n_bytes % BLOCK
    return hdus


def _header_text(file, position: int, path) -> str:
    """The cards of the header that starts at ``position``, END included, read a FITS block at a time."""
    blocks = b""
    while len(block := os.pread(file.fileno(), BLOCK, position + len(blocks))) == BLOCK:
        blocks += block
        end = next((card for card in range(len(blocks) - BLOCK, len(blocks), 80)
                    if blocks[card:card + 80] == END_CARD), None)
        if end is not None:
            try:
                return blocks[:end + 80].decode("ascii")
            except UnicodeDecodeError:
                break
    raise FrameError(path, "is not FITS or is truncated: no header END card")


def _read_array(file, hdu: _ImageHdu) -> np.ndarray | None:
    if not hdu.shape:
        return None
    array = np.empty(hdu.shape, hdu.dtype)
    os.preadv(file.fileno(), [array], hdu.offset)
    return array


def write_ecsv(path, table, *, units=None, meta=None) -> Path:
    """Write a pandas DataFrame as ECSV with units and metadata, atomically (astropy Table reads it back)."""
    from astropy.table import Table

    out = Table.from_pandas(table)
    for column, unit in (units or {}).items():
        if column in out.colnames:
            out[column].unit = unit
    out.meta.update(meta or {})
    with atomic_write(path) as temporary:
        out.write(temporary, format="ascii.ecsv")
    return Path(path)


def celestial_wcs(header):
    """The header's celestial WCS, or None when it has none (astropy's notes on fixing cards silenced)."""
    import warnings

    from astropy.wcs import WCS, FITSFixedWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FITSFixedWarning)
        wcs = WCS(header)
    return wcs.celestial if wcs.has_celestial else None
