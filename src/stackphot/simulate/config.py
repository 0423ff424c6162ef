"""The simulator's settings: one frozen dataclass, read from a spec file's mapping and checked."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from dataclasses import dataclass

from stackphot.options import check_fields, check_values
from stackphot.simulate.variables import Sine, Transit, parse_variables


# The colour of the data pixels [0, 0], [0, 1], [1, 0], [1, 1] (numpy order, row 0 first) of each 2x2 cell.
BAYER_PATTERNS = ("RGGB", "BGGR", "GRBG", "GBRG")


def _values(value, kind, name, length=2):
    try:
        values = tuple(kind(v) for v in value)
    except (TypeError, ValueError):
        values = None
    if values is None or len(values) != length:
        raise ValueError(f"{name} must have {length} values (numbers), got {value!r}")
    return values


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
        Stars spread uniformly over the area any frame can see (frames that turn or scale: over the
        box around it; those in the box's corners, which no frame sees, are dropped from the truth).
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
        follows its transform (offset, turn, scale, flip), so a star has the same RA/Dec in every frame.
    sky_centre : tuple of float
        RA and Dec (degrees, ICRS) at the reference frame's central pixel.
    rotation : float
        Rotation of the sky on the detector (degrees, the FITS CROTA2 angle).
    max_rotation : float
        Each frame after the first is also turned about the frame's centre by an angle (degrees) drawn
        uniformly within +-max_rotation: an alt-az mount's field rotation. In [0, 180].
    scale_change : float
        Each frame after the first is scaled about the centre by 1 + u * scale_change, u uniform in [-1, 1]
        (refocus, re-pointing). In [0, 0.1).
    meridian_flip : int or None
        1-based number of the first frame taken after a German equatorial mount's meridian flip: it and every
        later frame are turned by another 180 degrees. None: no flip.
    bayer_pattern : str or None
        None: a monochrome camera. Otherwise a colour camera's filter mosaic, one of ``BAYER_PATTERNS``: the
        colours of the data pixels ``[0, 0]``, ``[0, 1]``, ``[1, 0]``, ``[1, 1]`` (numpy order, row 0 first, as
        stored) of every 2x2 cell, e.g. ``"RGGB"``. The shape must then be even in both axes.
    star_colour_range : tuple of float
        Colour sets: each star's red/green and blue/green flux ratios are drawn, independently, log-uniformly
        in this range (``flux`` is the star's green flux).
    sky_colour : tuple of float
        Colour sets: the sky's level in the red, green and blue pixels relative to ``sky``. The default is a
        light-polluted sky, brighter in red and fainter in blue than in green.
    transparency : float
        Each frame's starlight is multiplied by a throughput drawn uniformly in ``[1 - transparency, 1 +
        transparency]``, independently for every frame and from a random stream of its own (passing clouds: at a
        cadence of minutes their frames are as good as independent). The sky is not dimmed: it keeps its own
        level and jitter, as under a light-polluted sky, where clouds that dim the stars reflect the town's
        light. In [0, 1); 0 (the default): no throughput changes, the frames of before.
    variables : tuple of Transit or Sine
        Stars of the catalog given a light curve, from mappings such as ``{kind: transit, star: auto, depth:
        0.01, duration_hours: 2, mid_time: 1.5}`` or ``{kind: sine, star: 12, amplitude_mag: 0.05, period_hours:
        1.5, phase: 0.25}`` (see :class:`~stackphot.simulate.variables.Transit` and
        :class:`~stackphot.simulate.variables.Sine`). A star's flux in a frame is its catalog ``flux`` times the
        factor of its light curve at the frame's mid-exposure time (and the frame's throughput).
    site : tuple of float or None
        Latitude (degrees, north positive), longitude (degrees, east positive) and elevation (m) of the
        observatory, written as SITELAT, SITELONG and SITEELEV. None (the default): no site cards.
        Frames carry RA and DEC cards (``sky_centre``, degrees: the field the telescope points at) where a site
        is given or the set is a time series (``transparency`` or ``variables``); a ``pixel_scale`` alone does
        not add them, so the sets with a WCS stay byte for byte what they were.
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
    max_rotation: float = 0.0
    scale_change: float = 0.0
    meridian_flip: int | None = None
    bayer_pattern: str | None = None
    star_colour_range: tuple[float, float] = (0.5, 2.0)
    sky_colour: tuple[float, float, float] = (1.1, 1.0, 0.8)
    transparency: float = 0.0
    variables: tuple[Transit | Sine, ...] = ()
    site: tuple[float, float, float] | None = None

    def __post_init__(self):
        # YAML gives lists where tuples are meant and reads an unquoted timestamp as a datetime:
        # normalise (the dataclass is frozen, hence object.__setattr__), then check.
        normalised = {
            "shape": _values(self.shape, int, "shape"),
            "sky_colour": _values(self.sky_colour, float, "sky_colour", length=3),
        }
        for name in ("fwhm_range", "flux_range", "cosmic_ray_adu", "hot_pixel_adu", "sky_centre", "star_colour_range"):
            normalised[name] = _values(getattr(self, name), float, name)
        try:
            normalised["transparency"] = float(self.transparency)
        except (TypeError, ValueError):
            raise ValueError(f"transparency must be a number, got {self.transparency!r}") from None
        if self.site is not None:
            normalised["site"] = _values(self.site, float, "site (latitude, longitude, elevation)", length=3)
        if isinstance(self.start_time, dt.date):
            normalised["start_time"] = self.start_time.isoformat()
        for name, value in normalised.items():
            object.__setattr__(self, name, value)
        try:
            dt.datetime.fromisoformat(self.start_time)
        except (TypeError, ValueError):
            raise ValueError(f"start_time must be an ISO date and time, got {self.start_time!r}") from None
        object.__setattr__(self, "variables", parse_variables(self.variables, self.start_time))
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
            "max_rotation must be in [0, 180] degrees": 0 <= self.max_rotation <= 180,
            "scale_change must be in [0, 0.1)": 0 <= self.scale_change < 0.1,
            "meridian_flip must be a frame number in 2..n_frames or null": self.meridian_flip is None
            or (isinstance(self.meridian_flip, int) and 2 <= self.meridian_flip <= self.n_frames),
            "sky_centre must be RA in [0, 360) and Dec in [-90, 90]": 0 <= self.sky_centre[0] < 360
            and -90 <= self.sky_centre[1] <= 90,
            f"bayer_pattern must be one of {', '.join(BAYER_PATTERNS)} or null, got {self.bayer_pattern!r}": (
                self.bayer_pattern is None or self.bayer_pattern in BAYER_PATTERNS
            ),
            f"a colour set's shape must be even in both axes (whole 2x2 Bayer cells), got {self.shape}": (
                self.bayer_pattern is None or not (self.shape[0] % 2 or self.shape[1] % 2)
            ),
            "star_colour_range must be 0 < low <= high": 0 < self.star_colour_range[0] <= self.star_colour_range[1],
            "sky_colour must be >= 0": min(self.sky_colour) >= 0,
            "transparency must be in [0, 1)": 0 <= self.transparency < 1,
            "site must be latitude in [-90, 90], longitude in [-180, 360) (east positive) and a finite elevation": (
                self.site is None
                or (-90 <= self.site[0] <= 90 and -180 <= self.site[1] < 360 and math.isfinite(self.site[2]))
            ),
        }
        check_values(checks, "simulation config")

    @property
    def time_series(self) -> bool:
        """Whether the set has a throughput per frame or variable stars, and so a light-curve truth table."""
        return bool(self.transparency or self.variables)

    @classmethod
    def from_mapping(cls, mapping: Mapping) -> SimulationConfig:
        """Config from a mapping such as a parsed YAML spec; missing keys keep their defaults.

        Raises
        ------
        ValueError
            Unknown keys (all of them are named) or invalid values.
        """
        check_fields(cls, mapping, "simulation")
        return cls(**mapping)
