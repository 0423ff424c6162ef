"""The time series' figures: a target's differential light curve with its check and comparison stars, and
every star's scatter against the noise expected of it."""

from __future__ import annotations

import numpy as np
import pandas as pd

from stackphot.lightcurve.series import MAX_CROWDING
from stackphot.numerics import MAD_TO_SIGMA
from stackphot.report.display import new_figure, save_figure

# The variability diagram's fractional scatter in parts per thousand: what a photometrist reads off.
PPT = 1000.0


def bin_curve(t, y, dy, *, width: float) -> pd.DataFrame:
    """Inverse-variance weighted means of ``y`` in bins of ``width`` (the unit of ``t``), for the eye: ``t, y, dy``
    per bin with at least one finite point."""
    t, y, dy = (np.asarray(values, dtype=float) for values in (t, y, dy))
    good = np.isfinite(t) & np.isfinite(y) & np.isfinite(dy) & (dy > 0)
    if not good.any():
        return pd.DataFrame({"t": [], "y": [], "dy": []})
    edges = np.arange(t[good].min(), t[good].max() + width, width)
    index = np.digitize(t[good], edges)
    weights = 1 / dy[good] ** 2
    rows = []
    for bin_index in np.unique(index):
        inside = index == bin_index
        weight = weights[inside].sum()
        rows.append({"t": np.sum(weights[inside] * t[good][inside]) / weight,
                     "y": np.sum(weights[inside] * y[good][inside]) / weight, "dy": 1 / np.sqrt(weight)})
    return pd.DataFrame(rows)


def plot_light_curve(path, curve: pd.DataFrame, *, check: pd.DataFrame | None, comparisons: dict, bin_days: float,
                     title: str, dropped=()):
    """A target's light curve (``curve``: ``bjd_tdb, rel_flux, rel_flux_err``) over time with binned points; below
    it the ``check`` star's (same columns) and each comparison star's relative curve (``comparisons``: label ->
    rel_flux per frame), offset for the eye, those the ensemble ``dropped`` in grey; the title says how many
    stars the curve rests on. Writes a PNG at ``path``."""
    figure = new_figure(10.0, 8.0)
    target_axes, check_axes, comparison_axes = figure.subplots(3, 1, sharex=True, height_ratios=[3, 1.2, 2])
    t0 = np.floor(np.nanmin(curve["bjd_tdb"])) if curve["bjd_tdb"].notna().any() else 0.0
    t = curve["bjd_tdb"] - t0
    target_axes.errorbar(t, curve["rel_flux"], curve["rel_flux_err"], fmt=".", color="0.6", ms=3, lw=0.6,
                         label="each frame")
    binned = bin_curve(t, curve["rel_flux"], curve["rel_flux_err"], width=bin_days)
    target_axes.errorbar(binned["t"], binned["y"], binned["dy"], fmt="o", color="k", ms=4,
                         label=f"binned ({bin_days * 1440:g} min)")
    target_axes.set_ylabel("relative flux")
    target_axes.legend(fontsize="small", loc="best")
    dropped = [label for label in comparisons if label in dropped]
    ensemble = f"against {len(comparisons) - len(dropped)} stars" + (f" ({len(dropped)} dropped)" if dropped else "")
    target_axes.set_title(f"{title} {ensemble}", fontsize="medium")
    if check is not None and len(check):
        normalised = check["rel_flux"] / np.nanmedian(check["rel_flux"])
        spread = MAD_TO_SIGMA * np.nanmedian(np.abs(normalised - 1))
        check_axes.errorbar(t, normalised, check["rel_flux_err"] / np.nanmedian(check["rel_flux"]), fmt=".",
                            color="tab:blue", ms=3, lw=0.6)
        check_axes.axhline(1.0, color="k", lw=0.6)
        check_axes.set_title(f"check star: robust scatter {spread * PPT:.2f} ppt", fontsize="small")
    check_axes.set_ylabel("check")
    kept = []
    for offset, (label, values) in enumerate(comparisons.items()):
        values = np.asarray(values, dtype=float)
        values = values / np.nanmedian(values) - 0.02 * offset
        if label in dropped:
            comparison_axes.plot(t, values, ".", ms=2, color="0.75", label=f"{label} (dropped)")
        else:
            comparison_axes.plot(t, values, ".", ms=2, label=str(label))
            kept.append(values)
    # The panel spans the ensemble's curves: a dropped star's jumps (why it was dropped) would flatten them.
    kept = np.concatenate(kept) if kept else np.empty(0)
    if np.isfinite(kept).any():
        low, high = np.nanmin(kept), np.nanmax(kept)
        comparison_axes.set_ylim(low - 0.05 * (high - low) - 0.005, high + 0.05 * (high - low) + 0.005)
    comparison_axes.set_ylabel("comparisons\n(offset by 2%)")
    comparison_axes.set_xlabel(f"BJD (TDB) - {t0:.0f}")
    if comparisons:
        # Beside the panels, not over them: an ensemble of twenty stars fills the panel with its curves.
        comparison_axes.legend(fontsize="x-small", ncols=1 + (len(comparisons) - 1) // 12, loc="upper left",
                               bbox_to_anchor=(1.01, 1.0), title="star", title_fontsize="x-small")
    return save_figure(figure, path)


