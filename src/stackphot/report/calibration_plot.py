"""The calibration figure of a night: each master (bias, dark, flat) as a picture with its statistics and the
histogram of its pixels, the hot-pixel and ``min_flat`` thresholds drawn, and under them how each light was
calibrated (``calibration.csv``)."""

from __future__ import annotations

import math
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd

from stackphot.calibrate.apply import hot_pixels
from stackphot.calibrate.masters import Master
from stackphot.numerics import MAD_TO_SIGMA
from stackphot.report.display import NAN_COLOR, new_figure, percentile_limits

MAX_LIGHTS = 30  # lights listed under the figure; the others counted
MAX_MARKED = 1000  # hot or low-response pixels of a master up to which each one is marked on its picture
MAX_COLUMNS = 3  # masters side by side
HOT_COLOR, LOW_COLOR = "red", "orange"
TABLE_FONT = 8.0  # points, monospace: a character is 0.6 of it wide
LIGHTS_PER_COLUMN = 12  # lights in a column of the table before it is split into columns side by side


def master_name(master: Master) -> str:
    """A name for a master without a file: ``master_dark_1p5s``, ``master_flat_R_bin2x2``, ``master_bias``."""
    if master.kind == "dark" and master.exptime is not None:
        return f"master_dark_{master.exptime:g}s".replace(".", "p")
    if master.kind == "flat" and master.filter:
        return f"master_flat_{master.filter}"
    return f"master_{master.kind}"


def hot_threshold(dark: Master, *, nsigma: float) -> float:
    """The level above which a pixel of a master dark is hot, as ``calibrate.apply.hot_pixels`` sets it: the
    median plus ``nsigma`` robust sigmas (astropy ``mad_std``), NaN ignored."""
    from astropy.stats import mad_std

    data = dark.data
    spread = mad_std(data, ignore_nan=True)
    return float(np.nanmedian(data) + nsigma * max(spread, np.finfo(np.float32).tiny))


def master_statistics(master: Master, *, hot_nsigma: float, min_flat: float, name: str | None = None) -> dict:
    """The numbers that say what a master is and whether it is sound.

    Every master: ``name`` (``name``, else ``master_name``), ``kind``, ``n_frames``, ``exptime`` (s, as its
    header gives it), ``filter``, ``n_pixels``; over its finite pixels the ``median``, the robust ``sigma``
    (1.4826 times the median absolute deviation) and the ``median_error`` (of its ERR map's finite pixels);
    ``n_nan``, the pixels without a finite value, and ``n_uncovered``, those no frame went into (coverage 0).
    A dark also ``hot_threshold`` and ``n_hot``, its pixels above it (``hot_pixels`` with ``hot_nsigma``,
    masked in the lights). A flat also ``min`` and ``max`` and ``n_low`` and ``low_fraction``, its finite
    pixels below ``min_flat`` (masked in the lights as low response) in number and as a fraction of all its
    pixels. ``read_noise``: what its frames measured (``Master.read_noise``), or None. Statistics of a master
    without finite pixels are NaN.
    """
    data = np.asarray(master.data, dtype=np.float64)
    finite = np.isfinite(data)
    values = data[finite]
    median = float(np.median(values)) if values.size else math.nan
    errors = np.asarray(master.error, dtype=np.float64) if master.error is not None else np.zeros(0)
    errors = errors[np.isfinite(errors)]
    coverage = master.coverage
    stats = {"name": name or master_name(master), "kind": master.kind, "n_frames": int(master.n_frames),
             "exptime": master.exptime, "filter": master.filter, "n_pixels": int(data.size), "median": median,
             "sigma": MAD_TO_SIGMA * float(np.median(np.abs(values - median))) if values.size else math.nan,
             "median_error": float(np.median(errors)) if errors.size else math.nan,
             "n_nan": int(data.size - values.size),
             "n_uncovered": int(np.count_nonzero(np.asarray(coverage) == 0)) if coverage is not None else 0,
             "read_noise": master.read_noise}
    if master.kind == "dark":
        stats["hot_threshold"] = hot_threshold(master, nsigma=hot_nsigma) if values.size else math.nan
        stats["n_hot"] = int(np.count_nonzero(hot_pixels(master, nsigma=hot_nsigma))) if values.size else 0
    if master.kind == "flat":
        stats["min"] = float(values.min()) if values.size else math.nan
        stats["max"] = float(values.max()) if values.size else math.nan
        stats["n_low"] = int(np.count_nonzero(values < min_flat))
        stats["low_fraction"] = stats["n_low"] / data.size if data.size else 0.0
    return stats


