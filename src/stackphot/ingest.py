"""Ingest: a raw frame becomes float data, an error map and a mask of pixels not to trust."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np
from astropy.io import fits

from stackphot.io import FrameError, RawFrame
from stackphot.provenance import Product

GAIN_KEYS = ("GAIN", "EGAIN", "CCDGAIN")
READ_NOISE_KEYS = ("RDNOISE", "READNOIS", "RON", "READNOISE")
SATURATION_KEYS = ("SATURATE", "SATLEVEL")

# Bits of the MASK extension.
NONFINITE = 1
SATURATED = 2


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


def noise_model(header: fits.Header, *, gain=None, read_noise=None) -> NoiseModel:
    """Gain and read noise from the config if given, else from the usual header cards.

    When neither source gives a gain, the frame's counts are taken as electrons (gain 1, no read noise):
    the error map is then ``sqrt(counts)``, an underestimate on cameras whose read noise dominates, so a
    warning says so.
    """
    gain_source = read_noise_source = "config"
    if gain is None:
        gain, gain_source = _header_value(header, GAIN_KEYS)
    if read_noise is None:
        read_noise, read_noise_source = _header_value(header, READ_NOISE_KEYS)
    if gain is None:
        warnings.warn("no gain in the config or header (GAIN, EGAIN, CCDGAIN): assuming 1 e-/ADU", stacklevel=2)
        gain, gain_source = 1.0, "assumed"
    if read_noise is None:
        warnings.warn("no read noise in the config or header (RDNOISE, READNOIS, RON): assuming 0", stacklevel=2)
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


def saturation_level(raw: RawFrame, *, saturation=None) -> float | None:
    """Saturation in ADU: the config's, else a header card, else the top of the stored integer range."""
    if saturation is not None:
        return float(saturation)
    value, _ = _header_value(raw.header, SATURATION_KEYS)
    return value if value is not None else raw.integer_max


@dataclass
class IngestedFrame:
    data: np.ndarray  # float32 ADU, as stored (pedestal kept so values match the raw file)
    error: np.ndarray  # float32 ADU
    mask: np.ndarray  # uint8 bit flags: NONFINITE, SATURATED
    noise: NoiseModel
    pedestal: float
    saturation: float | None

    def describe(self) -> str:
        """Shape and noise model with their sources: what a job's log says of each frame."""
        noise = self.noise
        return (f"shape {self.data.shape}, gain {noise.gain:.3f} ({noise.gain_source}), "
                f"read noise {noise.read_noise:.3f} ({noise.read_noise_source})")


def ingest_frame(raw: RawFrame, *, gain=None, read_noise=None, saturation=None) -> IngestedFrame:
    """Validate a raw frame and compute its error map and mask.

    A ``PEDESTAL`` card (the SBFITSEXT convention: value to add for zero-based ADU, as MaxIm DL writes it)
    is honoured for the Poisson term.

    Raises
    ------
    FrameError
        If the frame has no finite pixel or is constant (a frame of one value carries no sky), or a noise
        card it needs (GAIN, RDNOISE, ...) holds no number.
    """
    data = raw.data
    finite = np.isfinite(data)
    if not finite.any():
        raise FrameError(raw.path, "has no finite pixel (all NaN or inf)")
    if np.nanmin(data[finite]) == np.nanmax(data[finite]):
        raise FrameError(raw.path, f"is constant ({data[finite][0]:g} everywhere): not a light frame")
    try:
        noise = noise_model(raw.header, gain=gain, read_noise=read_noise)
    except ValueError as error:
        raise FrameError(raw.path, str(error)) from error
    pedestal = float(raw.header.get("PEDESTAL", 0.0) or 0.0)
    saturation = saturation_level(raw, saturation=saturation)
    mask = np.where(finite, 0, NONFINITE).astype(np.uint8)
    if saturation is not None:
        mask[finite & (data >= saturation)] |= SATURATED
    error = error_map(data + pedestal, gain=noise.gain, read_noise=noise.read_noise)
    error[~finite] = np.nan
    return IngestedFrame(data, error, mask, noise, pedestal, saturation)


class Ingested(NamedTuple):
    """An ingested frame as the product to write, and the frame it was made from (for the job's log)."""

    product: Product
    frame: IngestedFrame


def ingest_product(raw: RawFrame, *, gain=None, read_noise=None, saturation=None, raw_sha256: str) -> Ingested:
    """A raw frame as the ingest stage writes it: float32 data with ERR and MASK, and the cards that say how.

    The cards give the noise model with its source (GAIN, RDNOISE), the units (BUNIT), the raw file and its
    SHA-256 (ORIGFILE, ORIGSHA: the raw file is the one input a rerun cannot rebuild) and the saturation
    level used for the mask (SATURATE, when there is one). ``raw_sha256`` is given by the caller, who has
    the file; this function reads nothing. The raw header itself is not checked here: write the product
    over ``io.valid_header(raw.header)``.

    Raises
    ------
    FrameError
        As ``ingest_frame``: no finite pixel, a constant frame, or a noise card that holds no number.
    """
    frame = ingest_frame(raw, gain=gain, read_noise=read_noise, saturation=saturation)
    noise, name = frame.noise, Path(raw.path).name
    cards = {
        "GAIN": (noise.gain, f"e-/ADU ({noise.gain_source})"),
        "RDNOISE": (noise.read_noise, f"e- ({noise.read_noise_source})"),
        "BUNIT": ("adu", "physical units of the data"),
        "ORIGFILE": (name, "raw file"),
        "ORIGSHA": raw_sha256,  # a 64-digit value leaves no room for a comment
    }
    if frame.saturation is not None:
        cards["SATURATE"] = (frame.saturation, "ADU")
    history = [f"stackphot ingest: {name} HDU {raw.hdu_index}, BZERO/BSCALE applied, float32"]
    if noise.assumed:
        history.append("error map assumes gain 1 and no read noise: sqrt(counts)")
    product = Product(frame.data, {"ERR": frame.error, "MASK": frame.mask}, cards, history)
    return Ingested(product, frame)