def plot_variability(path, table: pd.DataFrame, *, title: str):
    """Every star's robust scatter (``rms``, fractional) against its magnitude (``mag``), with the noise expected
    of it (``expected``) and the stars flagged ``variable`` labelled by ``id``. Writes a PNG at ``path``."""
    figure = new_figure(9.0, 6.0)
    axes = figure.subplots()
    steady = ~table["variable"].astype(bool)
    crowded = table["crowding"] > MAX_CROWDING if "crowding" in table else np.zeros(len(table), bool)
    axes.semilogy(table.loc[steady & ~crowded, "mag"], table.loc[steady & ~crowded, "rms"] * PPT, ".", color="0.4",
                  ms=4, label="stars")
    axes.semilogy(table.loc[steady & crowded, "mag"], table.loc[steady & crowded, "rms"] * PPT, "x",
                  color="tab:orange", ms=4, label=f"blends ({int(crowded.sum())}): neighbours' light expected too")
    # The line: the noise of the star's own light, sky and detector (a blend's neighbours' share taken out of its
    # expected noise), smooth in magnitude; each blend's whole expected noise, its neighbours' share in it, apart.
    order = table.sort_values("mag")
    share = order["crowding"].fillna(0.0) if "crowding" in order else 0.0
    own = np.sqrt((order["expected"] ** 2 - share**2).where(lambda variance: variance > 0))
    # A running median over neighbouring magnitudes: a median over the frames less a share is a rough estimate.
    own = own.rolling(15, center=True, min_periods=1).median()
    axes.semilogy(order["mag"], own * PPT, "-", color="tab:blue", lw=1, label="expected noise of the star alone")
    if crowded.any():
        axes.semilogy(table.loc[crowded, "mag"], table.loc[crowded, "expected"] * PPT, "_", color="tab:blue", ms=5,
                      alpha=0.5, label="a blend's expected noise, its neighbours' light included")
    variables = table[~steady]
    axes.semilogy(variables["mag"], variables["rms"] * PPT, "o", color="tab:red", ms=6,
                  label=f"variable ({len(variables)})")
    for row in variables.itertuples():
        axes.annotate(str(row.id), (row.mag, row.rms * PPT), textcoords="offset points", xytext=(4, 4),
                      fontsize="x-small", color="tab:red")
    axes.set_xlabel("instrumental magnitude (stack)")
    axes.set_ylabel("scatter per frame (ppt, robust)")
    axes.set_title(title, fontsize="medium")
    axes.legend(fontsize="small")
    return save_figure(figure, path)
