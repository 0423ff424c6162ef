"""Deterministic simulator of an M13-like series of short CCD exposures with known truth.

The scene is a globular cluster (Plummer profile) plus uniform field stars with power-law
fluxes, imaged through a Moffat PSF whose FWHM changes a little from frame to frame. The
detector adds a bias pedestal, fixed row banding, hot and dead pixels; every exposure adds
its own sky level, photon and read noise, cosmic rays and a subpixel pointing offset.

Conventions used by the whole workflow:

* Positions are 0-based pixel coordinates, the centre of pixel ``(0, 0)`` being ``(0.0, 0.0)``
  (numpy/photutils).
* The truth shift ``(dy, dx)`` of a frame is the shift to *apply* to that frame to line it up
  with the reference (skimage ``phase_cross_correlation(reference, moving)``): a star at
  ``(y, x)`` in the reference appears at ``(y - dy, x - dx)`` in the frame. The first frame is
  the reference, with shift ``(0, 0)``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from astropy.io import fits

from stackphot.io import atomic_write
from stackphot.numerics import moffat_alpha

__all__ = [
    "SimulationConfig",
    "FrameSet",
    "frame_name",
    "simulate_frame_set",
    "write_frame_set",
    "TRUTH_SHIFTS",
    "TRUTH_STARS",
]

TRUTH_SHIFTS = "truth_shifts.csv"
TRUTH_STARS = "truth_stars.csv"

# Independent random streams, one SeedSequence spawn key each: the scene and the detector never
# depend on how many frames are drawn, and frame i never depends on the frames after it.
_SCENE, _DETECTOR, _FRAME = 0, 1, 2

# Star cutouts end where the profile falls below this many ADU (far below any sky noise) ...
_WING_FLOOR = 0.05
# ... but always hold all but this fraction of the light, so faint stars keep their true flux.
_MISSING_FLUX = 0.005
# Cutouts never exceed this half-size in units of the Moffat alpha (wings < 1e-4 of the flux).
_MAX_HALF_ALPHA = 12.0
# Subpixel samples per render chunk: bounds the memory of the vectorised PSF evaluation.
_CHUNK_SAMPLES = 2_000_000
# Truths are rounded to the precision written to CSV, so the files hold exactly the truth used.
_DECIMALS = 6


def _pair(value, kind, name):
    pair = tuple(kind(v) for v in value)
    if len(pair) != 2:
        raise ValueError(f"{name} must have two values, got {value!r}")
    return pair


@dataclass(frozen=True)
class SimulationConfig:
    """Everything that defines a simulated frame set; the defaults make the workflow's M13 dataset.

    Attributes
    ----------
    shape : tuple of int
        Frame size ``(ny, nx)`` in pixels.
    n_frames : int
        Number of exposures; the first one is the reference.
    seed : int
        Seed of all randomness; the same config always gives the same frames, byte for byte.
    object_name : str
        OBJECT header card.
    exptime : float
        Exposure time in seconds (EXPTIME card; fluxes are given per frame, not per second).
    start_time : str
        ISO time of the first exposure (DATE-OBS, UTC); later frames start ``cadence`` s apart.
    cadence : float
        Seconds between the starts of consecutive exposures.
    gain : float
        Gain in e-/ADU.
    read_noise : float
        Read noise in electrons (rms).
    bias : float
        Pedestal in ADU added by the electronics to every pixel.
    saturation : int
        Highest value the camera writes (ADU); at most 65535.
    noise : bool
        Add photon (Poisson) and read noise. False gives noiseless frames, for tests.
    sky : float
        Mean sky level in ADU per pixel per frame (above the bias).
    sky_gradient : float
        Fractional peak-to-peak change of the sky across the frame (a linear gradient).
    sky_jitter : float
        Frame-to-frame scatter of the sky level (lognormal sigma).
    fwhm_range : tuple of float
        Per-frame PSF FWHM in pixels is drawn uniformly from this range.
    moffat_beta : float
        Moffat beta of the PSF.
    oversample : int
        Subpixels per pixel side used to integrate the PSF core over each pixel.
    n_cluster_stars : int
        Stars drawn from the cluster's Plummer profile (those that can never fall on the
        detector are dropped from the truth).
    n_field_stars : int
        Stars spread uniformly over the area any frame can see.
    cluster_scale_radius : float
        Plummer scale radius (px), also the radius holding half of the cluster's stars.
    cluster_max_radius : float
        The cluster is truncated at this radius (px).
    flux_range : tuple of float
        Total star flux in ADU per frame, lowest and highest.
    flux_slope : float
        Power-law slope of the cumulative flux distribution, ``N(>F) ~ F**-flux_slope``.
    max_offset : float
        Pointing offsets are drawn uniformly within +-max_offset px in each axis.
    cosmic_rays_per_frame : float
        Mean number of cosmic-ray tracks per frame (Poisson).
    cosmic_ray_adu : tuple of float
        Range of the charge (ADU) a cosmic ray leaves in each pixel of its track.
    banding_rms : float
        Rms (ADU) of the fixed per-row offsets. The default makes about a sixth of the sky
        pixel-to-pixel variance fixed pattern, as on the real camera.
    hot_pixel_fraction : float
        Fraction of pixels that are hot.
    hot_pixel_adu : tuple of float
        Hot pixel excess per frame (ADU) is log-uniform in this range; the top end saturates.
    dead_pixel_fraction : float
        Fraction of pixels that do not respond to light (they read bias plus banding).
    pixel_scale : float
        Arcsec per pixel of a TAN WCS written into every frame; 0 writes no WCS. Each frame's WCS
        follows its pointing offset, so a star has the same RA/Dec in every frame.
    sky_centre : tuple of float
        RA and Dec (degrees, ICRS) at the reference frame's central pixel.
    rotation : float
        Rotation of the sky on the detector (degrees, the FITS CROTA2 angle).
    """

    shape: tuple[int, int] = (1040, 1392)
    n_frames: int = 5
    seed: int = 13
    object_name: str = "M13"
    exptime: float = 5.0
    start_time: str = "2024-06-14T22:30:00"
    cadence: float = 30.0
    gain: float = 1.5
    read_noise: float = 10.0
    bias: float = 100.0
    saturation: int = 65535
    noise: bool = True
    sky: float = 500.0
    sky_gradient: float = 0.03
    sky_jitter: float = 0.02
    fwhm_range: tuple[float, float] = (3.2, 3.8)
    moffat_beta: float = 3.0
    oversample: int = 5
    n_cluster_stars: int = 3000
    n_field_stars: int = 400
    cluster_scale_radius: float = 90.0
    cluster_max_radius: float = 450.0
    flux_range: tuple[float, float] = (300.0, 3.0e6)
    flux_slope: float = 0.8
    max_offset: float = 30.0
    cosmic_rays_per_frame: float = 5.0
    cosmic_ray_adu: tuple[float, float] = (2000.0, 20000.0)
    banding_rms: float = 8.5
    hot_pixel_fraction: float = 5e-4
    hot_pixel_adu: tuple[float, float] = (2000.0, 100000.0)
    dead_pixel_fraction: float = 5e-6
    pixel_scale: float = 0.0
    sky_centre: tuple[float, float] = (250.4235, 36.4613)
    rotation: float = 0.0

    def __post_init__(self):
        # YAML gives lists where tuples are meant and reads an unquoted timestamp as a datetime:
        # normalise (the dataclass is frozen, hence object.__setattr__), then check.
        normalised = {"shape": _pair(self.shape, int, "shape")}
        for name in ("fwhm_range", "flux_range", "cosmic_ray_adu", "hot_pixel_adu", "sky_centre"):
            normalised[name] = _pair(getattr(self, name), float, name)
        if isinstance(self.start_time, dt.date):
            normalised["start_time"] = self.start_time.isoformat()
        for name, value in normalised.items():
            object.__setattr__(self, name, value)
        try:
            dt.datetime.fromisoformat(self.start_time)
        except (TypeError, ValueError):
            raise ValueError(f"start_time must be an ISO date and time, got {self.start_time!r}") from None
        checks = {
            "shape must be at least 16 x 16 pixels": min(self.shape) >= 16,
            "n_frames must be at least 1": self.n_frames >= 1,
            "seed must be a non-negative integer": isinstance(self.seed, int) and self.seed >= 0,
            "exptime, cadence and gain must be positive": min(self.exptime, self.cadence, self.gain) > 0,
            "read_noise, bias, sky, sky_jitter and banding_rms must be >= 0": min(
                self.read_noise, self.bias, self.sky, self.sky_jitter, self.banding_rms
            )
            >= 0,
            "saturation must be in 1..65535": 1 <= self.saturation <= 65535,
            "sky_gradient must be in [0, 2) so the sky stays positive": 0 <= self.sky_gradient < 2,
            "fwhm_range must be 0 < low <= high": 0 < self.fwhm_range[0] <= self.fwhm_range[1],
            "moffat_beta must be > 1": self.moffat_beta > 1,
            "oversample must be >= 1": self.oversample >= 1,
            "star counts must be >= 0": min(self.n_cluster_stars, self.n_field_stars) >= 0,
            "cluster radii must be 0 < scale <= max": 0 < self.cluster_scale_radius <= self.cluster_max_radius,
            "flux_range must be 0 < low <= high": 0 < self.flux_range[0] <= self.flux_range[1],
            "flux_slope must be > 0": self.flux_slope > 0,
            "max_offset and cosmic_rays_per_frame must be >= 0": min(self.max_offset, self.cosmic_rays_per_frame)
            >= 0,
            "cosmic_ray_adu and hot_pixel_adu must be 0 < low <= high": all(
                0 < lo <= hi for lo, hi in (self.cosmic_ray_adu, self.hot_pixel_adu)
            ),
            "pixel fractions must be >= 0 and sum to < 1": min(self.hot_pixel_fraction, self.dead_pixel_fraction) >= 0
            and self.hot_pixel_fraction + self.dead_pixel_fraction < 1,
            "pixel_scale must be >= 0 (0: no WCS)": self.pixel_scale >= 0,
            "sky_centre must be RA in [0, 360) and Dec in [-90, 90]": 0 <= self.sky_centre[0] < 360
            and -90 <= self.sky_centre[1] <= 90,
        }
        failed = [message for message, ok in checks.items() if not ok]
        if failed:
            raise ValueError("invalid simulation config: " + "; ".join(failed))

    @classmethod
    def from_mapping(cls, mapping: Mapping) -> SimulationConfig:
        """Config from a mapping such as a parsed YAML spec; missing keys keep their defaults.

        Raises
        ------
        ValueError
            Unknown keys (all of them are named) or invalid values.
        """
        known = {field.name for field in dataclasses.fields(cls)}
        unknown = sorted(set(mapping) - known)
        if unknown:
            raise ValueError(
                f"unknown simulation option(s): {', '.join(map(str, unknown))} (known: {', '.join(sorted(known))})"
            )
        return cls(**mapping)


@dataclass
class FrameSet:
    """Simulated raw frames with the truth behind them.

    Attributes
    ----------
    config : SimulationConfig
        The config that made the set.
    frames : list of numpy.ndarray
        Raw ``uint16`` frames, as the camera writes them.
    headers : list of astropy.io.fits.Header
        Camera-style header cards of each frame (structural cards are added on writing).
    shifts : pandas.DataFrame
        Columns ``frame`` (file stem, e.g. ``frame_001``), ``dy``, ``dx``: the shift to apply to
        each frame to line it up with the reference (first frame, shift 0, 0).
    stars : pandas.DataFrame
        Columns ``id`` (1 = brightest), ``x``, ``y`` (reference-frame pixels; stars just off the
        reference frame that other frames see are included, so x, y can be < 0 or > size) and
        ``flux`` (total ADU in one frame before noise, i.e. an infinite aperture).
    fwhm : list of float
        PSF FWHM of each frame (px).
    sky_levels : list of float
        Mean sky of each frame (ADU above bias).
    cosmic_rays : pandas.DataFrame
        Columns ``frame``, ``y``, ``x``, ``adu``: every pixel a cosmic ray hit and its charge.
    fixed_pattern : numpy.ndarray
        Row banding in ADU (zero mean, bias excluded), identical in every frame.
    hot_pixels, dead_pixels : numpy.ndarray
        Boolean masks of the detector's hot and dead pixels.
    """

    config: SimulationConfig
    frames: list[np.ndarray]
    headers: list[fits.Header]
    shifts: pd.DataFrame
    stars: pd.DataFrame
    fwhm: list[float]
    sky_levels: list[float]
    cosmic_rays: pd.DataFrame
    fixed_pattern: np.ndarray
    hot_pixels: np.ndarray
    dead_pixels: np.ndarray


def frame_name(index: int) -> str:
    """File stem of the frame with 0-based ``index``: ``frame_001`` for the first (reference)."""
    return f"frame_{index + 1:03d}"


def _rng(seed: int, *key: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=key))


def integrated_gaussian(n: int, centre: float, sigma: float) -> np.ndarray:
    """A unit 1D Gaussian integrated over each of ``n`` pixels (pixel ``i`` spans ``i - 0.5`` to ``i + 0.5``).

    The outer product of two is a pixel-integrated circular Gaussian star, exact to the pixel: the truth
    that tests and benchmarks of centroids measure against.
    """
    from scipy.special import erf

    edges = np.arange(n + 1) - 0.5 - centre
    return np.diff(0.5 * erf(edges / (math.sqrt(2.0) * sigma)))


def _star_catalogue(config: SimulationConfig, rng: np.random.Generator) -> pd.DataFrame:
    ny, nx = config.shape
    # Stars up to this far off the reference frame can reach some frame (offset plus PSF wings).
    margin = config.max_offset + 4 * config.fwhm_range[1]

    centre = np.array([(ny - 1) / 2, (nx - 1) / 2]) * (1 + rng.uniform(-0.03, 0.03, 2))
    # Projected Plummer profile: the fraction within R is R**2 / (R**2 + a**2); invert it.
    a, r_max = config.cluster_scale_radius, config.cluster_max_radius
    u = rng.uniform(0, r_max**2 / (r_max**2 + a**2), config.n_cluster_stars)
    radius = a * np.sqrt(u / (1 - u))
    angle = rng.uniform(0, 2 * np.pi, config.n_cluster_stars)
    cluster_y = centre[0] + radius * np.sin(angle)
    cluster_x = centre[1] + radius * np.cos(angle)
    field_y = rng.uniform(-margin, ny - 1 + margin, config.n_field_stars)
    field_x = rng.uniform(-margin, nx - 1 + margin, config.n_field_stars)
    y = np.concatenate([cluster_y, field_y])
    x = np.concatenate([cluster_x, field_x])

    # Truncated power law N(>F) ~ F**-slope by inverting its cumulative distribution.
    (f_lo, f_hi), slope = config.flux_range, config.flux_slope
    p = rng.uniform(0, 1, y.size)
    flux = (f_lo**-slope - p * (f_lo**-slope - f_hi**-slope)) ** (-1 / slope)

    seen = (y > -margin) & (y < ny - 1 + margin) & (x > -margin) & (x < nx - 1 + margin)
    order = np.argsort(-flux[seen], kind="stable")
    return pd.DataFrame(
        {
            "id": np.arange(1, order.size + 1),
            "x": np.round(x[seen][order], _DECIMALS),
            "y": np.round(y[seen][order], _DECIMALS),
            "flux": np.round(flux[seen][order], _DECIMALS),
        }
    )


def _row_banding(ny: int, rms: float, rng: np.random.Generator) -> np.ndarray:
    rows = np.arange(ny)
    walk = np.cumsum(rng.standard_normal(ny))
    walk -= np.polyval(np.polyfit(rows, walk, 1), rows)
    ripple = np.sin(2 * np.pi * rows / rng.uniform(40, 200) + rng.uniform(0, 2 * np.pi))
    jitter = rng.standard_normal(ny)
    # A slow drift and a ripple look like the real banding, but the row-to-row jitter carries most
    # of the variance because that is what adds to the pixel-to-pixel noise.
    offsets = sum(w * c / c.std() for w, c in zip((0.5, 0.4, 0.77), (walk, ripple, jitter)))
    offsets -= offsets.mean()
    return offsets * (rms / offsets.std())


def _render_stars(
    image: np.ndarray, y: np.ndarray, x: np.ndarray, flux: np.ndarray, *, fwhm: float, beta: float, oversample: int
) -> None:
    """Add pixel-integrated Moffat stars (total ``flux`` ADU each, at ``y, x``) to ``image`` in place.

    The core, within about 2 alpha, is integrated on ``oversample``**2 subpixels per pixel. Further
    out a single sample per pixel is already exact to < 1e-4 of the peak, and sampling a smooth
    profile on the full pixel lattice keeps its sum and centroid exact, so positions are unbiased.
    """
    ny, nx = image.shape
    alpha = moffat_alpha(fwhm, beta)
    norm = (beta - 1) / (np.pi * alpha**2)  # unit total flux
    u = np.maximum((flux * norm / _WING_FLOOR) ** (1 / beta) - 1, _MISSING_FLUX ** (1 / (1 - beta)) - 1)
    half = np.minimum(np.ceil(alpha * np.sqrt(u)), np.ceil(_MAX_HALF_ALPHA * alpha)).astype(int)
    iy, ix = np.rint(y).astype(int), np.rint(x).astype(int)
    visible = (iy + half >= 0) & (iy - half < ny) & (ix + half >= 0) & (ix - half < nx)
    sub = ((np.arange(oversample) + 0.5) / oversample - 0.5).astype(np.float32)
    flat_image = image.reshape(-1)

    for h in np.unique(half[visible]):
        core = min(h, math.ceil(2 * alpha))
        per_star = ((2 * core + 1) * oversample) ** 2 + (2 * h + 1) ** 2
        members = np.flatnonzero(visible & (half == h))
        for chunk in np.array_split(members, -(-members.size * per_star // _CHUNK_SAMPLES)):
            fy = ((y[chunk] - iy[chunk]) / alpha).astype(np.float32)[:, None]
            fx = ((x[chunk] - ix[chunk]) / alpha).astype(np.float32)[:, None]
            k = np.arange(-h, h + 1, dtype=np.float32) / np.float32(alpha)
            profile = _moffat(k - fy, k - fx, beta)
            kc = (np.arange(-core, core + 1, dtype=np.float32)[:, None] + sub).reshape(-1) / np.float32(alpha)
            fine = _moffat(kc - fy, kc - fx, beta)
            # Average the subpixels of each pixel, rows then columns (faster than one mean over both).
            side = 2 * core + 1
            fine = fine.reshape(-1, side, oversample, side * oversample).sum(axis=2)
            fine = fine.reshape(-1, side, side, oversample).sum(axis=3) / oversample**2
            profile[:, h - core : h + core + 1, h - core : h + core + 1] = fine

            offsets = np.arange(-h, h + 1)
            rows = iy[chunk, None] + offsets
            cols = ix[chunk, None] + offsets
            inside = ((rows >= 0) & (rows < ny))[:, :, None] & ((cols >= 0) & (cols < nx))[:, None, :]
            index = rows[:, :, None] * nx + cols[:, None, :]
            values = profile * (flux[chunk] * norm)[:, None, None]
            np.add.at(flat_image, index[inside], values[inside])


def _moffat(dy: np.ndarray, dx: np.ndarray, beta: float) -> np.ndarray:
    """Moffat ``(1 + r**2) ** -beta`` on the grids ``dy`` x ``dx`` (alpha units), one per star."""
    r2 = np.square(dy)[:, :, None] + np.square(dx)[:, None, :]
    r2 += 1
    return np.power(r2, np.float32(-beta), out=r2)


def _cosmic_rays(config: SimulationConfig, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pixels hit by this frame's cosmic rays: straight tracks of 1-4 adjacent pixels."""
    ny, nx = config.shape
    n = rng.poisson(config.cosmic_rays_per_frame)
    start_y, start_x = rng.integers(0, ny, n), rng.integers(0, nx, n)
    steps = np.array([(-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 1), (1, -1), (1, 0), (1, 1)])
    step = steps[rng.integers(0, len(steps), n)]
    length = rng.integers(1, 5, n)
    track = np.repeat(np.arange(n), length)
    along = np.arange(track.size) - np.repeat(np.cumsum(length) - length, length)
    y = start_y[track] + along * step[track, 0]
    x = start_x[track] + along * step[track, 1]
    adu = rng.uniform(*config.cosmic_ray_adu, track.size)
    keep = (y >= 0) & (y < ny) & (x >= 0) & (x < nx)
    return y[keep], x[keep], adu[keep]


