"""The registration figure: each frame's transform onto the reference (translation, rotation, scale), how it
was measured (matched stars and their residual, cross-correlation or star fit), the registration's quality
figures and the rejected frames, against the time of the exposure; and the translation path."""

from __future__ import annotations

import numpy as np
import pandas as pd

from stackphot.report.display import new_figure

MAX_NUMBERED = 40  # frames up to which the points carry their number in the sequence
MAX_LISTED = 10  # rejected frames up to which each one's reason is listed under the figure
MAX_MARKERS = 60  # frames up to which lines carry a marker at each frame
# How a frame was registered (the ``method`` column): its colour and marker in the per-frame panels.
METHODS = {
    "xcorr": {"color": "tab:blue", "marker": "o", "label": "xcorr: cross-correlation kept"},
    "stars": {"color": "tab:green", "marker": "D", "label": "stars: star-pattern fit"},
    "none": {"color": "tab:grey", "marker": "v", "label": "none: not registered"},
}
OTHER_METHOD = {"color": "tab:purple", "marker": "s"}  # a method not listed above, labelled with its name
REJECTED_COLOR = "red"
PANELS = ("translation", "rotation", "matched", "residual", "quality")  # the time panels, top to bottom


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


def frame_minutes(selection: pd.DataFrame, frames: pd.DataFrame | None):
    """Each frame's mid-exposure (``date_obs + exptime / 2``, from ``frames.csv``) in minutes after the
    earliest one, in the rows of ``selection``, and that earliest mid-exposure (a UTC ``pd.Timestamp``).

    A frame without ``date_obs`` (empty, NaN, unreadable or not in ``frames``) gets NaN; a missing ``exptime``
    counts as 0 (the start is taken). Returns None, so that the figure is drawn against frame index, when
    ``frames`` is None or has no ``date_obs``, when an accepted frame has no time, or when no frame has one.
    """
    if frames is None or "date_obs" not in frames:
        return None
    rows = frames.drop_duplicates("frame").set_index("frame").reindex(selection["frame"].astype(str))
    start = pd.to_datetime(rows["date_obs"], utc=True, errors="coerce", format="ISO8601")
    exptime = pd.to_numeric(rows["exptime"], errors="coerce") if "exptime" in rows else pd.Series(0.0, rows.index)
    middle = start + pd.to_timedelta(exptime.fillna(0.0) / 2, unit="s")
    accepted = _accepted(selection)
    if middle.isna().all() or middle.isna().to_numpy()[accepted].any():
        return None
    first = middle.min()
    return (middle - first).dt.total_seconds().to_numpy(dtype=float) / 60.0, first


def _accepted(selection) -> np.ndarray:
    if "accepted" in selection:
        return selection["accepted"].to_numpy(dtype=bool)
    return np.ones(len(selection), dtype=bool)


def _column(table, name) -> np.ndarray | None:
    return table[name].to_numpy(dtype=float) if name in table else None


def _absent(axes, what):
    axes.text(0.5, 0.5, f"{what}: not in the table", transform=axes.transAxes, ha="center", va="center",
              color="grey", fontsize="small")


def _line(axes, x, values, order, **style):
    """``values`` against ``x`` in time order, frames without a time left out."""
    return axes.plot(x[order], values[order], **style)[0]


def _by_method(axes, x, values, methods, *, size):
    """``values`` as points coloured and shaped by each frame's registration method, one artist per method."""
    shown = np.isfinite(x) & np.isfinite(values)
    for method in dict.fromkeys(methods[shown]):
        style = METHODS.get(method, {**OTHER_METHOD, "label": method})
        chosen = shown & (methods == method)
        axes.plot(x[chosen], values[chosen], ls="none", ms=size, mec="k", mew=0.3, **style)


def _mark_frames(axes, x, rejected, reference_row):
    """The reference frame as a grey band and each rejected frame as a red line across a time panel."""
    if reference_row is not None and np.isfinite(x[reference_row]):
        axes.axvline(x[reference_row], color="grey", alpha=0.25, lw=7, zorder=0, label="_reference")
    where = x[rejected & np.isfinite(x)]
    if where.size:
        axes.vlines(where, 0, 1, transform=axes.get_xaxis_transform(), colors=REJECTED_COLOR, alpha=0.35,
                    lw=1.0, zorder=0, label="rejected")