def _number(value, digits: int = 4) -> str:
    """A value for a title: ``digits`` significant figures, whole numbers from 1000 up, ``nan`` for NaN."""
    if value is None or not np.isfinite(value):
        return "nan"
    return f"{value:.0f}" if abs(value) >= 1000 else f"{value:.{digits}g}"


def statistics_lines(stats: dict, *, hot_nsigma: float, min_flat: float, unit: str = "ADU") -> list[str]:
    """The statistics of ``master_statistics`` in words: the master's name, then two lines of numbers (a
    panel's title; joined with "; " in the rule's log)."""
    unit = "" if stats["kind"] == "flat" else f" {unit}"
    made = f"{stats['n_frames']} frames" + (f" of {stats['exptime']:g} s" if stats["kind"] == "dark" else "")
    lines = [stats["name"], f"{made}: median {_number(stats['median'])}{unit}, sigma {_number(stats['sigma'], 3)}"
             f"{unit}", f"median error {_number(stats['median_error'], 3)}{unit}"]
    if stats["kind"] == "dark":
        lines[-1] += (f"; {stats['n_hot']} hot pixels (> {hot_nsigma:g} sigma: above "
                      f"{_number(stats['hot_threshold'])}{unit})")
    if stats["kind"] == "flat":
        lines[1] += f", from {stats['min']:.3f} to {stats['max']:.3f}"
        lines[-1] += (f"; {stats['n_low']} pixels ({100 * stats['low_fraction']:.2f} %) below min_flat "
                      f"{min_flat:g}")
    measured = stats.get("read_noise")
    if measured is not None:
        lines.append(f"read noise {measured.electrons:.2f} e- ({measured.adu:.2f}{unit}), from {measured.source}")
    missing = [f"{stats[key]} {what}" for key, what in (("n_nan", "NaN"), ("n_uncovered", "uncovered"))
               if stats[key]]
    if missing:
        lines.append("pixels without data: " + ", ".join(missing))
    return lines


def _symlog_edges(low: float, high: float, linthresh: float, n: int) -> np.ndarray:
    """``n + 1`` bin edges from ``low`` to ``high``, even on a symlog axis of linear range ``linthresh``."""
    from matplotlib.scale import SymmetricalLogTransform

    transform = SymmetricalLogTransform(10, linthresh, 1.0)
    ends = transform.transform(np.array([low, high]))
    return transform.inverted().transform(np.linspace(ends[0], ends[1], n + 1))


def _symlog_ticks(low: float, high: float, linthresh: float) -> tuple[np.ndarray, list[str]]:
    """Ticks of a symlog axis from ``low`` to ``high``: 0, a round value within the linear range either side
    and every decade beyond it, so that no two labels crowd each other; and their labels."""
    step = 10.0 ** math.floor(math.log10(linthresh))
    step *= next(factor for factor in (5, 2, 1) if factor * step <= linthresh)
    decades = 10.0 ** np.arange(math.floor(math.log10(linthresh)) + 1, 20)
    positive = np.concatenate([[step], decades[decades <= high]]) if high >= step else np.zeros(0)
    negative = -np.concatenate([[step], decades[decades <= -low]]) if -low >= step else np.zeros(0)
    ticks = np.concatenate([negative[::-1], [0.0], positive])
    labels = [f"{t:g}" if abs(t) < 1e5 else f"{t:.0e}".replace("e+0", "e").replace("e+", "e") for t in ticks]
    return ticks, labels