def _header(config: SimulationConfig, index: int, dy: float, dx: float) -> fits.Header:
    start = dt.datetime.fromisoformat(config.start_time) + dt.timedelta(seconds=index * config.cadence)
    header = fits.Header()
    header["OBJECT"] = (config.object_name, "target")
    header["INSTRUME"] = ("stackphot simulator", "camera")
    header["IMAGETYP"] = ("Light Frame", "type of image")
    header["EXPTIME"] = (config.exptime, "[s] exposure time")
    header["DATE-OBS"] = (start.isoformat(timespec="milliseconds"), "[UTC] start of exposure")
    header["GAIN"] = (config.gain, "[e-/ADU] gain")
    header["PEDESTAL"] = (-config.bias, "[ADU] add for zero-based ADU (SBFITSEXT)")
    header["RDNOISE"] = (config.read_noise, "[e-] read noise")
    header["SATURATE"] = (config.saturation, "[ADU] saturation level")
    header["COMMENT"] = f"Simulated by stackphot.simulate with seed {config.seed} ({frame_name(index)})."
    header["COMMENT"] = f"Bias pedestal {config.bias:g} ADU; truth in {TRUTH_SHIFTS} and {TRUTH_STARS}."
    if config.pixel_scale > 0:
        header.extend(_wcs(config, dy, dx).to_header(), end=True)
    return header


