"""Ingest: a raw frame becomes float data, an error map and a mask of pixels not to trust."""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np
from astropy.io import fits

from stackphot.defects import BLANK, blank_border
from stackphot.io import FrameError, RawFrame, ascii_text
from stackphot.numerics import MAD_TO_SIGMA
from stackphot.provenance import Product

# EGAIN first: where a program writes both, GAIN is the camera's gain setting and EGAIN its e-/ADU.
GAIN_KEYS = ("EGAIN", "GAIN", "CCDGAIN")
# A GAIN card is taken as the camera's gain setting, not e-/ADU, (1) when the frame comes from a camera or
# program that writes it so: ZWO's cameras and ASIAIR (ZWO's gain scale, 0-600 in 0.1 dB steps), the Seestar
# S50 (INSTRUME 'Seestar S50', CREATOR 'ZWO Seestar S50', PRODUCER 'ZWO': GAIN = 80), and N.I.N.A., whose
# GAIN is the driver's gain setting and EGAIN its e-/ADU; or (2) when it is a whole number above
# MAX_GAIN_ELECTRONS, more electrons per ADU than any CCD or CMOS camera digitises (a few at the lowest
# gain of a large-well CCD), which is how a setting reads whatever wrote it.
GAIN_SETTING_CARDS = ("INSTRUME", "CREATOR", "PRODUCER", "SWCREATE")
GAIN_SETTING_WRITERS = re.compile(r"\bZWO\b|\bASI ?\d|ASIAIR|Seestar|N\.I\.N\.A", re.IGNORECASE)
MAX_GAIN_ELECTRONS = 10.0
READ_NOISE_KEYS = ("RDNOISE", "READNOIS", "RON", "READNOISE")
SATURATION_KEYS = ("SATURATE", "SATLEVEL")
# Where a frame's top values pile up (``pile_up_level``): star cores clipped by the ADC, or by the camera's own
# processing below the integer top. At least PILE_MIN_PIXELS pixels within PILE_WIDTH (of the maximum: 131 ADU
# at 65500) of the frame's maximum, significantly more than in the band as wide just below it, the maximum
# PILE_MIN_SKY_SIGMAS sky sigmas above the median. The wings of a real star cross a band that narrow near its
# peak in a pixel or two, and the brightest unsaturated star has one brightest pixel.
PILE_WIDTH = 0.002
PILE_MIN_PIXELS = 5
PILE_MIN_SKY_SIGMAS = 50.0

# Bits of the MASK extension; others: calibrate's HOT 4 and LOW_RESPONSE 8, stackphot.defects' DEFECT 16, BLANK 32.
NONFINITE = 1
SATURATED = 2
BAD_PIXEL = 64  # marked by the raw file's bad-pixel mask extension (BPM, BADPIX, MASK, DQ)
BAD_FRAME = 128  # every pixel of a frame that holds no image (one value everywhere); its BADFRAME card says why

# What ingest notes of a header that is mostly the same for every frame of a camera: a job's log would repeat it
# for each frame, so the frames table's job says it once for the dataset (``header_notes``).
GAIN_ASSUMED = "no gain in the config or header (GAIN, EGAIN, CCDGAIN): assuming 1 e-/ADU; set ingest: gain"
READ_NOISE_ASSUMED = ("no read noise in the config or header (RDNOISE, READNOIS, RON): assuming 0; "
                      "set ingest: read_noise")
LEFT_OUT = "header cards left out, not valid FITS"


class NoiseAssumedWarning(UserWarning):
    """No gain or read noise in the config or header: an assumed one is used (``noise_model``)."""


@dataclass
class NoiseModel:
    """Gain (e-/ADU) and read noise (e-) with where each came from (config, header card, or assumed)."""

    gain: float
    read_noise: float
    gain_source: str
    read_noise_source: str

    @property
    def assumed(self) -> bool:
        return self.gain_source == "assumed"


@dataclass(frozen=True)
class MeasuredReadNoise:
    """A read noise measured from pairs of frames: in electrons and ADU, and from what, in words."""

    electrons: float
    adu: float
    source: str  # "4 pairs of bias frames", "2 pairs of 1.5 s darks"


