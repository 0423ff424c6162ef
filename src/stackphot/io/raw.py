"""Raw frames as a camera wrote them, read with astropy (any FITS a camera may write) and validated.

A frame's image may be in the primary HDU or in an extension (an empty primary, as some cameras and archives
write, or tile-compressed as fpack writes it), and the file may carry a bad-pixel mask beside it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from astropy.io import fits

from stackphot.io.cards import STRUCTURAL_KEYS
from stackphot.io.files import FrameError

# Names of the image extensions a camera or an archive writes its bad pixels into (nonzero: bad).
BAD_PIXEL_EXTENSIONS = ("BPM", "BADPIX", "MASK", "DQ")
# Cards of the primary header an extension's image does not inherit: they describe the primary's own array
# (or nothing), or are the primary's own history and checksums.
_NOT_INHERITED = {*STRUCTURAL_KEYS, "EXTVER", "INHERIT", "COMMENT", "HISTORY", ""}
_IMAGE_HDUS = (fits.PrimaryHDU, fits.ImageHDU, fits.CompImageHDU)


@dataclass(frozen=True)
class BadPixels:
    """A raw file's bad-pixel mask: True where one of its mask extensions is nonzero."""

    mask: np.ndarray  # bool, the image's shape
    extensions: tuple[str, ...]  # the EXTNAMEs it was read from, in file order

    @property
    def count(self) -> int:
        return int(np.count_nonzero(self.mask))

    def describe(self) -> str:
        """Where the mask came from and how many pixels it marks, for the HISTORY and the log."""
        names = f"extension {self.extensions[0]}" if len(self.extensions) == 1 else \
            f"extensions {', '.join(self.extensions)}"
        return f"bad-pixel mask {names} applied: {self.count} pixels"


@dataclass
class RawFrame:
    """A frame as read from disk: physical values (BZERO/BSCALE applied) as float32, and its header."""

    data: np.ndarray
    header: fits.Header
    path: Path
    hdu_index: int
    integer_max: float | None  # largest value the stored integer type can hold (saturation), if integer
    bad_pixels: BadPixels | None = None  # the file's bad-pixel mask extension(s), None when it has none


def read_raw_frame(path) -> RawFrame:
    """Read a 2D image frame, read-only, from the first HDU that holds image data.

    BZERO/BSCALE are applied (a uint16 camera frame stored as int16 with BZERO 32768 comes back as its
    physical counts). A tile-compressed image (``.fits.fz``, fpack) is read like any other; its
    ``integer_max`` is that of the integer type the image was compressed from (ZBITPIX), not that of the
    binary table holding it. The file is opened read-only and never changed.

    An image in an extension (after an empty primary HDU) also gets the primary header's cards it lacks, as
    the INHERIT convention has it (its own cards win; not the structural cards, CHECKSUM, DATASUM, COMMENT or
    HISTORY; none at all when the extension says ``INHERIT = F``): EXPTIME or DATE-OBS written only in the
    primary header are the frame's.

    Image extensions named BPM, BADPIX, MASK or DQ are the frame's bad-pixel mask, never the frame itself:
    any nonzero value marks a bad pixel, and several such extensions add up. Only those of the image's
    EXTVER count (a file of several detectors has one mask for each), and an empty one marks nothing. The
    mask is ``bad_pixels``, None when the file has none.

    Raises
    ------
    FrameError
        Not a FITS file, truncated or corrupt, no image HDU, an image that is not 2D, or not numeric; a
        bad-pixel mask extension of another shape than the image.
    """
    path = Path(path)
    try:
        with fits.open(path, mode="readonly", memmap=False, lazy_load_hdus=False) as hdul:
            for index, hdu in enumerate(hdul):
                if not isinstance(hdu, _IMAGE_HDUS) or is_bad_pixel_mask(index, hdu):
                    continue
                # Read before the data: astropy then makes a scaled image's BITPIX that of its floats.
                integer_max = _integer_max(hdu.header)
                if hdu.data is not None:
                    frame = _validated(path, index, hdu, integer_max)
                    if index:
                        frame.header = inherited_header(hdul[0].header, frame.header)
                    frame.bad_pixels = _bad_pixels(path, hdul, index)
                    return frame
            if any(isinstance(hdu, (fits.BinTableHDU, fits.TableHDU)) for hdu in hdul):
                raise FrameError(path, "holds a table, not an image; take it out of the frames folder")
    except FrameError:
        raise
    except (OSError, ValueError, TypeError, IndexError) as err:
        raise FrameError(path, f"cannot be read as FITS ({err}); is it truncated, corrupt or not FITS at all?") from err
    raise FrameError(path, "holds no image data")


