"""How well registered frames line up, read off their stars: the bench's common measure for any registration.

A tool that writes registered images but not the transforms behind them (Siril 1.0 applies its star alignment to
the pixels) can only be judged by where the stars landed. Each frame's offset from the reference is the median,
over the simulation's brightest isolated stars that peak ``MIN_PEAK_SNR`` times the noise in the reference, of the
difference between a star's centroid in the frame and in the reference (photutils' ``centroid_2dg`` on a box around
the true place, less the box's edge median: the sky, or what is left of it). The median of a few dozen stars'
differences measures a registration error of a few thousandths of a pixel; the workflow's aligned frames go through
the same measure, so both compare alike.
Its own floor (``true_shift_offsets``): the frames moved by their true shifts, by a cubic spline, and measured alike.
"""

import csv
import warnings
from pathlib import Path

import numpy as np
from astropy.io import fits

BOX = 11  # px, centred on a star's true place: a simulated star's core with room for a 1 px misregistration
N_STARS = 100
ISOLATION = 12.0  # px: no other true star within this distance brighter than 1% of it
EDGE = 40  # px from the frame's edges, beyond any shift of the bench's sets
PAD = 10  # px around a box moved by a spline (_moved_centroids)
MIN_PEAK_SNR = 20  # a star's peak over its box edge's noise in the reference: fainter ones' centroids are noise


def reference_stars(truth_stars: Path, shape: tuple[int, int], *, offset=(0.0, 0.0)) -> np.ndarray:
    """(y, x) of the ``N_STARS`` brightest isolated true stars, moved by ``offset`` (dy, dx) into the reference."""
    with open(truth_stars, newline="") as table:
        rows = list(csv.DictReader(table))
    y = np.array([float(r["y"]) for r in rows]) + offset[0]
    x = np.array([float(r["x"]) for r in rows]) + offset[1]
    flux = np.array([float(r["flux"]) for r in rows])
    inside = (y > EDGE) & (y < shape[0] - EDGE) & (x > EDGE) & (x < shape[1] - EDGE)
    chosen = []
    for i in np.argsort(-flux):
        if not inside[i]:
            continue
        near = np.hypot(y - y[i], x - x[i]) < ISOLATION
        near[i] = False
        if np.any(flux[near] > 0.01 * flux[i]):
            continue
        chosen.append(i)
        if len(chosen) == N_STARS:
            break
    return np.column_stack([y[chosen], x[chosen]])


def _corner(place) -> tuple[int, int]:
    """The first row and column of the box around a (y, x) place."""
    return int(round(place[0])) - BOX // 2, int(round(place[1])) - BOX // 2


def _centroid(box: np.ndarray, corner: tuple[int, int]) -> tuple[float, float]:
    """(y, x) of the star in ``box`` (whose first pixel is at ``corner``), NaN where the box is not all finite."""
    from photutils.centroids import centroid_2dg

    if box.shape != (BOX, BOX) or not np.isfinite(box).all():
        return np.nan, np.nan
    edge = np.concatenate([box[0], box[-1], box[1:-1, 0], box[1:-1, -1]])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a fit's convergence warnings: the median over stars absorbs them
        cx, cy = centroid_2dg(box - np.median(edge))
    return corner[0] + cy, corner[1] + cx


def centroids(image: np.ndarray, places: np.ndarray) -> np.ndarray:
    """(y, x) centroid of each star at ``places`` (NaN where its box is not all finite)."""
    found = np.full(places.shape, np.nan)
    for k, place in enumerate(places):
        y0, x0 = _corner(place)
        found[k] = _centroid(np.asarray(image[y0 : y0 + BOX, x0 : x0 + BOX], dtype=float), (y0, x0))
    return found


def _moved_centroids(image: np.ndarray, shift, places: np.ndarray) -> np.ndarray:
    """``centroids`` of ``image`` moved by ``shift`` (dy, dx) with a cubic spline, each star's box alone: its
    window of the frame with ``PAD`` pixels more on every side (beyond which the spline's prefilter has died
    away to 1e-5), shifted by the fraction, the whole pixels taken by where the window is cut."""
    from scipy import ndimage

    whole = np.floor(shift).astype(int)
    found = np.full(places.shape, np.nan)
    for k, place in enumerate(places):
        y0, x0 = _corner(place)
        top, left = y0 - whole[0] - PAD, x0 - whole[1] - PAD
        window = np.asarray(image[max(top, 0) : top + BOX + 2 * PAD, max(left, 0) : left + BOX + 2 * PAD], float)
        if top < 0 or left < 0 or window.shape != (BOX + 2 * PAD, BOX + 2 * PAD):
            continue
        moved = ndimage.shift(window, np.asarray(shift) - whole, order=3, mode="nearest")
        found[k] = _centroid(moved[PAD:-PAD, PAD:-PAD], (y0, x0))
    return found


def bright(image: np.ndarray, places: np.ndarray) -> np.ndarray:
    """Which stars at ``places`` peak ``MIN_PEAK_SNR`` times their box edge's noise (MAD) above its median."""
    from astropy.stats import mad_std

    keep = np.zeros(len(places), bool)
    for k, place in enumerate(places):
        y0, x0 = _corner(place)
        box = np.asarray(image[y0 : y0 + BOX, x0 : x0 + BOX], dtype=float)
        edge = np.concatenate([box[0], box[-1], box[1:-1, 0], box[1:-1, -1]])
        noise = mad_std(edge)
        keep[k] = box.shape == (BOX, BOX) and box.max() - np.median(edge) > MIN_PEAK_SNR * max(noise, 1e-12)
    return keep


def _reference(reference: Path, places: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The bright stars' places and their centroids in the reference image."""
    image = fits.getdata(reference)
    places = places[bright(image, places)]
    return places, centroids(image, places)


def offsets(images: list[Path], reference: Path, places: np.ndarray) -> list[float]:
    """Each image's distance (px) from ``reference``: the median star-by-star centroid difference's length, over
    the stars bright in the reference."""
    places, at_reference = _reference(reference, places)
    distances = []
    for path in images:
        difference = centroids(fits.getdata(path), places) - at_reference
        distances.append(float(np.hypot(*np.nanmedian(difference, axis=0))))
    return distances


def true_shift_offsets(frames: list[Path], reference: Path, true_shifts: list, places: np.ndarray) -> list[float]:
    """``offsets`` of ``frames`` moved onto ``reference`` by their ``true_shifts`` ((dy, dx) each, the shift to
    apply): what the measure reads of a perfect registration, its floor (noise, and the spline's own blur)."""
    places, at_reference = _reference(reference, places)
    return [float(np.hypot(*np.nanmedian(_moved_centroids(fits.getdata(path), shift, places) - at_reference, axis=0)))
            for path, shift in zip(frames, true_shifts, strict=True)]


def summary(distances: list[float]) -> dict | None:
    """RMS and largest of the distances, and how many frames: the form of run_bench's registration errors."""
    if not distances:
        return None
    return {"rms": float(np.sqrt(np.mean(np.square(distances)))), "max": float(max(distances)),
            "frames": len(distances)}
