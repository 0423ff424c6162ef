"""Whether a colour sensor's channel stacks are aligned: each star centroided in every channel plane, and the
channels' offsets from a reference channel, per star and summarised."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

__all__ = ["channel_offsets", "summarise_offsets"]

SKY_WIDTH = 3  # px of sky ring around each centroid box, for the local sky
MAD_TO_SIGMA = 1.4826  # a Gaussian's standard deviation over its median absolute deviation


def channel_offsets(planes: dict[str, np.ndarray], x, y, *, box_size: int = 7, reference: str = "G",
                    errors: dict[str, np.ndarray] | None = None, min_snr: float = 10.0,
                    max_shift: float = 1.5) -> pd.DataFrame:
    """Centroid each source in every channel plane and measure each channel's offset from the reference.

    Every channel is centroided in the same box, centred on the pixel nearest the given position, so the
    boxes cannot differ between channels. The local sky, the median of a ring ``SKY_WIDTH`` px wide around
    the box, is subtracted first; the centroid is then photutils' ``centroid_2dg`` (a 2D Gaussian fitted by
    least squares), which on a star sampled at two or three pixels per FWHM is free of the pixel-phase bias
    of the centre of mass and of ``centroid_quadratic``, the bias that would otherwise differ between two
    channels shifted by a fraction of a pixel.

    The fits cost some 3 ms per source and channel: a few hundred bright, isolated sources measure the
    offsets to a thousandth of a pixel, a whole crowded catalog only takes longer.

    Parameters
    ----------
    planes : dict of str to 2D array
        The aligned channel stacks by name (e.g. ``{"R": r, "G": g, "B": b}``), of one shape; NaN where no
        frame covers a pixel.
    x, y : array_like
        0-based source positions on the planes' grid (the catalog of the luminance stack).
    box_size : int
        Odd side (px) of the centroid box; two or three FWHM suit an isolated star.
    reference : str
        The channel the offsets are measured from; one of ``planes``.
    errors : dict of str to 2D array, optional
        1-sigma error planes by channel; a channel's fit is weighted by them and its peak SNR measured with
        them. A channel without one has one noise everywhere, the sigma-clipped robust scatter (astropy's
        ``sigma_clipped_stats`` with ``mad_std``) of its plane:
        the sky rings of bright stars hold their wings, which would inflate a local scatter; where fewer
        frames cover the plane (its edges), the SNR is then overestimated.
    min_snr : float
        Smallest peak signal-to-noise (sky-subtracted peak over the noise) a channel's centroid is made at.
    max_shift : float
        Largest distance (px) of a centroid from the given position. A farther one has been drawn to a
        neighbour in the box, whose blend with the star differs between channels when their colours differ.

    Returns
    -------
    pandas.DataFrame
        One row per kept source: ``source`` (its index in ``x``, ``y``), ``x``, ``y`` (as given); for each
        channel ``c``, ``x_c``, ``y_c`` (its centroid) and ``snr_c``; for each channel but the reference
        ``dx_c = x_c - x_ref`` and ``dy_c = y_c - y_ref`` (px). A channel fails for a source when its box or
        sky ring holds a NaN or runs off the planes, its peak SNR is below ``min_snr``, its fit fails
        (photutils warns it may not have converged) or its centre lies over ``max_shift`` px from the
        given position: its columns are
        then NaN. A source is dropped when its reference channel fails or all the others do. An empty
        table (with these columns) and a warning when no source is kept.

    Raises
    ------
    ValueError
        Fewer than two planes, planes of different shapes or not 2D, ``reference`` not among them, ``box_size`` not an
        odd integer >= 3, or ``x`` and ``y`` of different lengths.
    """
    names = list(planes)
    arrays = {name: np.asarray(planes[name], dtype=float) for name in names}
    errors = {name: np.asarray(error, dtype=float) for name, error in (errors or {}).items() if name in arrays}
    shapes = {array.shape for array in (*arrays.values(), *errors.values())}
    if len(names) < 2 or len(shapes) != 1 or len(next(iter(shapes))) != 2:
        raise ValueError(f"planes (and errors) must be two or more 2D arrays of one shape, got shapes "
                         f"{sorted(shapes)}")
    if reference not in arrays:
        raise ValueError(f"reference channel {reference!r} is not among the planes {names}")
    if int(box_size) != box_size or box_size < 3 or box_size % 2 == 0:
        raise ValueError(f"box_size must be an odd integer >= 3, got {box_size}")
    x = np.atleast_1d(np.asarray(x, dtype=float))
    y = np.atleast_1d(np.asarray(y, dtype=float))
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError(f"x and y must be 1D and of the same length, got shapes {x.shape} and {y.shape}")

    others = [name for name in names if name != reference]
    columns = ["source", "x", "y", *(f"{axis}_{name}" for name in names for axis in ("x", "y", "snr")),
               *(f"{axis}_{name}" for name in others for axis in ("dx", "dy"))]
    noise = {name: _plane_noise(arrays[name]) for name in names if name not in errors}
    rows = []
    for index, (xi, yi) in enumerate(zip(x, y)):
        found = {name: _centroid(arrays[name], errors.get(name, noise.get(name)), xi, yi, int(box_size), min_snr,
                                 max_shift) for name in names}
        if found[reference] is None or all(found[name] is None for name in others):
            continue
        row = {"source": index, "x": xi, "y": yi}
        for name in names:
            row[f"x_{name}"], row[f"y_{name}"], row[f"snr_{name}"] = found[name] or (np.nan,) * 3
        for name in others:
            row[f"dx_{name}"] = row[f"x_{name}"] - row[f"x_{reference}"]
            row[f"dy_{name}"] = row[f"y_{name}"] - row[f"y_{reference}"]
        rows.append(row)
    if not rows:
        warnings.warn(f"no source of {x.size} could be centroided in channel {reference} and another",
                      stacklevel=2)
    return pd.DataFrame(rows, columns=columns).astype({"source": int})


def summarise_offsets(table: pd.DataFrame) -> dict[str, dict[str, float]]:
    """The typical offset of each channel from the reference, from the table of ``channel_offsets``.

    Returns
    -------
    dict
        By channel (each one with ``dx_c`` and ``dy_c`` columns): ``dx``, ``dy`` (the medians over the
        sources, px), ``dx_scatter``, ``dy_scatter`` (their robust scatter, 1.4826 times the median absolute
        deviation: the spread of one source's offset, not the error of the median) and ``n`` (the sources
        with a finite offset in that channel). NaN medians and scatters for a channel without sources.
    """
    summary = {}
    for column in table.columns:
        if not column.startswith("dx_"):
            continue
        name = column.removeprefix("dx_")
        dx, dy = (table[f"{axis}_{name}"].to_numpy(dtype=float) for axis in ("dx", "dy"))
        used = np.isfinite(dx) & np.isfinite(dy)
        entry = {"n": int(used.sum())}
        for axis, values in (("dx", dx[used]), ("dy", dy[used])):
            entry[axis] = float(np.median(values)) if values.size else np.nan
            entry[f"{axis}_scatter"] = _robust_scatter(values)
        summary[name] = entry
    return summary


def _plane_noise(plane) -> float:
    """The noise of a plane's sky: the robust scatter of its finite pixels, the stars clipped."""
    from astropy.stats import sigma_clipped_stats

    values = plane[np.isfinite(plane)]
    return float(sigma_clipped_stats(values, stdfunc="mad_std")[2]) if values.size else np.nan