def _histogram(axes, master: Master, stats: dict, *, hot_nsigma: float, min_flat: float, unit: str):
    """The master's pixel values, counts on a log axis; a dark's or a bias's about its median on a symlog
    axis (linear over the noise, logarithmic over the hot pixels' tail), a flat's as they are."""
    values = np.asarray(master.data, dtype=np.float64)
    values = values[np.isfinite(values)]
    if values.size == 0:
        axes.text(0.5, 0.5, "no finite pixel", transform=axes.transAxes, ha="center", va="center", color="grey")
        return
    if master.kind == "flat":
        low = min(float(values.min()), min_flat)
        high = float(values.max())
        span = max(high - low, 1e-6)
        edges = np.linspace(low - 0.02 * span, high + 0.02 * span, 161)
        counts, _ = np.histogram(values, edges)
        axes.axvline(min_flat, color=LOW_COLOR, ls="--", lw=1.2,
                     label=f"min_flat {min_flat:g}: {stats['n_low']} px below")
        axes.axvline(1.0, color="grey", lw=0.6, label="median 1")
        axes.set_xlabel("relative response")
    else:
        median = stats["median"]
        offsets = values - median
        sigma = stats["sigma"] if stats["sigma"] > 0 else 1.0
        linthresh = max(hot_nsigma * sigma, 1e-6)
        low, high = float(offsets.min()), float(offsets.max())
        if high <= low:
            low, high = low - 1.0, high + 1.0
        axes.set_xscale("symlog", linthresh=linthresh, linscale=1.0)
        edges = _symlog_edges(low, high, linthresh, 160)
        axes.set_xticks(*_symlog_ticks(low, high, linthresh))
        counts, _ = np.histogram(offsets, edges)
        if master.kind == "dark":
            axes.axvline(stats["hot_threshold"] - median, color=HOT_COLOR, ls="--", lw=1.2,
                         label=f"hot: > {hot_nsigma:g} sigma, {stats['n_hot']} px")
        axes.set_xlabel(f"{unit} above the median ({_number(median)} {unit})\n"
                        f"linear within \u00b1{_number(linthresh, 3)}, logarithmic beyond")
    axes.stairs(counts, edges, fill=True, color="0.35")
    axes.set_yscale("log")
    axes.set_ylim(0.7, max(counts.max(), 1) * 2.0)
    axes.set_ylabel("pixels")
    axes.grid(alpha=0.3)
    if axes.get_legend_handles_labels()[0]:
        axes.legend(fontsize="small", loc="upper left" if master.kind == "flat" else "upper right")


def _picture(figure, axes, master: Master, stats: dict, *, hot_nsigma: float, min_flat: float, unit: str):
    """The master in grey from its 1st to its 99th percentile (a bias or a dark within ``hot_nsigma`` robust
    sigmas of its median), NaN in ``NAN_COLOR``; its hot (dark) or low (flat) pixels marked when there are
    not too many, else a flat's outlined."""
    from matplotlib import colormaps

    data = master.data
    vmin, vmax = percentile_limits(data, 1.0, 99.0)
    if master.kind != "flat" and stats["sigma"] > 0:  # many hot pixels must not make the rest one black
        spread = hot_nsigma * stats["sigma"]
        vmin, vmax = max(vmin, stats["median"] - spread), min(vmax, stats["median"] + spread)
    shown = axes.imshow(data, origin="lower", cmap=colormaps["gray"].with_extremes(bad=NAN_COLOR), vmin=vmin,
                        vmax=vmax, interpolation="antialiased")
    label = "relative response" if master.kind == "flat" else unit
    figure.colorbar(shown, ax=axes, shrink=0.95, label=label)
    if master.kind == "dark" and stats["n_hot"]:
        marked, color, what = hot_pixels(master, nsigma=hot_nsigma), HOT_COLOR, "hot pixels"
    elif master.kind == "flat":
        marked, color, what = np.isfinite(data) & (data < min_flat), LOW_COLOR, f"below min_flat {min_flat:g}"
    else:
        marked = None
    count = int(np.count_nonzero(marked)) if marked is not None else 0
    if 0 < count <= MAX_MARKED:
        y, x = np.nonzero(marked)
        axes.scatter(x, y, s=6, marker="s", facecolors="none", edgecolors=color, linewidths=0.6,
                     label=f"{what} ({count})")
    elif count and master.kind == "flat":  # a vignetted corner, not dead pixels: its outline
        axes.contour(data, levels=[min_flat], colors=color, linewidths=1.0)
        axes.plot([], [], color=color, label=f"{what} ({count}): outlined")
    elif count:
        axes.plot([], [], ls="none", label=f"{what}: {count}, too many to mark")
    if count:
        axes.legend(fontsize="x-small", loc="upper right", framealpha=0.7)
    lines = statistics_lines(stats, hot_nsigma=hot_nsigma, min_flat=min_flat, unit=unit)
    axes.set_title("\n".join(lines), fontsize="small", loc="left")
    axes.set_xlabel("x (pixel)", fontsize="small")
    axes.set_ylabel("y (pixel)", fontsize="small")