def _wcs(config: SimulationConfig, dy: float, dx: float):
    """TAN WCS of a frame offset by (dy, dx): its sky sits at the reference's pixel minus the offset."""
    from astropy.wcs import WCS

    ny, nx = config.shape
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs.wcs.radesys = "ICRS"
    wcs.wcs.crval = list(config.sky_centre)
    # FITS pixels are 1-based: the centre of numpy pixel (y, x) is FITS (x + 1, y + 1).
    wcs.wcs.crpix = [(nx - 1) / 2 + 1 - dx, (ny - 1) / 2 + 1 - dy]
    scale = config.pixel_scale / 3600
    angle = math.radians(config.rotation)
    # The FITS standard's CROTA2 form with CDELT1 = -scale (east to the left when the rotation is 0).
    wcs.wcs.cd = [[-scale * math.cos(angle), -scale * math.sin(angle)],
                  [-scale * math.sin(angle), scale * math.cos(angle)]]
    return wcs


def simulate_frame_set(config: SimulationConfig | None = None, **overrides) -> FrameSet:
    """Simulate a series of raw frames and their truth.

    Parameters
    ----------
    config : SimulationConfig, optional
        Defaults to ``SimulationConfig()``, the workflow's M13-like dataset.
    **overrides
        Config fields to change, e.g. ``simulate_frame_set(n_frames=3, noise=False)``.

    Returns
    -------
    FrameSet
        Frames, headers and truth. The first k frames of a set do not depend on ``n_frames``.

    Raises
    ------
    ValueError
        Unknown or invalid config values.
    """
    config = config or SimulationConfig()
    if overrides:
        config = SimulationConfig.from_mapping({**dataclasses.asdict(config), **overrides})
    ny, nx = config.shape

    scene_rng = _rng(config.seed, _SCENE)
    stars = _star_catalogue(config, scene_rng)
    # Unit sky gradient of peak-to-peak 1 across the frame, in a random direction.
    theta = scene_rng.uniform(0, 2 * np.pi)
    ys = np.linspace(-0.5, 0.5, ny)[:, None] * np.sin(theta)
    xs = np.linspace(-0.5, 0.5, nx)[None, :] * np.cos(theta)
    gradient = (ys + xs) / (abs(np.sin(theta)) + abs(np.cos(theta)))

    detector_rng = _rng(config.seed, _DETECTOR)
    fixed_pattern = np.repeat(_row_banding(ny, config.banding_rms, detector_rng)[:, None], nx, axis=1)
    n_hot = round(config.hot_pixel_fraction * ny * nx)
    n_dead = round(config.dead_pixel_fraction * ny * nx)
    defects = detector_rng.choice(ny * nx, n_hot + n_dead, replace=False)
    hot_adu = np.exp(detector_rng.uniform(*np.log(config.hot_pixel_adu), n_hot))
    hot_pixels = np.zeros(ny * nx, bool)
    hot_pixels[defects[:n_hot]] = True
    dead_pixels = np.zeros(ny * nx, bool)
    dead_pixels[defects[n_hot:]] = True

    star_y, star_x, star_flux = (stars[c].to_numpy() for c in ("y", "x", "flux"))
    frames, headers, shifts, fwhms, sky_levels, hits = [], [], [], [], [], []
    for index in range(config.n_frames):
        rng = _rng(config.seed, _FRAME, index)
        dy, dx = (0.0, 0.0) if index == 0 else np.round(rng.uniform(-1, 1, 2) * config.max_offset, _DECIMALS)
        fwhm = float(rng.uniform(*config.fwhm_range))
        sky = float(config.sky * np.exp(config.sky_jitter * rng.standard_normal()))
        cr_y, cr_x, cr_adu = _cosmic_rays(config, rng)

        signal = sky * (1 + config.sky_gradient * gradient)
        y, x = star_y - dy, star_x - dx
        _render_stars(signal, y, x, star_flux, fwhm=fwhm, beta=config.moffat_beta, oversample=config.oversample)
        signal = signal.reshape(-1)
        signal[defects[:n_hot]] += hot_adu
        signal[dead_pixels] = 0.0
        signal = signal.reshape(ny, nx)
        if config.noise:
            electrons = rng.poisson(signal * config.gain).astype(float)
            electrons += rng.normal(0.0, config.read_noise, signal.shape)
            signal = electrons / config.gain
        np.add.at(signal, (cr_y, cr_x), cr_adu)
        raw = np.rint(signal + config.bias + fixed_pattern)

        frames.append(np.clip(raw, 0, config.saturation).astype(np.uint16))
        headers.append(_header(config, index, dy, dx))
        shifts.append((frame_name(index), dy, dx))
        fwhms.append(fwhm)
        sky_levels.append(sky)
        hits.append(pd.DataFrame({"frame": frame_name(index), "y": cr_y, "x": cr_x, "adu": cr_adu}))

    return FrameSet(
        config=config,
        frames=frames,
        headers=headers,
        shifts=pd.DataFrame(shifts, columns=["frame", "dy", "dx"]),
        stars=stars,
        fwhm=fwhms,
        sky_levels=sky_levels,
        cosmic_rays=pd.concat(hits, ignore_index=True),
        fixed_pattern=fixed_pattern,
        hot_pixels=hot_pixels.reshape(ny, nx),
        dead_pixels=dead_pixels.reshape(ny, nx),
    )