# A read noise the config or the header gives that the frames measure further from than this is worth a warning.
MISMATCH = 0.25


def mismatch(given: float, given_source: str, measured: MeasuredReadNoise | None) -> str | None:
    """A warning where the night's frames measure a read noise more than ``MISMATCH`` away from the one the
    config or the header gives (``given`` e-, from ``given_source``); else None."""
    if measured is None or abs(measured.electrons - given) <= MISMATCH * max(given, 1e-9):
        return None
    return f"read noise {given:g} e- ({given_source}), but {measured.source} measure {measured.electrons:.2f} e-"


def _header_value(header, keys):
    """The first of ``keys`` in the header, as a number and where it came from; (None, None) if none is there.

    Raises
    ------
    ValueError
        A card is there but holds no finite number: guessing a noise model past it would hide the problem.
    """
    for key in keys:
        if key not in header:
            continue
        value = header[key]
        if not (isinstance(value, (int, float)) and not isinstance(value, bool) and np.isfinite(value)):
            raise ValueError(f"header card {key} = {value!r} is not a number: correct it, or set it in the "
                             "config (ingest: gain, read_noise)")
        return float(value), f"header {key}"
    return None, None


def gain_setting(header: fits.Header) -> str | None:
    """Why the header's GAIN card is the camera's gain setting and not e-/ADU (the rule above GAIN_SETTING_CARDS),
    or None when it reads as e-/ADU or holds no number (which ``_header_value`` refuses)."""
    value = header.get("GAIN")
    if not (isinstance(value, (int, float)) and not isinstance(value, bool) and np.isfinite(value)):
        return None
    for key in GAIN_SETTING_CARDS:
        text = header.get(key)
        if isinstance(text, str) and GAIN_SETTING_WRITERS.search(text):
            return f"{key} = {text.strip()!r}, which writes the setting there"
    if float(value).is_integer() and value > MAX_GAIN_ELECTRONS:
        return f"a whole number above {MAX_GAIN_ELECTRONS:g}: no camera digitises at that many e-/ADU"
    return None


def _header_gain(header):
    """The gain (e-/ADU) from the header and the card it came from, a GAIN that is a setting passed over;
    (None, None) if no card is there.

    Raises
    ------
    ValueError
        A card holds no number, or GAIN is the camera's setting and no EGAIN (or CCDGAIN) gives e-/ADU.
    """
    setting = gain_setting(header)
    gain, source = _header_value(header, [key for key in GAIN_KEYS if not (setting and key == "GAIN")])
    if gain is None and setting:
        value = header["GAIN"]
        raise ValueError(f"header card GAIN = {value!r} is the camera's gain setting, not e-/ADU ({setting}), "
                         "and no EGAIN card gives e-/ADU: set ingest: gain (e-/ADU) in the config, for one "
                         f"from the camera maker's gain curve at gain setting {value}")
    return gain, source


def noise_model(header: fits.Header, *, gain=None, read_noise=None) -> NoiseModel:
    """Gain and read noise from the config if given, else from the usual header cards.

    The gain cards are read EGAIN first; a GAIN card that is the camera's gain setting (``gain_setting``: a
    ZWO camera, the Seestar, N.I.N.A., or a whole number above 10) is passed over. When neither source gives
    a gain, the frame's counts are taken as electrons (gain 1, no read noise): the error map is then
    ``sqrt(counts)``, an underestimate on cameras whose read noise dominates, so a warning says so.

    Raises
    ------
    ValueError
        A noise card holds no number; or GAIN is a setting, there is no EGAIN and ``gain`` is not given: an
        error map from a setting taken as e-/ADU would be wrong by a large factor (25 on the Seestar S50).
    """
    gain_source = read_noise_source = "config"
    if gain is None:
        gain, gain_source = _header_gain(header)
    if read_noise is None:
        read_noise, read_noise_source = _header_value(header, READ_NOISE_KEYS)
    if gain is None:
        warnings.warn(GAIN_ASSUMED, NoiseAssumedWarning, stacklevel=2)
        gain, gain_source = 1.0, "assumed"
    if read_noise is None:
        warnings.warn(READ_NOISE_ASSUMED, NoiseAssumedWarning, stacklevel=2)
        read_noise, read_noise_source = 0.0, "assumed"
    if gain <= 0 or read_noise < 0:
        raise ValueError(f"gain must be positive and read noise not negative (got {gain}, {read_noise})")
    return NoiseModel(float(gain), float(read_noise), gain_source, read_noise_source)