def inherited_header(primary: fits.Header, header: fits.Header) -> fits.Header:
    """An extension's header with the cards of the ``primary`` header it lacks (the INHERIT convention).

    The extension's own cards win; the primary's structural cards, CHECKSUM, DATASUM, COMMENT and HISTORY
    are not inherited, and nothing is when the extension says ``INHERIT = F``. Returns a copy.
    """
    header = header.copy()
    if header.get("INHERIT") is False:
        return header
    for card in primary.cards:
        keyword = card.keyword
        if keyword in _NOT_INHERITED or keyword.startswith("NAXIS") or keyword in header:
            continue
        header.append(card)
    return header


def is_bad_pixel_mask(index: int, hdu) -> bool:
    """Whether HDU ``index`` of a file is a bad-pixel mask extension (BAD_PIXEL_EXTENSIONS), not an image."""
    return index > 0 and hdu.name.strip().upper() in BAD_PIXEL_EXTENSIONS


def _bad_pixels(path: Path, hdul, image_index: int) -> BadPixels | None:
    """The OR of the file's mask extensions of the image's EXTVER, or None when it has none."""
    image = hdul[image_index]
    masks, names = [], []
    for index, hdu in enumerate(hdul):
        if not (isinstance(hdu, _IMAGE_HDUS) and is_bad_pixel_mask(index, hdu) and hdu.ver == image.ver):
            continue
        if hdu.data is None:  # an empty extension (as HST writes a DQ of zeros): marks nothing
            continue
        if hdu.data.shape != image.data.shape:
            raise FrameError(path, f"bad-pixel mask extension {hdu.name} (HDU {index}) has shape "
                                   f"{hdu.data.shape}, but the image (HDU {image_index}) has shape "
                                   f"{image.data.shape}: a mask must be the image's shape")
        masks.append(np.asarray(hdu.data) != 0)  # NaN too: not a good pixel
        names.append(hdu.name.strip().upper())
    if not masks:
        return None
    return BadPixels(np.logical_or.reduce(masks), tuple(names))


def _integer_max(header: fits.Header) -> float | None:
    """The largest physical value the stored integers can hold (BZERO + BSCALE times their largest), or None
    for floats. A compressed image's header is its image's: its BITPIX is the ZBITPIX it was compressed from."""
    bitpix = header.get("BITPIX")
    if bitpix not in (8, 16, 32):
        return None
    stored_max = {8: 255, 16: 32767, 32: 2147483647}[bitpix]
    return float(header.get("BZERO", 0.0) + header.get("BSCALE", 1.0) * stored_max)


def _validated(path: Path, index: int, hdu, integer_max: float | None) -> RawFrame:
    raw_dtype = hdu.data.dtype
    if not (np.issubdtype(raw_dtype, np.number) and not np.issubdtype(raw_dtype, np.complexfloating)):
        raise FrameError(path, f"image data are {raw_dtype}, not real numbers")
    if hdu.data.ndim != 2:
        raise FrameError(path, f"image has {hdu.data.ndim} axes {hdu.data.shape}; a frame must be one 2D image")
    header = hdu.header.copy()
    for key in ("BZERO", "BSCALE", "BLANK"):
        header.remove(key, ignore_missing=True)
    return RawFrame(np.asarray(hdu.data, dtype=np.float32), header, path, index, integer_max)
