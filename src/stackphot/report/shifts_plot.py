"""Each frame's shift and the registration's quality figures, and the pointing path."""

from __future__ import annotations

import numpy as np
import pandas as pd

from stackphot.report.display import new_figure


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
    figure = new_figure(13.0, 7.5)
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