def error_map(counts, *, gain: float, read_noise: float) -> np.ndarray:
    """One-sigma error in ADU of each pixel: Poisson noise of the counts plus read noise.

    ``counts`` are zero-based ADU (pedestal removed). Negative counts (noise below a zero bias) add no
    Poisson variance. Non-finite pixels give NaN.
    """
    counts = np.asarray(counts, dtype=np.float64)
    variance = np.clip(counts, 0, None) / gain + (read_noise / gain) ** 2
    return np.sqrt(variance).astype(np.float32)


def pile_up_level(data) -> float | None:
    """The level (ADU) from which a frame's top values pile up, as clipped star cores do; None if they do not.

    A pile-up is at least ``PILE_MIN_PIXELS`` pixels within ``PILE_WIDTH`` (relative) of the frame's
    maximum, more than in the band as wide just below it by three times that band's Poisson error, with the
    maximum ``PILE_MIN_SKY_SIGMAS`` robust sky sigmas above the median. The level is the maximum less that
    width: the whole pile, and the pixels just under it that are nearly full, are at or above it. Non-finite
    pixels are left out. A saturated star of fewer than ``PILE_MIN_PIXELS`` pixels is not found, nor is a
    frame whose sky itself is at its top (its median is the pile).
    """
    values = np.asarray(data)[np.isfinite(data)]
    if values.size == 0:
        return None
    top = float(values.max())
    width = max(PILE_WIDTH * abs(top), 1.0)
    n_top = np.count_nonzero(values >= top - width)
    n_below = np.count_nonzero((values >= top - 2 * width) & (values < top - width))
    if n_top < PILE_MIN_PIXELS or n_top <= n_below + 3 * np.sqrt(n_below + 1):
        return None
    sky = float(np.median(values))
    sigma = MAD_TO_SIGMA * float(np.median(np.abs(values - sky)))
    if top - sky <= PILE_MIN_SKY_SIGMAS * sigma:
        return None
    return top - width


def find_saturation(raw: RawFrame, *, saturation=None) -> tuple[float | None, str]:
    """Saturation in ADU and where it came from: the config's (``config``), else a header card (``header
    SATURATE``), else for an integer frame the level where its top values pile up (``pile-up``,
    ``pile_up_level``) when they pile up below the top of the stored integer range, else that top (``integer
    range``); ``(None, "none")`` for a float frame without a card."""
    if saturation is not None:
        return float(saturation), "config"
    value, source = _header_value(raw.header, SATURATION_KEYS)
    if value is not None:
        return value, source
    if raw.integer_max is None:
        return None, "none"
    # An ADC that clips at the integer top leaves its saturated pixels there, where the top itself flags them.
    level = pile_up_level(raw.data)
    if level is not None and np.nanmax(raw.data) < raw.integer_max:
        return level, "pile-up"
    return raw.integer_max, "integer range"


def saturation_level(raw: RawFrame, *, saturation=None) -> float | None:
    """Saturation in ADU: the config's, else a header card, else where the frame's top values pile up below
    the top of the stored integer range, else that top (``find_saturation``)."""
    return find_saturation(raw, saturation=saturation)[0]


