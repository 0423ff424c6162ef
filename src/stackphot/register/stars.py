"""Stars per frame and their FWHM: the frame-quality figures of transparency and seeing.

Both come from the images the registration already makes (the cleaned frame and its smoothed copy), so
they cost a local-maximum test and a few small least-squares fits per frame, not a source finder.

* ``n_stars``: local maxima (5 x 5) of the smoothed frame above ``nsigma`` times its robust noise. The
  smoothing is a matched filter for stars, so this counts sources a finder would see at about that
  significance; clouds or a closed dome make it fall, a defocused or trailed frame too.
* ``fwhm``: the median over up to ``max_stars`` of the brightest isolated unsaturated peaks (at least
  ``min_peak_snr`` times the pixel noise) of a circular Gaussian fitted to each star's core (pixels above
  half its peak) in the cleaned, unsmoothed frame. The fit is the weighted log-parabola of Guo (2011, IEEE
  Signal Processing Magazine 28, 134), solved for all stars at once; a fit whose centre is more than a
  pixel from the peak (a dip, a defocused ring) is left out. On Moffat stars (beta 3) it comes within 10%
  of the true FWHM (see the tests). NaN when no star qualifies: on the real M13 frames the brightest
  isolated peaks are bumps of the cluster's glow, under 20 times the noise, and have no width to give.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from astropy.stats import mad_std

GAUSSIAN_FWHM_PER_SIGMA = 2.0 * np.sqrt(2.0 * np.log(2.0))
# Only pixels above half a star's peak enter its fit: a Moffat's wings would widen the Gaussian.
CORE_FRACTION = 0.5


@dataclass(frozen=True)
class StarFigures:
    n_stars: int
    fwhm: float  # px; NaN when no star could be measured


def star_figures(cleaned, smoothed, *, noise: float, nsigma: float = 5.0, half_box: int = 6,
                 max_stars: int = 30, min_peak_snr: float = 20.0, bad=None, peaks=None) -> StarFigures:
    """Count the stars of one frame and measure their FWHM.

    Parameters
    ----------
    cleaned : 2D array
        Background-subtracted frame with its defects replaced (``register.clean_for_registration``).
    smoothed : 2D array
        ``cleaned`` smoothed to the stars' scale (``register.smooth``).
    noise : float
        Robust noise of ``smoothed``.
    nsigma : float
        A star's smoothed peak must exceed ``nsigma * noise``.
    half_box : int
        Half size of the box fitted around each star; a star this close to an edge is not fitted.
    max_stars : int
        The FWHM is the median over at most this many of the brightest isolated peaks.
    min_peak_snr : float
        A star whose peak pixel is below this many times the pixel noise is not fitted: faint bumps
        (a cluster's unresolved glow, noise) have no meaningful width.
    bad : 2D bool array, optional
        Pixels that must not enter a fit (saturated, no data): a star with one in its box is skipped.
    peaks : (ys, xs), optional
        ``find_peaks(smoothed, noise=noise, nsigma=nsigma)``, when the caller has them already.
    """
    ys, xs = find_peaks(smoothed, noise=noise, nsigma=nsigma) if peaks is None else peaks
    cleaned = np.asarray(cleaned, float)
    pixel_noise = mad_std(cleaned[::3, ::3])  # a ninth of the pixels gives the noise to a per cent
    return StarFigures(n_stars=int(ys.size), fwhm=_median_fwhm(cleaned, ys, xs, half_box, max_stars, bad,
                                                               min_peak=min_peak_snr * pixel_noise))


def find_peaks(smoothed, *, noise: float, nsigma: float = 5.0):
    """Rows and columns of the local maxima (5 x 5) of ``smoothed`` above ``nsigma * noise``, brightest first.

    A peak is at least as high as every pixel of its 5 x 5 window that lies on the image (plateaus give
    all their pixels): ``ndimage.maximum_filter(smoothed, size=5)`` at the pixel, but computed only where
    the threshold is passed, a few per cent of a frame. ``smoothed`` must be free of NaN.
    """
    smoothed = np.asarray(smoothed)
    ny, nx = smoothed.shape
    ys, xs = np.nonzero(smoothed > nsigma * noise)
    values = smoothed[ys, xs]
    peak = np.ones(values.shape, dtype=bool)
    # Off the image, the index is clamped to the edge: a pixel of the same window, so the maximum is the one
    # maximum_filter takes with its mode "reflect", which also repeats only pixels of the window.
    for dy in range(-2, 3):
        rows = np.clip(ys + dy, 0, ny - 1)
        for dx in range(-2, 3):
            if dy or dx:
                peak &= values >= smoothed[rows, np.clip(xs + dx, 0, nx - 1)]
    ys, xs, values = ys[peak], xs[peak], values[peak]
    order = np.argsort(-values, kind="stable")
    return ys[order], xs[order]


def peak_positions(smoothed, ys, xs) -> np.ndarray:
    """Subpixel positions ``(x, y)`` of the peaks ``ys, xs`` of the smoothed frame, an (n, 2) array.

    The smoothing is a matched filter, so a star's position is where the smoothed image peaks; a parabola
    through the logarithms of the peak and its two neighbours finds it along each axis (exact for a
    Gaussian). Peaks on the frame's edge keep their pixel position.
    """
    smoothed = np.asarray(smoothed, dtype=float)
    ys, xs = np.asarray(ys), np.asarray(xs)
    positions = np.column_stack([xs, ys]).astype(float)
    ny, nx = smoothed.shape
    inside = (ys > 0) & (ys < ny - 1) & (xs > 0) & (xs < nx - 1)
    y, x = ys[inside], xs[inside]
    tiny = np.finfo(float).tiny
    centre = np.log(np.maximum(smoothed[y, x], tiny))
    for axis, (before, after) in enumerate(((smoothed[y, x - 1], smoothed[y, x + 1]),
                                            (smoothed[y - 1, x], smoothed[y + 1, x]))):
        low, high = np.log(np.maximum(before, tiny)), np.log(np.maximum(after, tiny))
        curvature = low - 2 * centre + high
        offset = np.where(curvature < 0, 0.5 * (low - high) / np.where(curvature < 0, curvature, -1.0), 0.0)
        positions[inside, axis] += np.clip(offset, -0.5, 0.5)
    return positions


def _median_fwhm(image, ys, xs, half_box, max_stars, bad, min_peak) -> float:
    """Median Gaussian FWHM of the brightest peaks (``ys, xs`` brightest first) fit to measure."""
    ny, nx = image.shape
    chosen = []
    for y, x in zip(ys, xs):
        if len(chosen) == max_stars:
            break
        if not (half_box <= y < ny - half_box and half_box <= x < nx - half_box):
            continue
        box = (slice(y - half_box, y + half_box + 1), slice(x - half_box, x + half_box + 1))
        # A neighbouring peak within the box would pull the fit; so would a saturated or empty pixel.
        neighbours = (np.abs(ys - y) <= half_box) & (np.abs(xs - x) <= half_box)
        if neighbours.sum() > 1 or (bad is not None and bad[box].any()) or image[y, x] < min_peak:
            continue
        chosen.append((y, x))
    if not chosen:
        return float("nan")
    offsets = np.arange(-half_box, half_box + 1)
    centres = np.array(chosen)
    rows = centres[:, 0, None, None] + offsets[None, :, None]
    cols = centres[:, 1, None, None] + offsets[None, None, :]
    cutouts = image[rows, cols]
    peak = cutouts[:, half_box, half_box]
    core = cutouts > CORE_FRACTION * peak[:, None, None]
    dy, dx = np.meshgrid(offsets, offsets, indexing="ij")
    design = np.stack([np.ones_like(dy), dy, dx, dy**2 + dx**2], axis=-1).reshape(-1, 4).astype(float)
    # Guo's weights (the intensity squared) undo the noise amplification of the logarithm.
    weights = np.where(core, cutouts, 0.0).reshape(len(chosen), -1) ** 2
    logs = np.log(np.where(core, cutouts, 1.0)).reshape(len(chosen), -1)
    normal = np.einsum("sp,pi,pj->sij", weights, design, design)
    target = np.einsum("sp,pi,sp->si", weights, design, logs)
    solvable = np.linalg.matrix_rank(normal) == 4
    if not solvable.any():
        return float("nan")
    _, slope_y, slope_x, curvature = np.linalg.solve(normal[solvable], target[solvable][..., None])[..., 0].T
    # A star's fitted centre lies within a pixel of its peak; a dip or a ring (defocus) gives no such Gaussian.
    gaussian = curvature < 0
    centred = np.hypot(slope_y, slope_x) <= 2 * np.abs(curvature)
    sigma = np.sqrt(-0.5 / curvature[gaussian & centred])
    return float(np.median(sigma) * GAUSSIAN_FWHM_PER_SIGMA) if sigma.size else float("nan")
