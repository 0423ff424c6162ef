"""What each file of a night was taken for: a light, or a bias, dark or flat to calibrate the lights with.

Two witnesses, as observers and their cameras leave them:

* the header's ``IMAGETYP`` (also ``FRAMETYP``, ``OBSTYPE``), in the spellings capture programs write: MaxIm DL's
  ``Light Frame``, ``Bias Frame``, ``Dark Frame``, ``Flat Field``; N.I.N.A.'s and ASIAIR's ``LIGHT``, ``BIAS``,
  ``DARK``, ``FLAT``, ``DARKFLAT``; IRAF's ``object``, ``zero``, ``dark``, ``flat``; the Seestar's ``Light``;
* the folders the file sits in below the dataset's folder (``bias/``, ``darks/``, ``Flats/R/``, any case; the
  innermost one that names a kind counts).

The header wins where both speak and disagree (a flat dropped into the lights' folder is a flat), and the
``kind_source`` says so. A file with neither is a light, as every frame of a plain folder was before
calibration frames were read. A dark whose exposure matches the flats' is their flat dark: no kind of its own.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from pathlib import Path

from astropy.io import fits

from stackphot.io import FrameError, frame_stem

KINDS = ("light", "bias", "dark", "flat")
TYPE_KEYS = ("IMAGETYP", "FRAMETYP", "OBSTYPE")
EXPOSURE_KEYS = ("EXPTIME", "EXPOSURE", "EXP_TIME")
FILTER_KEYS = ("FILTER", "FILTNAM", "FILTER1")
TEMPERATURE_KEYS = ("CCD-TEMP", "CCD_TEMP", "CCDTEMP", "SENSOR-T")

# Words of an IMAGETYP value or a folder name, lower case, without "frame", "field", "image" and separators.
_TYPE_WORDS = {
    "light": "light", "lights": "light", "object": "light", "science": "light",
    "bias": "bias", "biases": "bias", "zero": "bias", "zeros": "bias", "offset": "bias", "offsets": "bias",
    "dark": "dark", "darks": "dark",
    "flat": "flat", "flats": "flat", "skyflat": "flat", "domeflat": "flat", "twiflat": "flat",
    "twilightflat": "flat",
    # Darks for the flats: darks, matched to the flats by their exposure.
    "darkflat": "dark", "darkflats": "dark", "flatdark": "dark", "flatdarks": "dark",
}
_NOISE_WORDS = re.compile(r"frames?|fields?|images?|[\s_\-.]+")


def kind_of_word(text) -> str | None:
    """The kind an IMAGETYP value or a folder name stands for, or None (``"Flat Field"``: flat)."""
    if not isinstance(text, str):
        return None
    return _TYPE_WORDS.get(_NOISE_WORDS.sub("", text.strip().lower()))


@dataclass(frozen=True)
class FrameInfo:
    """One file of a dataset's folder: what it is for and what its calibration must match."""

    path: Path
    name: str
    kind: str
    kind_source: str  # "IMAGETYP 'Flat Field'", "folder Darks", "default: neither says"
    exptime: float | None
    filter: str | None
    binning: tuple[int, int]
    shape: tuple[int, int]  # (ny, nx)
    temperature: float | None


def _first(header, keys):
    for key in keys:
        value = header.get(key)
        if value is not None and value != "":
            return value
    return None


def _image_header(path) -> fits.Header:
    """The header of the first 2D image HDU (a camera may put it in an extension)."""
    try:
        # A damaged file's warnings wait for ingest, which names the problem.
        with warnings.catch_warnings(), fits.open(path, mode="readonly") as hdul:
            warnings.simplefilter("ignore")
            for hdu in hdul:
                if hdu.header.get("NAXIS") == 2:
                    return hdu.header.copy()
    except (OSError, ValueError) as error:
        raise FrameError(path, f"cannot be read as FITS ({error})") from error
    raise FrameError(path, "holds no 2D image")


def describe_frame(path, root) -> FrameInfo:
    """A file's kind and the figures calibration matches on, from its header and its folders below ``root``."""
    path = Path(path)
    header = _image_header(path)
    folders = path.parent.relative_to(root).parts if path.parent != Path(root) else ()
    by_folder = next(((kind_of_word(folder), folder) for folder in reversed(folders) if kind_of_word(folder)),
                     (None, None))
    type_value = _first(header, TYPE_KEYS)
    by_header = kind_of_word(type_value)
    if by_header:
        kind, source = by_header, f"IMAGETYP {type_value!r}"
        if by_folder[0] and by_folder[0] != by_header:
            source += f" (its folder {by_folder[1]!r} says {by_folder[0]})"
    elif by_folder[0]:
        kind, source = by_folder[0], f"folder {by_folder[1]!r}"
    else:
        kind, source = "light", "neither IMAGETYP nor a folder names a kind: a light"
    exptime = _first(header, EXPOSURE_KEYS)
    temperature = _first(header, TEMPERATURE_KEYS)
    filter_name = _first(header, FILTER_KEYS)
    return FrameInfo(
        path=path, name=frame_stem(path), kind=kind, kind_source=source,
        exptime=float(exptime) if isinstance(exptime, (int, float)) else None,
        filter=str(filter_name).strip() if filter_name is not None else None,
        binning=(int(header.get("XBINNING", 1) or 1), int(header.get("YBINNING", 1) or 1)),
        shape=(int(header["NAXIS2"]), int(header["NAXIS1"])),
        temperature=float(temperature) if isinstance(temperature, (int, float)) else None,
    )