@dataclass
class IngestedFrame:
    data: np.ndarray  # float32 ADU, as stored (pedestal kept so values match the raw file)
    error: np.ndarray  # float32 ADU
    mask: np.ndarray  # uint8 bit flags: NONFINITE, SATURATED, BAD_PIXEL, BAD_FRAME
    noise: NoiseModel
    pedestal: float
    saturation: float | None
    saturation_source: str = ""  # as find_saturation says
    bad_frame: str = ""  # why the frame holds no image (every pixel BAD_FRAME); '' for a frame to use

    def describe(self) -> str:
        """Shape and noise model with their sources: what a job's log says of each frame."""
        noise = self.noise
        text = (f"shape {self.data.shape}, gain {noise.gain:.3f} ({noise.gain_source}), "
                f"read noise {noise.read_noise:.3f} ({noise.read_noise_source})")
        if self.saturation_source == "pile-up":
            text += f", saturation {self.saturation:.0f} ADU (where the top values pile up)"
        return text


def ingest_frame(raw: RawFrame, *, gain=None, read_noise=None, saturation=None, offset=None) -> IngestedFrame:
    """Validate a raw frame and compute its error map and mask.

    The counts less the camera's zero level are Poisson: ``offset`` (ADU, the config's `ingest: offset`, what
    a CMOS camera's offset setting adds to every pixel) where given, else a ``PEDESTAL`` card (the SBFITSEXT
    convention: value to add for zero-based ADU, as MaxIm DL writes it), else 0. The raw file's bad-pixel mask (``raw.bad_pixels``, from its BPM, BADPIX,
    MASK or DQ extension) marks its pixels BAD_PIXEL.

    A constant frame (all 0: a camera or transfer fault) carries no sky, but is no reason to stop a night:
    it comes back with every pixel BAD_FRAME and ``bad_frame`` saying so, for the frame selection to reject
    it. Without a saturation from the config or a SATURATE card, an integer frame's saturation is where its
    top values pile up (``find_saturation``).

    Raises
    ------
    FrameError
        If the frame has no finite pixel, or a noise card it needs (GAIN, RDNOISE, ...) holds no number, or
        GAIN is the camera's gain setting with no EGAIN and no ``gain`` given.
    """
    data = raw.data
    finite = np.isfinite(data)
    if not finite.any():
        raise FrameError(raw.path, "has no finite pixel (all NaN or inf)")
    constant = np.nanmin(data[finite]) == np.nanmax(data[finite])
    bad_frame = f"constant {data[finite][0]:g} everywhere" if constant else ""
    try:
        noise = noise_model(raw.header, gain=gain, read_noise=read_noise)
    except ValueError as error:
        raise FrameError(raw.path, str(error)) from error
    pedestal = -float(offset) if offset is not None else float(raw.header.get("PEDESTAL", 0.0) or 0.0)
    saturation, saturation_source = find_saturation(raw, saturation=saturation)
    mask = np.where(finite, 0, NONFINITE).astype(np.uint8)
    if bad_frame:
        mask |= BAD_FRAME
    if saturation is not None:
        mask[finite & (data >= saturation)] |= SATURATED
    if raw.bad_pixels is not None:
        mask[raw.bad_pixels.mask] |= BAD_PIXEL
    mask[blank_border(data)] |= BLANK
    error = error_map(data + pedestal, gain=noise.gain, read_noise=noise.read_noise)
    error[~finite] = np.nan
    return IngestedFrame(data, error, mask, noise, pedestal, saturation, saturation_source, bad_frame)


class Ingested(NamedTuple):
    """An ingested frame as the product to write, and the frame it was made from (for the job's log)."""

    product: Product
    frame: IngestedFrame