def _text(value, fmt: str = "{}") -> str:
    if value is None or (isinstance(value, float) and not np.isfinite(value)) or value is pd.NA or value == "":
        return ""
    try:
        return fmt.format(value)
    except (TypeError, ValueError):
        return str(value)


def _shorten(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 12] + "..." + text[-9:]


def light_lines(record: pd.DataFrame, *, max_lights: int = MAX_LIGHTS) -> tuple[list[str], list[str]]:
    """The lights of a ``calibration.csv`` table as lines of text: a row per light (its file's name, exposure,
    filter, sensor temperature and a key to its calibration), and the notes that the keys stand for.

    The calibration of a night is mostly the same for all its lights: each distinct ``used_for`` is written
    once, as a note ``[1] less ...``, each light carrying its number; a ``warning`` likewise (``W1``). Only
    the first ``max_lights`` lights are listed, the others counted ("... and N more, see calibration.csv", with
    how many of them have a warning).
    Rows whose ``kind`` is not ``light`` are the calibration frames: counted per master in the first note.

    Returns
    -------
    (rows, notes) : two lists of str
        ``rows`` starts with a header; no rows but one saying so when the table has no light.
    """
    table = record.reset_index(drop=True)
    kinds = table["kind"].astype(str) if "kind" in table else pd.Series("light", index=table.index)
    lights = table[kinds == "light"]
    notes = []
    frames = table[kinds != "light"]
    if len(frames) and "used_for" in frames:
        made = frames.groupby(frames["used_for"].astype(str), sort=False).size()
        notes.append("Calibration frames: " + ", ".join(f"{n} -> {name}" for name, n in made.items()))
    if lights.empty:
        return ["No light in calibration.csv."], notes
    shown = lights.iloc[:max_lights]
    names = [Path(str(path)).name for path in shown["file"]]
    width = min(max(max(map(len, names)), 4), 44)
    keys, warnings = {}, {}
    rows = [f"{'#':>3}  {'light':<{width}}  {'exptime':>8}  {'filter':<8}  {'ccd_temp':>8}  calibration"]
    for number, (name, (_, light)) in enumerate(zip(names, shown.iterrows()), start=1):
        used = _text(light.get("used_for")) or "not recorded"
        key = keys.setdefault(used, f"[{len(keys) + 1}]")
        warning = _text(light.get("warning"))
        flag = f" {warnings.setdefault(warning, f'W{len(warnings) + 1}')}" if warning else ""
        rows.append(f"{number:>3}  {_shorten(name, width):<{width}}  {_text(light.get('exptime'), '{:g} s'):>8}  "
                    f"{_text(light.get('filter')):<8.8}  {_text(light.get('ccd_temp'), '{:.1f} C'):>8}  "
                    f"{key}{flag}")
    if len(lights) > max_lights:
        hidden = lights.iloc[max_lights:]
        warned = sum(bool(_text(value)) for value in hidden["warning"]) if "warning" in hidden else 0
        rows.append(f"... and {len(hidden)} more" + (f" ({warned} with a warning)" if warned else "")
                    + ", see calibration.csv")
    notes += [f"{key} {used}" for used, key in keys.items()]
    notes += [f"{key}: {warning}" for warning, key in warnings.items()]
    return rows, notes