def _scale_units(excess) -> tuple[float, str]:
    """A factor and a unit in which ``scale - 1`` reads well: ppm below 1000 ppm, else per mille."""
    largest = np.nanmax(np.abs(excess)) if np.isfinite(excess).any() else 0.0
    return (1e3, "per mille") if round(largest * 1e6) >= 1000 else (1e6, "ppm")


def _translation_panel(axes, x, table, order, rejected, style):
    dx, dy = _column(table, "dx"), _column(table, "dy")
    _line(axes, x, dx, order, label="dx", **style)
    _line(axes, x, dy, order, label="dy", **{**style, "marker": "s" if style["marker"] else None})
    for values in (dx, dy):
        chosen = rejected & np.isfinite(x) & np.isfinite(values)
        axes.plot(x[chosen], values[chosen], ls="none", marker="x", ms=7, mew=1.5, color=REJECTED_COLOR,
                  label="_rejected")
    axes.axhline(0, color="grey", lw=0.5)
    axes.set_ylabel("translation (px)")


def _rotation_panel(axes, x, table, order, style):
    rotation, scale = _column(table, "rotation"), _column(table, "scale")
    if rotation is None and scale is None:
        _absent(axes, "rotation, scale")
        return
    handles = []
    if rotation is not None:
        handles.append(_line(axes, x, rotation, order, label="rotation", color="tab:purple", **style))
    axes.axhline(0, color="grey", lw=0.5)
    axes.set_ylabel("rotation (deg)", color="tab:purple")
    if scale is not None:
        twin = axes.twinx()
        twin.set_label("scale")
        factor, unit = _scale_units(scale - 1.0)
        handles.append(_line(twin, x, (scale - 1.0) * factor, order, label=f"scale - 1 ({unit})",
                             color="tab:brown", ls="--", **style))
        twin.set_ylabel(f"scale - 1 ({unit})", color="tab:brown")
    axes.legend(handles=handles, fontsize="small", loc="best")


def _matched_panel(axes, x, table, order, methods, size):
    if "n_stars" in table:
        _line(axes, x, _column(table, "n_stars"), order, color="grey", lw=0.8, label="n_stars: detected")
    if "n_matched" in table:
        _by_method(axes, x, _column(table, "n_matched"), methods, size=size)
    else:
        _absent(axes, "n_matched")
    axes.set_ylim(bottom=0)
    axes.set_ylabel("stars")


def _residual_panel(axes, x, table, order, methods, size):
    from matplotlib.ticker import ScalarFormatter

    residual, xcorr = _column(table, "residual"), _column(table, "xcorr_residual")
    if xcorr is not None:
        _line(axes, x, xcorr, order, color="k", lw=0.7, ls=":", alpha=0.7,
              marker="." if len(x) <= MAX_MARKERS else None, label="xcorr_residual")
    if residual is not None:
        _by_method(axes, x, residual, methods, size=size)
    else:
        _absent(axes, "residual")
    values = np.concatenate([v for v in (residual, xcorr) if v is not None] or [np.zeros(0)])
    if np.isfinite(values).any() and np.nanmax(values) > 2.0:  # a cross-correlation far off: log above 0.1 px
        axes.set_yscale("symlog", linthresh=0.1, linscale=0.5)
        axes.yaxis.set_major_formatter(ScalarFormatter())
    axes.set_ylim(bottom=0)
    axes.set_ylabel("residual (px)")


def _quality_panel(axes, x, table, order, style):
    for column, marker in (("correlation", "o"), ("overlap", "^")):
        if column in table:
            _line(axes, x, _column(table, column), order, label=column,
                  **{**style, "marker": marker if style["marker"] else None})
    quality = table[[c for c in ("correlation", "overlap") if c in table]].to_numpy(dtype=float)
    lowest = float(np.nanmin(quality)) if np.isfinite(quality).any() else 0.0
    axes.set_ylim(max(min(0.9, lowest - 0.03), -1.0), 1.01)
    axes.set_ylabel("correlation, overlap")
    if not axes.get_lines():
        _absent(axes, "correlation, overlap")


