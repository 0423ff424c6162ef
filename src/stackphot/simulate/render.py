"""The simulated scene and detector drawn into pixels: stars, row banding, cosmic rays."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from stackphot.numerics import moffat_alpha
from stackphot.simulate.config import SimulationConfig

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


def _rng(seed: int, *key: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=key))


def _star_colours(config: SimulationConfig, stars: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """``stars`` with a colour set's truth columns ``flux_r``, ``flux_g``, ``flux_b``: ``flux`` times each
    star's red/green and blue/green ratios, log-uniform in ``star_colour_range`` (``flux_g`` is ``flux``).
    A star's two draws are its own row of the draws, so its colour does not depend on the fainter stars."""
    ratios = np.exp(rng.uniform(*np.log(config.star_colour_range), (len(stars), 2)))
    flux = stars["flux"].to_numpy()
    return stars.assign(
        flux_r=np.round(flux * ratios[:, 0], _DECIMALS), flux_g=flux, flux_b=np.round(flux * ratios[:, 1], _DECIMALS)
    )


def _bayer_channels(pattern: str, shape: tuple[int, int]) -> np.ndarray:
    """Each pixel's filter under the mosaic ``pattern`` (e.g. ``"RGGB"``, even ``shape``): 0 R, 1 G, 2 B."""
    cell = np.array(["RGB".index(colour) for colour in pattern]).reshape(2, 2)
    return np.tile(cell, (shape[0] // 2, shape[1] // 2))


def _star_catalog(config: SimulationConfig, rng: np.random.Generator) -> pd.DataFrame:
    ny, nx = config.shape
    # Stars up to this far off the reference frame can reach some frame (offset plus PSF wings).
    margin = config.max_offset + 4 * config.fwhm_range[1]
    further_y, further_x, reach = _turned_reach(config)
    margin_y, margin_x = margin + further_y, margin + further_x

    centre = np.array([(ny - 1) / 2, (nx - 1) / 2]) * (1 + rng.uniform(-0.03, 0.03, 2))
    # Projected Plummer profile: the fraction within R is R**2 / (R**2 + a**2); invert it.
    a, r_max = config.cluster_scale_radius, config.cluster_max_radius
    u = rng.uniform(0, r_max**2 / (r_max**2 + a**2), config.n_cluster_stars)
    radius = a * np.sqrt(u / (1 - u))
    angle = rng.uniform(0, 2 * np.pi, config.n_cluster_stars)
    cluster_y = centre[0] + radius * np.sin(angle)
    cluster_x = centre[1] + radius * np.cos(angle)
    field_y = rng.uniform(-margin_y, ny - 1 + margin_y, config.n_field_stars)
    field_x = rng.uniform(-margin_x, nx - 1 + margin_x, config.n_field_stars)
    y = np.concatenate([cluster_y, field_y])
    x = np.concatenate([cluster_x, field_x])

    # Truncated power law N(>F) ~ F**-slope by inverting its cumulative distribution.
    (f_lo, f_hi), slope = config.flux_range, config.flux_slope
    p = rng.uniform(0, 1, y.size)
    flux = (f_lo**-slope - p * (f_lo**-slope - f_hi**-slope)) ** (-1 / slope)

    seen = (y > -margin_y) & (y < ny - 1 + margin_y) & (x > -margin_x) & (x < nx - 1 + margin_x)
    if reach < math.inf:
        # Within the disk the turned frames' corners sweep, moved by any offset.
        outside_y = np.maximum(np.abs(y - (ny - 1) / 2) - config.max_offset, 0)
        outside_x = np.maximum(np.abs(x - (nx - 1) / 2) - config.max_offset, 0)
        seen &= np.hypot(outside_y, outside_x) < reach
    order = np.argsort(-flux[seen], kind="stable")
    return pd.DataFrame(
        {
            "id": np.arange(1, order.size + 1),
            "x": np.round(x[seen][order], _DECIMALS),
            "y": np.round(y[seen][order], _DECIMALS),
            "flux": np.round(flux[seen][order], _DECIMALS),
        }
    )


def _turned_reach(config: SimulationConfig) -> tuple[float, float, float]:
    """How much further (px, in y and in x) than a frame that only moves the turned and scaled frames reach
    on the reference, and the radius about the centre that they reach before their offset: (0, 0, inf) for
    frames that only move or flip (half a turn about its centre lays a frame onto itself)."""
    if not (config.max_rotation or config.scale_change):
        return 0.0, 0.0, math.inf
    ny, nx = config.shape
    half_y, half_x, wings = (ny - 1) / 2, (nx - 1) / 2, 4 * config.fwhm_range[1]
    scale, turn = 1 + config.scale_change, math.radians(config.max_rotation)
    diagonal = math.hypot(half_y, half_x)
    # A turning frame's extent along an axis grows until its diagonal lies along that axis.
    extent_y = diagonal if turn >= math.atan2(half_x, half_y) else half_y * math.cos(turn) + half_x * math.sin(turn)
    extent_x = diagonal if turn >= math.atan2(half_y, half_x) else half_x * math.cos(turn) + half_y * math.sin(turn)
    further = [scale * (extent + wings) - half - wings for extent, half in ((extent_y, half_y), (extent_x, half_x))]
    return *further, scale * (diagonal + wings)


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
    image: np.ndarray, y: np.ndarray, x: np.ndarray, flux: np.ndarray, *, fwhm: float, beta: float, oversample: int,
    scale=1.0,
) -> None:
    """Add pixel-integrated Moffat stars (total ``flux`` ADU each, at ``y, x``) to ``image`` in place.

    The core, within about 2 alpha, is integrated on ``oversample``**2 subpixels per pixel. Further
    out a single sample per pixel is already exact to < 1e-4 of the peak, and sampling a smooth
    profile on the full pixel lattice keeps its sum and centroid exact, so positions are unbiased.
    ``scale`` (one value or one per star) multiplies the stars' light but not the size of their cutouts,
    which ``flux`` sets: a star dimmed by clouds or its light curve is exactly a scaled copy of itself.
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
    scale = np.broadcast_to(np.asarray(scale, float), flux.shape)

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
            values = profile * (flux[chunk] * norm * scale[chunk])[:, None, None]
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