def _robust_scatter(values) -> float:
    """1.4826 times the median absolute deviation of the finite values; NaN without any."""
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    if not values.size:
        return np.nan
    return MAD_TO_SIGMA * float(np.median(np.abs(values - np.median(values))))


def _centroid(plane, error, x, y, box_size, min_snr, max_shift):
    """``(x, y, snr)`` of the star in the box around (x, y) of one plane, or None (see ``channel_offsets``).

    ``error`` is the plane's error plane, or its one noise (a float)."""
    from astropy.utils.exceptions import AstropyUserWarning
    from photutils.centroids import centroid_2dg

    if not (np.isfinite(x) and np.isfinite(y)):
        return None
    half, ring = box_size // 2, box_size // 2 + SKY_WIDTH
    column, row = int(np.rint(x)), int(np.rint(y))
    ny, nx = plane.shape
    if column - ring < 0 or row - ring < 0 or column + ring >= nx or row + ring >= ny:
        return None
    cutout = plane[row - ring:row + ring + 1, column - ring:column + ring + 1]
    if not np.isfinite(cutout).all():
        return None
    inner = (slice(SKY_WIDTH, SKY_WIDTH + box_size),) * 2
    in_ring = np.ones(cutout.shape, dtype=bool)
    in_ring[inner] = False
    sky = float(np.median(cutout[in_ring]))
    box = cutout[inner] - sky
    peak = np.unravel_index(np.argmax(box), box.shape)
    if np.ndim(error) == 0:
        box_error, noise = None, float(error)
    else:
        box_error = error[row - half:row + half + 1, column - half:column + half + 1]
        if not (np.isfinite(box_error).all() and (box_error > 0).all()):
            return None
        noise = float(box_error[peak])
    snr = box[peak] / noise if noise > 0 else np.inf
    if not snr >= min_snr:
        return None
    with warnings.catch_warnings():
        # A fit photutils doubts is dropped below; its warning would only repeat that per source.
        warnings.simplefilter("error", AstropyUserWarning)
        try:
            cx, cy = centroid_2dg(box, error=box_error)
        except (AstropyUserWarning, ValueError):
            return None
    cx, cy = column - half + float(cx), row - half + float(cy)
    if not np.hypot(cx - x, cy - y) <= max_shift:  # also a NaN centre
        return None
    return cx, cy, float(snr)
