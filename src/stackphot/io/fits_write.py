"""Products written as FITS: the structural cards from the array, then the header's own cards, atomically.

The bytes are those astropy's HDU classes write (tests/test_io.py compares them), without their
re-verification of every card of every product: cards from outside come in through ``valid_header`` (at
ingest), the rest are set with astropy's Header API, which validates each card.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
from astropy.io import fits

from stackphot.io.cards import STRUCTURAL_KEYS, add_cards
from stackphot.io.files import atomic_write
from stackphot.provenance import Product

# FITS BITPIX of the array types a product is written in; others would need BZERO scaling.
BITPIX = {np.dtype(np.uint8): 8, np.dtype(np.int16): 16, np.dtype(np.int32): 32, np.dtype(np.int64): 64,
          np.dtype(np.float32): -32, np.dtype(np.float64): -64}
FITS_DTYPES = {bitpix: np.dtype(dtype).newbyteorder(">") for dtype, bitpix in BITPIX.items()}
BLOCK = 2880
END_CARD = b"END".ljust(80)


def write_image(path, data, header=None, *, extensions=(), history=(), comments=()) -> Path:
    """Write an image with optional named extensions ``[(name, array, header_or_None), ...]``, atomically.

    The headers' cards are written as they are, after the structural cards the arrays need
    (``python bench/fits_io.py`` compares the time with astropy's).
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
