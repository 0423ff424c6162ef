"""A camera's calibration signature with known truth: bias, dark current, flat field, gain, read noise.

The calibration stage (master bias, dark and flat) is tested against it: :func:`detector_signature`
draws the truth, :func:`expose` turns photo-electrons into raw ADU frames the way the camera does, and
:func:`bias_frames`, :func:`dark_frames` and :func:`flat_frames` make the frames a night's calibration
would take. Every array is float32 ADU (or e-/s, or a unitless response) in numpy's ``(y, x)`` order.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from stackphot.simulate.render import _rng

__all__ = ["DustRing", "DetectorSignature", "detector_signature", "expose", "bias_frames", "dark_frames",
           "flat_frames"]

# One SeedSequence spawn key per stream: each part of the truth, and each kind of frame, has its own, so
# e.g. bias frames and dark frames drawn with the same seed never share their read noise.
_BIAS, _DARK, _FLAT, _EXPOSE, _BIAS_FRAMES, _DARK_FRAMES, _FLAT_FRAMES = range(7)

_COLUMN_RMS = 3.0  # ADU: fixed column-to-column offsets of the bias
_ROW_GRADIENT = 5.0  # ADU: the bias rises by this much from the first row to the last
_HOT_RATE = (5.0, 200.0)  # e-/s: hot pixels' dark current, log-uniform
_PRNU_RMS = 0.005  # pixel-to-pixel response non-uniformity of the flat
_DEAD_PER_PIXEL = 5e-5  # dead pixels per pixel, at least _MIN_DEAD of them
_MIN_DEAD = 3
_DEAD_RESPONSE = 0.05  # dead pixels respond with at most this fraction of the light
_DUST_RADIUS, _DUST_WIDTH, _DUST_DEPTH = (8.0, 25.0), (2.0, 4.0), (0.03, 0.08)
_DUST_EDGE = 0.25  # px: softness of an annulus' edges (tanh scale), so a ring is a flat-bottomed dip
_MIN_SIZE = 64  # px: the largest dust ring fits in the frame
_FULL_WELL_ADU = 65535  # a 16-bit camera


@dataclass(frozen=True)
class DustRing:
    """One out-of-focus dust shadow: an annulus of mean radius ``radius`` and width ``width`` (px) about
    ``(y, x)`` where the flat is ``depth`` (fraction) lower than around it."""

    y: float
    x: float
    radius: float
    width: float
    depth: float


# eq=False: the fields are arrays, which neither compare to one bool nor hash.
@dataclass(frozen=True, eq=False)
class DetectorSignature:
    """The truth of a camera's calibration, for frames of ``bias.shape``; the arrays are read-only.

    Attributes
    ----------
    bias : numpy.ndarray
        Float32 ADU of a zero-second frame without noise: the level plus a fixed column pattern and a
        gradient along the rows (no amplifier glow).
    dark_current : numpy.ndarray
        Float32 e-/s per pixel: a low base rate, hot pixels far above it.
    flat : numpy.ndarray
        Float32 response to uniform light, median 1: vignetting, dust rings, pixel-to-pixel
        non-uniformity and dead pixels (< 0.1).
    gain : float
        e-/ADU.
    read_noise : float
        e- rms per read.
    hot_pixels, dead_pixels : numpy.ndarray
        Boolean truth masks; no pixel is both.
    dust : tuple of DustRing
        The rings drawn into the flat.
    """

    bias: np.ndarray
    dark_current: np.ndarray
    flat: np.ndarray
    gain: float
    read_noise: float
    hot_pixels: np.ndarray
    dead_pixels: np.ndarray
    dust: tuple[DustRing, ...]

    @property
    def shape(self) -> tuple[int, int]:
        return self.bias.shape


def _frozen(array: np.ndarray, dtype=np.float32) -> np.ndarray:
    array = np.ascontiguousarray(array, dtype=dtype)
    array.setflags(write=False)
    return array


def _dust_rings(shape: tuple[int, int], n_dust: int, rng: np.random.Generator) -> tuple[DustRing, ...]:
    rings = []
    for _ in range(n_dust):
        radius, width, depth = (rng.uniform(*span) for span in (_DUST_RADIUS, _DUST_WIDTH, _DUST_DEPTH))
        # The whole annulus lies on the frame, so every ring can be seen and measured.
        reach = radius + width
        y, x = (rng.uniform(reach, n - 1 - reach) for n in shape)
        rings.append(DustRing(*(round(float(v), 6) for v in (y, x, radius, width, depth))))
    return tuple(rings)


def detector_signature(shape, *, seed: int, gain: float = 1.5, read_noise: float = 10.0, bias_level: float = 1000.0,
                       dark_rate: float = 0.02, hot_fraction: float = 1e-3, vignetting: float = 0.3,
                       n_dust: int = 4) -> DetectorSignature:
    """Draw a camera's calibration truth for frames of ``shape`` ``(ny, nx)``; the same seed gives the same arrays.

    ``vignetting`` is how much less light the corners get than the centre (0.3: corners at 0.7);
    ``hot_fraction`` of the pixels are hot, at 5-200 e-/s log-uniform, the others have ``dark_rate``.

    Raises
    ------
    ValueError
        A frame smaller than 64 x 64 px or an out-of-range parameter.
    """
    ny, nx = (int(n) for n in shape)
    checks = {
        f"shape must be at least {_MIN_SIZE} x {_MIN_SIZE} pixels": min(ny, nx) >= _MIN_SIZE,
        "gain must be positive": gain > 0,
        "read_noise, bias_level and dark_rate must be >= 0": min(read_noise, bias_level, dark_rate) >= 0,
        "hot_fraction must be in [0, 0.5)": 0 <= hot_fraction < 0.5,
        "vignetting must be in [0, 1)": 0 <= vignetting < 1,
        "n_dust must be >= 0": n_dust >= 0,
    }
    failed = [message for message, ok in checks.items() if not ok]
    if failed:
        raise ValueError("detector signature: " + "; ".join(failed))
    rows, cols = np.arange(ny)[:, None], np.arange(nx)[None, :]

    rng = _rng(seed, _BIAS)
    columns = rng.standard_normal(nx)
    columns = (columns - columns.mean()) / columns.std() * _COLUMN_RMS
    bias = np.full((ny, nx), float(bias_level)) + columns[None, :] + _ROW_GRADIENT * (rows / (ny - 1) - 0.5)

    rng = _rng(seed, _DARK)
    n_hot = round(hot_fraction * ny * nx)
    n_dead = max(_MIN_DEAD, round(_DEAD_PER_PIXEL * ny * nx))
    defects = rng.choice(ny * nx, n_hot + n_dead, replace=False)
    dark = np.full(ny * nx, float(dark_rate))
    dark[defects[:n_hot]] = np.exp(rng.uniform(*np.log(_HOT_RATE), n_hot))
    hot = np.zeros(ny * nx, bool)
    hot[defects[:n_hot]] = True
    dead = np.zeros(ny * nx, bool)
    dead[defects[n_hot:]] = True

    rng = _rng(seed, _FLAT)
    centre_y, centre_x = (ny - 1) / 2, (nx - 1) / 2
    r2 = ((rows - centre_y) ** 2 + (cols - centre_x) ** 2) / (centre_y**2 + centre_x**2)
    flat = 1 - vignetting * r2
    dust = _dust_rings((ny, nx), n_dust, rng)
    for ring in dust:
        r = np.hypot(rows - ring.y, cols - ring.x)
        inner, outer = ring.radius - ring.width / 2, ring.radius + ring.width / 2
        flat = flat * (1 - ring.depth * 0.5 * (np.tanh((r - inner) / _DUST_EDGE) - np.tanh((r - outer) / _DUST_EDGE)))
    flat = flat * (1 + _PRNU_RMS * rng.standard_normal((ny, nx)))
    flat = flat / np.median(flat)
    # Dead pixels go in after the normalisation, so they stay below 0.1 whatever the median was.
    flat.reshape(-1)[dead] = rng.uniform(0, _DEAD_RESPONSE, n_dead)

    return DetectorSignature(
        bias=_frozen(bias), dark_current=_frozen(dark.reshape(ny, nx)), flat=_frozen(flat), gain=float(gain),
        read_noise=float(read_noise), hot_pixels=_frozen(hot.reshape(ny, nx), bool),
        dead_pixels=_frozen(dead.reshape(ny, nx), bool), dust=dust,
    )


def _expose(signature: DetectorSignature, electrons, exptime: float, temperature_scale: float,
            rng: np.random.Generator) -> np.ndarray:
    electrons = np.broadcast_to(np.asarray(electrons, dtype=float), signature.shape)
    if not np.all(np.isfinite(electrons)) or np.any(electrons < 0):
        raise ValueError("electrons must be finite and >= 0")
    if exptime < 0 or temperature_scale < 0:
        raise ValueError(f"exptime and temperature_scale must be >= 0, got {exptime} and {temperature_scale}")
    mean = signature.flat * electrons + signature.dark_current * (exptime * temperature_scale)
    charge = rng.poisson(mean).astype(float)
    charge += rng.normal(0.0, signature.read_noise, mean.shape)
    adu = charge / signature.gain + signature.bias
    return np.clip(np.rint(adu), 0, _FULL_WELL_ADU).astype(np.float32)


def expose(signature: DetectorSignature, electrons, *, exptime: float, seed: int,
           temperature_scale: float = 1.0) -> np.ndarray:
    """A raw frame (float32 ADU, whole numbers in [0, 65535]) of ``electrons`` reaching the detector.

    ``electrons`` is the ideal sky-and-star photo-electrons per pixel before the flat (an array of the
    signature's shape, or anything that broadcasts to it). The camera adds the dark current of ``exptime``
    seconds, times ``temperature_scale`` (a warmer or colder sensor), draws Poisson charge, adds read noise,
    divides by the gain and adds the bias. The input is never changed; the same seed gives the same frame.

    Raises
    ------
    ValueError
        Negative or non-finite electrons, a negative exptime or temperature_scale.
    """
    return _expose(signature, electrons, exptime, temperature_scale, _rng(seed, _EXPOSE))


def bias_frames(signature: DetectorSignature, n: int, *, seed: int) -> list[np.ndarray]:
    """``n`` zero-second dark frames; frame i depends only on the seed and i, not on ``n``."""
    return [_expose(signature, 0.0, 0.0, 1.0, _rng(seed, _BIAS_FRAMES, i)) for i in range(n)]


def dark_frames(signature: DetectorSignature, n: int, *, exptime: float, seed: int) -> list[np.ndarray]:
    """``n`` closed-shutter frames of ``exptime`` s; frame i depends only on the seed and i, not on ``n``."""
    return [_expose(signature, 0.0, exptime, 1.0, _rng(seed, _DARK_FRAMES, i)) for i in range(n)]


def flat_frames(signature: DetectorSignature, n: int, *, level_electrons: float = 30000.0, exptime: float = 1.5,
                seed: int) -> list[np.ndarray]:
    """``n`` frames of uniform light, ``level_electrons`` per pixel before the flat, taken in ``exptime`` s.

    They carry that exposure's dark current too: what a flat dark of the same exptime must remove.
    Frame i depends only on the seed and i, not on ``n``.
    """
    return [_expose(signature, level_electrons, exptime, 1.0, _rng(seed, _FLAT_FRAMES, i)) for i in range(n)]