def _table(axes, rows: list[str], notes: list[str], *, columns: int, characters: int):
    """The lights' rows in ``columns`` columns side by side and the notes wrapped under them, in monospace,
    from the top left of ``axes`` (each block placed after the one before, so that none overlaps another)."""
    axes.axis("off")
    axes.set_title("The lights and their calibration (calibration.csv)", loc="left", fontsize="medium")
    header, body = rows[0], rows[1:]
    more = [body.pop()] if body and body[-1].startswith("...") else []
    per_column = max(math.ceil(len(body) / columns), 1)
    advance = (len(header) + 4) * 0.6 * TABLE_FONT  # points from a column to the next
    style = {"family": "monospace", "fontsize": TABLE_FONT, "ha": "left", "va": "top", "textcoords": "offset points"}
    first = None
    for column in range(columns):
        chunk = body[column * per_column:(column + 1) * per_column]
        if column and not chunk:
            break
        text = axes.annotate("\n".join([header, *chunk]), (0, 1), xycoords="axes fraction",
                             xytext=(6 + column * advance, 0), label="lights", **style)
        first = first or text
    lines = more + [textwrap.fill(note, characters, subsequent_indent="    ") for note in notes]
    if lines:
        axes.annotate("\n".join(lines), (0, 0), xycoords=first, xytext=(0, -0.6 * TABLE_FONT), label="notes",
                      **style)


def calibration_figure(masters, record: pd.DataFrame | None, *, hot_nsigma: float, min_flat: float,
                       title: str | None = None, unit: str = "ADU"):
    """The masters of a night and how its lights were calibrated.

    Parameters
    ----------
    masters : sequence of (name, Master)
        The masters to show (name: e.g. the file's stem), up to ``MAX_COLUMNS`` side by side, more in rows.
    record : pandas.DataFrame or None
        ``calibration.csv`` (``calibrate.table.calibration_table``); only ``file`` is needed, ``kind``,
        ``exptime``, ``filter``, ``ccd_temp``, ``used_for`` and ``warning`` are shown where present.
    hot_nsigma, min_flat : float
        The calibration's thresholds (config ``calibrate``): hot pixels of a dark, low response of a flat.

    Each master: its picture (grey from the 1st to the 99th percentile, NaN blue, a colour bar in ``unit`` or
    in relative response for a flat; hot pixels of a dark in red, pixels of a flat below ``min_flat`` in
    orange), titled with ``master_statistics``; under it the histogram of its pixels (log counts) with the
    threshold. Under all: ``light_lines``, the lights and their calibration.
    """
    masters = list(masters)
    n = max(len(masters), 1)
    columns = min(n, MAX_COLUMNS)
    block_rows = math.ceil(n / columns)
    ny, nx = np.shape(masters[0][1].data) if masters else (1, 1)
    width = max(6.2 * columns + 0.6, 8.0)
    image_height = (6.2 - 1.0) * ny / nx
    rows, notes = light_lines(record if record is not None else pd.DataFrame({"file": []}))
    characters = int(width * 72 / (0.6 * TABLE_FONT)) - 6
    table_columns = max(1, min(math.ceil((len(rows) - 1) / LIGHTS_PER_COLUMN), characters // (len(rows[0]) + 4)))
    listed = len(rows) - 1 - rows[-1].startswith("...")
    note_lines = sum(len(textwrap.wrap(note, characters)) for note in notes) + rows[-1].startswith("...")
    table_height = (math.ceil(listed / table_columns) + 1 + note_lines + 1) * 1.45 * TABLE_FONT / 72 + 0.2
    masters_height = block_rows * (image_height + 0.8 + 2.2) + (0.4 if title else 0.0)
    figure = new_figure(width, masters_height + table_height)
    top, bottom = figure.subfigures(2, 1, height_ratios=[masters_height, table_height])
    grid = top.add_gridspec(2 * block_rows, columns, height_ratios=[image_height + 0.8, 2.2] * block_rows)
    for index, (name, master) in enumerate(masters):
        row, column = divmod(index, columns)
        stats = master_statistics(master, hot_nsigma=hot_nsigma, min_flat=min_flat, name=name)
        picture = top.add_subplot(grid[2 * row, column], label=f"picture {name}")
        _picture(top, picture, master, stats, hot_nsigma=hot_nsigma, min_flat=min_flat, unit=unit)
        histogram = top.add_subplot(grid[2 * row + 1, column], label=f"histogram {name}")
        _histogram(histogram, master, stats, hot_nsigma=hot_nsigma, min_flat=min_flat, unit=unit)
    _table(bottom.add_subplot(label="lights"), rows, notes, columns=table_columns, characters=characters)
    if title:
        figure.suptitle(title, fontsize="large")
    return figure