def _legend(axes, loc="best", *, rejected=True):
    """The axes' legend, if anything is labelled; the rejected frames' lines in it only if ``rejected``."""
    handles = [artist for artist in axes.get_lines() + axes.collections if not artist.get_label().startswith("_")
               and (rejected or artist.get_label() != "rejected")]
    if handles:
        axes.legend(handles=handles, fontsize="small", loc=loc)


def _path_panel(figure, axes, table, colour, colour_label, rejected, reference_row):
    dx, dy = _column(table, "dx"), _column(table, "dy")
    axes.plot(dx, dy, color="grey", lw=0.8, zorder=1)
    points = axes.scatter(dx, dy, c=colour, cmap="viridis", s=30 if len(dx) <= MAX_MARKERS * 4 else 12, zorder=2)
    numbered = len(dx) <= MAX_NUMBERED
    if numbered:  # numbers, not names: close frames' names would overlap
        for i, (x, y) in enumerate(zip(dx, dy)):
            if np.isfinite(x) and np.isfinite(y):
                axes.annotate(str(i + 1), (x, y), textcoords="offset points", xytext=(4, 4), fontsize="small")
    chosen = rejected & np.isfinite(dx) & np.isfinite(dy)
    if chosen.any():
        axes.plot(dx[chosen], dy[chosen], ls="none", marker="x", ms=9, mew=2, color=REJECTED_COLOR, zorder=3,
                  label="rejected")
    if reference_row is not None:
        axes.plot([dx[reference_row]], [dy[reference_row]], ls="none", marker="*", ms=16, mfc="none", mec="k",
                  zorder=3, label="reference")
    _legend(axes)
    axes.set_aspect("equal", adjustable="datalim")
    axes.set_xlabel("dx (px)")
    axes.set_ylabel("dy (px)")
    axes.set_title("translation path (frame pixel -> reference pixel)"
                   + ("\nnumbers: position in the sequence, 1 = first" if numbered else ""), fontsize="medium")
    axes.grid(alpha=0.3)
    axes.margins(0.15)
    if not numbered:  # too many to number: the colour tells the order
        figure.colorbar(points, ax=axes, label=colour_label, shrink=0.6, location="bottom")


def rejection_notes(table: pd.DataFrame, minutes=None) -> list[str]:
    """The lines under the figure: each rejected frame and why (its number in the sequence, its time when
    known), or only their count when there are more than ``MAX_LISTED``."""
    rejected = np.flatnonzero(~_accepted(table))
    if rejected.size == 0:
        return [f"No frame rejected: all {len(table)} stacked."]
    if rejected.size > MAX_LISTED:
        return [f"{rejected.size} of {len(table)} frames rejected (red lines; why: the table's reason column)."]
    lines = [f"{rejected.size} of {len(table)} frames rejected (red lines):"]
    for row in rejected:
        reason = str(table["reason"].iloc[row]) if "reason" in table else ""
        reason = reason if len(reason) <= 160 else reason[:157] + "..."
        if minutes is None:
            when = ""
        elif np.isfinite(minutes[row]):
            when = f", {minutes[row]:.1f} min"
        else:
            when = ", no DATE-OBS: not in the time panels"
        lines.append(f"#{row + 1} {table['frame'].iloc[row]}{when}: {reason or 'no reason given'}")
    return lines