def ingest_product(raw: RawFrame, *, gain=None, read_noise=None, saturation=None, offset=None, raw_sha256: str,
                   left_out=()) -> Ingested:
    """A raw frame as the ingest stage writes it: float32 data with ERR and MASK, and the cards that say how.

    The cards give the noise model with its source (GAIN, RDNOISE), the units (BUNIT), the raw file and its
    SHA-256 (ORIGFILE, ORIGSHA: the raw file is the one input a rerun cannot rebuild) and the saturation
    level used for the mask (SATURATE, when there is one), and for a frame that holds no image why (BADFRAME:
    every pixel is masked and the frame selection rejects it). ``raw_sha256`` is given by the caller, who has
    the file; this function reads nothing. The raw header itself is not checked here: write the product
    over ``io.valid_header(raw.header)``, whose problems, given as ``left_out``, go into the card BADCARDS.

    Raises
    ------
    FrameError
        As ``ingest_frame``: no finite pixel, a noise card that holds no number, or a GAIN that is a setting.
    """
    frame = ingest_frame(raw, gain=gain, read_noise=read_noise, saturation=saturation, offset=offset)
    noise, name = frame.noise, Path(raw.path).name
    cards = {
        "GAIN": (noise.gain, f"e-/ADU ({noise.gain_source})"),
        "RDNOISE": (noise.read_noise, f"e- ({noise.read_noise_source})"),
        "BUNIT": ("adu", "physical units of the data"),
        "ORIGFILE": (ascii_text(name), "raw file"),
        "ORIGSHA": raw_sha256,  # a 64-digit value leaves no room for a comment
    }
    if frame.saturation is not None:
        pile_up = frame.saturation_source == "pile-up"
        cards["SATURATE"] = (frame.saturation, "ADU, where the top values pile up" if pile_up else "ADU")
    if frame.bad_frame:
        cards["BADFRAME"] = (frame.bad_frame, "no image: every pixel masked")
    if left_out:
        cards["BADCARDS"] = "; ".join(left_out)  # the problems' text leaves no room for a comment
    history = [f"stackphot ingest: {name} HDU {raw.hdu_index}, BZERO/BSCALE applied, float32"]
    if frame.saturation_source == "pile-up":
        history.append(f"SATURATE {frame.saturation:.0f} ADU: where the frame's top values pile up, no card gave it")
    if frame.bad_frame:
        history.append(f"no image ({frame.bad_frame}): every pixel masked, MASK bit {BAD_FRAME}")
    if raw.bad_pixels is not None:
        history.append(f"{raw.bad_pixels.describe()}, MASK bit {BAD_PIXEL}")
    if offset is not None:
        history.append(f"ERR: Poisson above the camera's offset {float(offset):g} ADU (ingest: offset)")
    if noise.assumed:
        history.append("error map assumes gain 1 and no read noise: sqrt(counts)")
    product = Product(frame.data, {"ERR": frame.error, "MASK": frame.mask}, cards, history)
    return Ingested(product, frame)


def noise_source(header: fits.Header, key: str) -> str | None:
    """Where an ingested frame's noise card ``key`` (GAIN, RDNOISE) came from, as its comment says (``config``,
    ``header EGAIN``, ``assumed``); None without the card."""
    if key not in header:
        return None
    found = re.search(r"\((.*)\)$", header.comments[key])
    return found[1] if found else None


def assumed(header: fits.Header, key: str) -> bool:
    """Whether an ingested frame's noise card ``key`` (GAIN, RDNOISE) holds an assumed value."""
    return noise_source(header, key) == "assumed"


def frame_read_noise(header: fits.Header, measured: MeasuredReadNoise | None) -> tuple[float | None, str]:
    """An ingested frame's read noise (e-; None without the card) and its card's comment: its own (the config's
    or its header's), or where ingest assumed it, the ``measured`` one of the night's frames of no light."""
    if assumed(header, "RDNOISE") and measured is not None:
        return measured.electrons, f"e- (measured: {measured.source})"
    return header.get("RDNOISE"), header.comments["RDNOISE"] if "RDNOISE" in header else ""


def header_notes(header: fits.Header) -> list[str]:
    """What ``ingest_product`` noted of an ingested frame's raw header, from the cards it wrote: an assumed
    gain or read noise (their comments say ``assumed``), the cards left out as not valid FITS (BADCARDS)."""
    notes = [note for key, note in (("GAIN", GAIN_ASSUMED), ("RDNOISE", READ_NOISE_ASSUMED)) if assumed(header, key)]
    if "BADCARDS" in header:
        notes.append(f"{LEFT_OUT}: {header['BADCARDS']}")
    return notes
