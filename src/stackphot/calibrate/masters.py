"""Master bias, dark and flat frames: calibration frames combined, with their errors, a block of rows at a time.

Each master is the stack's own combine (``stackphot.stack.combine``: mean, median or sigma-clipped mean, with
its error propagated) over the calibration frames, read from their files a block of rows of every frame at a
time (``FrameRows``), so that fifty 4096 x 4096 frames never sit in memory at once.

* **bias**: the frames combined; each frame's error is its read noise (a bias holds no photons).
* **dark**: the frames combined, less the master bias where there is one (``bias_removed``), so that it can be
  scaled to another exposure; each frame's error is the Poisson noise of its dark current and the read noise.
* **flat**: each frame less its zero level (the bias and the dark current of its exposure, ``zero_level``),
  divided by its median so that flats of a changing twilight sky weigh alike, combined, and normalised to a
  median of 1.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from astropy.io import fits

from stackphot.ingest import MeasuredReadNoise
from stackphot.inventory import zero_recipe
from stackphot.inventory.kinds import sensor_temperature
from stackphot.io import FrameError, read_image
from stackphot.provenance import Product
from stackphot.stack import combine


@dataclass
class Master:
    """A master frame: ``data`` and its 1-sigma ``error`` (float32), the frames that went in per pixel
    (``coverage``), what it is, and how it was made."""

    kind: str  # bias, dark or flat
    data: np.ndarray
    error: np.ndarray
    coverage: np.ndarray
    n_frames: int
    exptime: float | None = None
    filter: str | None = None
    bias_removed: bool = False  # a dark: the master bias was taken out, so it scales with exposure
    temperature: float | None = None  # deg C, the frames' mean sensor temperature where their headers give it
    history: list[str] = field(default_factory=list)
    read_noise: MeasuredReadNoise | None = None  # measured from its own frames (a bias, a dark without one)


def master_product(master: Master) -> Product:
    """A master as the calibrate stage writes it: data, ERR and COVERAGE, and the cards that say what it is."""
    cards = {"IMAGETYP": (f"Master {master.kind.capitalize()}", "stackphot master frame"),
             "NCOMBINE": (master.n_frames, "frames combined"),
             "BIASSUB": (master.bias_removed, "the master bias was subtracted"), "BUNIT": ("adu", "")}
    if master.exptime is not None:
        cards["EXPTIME"] = (master.exptime, "[s] exposure of the frames combined")
    if master.filter is not None:
        cards["FLATNAME"] = (master.filter, "filter and binning of the flats")
    if master.temperature is not None:
        cards["CCD-TEMP"] = (round(master.temperature, 2), "[C] mean sensor temperature of the frames")
    if master.read_noise is not None:
        measured = master.read_noise
        cards |= {"RNMEAS": (measured.electrons, "[e-] read noise measured from the frames"),
                  "RNMEASDN": (measured.adu, "[adu] the same, in ADU"),
                  "RNSOURCE": (measured.source, "what the read noise was measured from")}
    return Product(master.data, {"ERR": master.error, "COVERAGE": master.coverage}, cards, master.history,
                   removed=("DATE-OBS",))


def read_master(path) -> Master:
    """A master written by ``master_product``."""
    data, header, ext = read_image(path, "ERR", "COVERAGE")
    kind = str(header.get("IMAGETYP", "")).removeprefix("Master ").lower()
    if kind not in ("bias", "dark", "flat"):
        raise FrameError(path, f"is not a stackphot master (IMAGETYP {header.get('IMAGETYP')!r})")
    measured = (MeasuredReadNoise(float(header["RNMEAS"]), float(header["RNMEASDN"]), str(header["RNSOURCE"]))
                if {"RNMEAS", "RNMEASDN", "RNSOURCE"} <= set(header) else None)
    return Master(kind, data, ext["ERR"], ext["COVERAGE"], int(header["NCOMBINE"]), exptime=header.get("EXPTIME"),
                  filter=header.get("FLATNAME"), bias_removed=bool(header.get("BIASSUB", False)),
                  temperature=sensor_temperature(header), read_noise=measured)


def night_read_noise(masters) -> MeasuredReadNoise | None:
    """The read noise the night's frames measure: the master bias's, else that of the master dark of the shortest
    exposure that has one (darks made without a bias); None when no master measured it. None entries are skipped."""
    measured = [master for master in masters
                if master is not None and master.read_noise is not None and master.kind in ("bias", "dark")]
    if not measured:
        return None
    return min(measured, key=lambda master: (master.kind != "bias", master.exptime or 0.0)).read_noise


@dataclass(frozen=True)
class ZeroLevel:
    """What is subtracted from a frame of exposure ``exptime`` before it counts photons: the bias and the dark
    current of that exposure, as well as the masters allow, and a sentence saying how it was made."""

    data: np.ndarray | None  # None: nothing to subtract
    error: np.ndarray | None
    description: str


def zero_level(exptime, *, bias: Master | None, darks: dict[float, Master]) -> ZeroLevel:
    """The zero level of a frame of ``exptime`` seconds from a master ``bias`` and the master ``darks`` by
    exposure, as ``stackphot.inventory.zero_recipe`` chooses it."""
    recipe = zero_recipe(exptime, bias=bias is not None, darks={time: d.bias_removed for time, d in darks.items()})
    parts = [(bias.data, bias.error)] if recipe.bias else []
    if recipe.dark is not None:
        dark = darks[recipe.dark]
        parts.append((dark.data, dark.error) if recipe.factor == 1 else
                     (recipe.factor * dark.data, recipe.factor * dark.error))
    if not parts:
        return ZeroLevel(None, None, recipe.description)
    if len(parts) == 1:
        return ZeroLevel(*parts[0], recipe.description)
    (data_1, error_1), (data_2, error_2) = parts
    return ZeroLevel(data_1 + data_2, np.hypot(error_1, error_2), recipe.description)


class FrameRows:
    """Calibration frames of one shape, read a block of rows of every frame at a time, as ``combine`` reads a cube.

    ``rows[:, r0:r1, :]`` is the (n_frames, r1 - r0, nx) block of physical values (BZERO and BSCALE applied)
    less ``zero`` (an image, or None), divided by ``scales`` (one per frame, default 1); saturated pixels
    (``saturation`` and above) are NaN. ``rows.errors`` reads the matching 1-sigma errors: the Poisson noise of
    the counts above the zero level and the read noise, in ADU, also divided by the scales. Without a zero
    level the counts' Poisson noise is taken above ``poisson_offsets`` (one per frame: a dark's own median
    stands for its bias); ``photons=False`` (a bias) leaves the read noise alone. The zero level's own error
    is common to all frames: add it after combining.
    """

    def __init__(self, paths, *, gain: float, read_noise: float, zero=None, photons: bool = True, saturation=None):
        self.paths = list(paths)
        self._hdus = []
        for path in self.paths:
            try:
                hdul = fits.open(path, mode="readonly", memmap=False)
            except (OSError, ValueError) as error:
                raise FrameError(path, f"cannot be read as FITS ({error})") from error
            hdu = next((hdu for hdu in hdul if hdu.header.get("NAXIS") == 2), None)
            if hdu is None:
                raise FrameError(path, "holds no 2D image")
            self._hdus.append((hdul, hdu))
        shapes = {(hdu.header["NAXIS2"], hdu.header["NAXIS1"]) for _, hdu in self._hdus}
        if len(shapes) > 1:
            listing = ", ".join(f"{path} ({hdu.header['NAXIS2']} x {hdu.header['NAXIS1']})"
                                for path, (_, hdu) in zip(self.paths, self._hdus))
            raise FrameError(self.paths[0], f"calibration frames of one master differ in shape: {listing}")
        self.shape = (len(self.paths), *shapes.pop())
        known = [t for _, hdu in self._hdus if (t := sensor_temperature(hdu.header)) is not None]
        self.temperature = float(np.mean(known)) if known else None  # deg C, the frames' mean
        self.gain, self.read_noise, self.saturation = gain, read_noise, saturation
        self.zero, self.photons = zero, photons
        # Set by the caller once it has the frames' medians.
        self.poisson_offsets, self.scales = np.zeros(len(self.paths)), np.ones(len(self.paths))
        self.errors = _ErrorRows(self)
        self._block = None

    def _read(self, hdu, rows: slice) -> np.ndarray:
        """Rows of one frame less the zero level, saturated pixels NaN."""
        data = np.asarray(hdu.section[rows, :], dtype=np.float64)
        if self.saturation is not None:
            data[data >= self.saturation] = np.nan
        return data - self.zero[rows] if self.zero is not None else data

    def frame_median(self, index: int) -> float:
        """The median of one whole frame less the zero level, not scaled."""
        return float(np.nanmedian(self._read(self._hdus[index][1], slice(None))))

    def _above_zero(self, rows: slice) -> np.ndarray:
        # combine reads the values and then the errors of the same block: read the files once for both.
        key = rows.indices(self.shape[1])
        if self._block is None or self._block[0] != key:
            self._block = (key, np.stack([self._read(hdu, rows) for _, hdu in self._hdus]))
        return self._block[1]

    def __getitem__(self, key):
        _, rows, _ = key
        return (self._above_zero(rows) / self.scales[:, None, None]).astype(np.float32)

    def close(self):
        for hdul, _ in self._hdus:
            hdul.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class _ErrorRows:
    def __init__(self, frames: FrameRows):
        self.frames, self.shape = frames, frames.shape

    def __getitem__(self, key):
        _, rows, _ = key
        frames = self.frames
        n_frames, ny, nx = frames.shape
        variance = np.full((n_frames, len(range(*rows.indices(ny))), nx), (frames.read_noise / frames.gain) ** 2)
        if frames.photons:
            above = frames._above_zero(rows) - frames.poisson_offsets[:, None, None]
            variance += np.clip(above, 0, None) / frames.gain
        return (np.sqrt(variance) / frames.scales[:, None, None]).astype(np.float32)


@dataclass(frozen=True)
class CombineOptions:
    """How the frames of a master are combined (the stack's methods) and the memory one block may use."""

    method: str = "sigma_clip"
    sigma: float = 3.0
    maxiters: int | None = 5
    memory_mb: float = 512.0

    def __call__(self, frames: FrameRows):
        return combine(frames, frames.errors, method=self.method, sigma=self.sigma, maxiters=self.maxiters,
                       memory_mb=self.memory_mb)


def _how(options: CombineOptions, n_frames: int) -> str:
    clip = f", clipped at {options.sigma:g} sigma" if options.method == "sigma_clip" else ""
    return f"{n_frames} frames combined by {options.method}{clip}"


def master_bias(paths, *, gain: float, read_noise: float, options=CombineOptions(), saturation=None) -> Master:
    """The master bias of the bias frames ``paths``."""
    with FrameRows(paths, gain=gain, read_noise=read_noise, saturation=saturation, photons=False) as frames:
        result = options(frames)
    return Master("bias", result.image, result.error, result.coverage, len(paths), exptime=0.0,
                  temperature=frames.temperature, history=[f"stackphot master bias: {_how(options, len(paths))}"])


def master_dark(paths, exptime: float, *, bias: Master | None, gain: float, read_noise: float,
                options=CombineOptions(), saturation=None) -> Master:
    """The master dark of the dark frames ``paths`` (all of ``exptime`` seconds), less the master ``bias``
    when there is one."""
    zero = None if bias is None else bias.data
    with FrameRows(paths, gain=gain, read_noise=read_noise, zero=zero, saturation=saturation) as frames:
        if bias is None:
            frames.poisson_offsets = np.array([frames.frame_median(index) for index in range(len(paths))])
        result = options(frames)
    error = result.error if bias is None else np.hypot(result.error, bias.error)
    removed = "less the master bias" if bias is not None else "bias included (no bias frames)"
    return Master("dark", result.image, error.astype(np.float32), result.coverage, len(paths), exptime=exptime,
                  bias_removed=bias is not None, temperature=frames.temperature,
                  history=[f"stackphot master dark {exptime:g} s: {_how(options, len(paths))}, {removed}"])


def master_flat(paths, filter_name, *, zero: ZeroLevel, gain: float, read_noise: float,
                options=CombineOptions(), saturation=None, colour: bool = False) -> Master:
    """The master flat of the flat frames ``paths`` (one filter and binning), each less ``zero`` and divided by
    its median, combined and normalised to a median of 1; for a colour (Bayer) sensor (``colour``), each place
    of the 2 x 2 cell to a median of 1 of its own: the flat corrects each pixel's response across the
    detector, not the colours of the twilight it was taken of (which would also leave the weakest colour
    under ``calibrate: min_flat`` everywhere)."""
    with FrameRows(paths, gain=gain, read_noise=read_noise, zero=zero.data, saturation=saturation) as frames:
        levels = np.array([frames.frame_median(index) for index in range(len(paths))])
        bad = [str(path) for path, level in zip(paths, levels) if not level > 0]
        if bad:
            raise FrameError(bad[0], f"a flat with no light above its zero level ({zero.description}): "
                                     f"{', '.join(bad)}; is it a dark, or the zero level from another camera?")
        frames.scales = levels
        result = options(frames)
    error = result.error.astype(np.float64)
    if zero.error is not None:
        error = np.hypot(error, zero.error / np.median(levels))
    norm = np.full(result.image.shape, np.nanmedian(result.image))
    if colour:
        for row in (0, 1):
            for column in (0, 1):
                norm[row::2, column::2] = np.nanmedian(result.image[row::2, column::2])
    each = "each place of the 2x2 colour cell " if colour else ""
    return Master("flat", (result.image / norm).astype(np.float32), (error / norm).astype(np.float32),
                  result.coverage, len(paths), filter=filter_name, temperature=frames.temperature,
                  history=[f"stackphot master flat {filter_name}: {_how(options, len(paths))}, each less "
                           f"{zero.description} and divided by its median ({', '.join(f'{v:.6g}' for v in levels)}"
                           f" ADU), {each}normalised to a median of 1"])