def registration_figure(selection: pd.DataFrame, frames: pd.DataFrame | None = None, *,
                        reference: str | None = None, title: str | None = None):
    """Each frame's registration onto the reference, from a ``frame_selection.csv`` table (``read_selection``)
    and the frames' times from ``frames.csv``.

    Left, from top to bottom, against minutes since the first mid-exposure (``frame_minutes``; against frame
    index when an accepted frame has no time): the translation ``dx`` and ``dy``; ``rotation`` (degrees)
    and ``scale - 1`` (per mille or ppm, twin axis); the stars detected (``n_stars``) and matched to the
    reference (``n_matched``); ``residual`` (px, RMS of the matched stars after the chosen transform) and
    ``xcorr_residual``; ``correlation`` and ``overlap``. Matched stars and residual are coloured and shaped
    by ``method``. The reference frame is shaded and rejected frames drawn as red lines in every time panel
    (red crosses on the translation). Right: ``dx`` against ``dy``, the translation path, rejected frames as
    red crosses and the reference as a star. Below: the rejected frames and why (``rejection_notes``).

    Only ``frame, dy, dx`` are needed; other columns are drawn when present (``accepted`` missing: all
    accepted), a panel without its columns says so. Frames without a time are left out of the time panels.
    """
    table = selection.reset_index(drop=True)
    names = [str(name) for name in table["frame"]]
    n = len(names)
    timed = frame_minutes(table, frames)
    x = timed[0] if timed else np.arange(n, dtype=float)
    order = np.argsort(np.where(np.isfinite(x), x, np.inf), kind="stable")[: int(np.isfinite(x).sum())]
    rejected = ~_accepted(table)
    methods = table["method"].fillna("none").astype(str).to_numpy() if "method" in table else np.full(n, "xcorr")
    reference_row = names.index(reference) if reference in names else None
    notes = rejection_notes(table, timed[0] if timed else None)

    figure = new_figure(14.0, 10.5 + 0.17 * len(notes))
    grid = figure.add_gridspec(len(PANELS) + 1, 2, width_ratios=[2.2, 1.0],
                               height_ratios=[1.0] * len(PANELS) + [0.04 + 0.09 * len(notes)])
    panels = {}
    for row, name in enumerate(PANELS):
        panels[name] = figure.add_subplot(grid[row, 0], sharex=panels.get("translation"), label=name)
    axes_path = figure.add_subplot(grid[: len(PANELS), 1], label="path")
    axes_notes = figure.add_subplot(grid[len(PANELS), :], label="notes")

    marker = "o" if n <= MAX_MARKERS else None
    style = {"marker": marker, "ms": 5}
    size = 5 if n <= MAX_MARKERS else 2.5
    _translation_panel(panels["translation"], x, table, order, rejected, style)
    _rotation_panel(panels["rotation"], x, table, order, {"marker": marker, "ms": 4})
    _matched_panel(panels["matched"], x, table, order, methods, size)
    _residual_panel(panels["residual"], x, table, order, methods, size)
    _quality_panel(panels["quality"], x, table, order, style)
    for name, axes in panels.items():
        _mark_frames(axes, x, rejected, reference_row)
        axes.grid(alpha=0.3)
        if name != PANELS[-1]:
            axes.tick_params(labelbottom=False)
    for name in ("translation", "matched", "residual", "quality"):  # the red lines told once, at the top
        _legend(panels[name], loc="lower left" if name == "quality" else "best", rejected=name == "translation")
    bottom = panels[PANELS[-1]]
    if timed:
        bottom.set_xlabel(f"minutes since the first frame's mid-exposure ({timed[1]:%Y-%m-%d %H:%M:%S} UTC)")
        if n <= MAX_NUMBERED:  # which point is which frame: its number in the sequence, as on the path
            top = panels["translation"].secondary_xaxis("top")
            shown = np.isfinite(x)
            top.set_xticks(x[shown], [str(i + 1) for i in np.flatnonzero(shown)], fontsize="x-small")
    else:
        bottom.set_xlabel("frame")
        _frame_axis(bottom, names)
    if n == 1 or (timed and np.nanmax(x) == 0):  # one time: a minute either side
        bottom.set_xlim(np.nanmin(x) - 1.0, np.nanmax(x) + 1.0)
    if reference_row is not None and np.isfinite(x[reference_row]):
        panels["translation"].annotate("reference", (x[reference_row], 0.98), xycoords=("data", "axes fraction"),
                                       xytext=(5, 0), textcoords="offset points", ha="left", va="top",
                                       fontsize="small", color="grey")

    colour_label = "minutes since the first frame" if timed else "frame number (0 = first)"
    _path_panel(figure, axes_path, table, x, colour_label, rejected, reference_row)
    axes_notes.axis("off")
    axes_notes.text(0.0, 1.0, "\n".join(notes), transform=axes_notes.transAxes, ha="left", va="top",
                    fontsize="small", color=REJECTED_COLOR if rejected.any() else "k")
    if title:
        figure.suptitle(title, fontsize="medium")
    return figure
