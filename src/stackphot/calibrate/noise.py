"""The camera's read noise measured from the night's own bias frames (or, without any, its shortest darks).

Two frames of no light differ by their noise alone: the bias level, its fixed pattern, hot pixels and amp glow
are the same in both and cancel. The read noise is the standard deviation of their difference over sqrt(2),
found by sigma clipping (hot pixels that flicker and cosmic rays stand out), corrected for what the clipping
itself takes of a Gaussian (``CLIPPED_STD``), the median over up to ``MAX_PAIRS`` pairs. From darks it also holds
the Poisson noise of their dark current: nothing for the short and cold darks of flats, and for a light calibrated
with darks of its own exposure, the noise those electrons add to it as well.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np

from stackphot.ingest import READ_NOISE_ASSUMED, MeasuredReadNoise, NoiseAssumedWarning, mismatch, noise_model
from stackphot.io import read_raw_frame

MAX_PAIRS = 4
CLIP_SIGMA = 3.0


def _clipped_std_of_unit_gaussian(nsigma: float) -> float:
    """The standard deviation a clipping at ``nsigma`` of its own estimate converges to on a unit Gaussian: the
    fixed point k of k^2 = var(N(0, 1) truncated at +-nsigma k)."""
    k = 1.0
    for _ in range(100):
        c = nsigma * k
        density = math.exp(-c * c / 2) / math.sqrt(2 * math.pi)
        k = math.sqrt(1 - 2 * c * density / math.erf(c / math.sqrt(2)))
    return k


CLIPPED_STD = _clipped_std_of_unit_gaussian(CLIP_SIGMA)


def measure_read_noise(paths, *, gain: float, saturation=None, what: str = "bias frames") -> MeasuredReadNoise | None:
    """The read noise of the frames ``paths`` (bias frames, or darks: ``what`` says which, for ``source``),
    from consecutive pairs (1 and 2, 3 and 4, ...); None with fewer than two frames. Pixels at or above
    ``saturation`` in either frame of a pair are left out."""
    from astropy.stats import sigma_clipped_stats

    pairs = list(zip(paths[0::2], paths[1::2]))[:MAX_PAIRS]
    if not pairs:
        return None
    spreads = []
    for first, second in pairs:
        a, b = (np.asarray(read_raw_frame(path).data, dtype=np.float64) for path in (first, second))
        usable = np.isfinite(a) & np.isfinite(b)
        if saturation is not None:
            usable &= (a < saturation) & (b < saturation)
        _, _, std = sigma_clipped_stats((a - b)[usable], sigma=CLIP_SIGMA, maxiters=10)
        spreads.append(std / CLIPPED_STD / math.sqrt(2))
    adu = float(np.median(spreads))
    return MeasuredReadNoise(adu * gain, adu, f"{len(pairs)} pair{'s' * (len(pairs) > 1)} of {what}")


def read_noise_for(given: float, given_source: str,
                   measured: MeasuredReadNoise | None) -> tuple[float, str, str | None]:
    """The read noise (e-) a frame's noise model takes, where it came from, and a warning or None: the config's or
    the header's (``given`` from ``given_source``) where one of them gives it, with ``mismatch``'s warning; else the
    ``measured`` one; else ``given`` (0, assumed)."""
    if given_source != "assumed":
        return given, given_source, mismatch(given, given_source, measured)
    if measured is not None:
        return measured.electrons, f"measured: {measured.source}", None
    return given, given_source, None


@dataclass(frozen=True)
class FramesNoise:
    """The noise model a master's frames are combined with, the read noise they measure themselves (None: not
    frames of no light, or fewer than two) and what the master's log should warn of."""

    gain: float
    gain_source: str
    read_noise: float
    read_noise_source: str
    measured: MeasuredReadNoise | None
    warnings: list[str]

    def describe(self) -> str:
        return (f"gain {self.gain:.3f} ({self.gain_source}), read noise {self.read_noise:.3f} e- "
                f"({self.read_noise_source})")


def frames_noise(header, paths, *, kind: str, exptime=None, gain=None, read_noise=None, saturation=None,
                 night: MeasuredReadNoise | None = None) -> FramesNoise:
    """The noise model of the calibration frames ``paths`` of a master of ``kind`` (``header``: the first one's):
    the config's ``gain`` and ``read_noise`` or the header's (``ingest.noise_model``); a read noise neither gives
    is the one these frames measure where they hold no light (bias frames; darks where there is no master bias
    to go with them, ``night`` None), else the ``night``'s (the input masters', ``night_read_noise``)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", NoiseAssumedWarning)
        noise = noise_model(header, gain=gain, read_noise=read_noise)
    measured = None
    if kind == "bias" or (kind == "dark" and night is None):
        what = "bias frames" if kind == "bias" else f"{exptime:g} s darks"
        measured = measure_read_noise(paths, gain=noise.gain, saturation=saturation, what=what)
    value, source, mismatched = read_noise_for(noise.read_noise, noise.read_noise_source, measured or night)
    notes = [str(note.message) for note in caught if source == "assumed" or str(note.message) != READ_NOISE_ASSUMED]
    if mismatched:
        notes.append(mismatched)
    return FramesNoise(noise.gain, noise.gain_source, value, source, measured, notes)

