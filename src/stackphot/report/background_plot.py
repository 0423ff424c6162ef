"""The sky model and its RMS map of a few frames, the reference first."""

from __future__ import annotations

import numpy as np

from stackphot.report.display import NAN_COLOR, new_figure, percentile_limits


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
    figure = new_figure(12.0, rows * (4.5 * ny / nx + 0.7) + 0.4)
    figure.get_layout_engine().set(h_pad=0.15)
    grid = figure.subplots(rows, 2, squeeze=False)
    for row, (name, sky, rms) in enumerate(maps):
        label = f"{name} (reference)" if name == reference else name
        for column, (image, cmap, what) in enumerate(((sky, "viridis", "sky"), (rms, "magma", "sky RMS"))):
            axes = grid[row, column]
            if image is None:
                axes.set_axis_off()
                continue
            vmin, vmax = percentile_limits(image)
            shown = axes.imshow(image, origin="lower", cmap=colormaps[cmap].with_extremes(bad=NAN_COLOR),
                                vmin=vmin, vmax=vmax, interpolation="nearest")
            figure.colorbar(shown, ax=axes, shrink=0.9, label=f"{what} ({unit})")
            axes.set_title(f"{label}: {what}, median {float(np.nanmedian(image)):.4g} {unit}", fontsize="medium")
    if title:
        figure.suptitle(title, fontsize="large")
    return figure
