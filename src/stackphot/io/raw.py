"""Raw frames as a camera wrote them, read with astropy (any FITS a camera may write) and validated."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from astropy.io import fits

from stackphot.io.files import FrameError


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
