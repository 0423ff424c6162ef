"""Deterministic simulator of an M13-like series of short CCD exposures with known truth.

The scene is a globular cluster (Plummer profile) plus uniform field stars with power-law
fluxes, imaged through a Moffat PSF whose FWHM changes a little from frame to frame. The
detector adds a bias pedestal, fixed row banding, hot and dead pixels; every exposure adds
its own sky level, photon and read noise, cosmic rays and a subpixel pointing offset, and where
configured a field rotation, a scale change and a meridian flip about the frame's centre. A time series
(``stackphot.simulate.variables``) adds a throughput per frame (clouds) and stars whose light varies.

Conventions used by the whole workflow:

* Positions are 0-based pixel coordinates, the centre of pixel ``(0, 0)`` being ``(0.0, 0.0)``
  (numpy/photutils).
* A frame's truth is the ``stackphot.geometry.Transform`` that maps its pixels onto the
  reference's; the first frame is the reference, with the identity. For a frame that only moves,
  ``(dy, dx)`` is the shift to *apply* to it to line it up with the reference (skimage
  ``phase_cross_correlation(reference, moving)``): a star at ``(y, x)`` in the reference appears
  at ``(y - dy, x - dx)`` in the frame.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from astropy.io import fits

from stackphot.geometry import Transform
from stackphot.io import atomic_write
from stackphot.simulate.config import SimulationConfig
from stackphot.simulate.render import (_DECIMALS, _bayer_channels, _cosmic_rays, _render_stars, _rng, _row_banding,
                                       _star_catalog, _star_colours)
from stackphot.simulate.variables import TRUTH_LIGHTCURVES, lightcurve_truth, variable_stars

__all__ = [
    "SimulationConfig",
    "FrameSet",
    "frame_name",
    "simulate_frame_set",
    "write_frame_set",
    "TRUTH_SHIFTS",
    "TRUTH_STARS",
    "TRUTH_LIGHTCURVES",
]

TRUTH_SHIFTS = "truth_shifts.csv"
TRUTH_STARS = "truth_stars.csv"

# Independent random streams, one SeedSequence spawn key each: the scene and the detector never
# depend on how many frames are drawn, and frame i never depends on the frames after it.
# The star colours, the frames' throughput and the choice of 'auto' variable stars have their own, so the sets
# without them stay byte for byte what they were.
_SCENE, _DETECTOR, _FRAME, _GEOMETRY, _COLOUR, _TRANSPARENCY, _VARIABLES = 0, 1, 2, 3, 4, 5, 6


@dataclass
class FrameSet:
    """Simulated raw frames with the truth behind them.

    Attributes
    ----------
    config : SimulationConfig
        The config that made the set.
    frames : list of numpy.ndarray
        Raw ``uint16`` frames, as the camera writes them; for a colour set (``config.bayer_pattern``), the
        mosaic: each pixel holds the frame seen through its filter.
    headers : list of astropy.io.fits.Header
        Camera-style header cards of each frame (structural cards are added on writing).
    transforms : pandas.DataFrame
        Columns ``frame`` (file stem, e.g. ``frame_001``) and the ``stackphot.geometry.COLUMNS`` of
        the transform that lines each frame up with the reference (first frame: the identity). The
        frames move and, where configured, turn, scale and flip about their centre; for a frame that
        only moves, ``dy``, ``dx`` is the shift to apply to it.
    stars : pandas.DataFrame
        Columns ``id`` (1 = brightest), ``x``, ``y`` (reference-frame pixels; stars just off the
        reference frame that other frames see are included, so x, y can be < 0 or > size) and
        ``flux`` (total ADU in one frame before noise, i.e. an infinite aperture). A colour set adds ``flux_r``,
        ``flux_g``, ``flux_b``: the star's total ADU on a full-resolution frame seen through that filter alone
        (``flux_g`` is ``flux``). Its superpixel planes (of each 2x2 cell the R pixel, the mean of the two G
        pixels, the B pixel) hold a quarter of these, and its luminance plane (the sum of a cell's 4 pixels)
        holds ``(flux_r + 2 * flux_g + flux_b) / 4``. A plane of one colour samples a star on every other
        pixel, which holds a quarter of its light only to within 0.2% at FWHM 3.5 px, 2% at 2.5 px. A set with
        ``config.variables`` adds ``variable``: the kind of the star's light curve (``transit``, ``sine``) or
        empty; ``flux`` is then its flux out of transit, or at its mean magnitude.
    fwhm : list of float
        PSF FWHM of each frame (px).
    sky_levels : list of float
        Mean sky of each frame (ADU above bias); a colour set's is ``config.sky_colour`` times this in each
        filter.
    transparency : list of float
        Throughput of each frame for starlight (all 1 without ``config.transparency``).
    lightcurves : pandas.DataFrame
        The time series' truth, a row per frame: ``frame``, ``mid_time`` (ISO, UTC, mid-exposure), ``jd_utc``
        (its Julian date), ``transparency``, ``fwhm``, ``sky`` and, for each variable star, ``factor_<id>``:
        its flux in that frame over its catalog ``flux``, the throughput aside (its flux in the frame is
        ``flux * transparency * factor_<id>``), in the order of ``config.variables``.
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
    transforms: pd.DataFrame
    stars: pd.DataFrame
    fwhm: list[float]
    sky_levels: list[float]
    transparency: list[float]
    lightcurves: pd.DataFrame
    cosmic_rays: pd.DataFrame
    fixed_pattern: np.ndarray
    hot_pixels: np.ndarray
    dead_pixels: np.ndarray


def frame_name(index: int) -> str:
    """File stem of the frame with 0-based ``index``: ``frame_001`` for the first (reference)."""
    return f"frame_{index + 1:03d}"


def _transform(config: SimulationConfig, index: int, dy: float, dx: float) -> Transform:
    """Frame ``index``'s transform onto the reference: its pointing offset ``(dy, dx)`` and, where configured,
    its turn, its scale and the meridian flip about the frame's centre. Turn and scale come from a stream of
    their own, so the sets that only move are drawn, and written, as before frames could turn."""
    turn, scale = 0.0, 1.0
    if index and (config.max_rotation or config.scale_change):
        draws = _rng(config.seed, _GEOMETRY, index).uniform(-1, 1, 2)
        turn, scale = np.round([draws[0] * config.max_rotation, 1 + draws[1] * config.scale_change], _DECIMALS)
    if config.meridian_flip is not None and index + 1 >= config.meridian_flip:
        turn += 180.0
    if turn == 0 and scale == 1:
        return Transform.translation(dy, dx)
    ny, nx = config.shape
    return Transform.about(((nx - 1) / 2, (ny - 1) / 2), rotation=float(turn), scale=float(scale), dy=dy, dx=dx)


def _header(config: SimulationConfig, index: int, transform: Transform) -> fits.Header:
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
    if config.site is not None:
        latitude, longitude, elevation = config.site
        header["SITELAT"] = (latitude, "[deg] observatory latitude, north positive")
        header["SITELONG"] = (longitude, "[deg] observatory longitude, east positive")
        header["SITEELEV"] = (elevation, "[m] observatory elevation")
    if config.site is not None or config.time_series:
        header["RA"] = (config.sky_centre[0], "[deg] ICRS right ascension of the field centre")
        header["DEC"] = (config.sky_centre[1], "[deg] ICRS declination of the field centre")
    if config.bayer_pattern is not None:
        header["BAYERPAT"] = (config.bayer_pattern, "filters of pixels [0,0] [0,1] [1,0] [1,1]")
        header["XBAYROFF"] = (0, "[px] x offset of the Bayer pattern")
        header["YBAYROFF"] = (0, "[px] y offset of the Bayer pattern")
    header["COMMENT"] = f"Simulated by stackphot.simulate with seed {config.seed} ({frame_name(index)})."
    header["COMMENT"] = f"Bias pedestal {config.bias:g} ADU; truth in {TRUTH_SHIFTS} and {TRUTH_STARS}."
    if config.time_series:
        header["COMMENT"] = f"Time series: throughput and light curves in {TRUTH_LIGHTCURVES}."
    if config.pixel_scale > 0:
        header.extend(_wcs(config, transform).to_header(), end=True)
    return header


def _wcs(config: SimulationConfig, transform: Transform):
    """TAN WCS of a frame with ``transform`` onto the reference: frame pixel p has the sky of the reference's
    pixel transform(p), so CRPIX is the frame pixel of the reference's CRPIX and CD is composed with the
    transform's matrix."""
    from astropy.wcs import WCS

    ny, nx = config.shape
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs.wcs.radesys = "ICRS"
    wcs.wcs.crval = list(config.sky_centre)
    # FITS pixels are 1-based: the centre of numpy pixel (y, x) is FITS (x + 1, y + 1).
    scale = config.pixel_scale / 3600
    angle = math.radians(config.rotation)
    # The FITS standard's CROTA2 form with CDELT1 = -scale (east to the left when the rotation is 0).
    cd = [[-scale * math.cos(angle), -scale * math.sin(angle)], [-scale * math.sin(angle), scale * math.cos(angle)]]
    if transform.is_translation:
        # The same arithmetic as before frames could turn: the cards of sets that only move stay byte-identical.
        wcs.wcs.crpix = [(nx - 1) / 2 + 1 - transform.dx, (ny - 1) / 2 + 1 - transform.dy]
        wcs.wcs.cd = cd
    else:
        x, y = transform.inverse().apply((nx - 1) / 2, (ny - 1) / 2)
        wcs.wcs.crpix = [float(x) + 1, float(y) + 1]
        wcs.wcs.cd = np.array(cd) @ transform.linear
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
    stars = _star_catalog(config, scene_rng)
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
    if config.bayer_pattern is not None:
        stars = _star_colours(config, stars, _rng(config.seed, _COLOUR))
        channels = _bayer_channels(config.bayer_pattern, config.shape)
        colour_fluxes = [stars[name].to_numpy() for name in ("flux_r", "flux_g", "flux_b")]
    # Each variable star's flux factor in every frame, at its mid-exposure time, rounded as the truth is written.
    hours = (np.arange(config.n_frames) * config.cadence + config.exptime / 2) / 3600
    variable_ids = variable_stars(config, stars, _rng(config.seed, _VARIABLES))
    factors = {
        star: np.round(variable.factor(hours, config.start_time), _DECIMALS)
        for star, variable in zip(variable_ids, config.variables)
    }
    if config.variables:
        kinds = dict(zip(variable_ids, (variable.kind for variable in config.variables)))
        stars = stars.assign(variable=stars["id"].map(kinds).fillna(""))
    frames, headers, transforms, fwhms, sky_levels, throughputs, hits = [], [], [], [], [], [], []
    for index in range(config.n_frames):
        rng = _rng(config.seed, _FRAME, index)
        dy, dx = (0.0, 0.0) if index == 0 else np.round(rng.uniform(-1, 1, 2) * config.max_offset, _DECIMALS)
        fwhm = float(rng.uniform(*config.fwhm_range))
        sky = float(config.sky * np.exp(config.sky_jitter * rng.standard_normal()))
        cr_y, cr_x, cr_adu = _cosmic_rays(config, rng)

        throughput = 1.0
        if config.transparency:
            draw = _rng(config.seed, _TRANSPARENCY, index).uniform(-1, 1)
            throughput = round(1 + config.transparency * float(draw), _DECIMALS)
        # Ids run from 1 in catalog order; a scale of exactly 1 leaves every pixel as it was without it.
        scale = np.full(star_flux.size, throughput)
        for star, factor in factors.items():
            scale[star - 1] *= factor[index]

        transform = _transform(config, index, float(dy), float(dx))
        x, y = transform.inverse().apply(star_x, star_y)
        psf = dict(fwhm=fwhm, beta=config.moffat_beta, oversample=config.oversample, scale=scale)
        if config.bayer_pattern is None:
            signal = sky * (1 + config.sky_gradient * gradient)
            _render_stars(signal, y, x, star_flux, **psf)
        else:
            # The whole frame through each filter, then each pixel from its own filter's frame.
            planes = []
            for level, flux in zip(config.sky_colour, colour_fluxes):
                planes.append(sky * level * (1 + config.sky_gradient * gradient))
                _render_stars(planes[-1], y, x, flux, **psf)
            signal = np.choose(channels, planes)
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
        headers.append(_header(config, index, transform))
        transforms.append({"frame": frame_name(index), **transform.columns()})
        fwhms.append(fwhm)
        sky_levels.append(sky)
        throughputs.append(throughput)
        hits.append(pd.DataFrame({"frame": frame_name(index), "y": cr_y, "x": cr_x, "adu": cr_adu}))

    return FrameSet(
        config=config,
        frames=frames,
        headers=headers,
        transforms=pd.DataFrame(transforms),
        stars=stars,
        fwhm=fwhms,
        sky_levels=sky_levels,
        transparency=throughputs,
        lightcurves=lightcurve_truth(config, [t["frame"] for t in transforms], throughputs, fwhms, sky_levels, factors),
        cosmic_rays=pd.concat(hits, ignore_index=True),
        fixed_pattern=fixed_pattern,
        hot_pixels=hot_pixels.reshape(ny, nx),
        dead_pixels=dead_pixels.reshape(ny, nx),
    )


def write_frame_set(frame_set: FrameSet, directory, *, overwrite: bool = False) -> list[Path]:
    """Write the frames as camera-style FITS plus the truth tables.

    Frames go to ``<frame>.fits`` (``uint16`` stored as BITPIX 16 with BZERO 32768), the truth to
    ``truth_shifts.csv`` (frame and the ``stackphot.geometry.COLUMNS`` of its transform, which may
    turn, scale and flip the frame as well as move it) and ``truth_stars.csv`` (id, x, y, flux; a colour set
    adds flux_r, flux_g, flux_b, a set with variable stars ``variable``). A time series (``transparency`` or
    ``variables``) adds ``truth_lightcurves.csv``, its ``FrameSet.lightcurves`` (``jd_utc`` to 1e-8 d, 1 ms).
    A colour set's frames carry BAYERPAT, XBAYROFF and YBAYROFF.
    Each file is written under a temporary name and renamed, so no half-written file ever has a
    final name; the same frame set always gives byte-identical files.

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
        The frame files in frame order, then the shifts and stars tables (and the light curves').

    Raises
    ------
    FileExistsError
        A target exists and ``overwrite`` is False.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    frame_paths = [directory / f"{name}.fits" for name in frame_set.transforms["frame"]]
    tables = {directory / TRUTH_SHIFTS: frame_set.transforms, directory / TRUTH_STARS: frame_set.stars}
    if frame_set.config.time_series:
        # A Julian date needs more than the 6 decimals of the other columns: 1e-6 d is 86 ms.
        lightcurves = frame_set.lightcurves
        tables[directory / TRUTH_LIGHTCURVES] = lightcurves.assign(jd_utc=lightcurves["jd_utc"].map("{:.8f}".format))
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
