"""What each file of a night was taken for: a light, or a bias, dark or flat to calibrate the lights with.

Two witnesses, as observers and their cameras leave them:

* the header's ``IMAGETYP`` (also ``FRAMETYP``, ``OBSTYPE``), in the spellings capture programs write: MaxIm DL's
  ``Light Frame``, ``Bias Frame``, ``Dark Frame``, ``Flat Field``; N.I.N.A.'s and ASIAIR's ``LIGHT``, ``BIAS``,
  ``DARK``, ``FLAT``, ``DARKFLAT``; IRAF's ``object``, ``zero``, ``dark``, ``flat``; the Seestar's ``Light``;
* the folders the file sits in below the dataset's folder (``bias/``, ``darks/``, ``Flats/R/``, any case; the
  innermost one that names a kind counts).

The header wins where both speak and disagree (a flat dropped into the lights' folder is a flat), and the
``kind_source`` says so. A file with neither is a light, as every frame of a plain folder was before
calibration frames were read (or, in a folder the config lists as `calibrate: darks`, a dark). A dark whose
exposure matches the flats' is their flat dark: no kind of its own.

A master written by stackphot (``IMAGETYP`` ``Master Dark``, with its ``ERR`` and ``COVERAGE``), from an earlier
night's ``results/<night>/calibrate/``, is a ready master: used as it is instead of being combined again.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from pathlib import Path

from astropy.io import fits

from stackphot.io import FrameError, frame_stem, inherited_header, is_bad_pixel_mask

KINDS = ("light", "bias", "dark", "flat")
TYPE_KEYS = ("IMAGETYP", "FRAMETYP", "OBSTYPE")
EXPOSURE_KEYS = ("EXPTIME", "EXPOSURE", "EXP_TIME")
FILTER_KEYS = ("FILTER", "FILTNAM", "FILTER1")
PATTERN_KEYS = ("BAYERPAT", "COLORTYP")
CAMERA_KEYS = ("INSTRUME", "CAMERA")
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
MASTER_EXTENSIONS = ("ERR", "COVERAGE")


class ForeignMasterError(FrameError):
    """A master frame made by another program: its errors and how it was made are unknown."""


def _type_word(text) -> str:
    return _NOISE_WORDS.sub("", text.strip().lower()) if isinstance(text, str) else ""


def kind_of_word(text) -> str | None:
    """The kind an IMAGETYP value or a folder name stands for, or None (``"Flat Field"``: flat; ``"Master
    Dark"``: dark)."""
    return _TYPE_WORDS.get(_type_word(text).removeprefix("master"))


def is_master_word(text) -> bool:
    """An IMAGETYP of a master frame (``"Master Bias"``), not of a frame taken at the telescope."""
    word = _type_word(text)
    return word.startswith("master") and word.removeprefix("master") in _TYPE_WORDS


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
    master: bool = False  # a ready master (stackphot's), not a frame to combine
    listed_in: str | None = None  # the config key that named it ("calibrate: darks"); None: the dataset's folder
    pattern: str | None = None  # colour filter array (BAYERPAT, "RGGB"); None: a monochrome sensor
    camera: str | None = None  # INSTRUME


def _first(header, keys):
    for key in keys:
        value = header.get(key)
        if value is not None and value != "":
            return value
    return None


def sensor_temperature(header) -> float | None:
    """Degrees C of the sensor, from the first of TEMPERATURE_KEYS the header gives as a number."""
    return next((float(header[key]) for key in TEMPERATURE_KEYS if isinstance(header.get(key), (int, float))), None)


def _image_header(path) -> tuple[fits.Header, set[str]]:
    """The header of the first 2D image HDU (a camera may put it in an extension, after an empty primary whose
    cards it inherits; a bad-pixel mask extension is not the image), and the file's extension names."""
    try:
        # A damaged file's warnings wait for ingest, which names the problem.
        with warnings.catch_warnings(), fits.open(path, mode="readonly") as hdul:
            warnings.simplefilter("ignore")
            names = {hdu.name for hdu in hdul}
            for index, hdu in enumerate(hdul):
                if hdu.is_image and hdu.header.get("NAXIS") == 2 and not is_bad_pixel_mask(index, hdu):
                    header = inherited_header(hdul[0].header, hdu.header) if index else hdu.header.copy()
                    return header, names
    except (OSError, ValueError) as error:
        raise FrameError(path, f"cannot be read as FITS ({error})") from error
    raise FrameError(path, "holds no 2D image")


def describe_frame(path, root, *, default_kind: str = "light", listed_in: str | None = None) -> FrameInfo:
    """A file's kind and the figures calibration matches on, from its header and its folders below ``root``;
    ``default_kind`` where neither names one. ``listed_in``: the config key that named the file or its folder.

    Raises
    ------
    FrameError
        The file cannot be read, or it is a master made by another program (without stackphot's errors).
    """
    path = Path(path)
    header, extensions = _image_header(path)
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
    elif listed_in:
        kind, source = default_kind, f"listed in {listed_in}"
    else:
        kind, source = default_kind, f"neither IMAGETYP nor a folder names a kind: a {default_kind}"
    if listed_in and not source.startswith("listed"):
        source += f", listed in {listed_in}"
    master = is_master_word(type_value)
    if master and not set(MASTER_EXTENSIONS) <= extensions:
        raise ForeignMasterError(path, f"a master made by another program (IMAGETYP {type_value!r}, without the "
                                       f"{' and '.join(MASTER_EXTENSIONS)} extensions of stackphot's masters): "
                                       "give its frames instead, or a master from an earlier night's "
                                       "results/<night>/calibrate/")
    exptime = _first(header, EXPOSURE_KEYS)
    filter_name = _first(header, FILTER_KEYS)
    pattern, camera = _first(header, PATTERN_KEYS), _first(header, CAMERA_KEYS)
    return FrameInfo(
        path=path, name=frame_stem(path), kind=kind, kind_source=source,
        exptime=float(exptime) if isinstance(exptime, (int, float)) else None,
        filter=str(filter_name).strip() if filter_name is not None else None,
        binning=(int(header.get("XBINNING", 1) or 1), int(header.get("YBINNING", 1) or 1)),
        shape=(int(header["NAXIS2"]), int(header["NAXIS1"])),
        temperature=sensor_temperature(header),
        master=master, listed_in=listed_in,
        pattern=str(pattern).strip().upper() if pattern is not None else None,
        camera=str(camera).strip() if camera is not None else None,
    )