def write_frame_set(frame_set: FrameSet, directory, *, overwrite: bool = False) -> list[Path]:
    """Write the frames as camera-style FITS plus the truth tables.

    Frames go to ``<frame>.fits`` (``uint16`` stored as BITPIX 16 with BZERO 32768), the truth to
    ``truth_shifts.csv`` (frame, dy, dx) and ``truth_stars.csv`` (id, x, y, flux). Each file is
    written under a temporary name and renamed, so no half-written file ever has a final name;
    the same frame set always gives byte-identical files.

    Parameters
    ----------
    frame_set : FrameSet
        What :func:`simulate_frame_set` returned.
    directory : str or os.PathLike
        Output folder, created if missing.
    overwrite : bool
        Replace existing files; otherwise any existing target raises before anything is written.

    Returns
    -------
    list of pathlib.Path
        The frame files in frame order, then the shifts and stars tables.

    Raises
    ------
    FileExistsError
        A target exists and ``overwrite`` is False.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    frame_paths = [directory / f"{name}.fits" for name in frame_set.shifts["frame"]]
    tables = {directory / TRUTH_SHIFTS: frame_set.shifts, directory / TRUTH_STARS: frame_set.stars}
    targets = frame_paths + list(tables)
    existing = [str(path) for path in targets if path.exists()]
    if existing and not overwrite:
        raise FileExistsError(f"not overwriting existing file(s): {', '.join(existing)}")

    for path, data, header in zip(frame_paths, frame_set.frames, frame_set.headers):
        with atomic_write(path) as temporary:
            fits.PrimaryHDU(data=data, header=header).writeto(temporary, checksum=False)
    for path, table in tables.items():
        with atomic_write(path) as temporary:
            table.to_csv(temporary, index=False, float_format="%.6f", lineterminator="\n")
    return targets
