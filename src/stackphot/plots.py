"""Figures and tables for people: the stack with its apertures, the shifts, the sky maps, the frame quality.

Each ``*_figure`` function returns a bare matplotlib ``Figure`` on the Agg canvas (no pyplot, no display,
the caller's backend and state untouched), for a notebook or a test; ``save_figure`` writes it as a PNG,
atomically. The numbers behind the pictures (display stretch, which star to show close up, which frames
to show) are separate functions with tests of their own.
"""

from __future__ import annotations

import html
from pathlib import Path

import numpy as np
import pandas as pd

from stackphot.io import atomic_write

CLEAN_COLOR = "#39d353"  # apertures without flags
CROWDED_COLOR = "#cc5de8"  # apertures whose only flags say a neighbour is close (measured, but check)
FLAGGED_COLOR = "#ff5a36"  # apertures with any other photometry flag (edge, no data, saturated)
# photometry.NEIGHBOUR | photometry.CROWDED_SKY, spelled out so the plots need no photutils import.
CROWDING_FLAGS = 8 | 16
NAN_COLOR = "#2b4c7e"  # pixels without data (NaN) in a displayed image
ZSCALE_BRIGHTNESS = 0.3  # grey level of the top of the zscale range in the asinh display


def _figure(width: float, height: float):
    """A matplotlib Figure on the Agg canvas with constrained layout."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def save_figure(figure, path, *, dpi: int = 110) -> Path:
    """Write a figure as PNG atomically (a killed job leaves no partial image) and return the path."""
    with atomic_write(path) as temporary:
        figure.savefig(temporary, format="png", dpi=dpi)
    return Path(path)


# --- the display stretch ---------------------------------------------------------------------------


def display_limits(data, *, contrast: float = 0.25, upper_percentile: float = 99.95):
    """Black level, the top of the zscale range and the white level of an astronomical image.

    ``black`` and ``zscale_top`` are IRAF's zscale limits (astropy ``ZScaleInterval``), the range in which
    the sky and its noise are seen; ``white`` is the ``upper_percentile`` of the pixels, so that the cores
    of bright stars are not all one white. NaN and infinite pixels are ignored.

    Returns
    -------
    (black, zscale_top, white) : tuple of float
        Increasing; ``(0, 1, 1)`` for an image without finite pixels.
    """
    from astropy.visualization import ZScaleInterval

    values = np.asarray(data, dtype=float)
    values = values[np.isfinite(values)]
    if values.size == 0:
        return 0.0, 1.0, 1.0
    black, top = (float(v) for v in ZScaleInterval(contrast=contrast).get_limits(values))
    if not top > black:  # a flat image
        top = black + 1.0
    white = max(float(np.percentile(values, upper_percentile)), top)
    return black, top, white


def asinh_stretch(data, *, black: float, white: float, softening: float) -> np.ndarray:
    """Map values to [0, 1]: 0 at ``black``, 1 at ``white``, ``asinh(t / softening) / asinh(1 / softening)``.

    ``t`` is the value's fraction of the way from black to white. The stretch is linear for ``t`` well
    below ``softening`` and logarithmic above it, so faint sky noise and bright stars are both seen.
    Values outside the range are clipped; NaN stays NaN.
    """
    if not white > black:
        raise ValueError(f"white ({white}) must be above black ({black})")
    if not softening > 0:
        raise ValueError(f"softening must be positive, not {softening}")
    t = np.clip((np.asarray(data, dtype=float) - black) / (white - black), 0.0, 1.0)
    return np.arcsinh(t / softening) / np.arcsinh(1.0 / softening)


def asinh_softening(fraction: float, brightness: float) -> float:
    """Softening with which ``asinh_stretch`` shows a value ``fraction`` of the way from black to white at
    ``brightness`` (both in (0, 1)).

    The stretch of ``fraction`` grows from ``fraction`` (linear, large softening) to 1 (small softening), so
    a ``brightness`` at or below ``fraction`` gives the linear limit, softening 1e6.
    """
    from scipy.optimize import brentq

    if not (0 < fraction < 1 and 0 < brightness < 1):
        raise ValueError(f"fraction and brightness must lie in (0, 1), not {fraction}, {brightness}")
    if brightness <= fraction:
        return 1e6

    def excess(log_softening):
        softening = np.exp(log_softening)
        return np.arcsinh(fraction / softening) / np.arcsinh(1 / softening) - brightness

    return float(np.exp(brentq(excess, np.log(1e-9), np.log(1e6), xtol=1e-10)))


def display_stretch(data, *, contrast: float = 0.25, upper_percentile: float = 99.95,
                    zscale_brightness: float = ZSCALE_BRIGHTNESS):
    """An image ready to show: black at the zscale lower limit, white at a high percentile, asinh between.

    The asinh softening puts the top of the zscale range (the sky and its noise) at ``zscale_brightness``
    grey, so the noise, faint stars and bright cores all show.

    Returns
    -------
    stretched : 2D array
        Values in [0, 1] (NaN where the data are not finite).
    limits : (black, zscale_top, white)
        From ``display_limits``, in the data's units.
    """
    black, top, white = display_limits(data, contrast=contrast, upper_percentile=upper_percentile)
    if white > top:
        softening = asinh_softening((top - black) / (white - black), zscale_brightness)
    else:  # no pixel above the zscale range: linear
        softening = 1e6
    return asinh_stretch(data, black=black, white=white, softening=softening), (black, top, white)


def _show_image(axes, stretched, **kwargs):
    """imshow of an image in [0, 1], origin lower so that pixel (x, y) is drawn at data point (x, y)."""
    from matplotlib import colormaps

    cmap = colormaps["gray"].with_extremes(bad=NAN_COLOR)
    return axes.imshow(stretched, origin="lower", cmap=cmap, vmin=0.0, vmax=1.0, interpolation="nearest",
                       **kwargs)


# --- the stack with its apertures ------------------------------------------------------------------


def circles(x, y, radius, **kwargs):
    """A matplotlib collection of circles of ``radius`` pixels at the 0-based pixel positions (x, y).

    Drawn on axes that show an image with ``origin="lower"``, each circle is centred on its pixel.
    """
    from matplotlib.collections import PatchCollection
    from matplotlib.patches import Circle

    x, y = np.atleast_1d(x), np.atleast_1d(y)
    radius = np.broadcast_to(np.asarray(radius, dtype=float), x.shape)
    kwargs.setdefault("facecolor", "none")
    return PatchCollection([Circle((xi, yi), ri) for xi, yi, ri in zip(x, y, radius)], **kwargs)


def pick_showcase_source(x, y, *, flux, flags, shape, half_size: float):
    """Index of the source to show close up: the brightest unflagged one whose box lies inside the image.

    The box is ``2 * half_size`` pixels wide around the source. Without an unflagged source in a full box,
    the brightest of all such sources; None when no box fits (an image smaller than the box, no sources).
    """
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    flux = np.asarray(flux, dtype=float)
    ny, nx = shape
    inside = ((x - half_size >= -0.5) & (x + half_size <= nx - 0.5) & (y - half_size >= -0.5)
              & (y + half_size <= ny - 0.5) & np.isfinite(flux))
    for candidates in (inside & (np.asarray(flags) == 0), inside):
        if candidates.any():
            index = np.flatnonzero(candidates)
            return int(index[np.argmax(flux[index])])
    return None


def stack_figure(data, x, y, *, radius: float, annulus, flags=None, flux=None, unit: str = "adu",
                 title: str | None = None):
    """The stack (zscale/asinh stretch) with every photometry aperture, and one star close up.

    Parameters
    ----------
    data : 2D array
        The image; NaN pixels (no frame covers them) are drawn in blue.
    x, y : array-like
        0-based aperture centres (``photometry.csv``).
    radius : float
        Aperture radius in pixels.
    annulus : (float, float)
        Sky annulus radii in pixels, drawn around the close-up star.
    flags : array-like of int, optional
        Photometry flags: apertures without flags are drawn in green, those flagged only for a close
        neighbour (NEIGHBOUR, CROWDED_SKY) in violet, any other flag in red.
    flux : array-like, optional
        Chooses the close-up star (the brightest unflagged one with room around it); without it, the
        first unflagged source.
    unit : str
        The data's unit, for the stretch's limits in the title.
    title : str, optional
        Figure title.
    """
    from matplotlib.patches import Rectangle

    data = np.asarray(data, dtype=float)
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    flags = np.zeros(x.shape, dtype=int) if flags is None else np.asarray(flags, dtype=int)
    flux = -np.arange(x.size, dtype=float) if flux is None else np.asarray(flux, dtype=float)
    stretched, (black, top, white) = display_stretch(data)
    ny, nx = data.shape
    figure = _figure(14.0, 14.0 * ny / nx * 0.6 + 0.8)
    full, close = figure.subplots(1, 2, width_ratios=[nx / ny, 0.62 * nx / ny])
    _show_image(full, stretched)
    clean = flags == 0
    crowded = ~clean & (flags & ~CROWDING_FLAGS == 0)
    flagged = ~clean & ~crowded
    groups = ((clean, CLEAN_COLOR), (crowded, CROWDED_COLOR), (flagged, FLAGGED_COLOR))
    for selection, color in groups:
        full.add_collection(circles(x[selection], y[selection], radius, edgecolor=color, linewidth=0.6))
    full.set_xlim(-0.5, nx - 0.5)
    full.set_ylim(-0.5, ny - 0.5)
    full.set_xlabel("x (pixel, 0-based)")
    full.set_ylabel("y (pixel, 0-based)")
    full.set_title(f"{x.size} apertures, r = {radius:g} px: {int(clean.sum())} unflagged (green), "
                   f"{int(crowded.sum())} with a close neighbour (violet), {int(flagged.sum())} flagged (red)",
                   fontsize="medium")

    r_in, r_out = (float(r) for r in annulus)
    half = max(2.5 * r_out, 8 * radius, 25.0)
    star = pick_showcase_source(x, y, flux=flux, flags=flags, shape=data.shape, half_size=half)
    if star is None:
        close.set_axis_off()
        close.text(0.5, 0.5, "no source to show close up", ha="center", va="center", transform=close.transAxes)
    else:
        x0, y0 = x[star], y[star]
        box = (x0 - half, x0 + half, y0 - half, y0 + half)
        near = (np.abs(x - x0) <= half + radius) & (np.abs(y - y0) <= half + radius)
        _show_image(close, stretched)
        for selection, color in groups:
            selection = selection & near
            close.add_collection(circles(x[selection], y[selection], radius, edgecolor=color, linewidth=1.2))
        close.add_collection(circles([x0, x0], [y0, y0], [r_in, r_out], edgecolor="#ffd43b", linewidth=1.2,
                                     linestyle="--"))
        close.set_xlim(box[0], box[1])
        close.set_ylim(box[2], box[3])
        close.set_xlabel("x (pixel)")
        close.set_title(f"close-up at ({x0:.1f}, {y0:.1f}): aperture r = {radius:g} px,\n"
                        f"sky annulus {r_in:g}-{r_out:g} px (yellow, dashed)", fontsize="medium")
        full.add_patch(Rectangle((box[0], box[2]), 2 * half, 2 * half, fill=False, edgecolor="#ffd43b",
                                 linewidth=1.0))
    stretch = (f"asinh stretch: black {black:.4g}, zscale top {top:.4g} ({ZSCALE_BRIGHTNESS:.0%} grey), "
               f"white {white:.4g} {unit}; pixels without data in blue")
    figure.suptitle(f"{title}\n{stretch}" if title else stretch, fontsize="medium")
    return figure


# --- shifts ----------------------------------------------------------------------------------------


def _frame_axis(axes, names):
    """Frame names as tick labels of an axis of frame indices (every one when few, else a readable subset)."""
    from matplotlib.ticker import FixedLocator, FuncFormatter, MaxNLocator

    n = len(names)
    if n <= 25:
        axes.xaxis.set_major_locator(FixedLocator(np.arange(n)))
    else:
        axes.xaxis.set_major_locator(MaxNLocator(nbins=15, integer=True))
    axes.xaxis.set_major_formatter(
        FuncFormatter(lambda value, _: names[int(round(value))] if 0 <= round(value) < n else ""))
    for label in axes.get_xticklabels():
        label.set_rotation(40)
        label.set_horizontalalignment("right")


def shifts_figure(shifts: pd.DataFrame, *, reference: str | None = None, title: str | None = None):
    """Shifts per frame and the registration's quality figures, from a ``shifts.csv`` table.

    Left, from top to bottom: ``dx`` and ``dy`` (the shift applied to each frame, px); ``correlation``
    and ``overlap``; ``xcorr_error``; the reference frame shaded. Right: the pointing path, ``dx``
    against ``dy`` in frame order. Columns other than ``frame, dy, dx`` are drawn when present.
    """
    names = [str(name) for name in shifts["frame"]]
    index = np.arange(len(names))
    figure = _figure(13.0, 7.5)
    grid = figure.add_gridspec(3, 2, width_ratios=[2.0, 1.0])
    axes_shift = figure.add_subplot(grid[0, 0])
    axes_quality = figure.add_subplot(grid[1, 0], sharex=axes_shift)
    axes_error = figure.add_subplot(grid[2, 0], sharex=axes_shift)
    axes_path = figure.add_subplot(grid[:, 1])
    marker = "o" if len(names) <= 60 else None
    axes_shift.plot(index, shifts["dx"], marker=marker, ms=5, label="dx")
    axes_shift.plot(index, shifts["dy"], marker="s" if marker else None, ms=5, label="dy")
    axes_shift.axhline(0, color="grey", lw=0.5)
    axes_shift.set_ylabel("shift to apply (px)")
    axes_shift.legend(fontsize="small", loc="best")
    for column, style in (("correlation", "o"), ("overlap", "^")):
        if column in shifts:
            axes_quality.plot(index, shifts[column], marker=style if marker else None, ms=5, label=column)
    axes_quality.set_ylabel("correlation, overlap")
    quality = shifts[[c for c in ("correlation", "overlap") if c in shifts]].to_numpy(dtype=float)
    lowest = float(np.nanmin(quality)) if np.isfinite(quality).any() else 0.0
    axes_quality.set_ylim(max(min(0.9, lowest - 0.03), -1.0), 1.01)
    if axes_quality.get_lines():
        axes_quality.legend(fontsize="small", loc="lower left")
    if "xcorr_error" in shifts:
        axes_error.plot(index, shifts["xcorr_error"], marker=marker, ms=5, color="C3")
    axes_error.set_ylabel("xcorr_error")
    axes_error.set_ylim(bottom=0)
    axes_error.set_xlabel("frame")
    for axes in (axes_shift, axes_quality):
        axes.tick_params(labelbottom=False)
    _frame_axis(axes_error, names)
    if reference in names:
        where = names.index(reference)
        for axes in (axes_shift, axes_quality, axes_error):
            axes.axvspan(where - 0.4, where + 0.4, color="grey", alpha=0.15, lw=0)
        axes_shift.annotate("reference", (where, 1.0), xycoords=("data", "axes fraction"), ha="center",
                            va="bottom", fontsize="small", color="grey")
    for axes in (axes_shift, axes_quality, axes_error):
        axes.grid(alpha=0.3)

    axes_path.plot(shifts["dx"], shifts["dy"], color="grey", lw=0.8, zorder=1)
    points = axes_path.scatter(shifts["dx"], shifts["dy"], c=index, cmap="viridis", s=30, zorder=2)
    numbered = len(names) <= 40
    if numbered:  # numbers, not names: close frames' names would overlap
        for i, (dx, dy) in enumerate(zip(shifts["dx"], shifts["dy"])):
            axes_path.annotate(str(i + 1), (dx, dy), textcoords="offset points", xytext=(4, 4), fontsize="small")
    if reference in names:
        row = names.index(reference)
        axes_path.scatter([shifts["dx"].iloc[row]], [shifts["dy"].iloc[row]], marker="*", s=220,
                          facecolor="none", edgecolor="k", zorder=3, label="reference")
        axes_path.legend(fontsize="small", loc="best")
    axes_path.set_aspect("equal", adjustable="datalim")
    axes_path.set_xlabel("dx (px)")
    axes_path.set_ylabel("dy (px)")
    axes_path.set_title("pointing path (shift to apply)" + ("\nnumbers: position in the sequence, 1 = first"
                        if numbered else ""), fontsize="medium")
    axes_path.grid(alpha=0.3)
    axes_path.margins(0.15)
    if not numbered:  # too many to number: the colour tells the order
        figure.colorbar(points, ax=axes_path, label="frame number (0 = first)", shrink=0.6, location="bottom")
    if title:
        figure.suptitle(title, fontsize="medium")
    return figure


# --- background maps -------------------------------------------------------------------------------


def choose_frames(names, reference: str | None = None, *, n: int = 4) -> list[str]:
    """Up to ``n`` frames to show: the reference first, then others spread evenly over the sequence."""
    names = list(names)
    first = [reference] if reference in names else []
    others = [name for name in names if name not in first]
    wanted = max(n - len(first), 0)
    if wanted >= len(others):
        return first + others
    if wanted == 0:
        return first
    picks = np.unique(np.round(np.linspace(0, len(others) - 1, wanted)).astype(int))
    return first + [others[i] for i in picks]


def _robust_limits(image, low: float = 1.0, high: float = 99.0):
    values = np.asarray(image, dtype=float)
    values = values[np.isfinite(values)]
    if values.size == 0:
        return 0.0, 1.0
    vmin, vmax = (float(v) for v in np.percentile(values, [low, high]))
    return (vmin, vmax) if vmax > vmin else (vmin - 0.5, vmin + 0.5)


def background_figure(maps, *, reference: str | None = None, unit: str = "adu", title: str | None = None):
    """Sky model (left) and its RMS map (right) of a few frames, one frame per row, each with its own scale.

    Parameters
    ----------
    maps : sequence of (name, sky, rms)
        Frame name, sky map and RMS map (2D arrays, e.g. a ``background/<frame>.sky.fits`` and its RMS
        extension); ``rms`` may be None.
    reference : str, optional
        Its panels are titled as the reference.
    """
    from matplotlib import colormaps

    maps = list(maps)
    rows = max(len(maps), 1)
    ny, nx = np.shape(maps[0][1]) if maps else (1, 1)
    figure = _figure(12.0, rows * (4.5 * ny / nx + 0.7) + 0.4)
    figure.get_layout_engine().set(h_pad=0.15)
    grid = figure.subplots(rows, 2, squeeze=False)
    for row, (name, sky, rms) in enumerate(maps):
        label = f"{name} (reference)" if name == reference else name
        for column, (image, cmap, what) in enumerate(((sky, "viridis", "sky"), (rms, "magma", "sky RMS"))):
            axes = grid[row, column]
            if image is None:
                axes.set_axis_off()
                continue
            vmin, vmax = _robust_limits(image)
            shown = axes.imshow(image, origin="lower", cmap=colormaps[cmap].with_extremes(bad=NAN_COLOR),
                                vmin=vmin, vmax=vmax, interpolation="nearest")
            figure.colorbar(shown, ax=axes, shrink=0.9, label=f"{what} ({unit})")
            axes.set_title(f"{label}: {what}, median {float(np.nanmedian(image)):.4g} {unit}", fontsize="medium")
    if title:
        figure.suptitle(title, fontsize="large")
    return figure


# --- frame quality ---------------------------------------------------------------------------------

QUALITY_COLUMNS = ["frame", "reference", "date_obs", "exptime", "sky_level", "sky_rms", "n_stars", "fwhm", "dy",
                   "dx", "correlation", "xcorr_error", "overlap"]


def frame_quality_table(frames: pd.DataFrame, shifts: pd.DataFrame, sky: pd.DataFrame | None = None, *,
                        reference: str | None = None) -> pd.DataFrame:
    """One row per frame: time and exposure (``frames.csv``), sky level and noise, shift and its quality.

    ``sky`` has columns ``frame, sky_level, sky_rms``. Columns missing from the inputs are left out;
    further columns of ``shifts`` are kept at the end. Rows follow ``frames``.

    Raises
    ------
    ValueError
        If a frame is in one table and not in another.
    """
    table = frames.merge(shifts, on="frame", how="outer", indicator=True, suffixes=("", "_shift"))
    if sky is not None:
        sky_merge = table.drop(columns="_merge").merge(sky, on="frame", how="outer", indicator=True)
        missing = sky_merge[sky_merge["_merge"] != "both"].frame.tolist()
    else:
        missing = []
    missing += table[table["_merge"] != "both"].frame.tolist()
    if missing:
        raise ValueError(f"frames not in every table: {', '.join(sorted(set(map(str, missing))))}")
    table = sky_merge if sky is not None else table
    table = table.drop(columns="_merge")
    table["reference"] = table["frame"] == reference
    order = {name: i for i, name in enumerate(frames["frame"])}
    table = table.sort_values("frame", key=lambda names: names.map(order)).reset_index(drop=True)
    known = [column for column in QUALITY_COLUMNS if column in table]
    extra = [column for column in shifts.columns if column not in known]
    return table[known + extra]


QUALITY_FORMATS = {"exptime": "{:g}", "sky_level": "{:.1f}", "sky_rms": "{:.2f}", "fwhm": "{:.2f}", "dy": "{:+.3f}",
                   "dx": "{:+.3f}", "correlation": "{:.4f}", "xcorr_error": "{:.4f}", "overlap": "{:.3f}"}

_HTML_STYLE = """
body { font-family: system-ui, sans-serif; margin: 1em; color: #222; }
table { border-collapse: collapse; font-size: 0.85em; }
th, td { padding: 0.25em 0.55em; border-bottom: 1px solid #ddd; text-align: right; white-space: nowrap; }
th { background: #f3f3f3; position: sticky; top: 0; }
td:first-child, th:first-child { text-align: left; }
tr.reference td { background: #eef6ff; font-weight: 600; }
p.note { max-width: 60em; color: #555; font-size: 0.9em; }
"""


def frame_quality_html(table: pd.DataFrame, *, title: str, note: str = "") -> str:
    """A standalone HTML page (no external files) of a ``frame_quality_table``; the reference row marked."""
    columns = [column for column in table.columns if column != "reference"]
    head = "".join(f"<th>{html.escape(str(column))}</th>" for column in columns)
    rows = []
    for record in table.to_dict("records"):
        cells = []
        for column in columns:
            value = record[column]
            if isinstance(value, float) and not np.isfinite(value):
                text = ""
            elif column in QUALITY_FORMATS and isinstance(value, (int, float, np.number)):
                text = QUALITY_FORMATS[column].format(value)
            else:
                text = str(value)
            cells.append(f"<td>{html.escape(text)}</td>")
        css = ' class="reference"' if record.get("reference") else ""
        rows.append(f"<tr{css}>{''.join(cells)}</tr>")
    note_html = f'<p class="note">{html.escape(note)}</p>' if note else ""
    return (f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            f"<title>{html.escape(title)}</title>\n<style>{_HTML_STYLE}</style>\n</head>\n<body>\n"
            f"<h2>{html.escape(title)}</h2>\n<table>\n<thead><tr>{head}</tr></thead>\n<tbody>\n"
            + "\n".join(rows) + f"\n</tbody>\n</table>\n{note_html}\n</body>\n</html>\n")


def write_text(path, text: str) -> Path:
    """Write a text file (UTF-8) atomically."""
    with atomic_write(path) as temporary:
        Path(temporary).write_text(text, encoding="utf-8")
    return Path(path)
