"""The segmentation catalog in one figure: its magnitude histogram with the completeness estimate, half-light
radius against magnitude for stars and galaxies apart, and the image beside its segmentation map.

``completeness_limit`` is the number-count turnover estimate: with no artificial stars, the catalog's own
histogram tells where it stops being complete, as long as the true counts keep rising as a power law.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from stackphot.report.display import display_stretch, new_figure, save_figure, show_image

# Stars, galaxies and sources of NaN compactness (no stellar locus to compare with), in both panels.
CLASS_COLORS = {"stars": "#1c7ed6", "galaxies": "#f76707", "unclassified": "#868e96"}
LIMIT_COLORS = {0.9: "#2b8a3e", 0.5: "#c92a2a"}
# The colours of the segmentation map are photutils' random ones (seeded): the same labels, the same colours.
CATALOG_COLUMNS = ("flux_auto", "flux_radius", "compactness")


@dataclass(frozen=True, eq=False)
class Completeness:
    """The completeness estimate of a magnitude histogram (``completeness_limit``'s result).

    Attributes
    ----------
    mag90, mag50 : float
        Magnitudes at which the observed counts fall to 90 % and 50 % of the extrapolated power law; NaN
        where they could not be found (``reason`` says why).
    intercept, slope : float
        The law ``log10 N = intercept + slope * m``, N the sources per bin of ``edges``; NaN without a fit.
    fit_range : (float, float)
        Bright and faint edges (mag) of the bins the law was fitted to; NaN without a fit.
    edges, counts : ndarray
        The histogram: ``len(edges) == len(counts) + 1``; both empty without finite magnitudes.
    reason : str
        Empty when both limits were found, else why one or both are NaN.
    """

    mag90: float
    mag50: float
    intercept: float
    slope: float
    fit_range: tuple[float, float]
    edges: np.ndarray = field(repr=False)
    counts: np.ndarray = field(repr=False)
    reason: str = ""

    def expected(self, mag):
        """Sources per bin that the fitted law predicts at magnitude ``mag`` (NaN without a fit)."""
        return 10.0 ** (self.intercept + self.slope * np.asarray(mag, dtype=float))


def auto_magnitude(flux_auto, *, zero_point: float = 25.0) -> np.ndarray:
    """``zero_point - 2.5 log10(flux_auto)`` (SE's MAG_AUTO); NaN where the flux is not positive or not finite."""
    flux = np.asarray(flux_auto, dtype=float)
    positive = np.isfinite(flux) & (flux > 0)
    return np.where(positive, zero_point - 2.5 * np.log10(np.where(positive, flux, 1.0)), np.nan)


def completeness_limit(mag, *, bin_width: float = 0.25, min_count: int = 10, min_bins: int = 4,
                       trim_sigma: float = 2.0) -> Completeness:
    """The 90 % and 50 % completeness magnitudes of a catalog from its magnitude histogram alone.

    This is the standard turnover estimate: the bright, complete part of the number counts is fitted by a
    power law, ``log10 N = a + b m``, and the catalog is taken to be as complete, at each fainter magnitude,
    as the observed counts are a fraction of the law extrapolated there. It assumes that the true counts keep
    rising as that power law through the turnover; a real change of slope (the knee of the star counts
    out of the Galactic plane, a cluster's luminosity function) reads as incompleteness. Artificial-star
    tests need no such assumption.

    The histogram has bins of ``bin_width`` aligned on multiples of it. The law is fitted (least squares
    in ``log10 N`` weighted by Poisson errors) to the bins brighter than the histogram's highest one
    holding at least ``min_count`` sources (well above their Poisson noise); then, while more than
    ``min_bins`` remain, the faintest fitted bin is dropped as already incomplete when it falls more than
    ``trim_sigma`` Poisson sigma below the law, and the law refitted. The observed-to-law ratio, from the
    first fitted bin on, is made non-increasing (isotonic regression weighted by the law's counts: the
    completeness is assumed to fall monotonically, and the noise of single bins is pooled), and each
    limit is interpolated linearly between the bin centres where it crosses 0.9 and 0.5.

    Parameters
    ----------
    mag : array-like
        Magnitudes; NaN and infinite values are ignored.
    bin_width : float
        Histogram bin width (mag). A limit is no finer than about a third of it: a turnover sharper than a
        bin is smeared over it (for a logistic completeness 10-90 % over 0.45 mag, the 90 % point comes
        out 0.08 mag bright with the default bins).
    min_count : int
        Least number of sources in a bin for it to be fitted.
    min_bins : int
        Least number of fitted bins.
    trim_sigma : float
        How far below the law (Poisson sigma) the faintest fitted bin must fall to be dropped; ``np.inf``
        keeps every bin up to the peak.

    Returns
    -------
    Completeness
        The limits, the law and the histogram. Limits are NaN, with the ``reason``, when the histogram is
        too sparse to fit: fewer than ``min_bins * min_count`` finite magnitudes (40 by default), or fewer
        than ``min_bins`` bins brighter than the peak with ``min_count`` sources each (in practice a
        catalog of fewer than a hundred or so sources); when the fitted counts do not rise towards the
        faint end (slope <= 0: no turnover to measure); or when the counts do not cross a level within the
        histogram (a catalog cut off before its turnover).

    Raises
    ------
    ValueError
        Non-positive ``bin_width``, ``min_count`` < 1 or ``min_bins`` < 2.
    """
    from scipy.optimize import isotonic_regression

    if not bin_width > 0:
        raise ValueError(f"bin_width must be positive, got {bin_width}")
    if min_count < 1 or min_bins < 2:
        raise ValueError(f"min_count must be at least 1 and min_bins at least 2, got {min_count}, {min_bins}")
    mag = np.asarray(mag, dtype=float).ravel()
    mag = mag[np.isfinite(mag)]
    if mag.size:
        start = math.floor(mag.min() / bin_width) * bin_width
        edges = start + bin_width * np.arange(math.floor((mag.max() - start) / bin_width) + 2)
        counts = np.histogram(mag, edges)[0]
    else:
        edges, counts = np.array([]), np.array([], dtype=int)

    def failed(reason, intercept=np.nan, slope=np.nan, fit_range=(np.nan, np.nan), mag90=np.nan):
        return Completeness(mag90, np.nan, intercept, slope, fit_range, edges, counts, reason)

    if mag.size < min_bins * min_count:
        return failed(f"only {mag.size} finite magnitudes: at least {min_bins * min_count} are needed")
    centres = edges[:-1] + bin_width / 2
    peak = int(np.argmax(counts))
    fitted = (np.arange(counts.size) < peak) & (counts >= min_count)
    if fitted.sum() < min_bins:
        return failed(f"{fitted.sum()} bins brighter than the peak hold {min_count} sources or more: "
                      f"{min_bins} are needed")
    while True:
        index = np.flatnonzero(fitted)
        # polyfit's weights are 1 / sigma; sigma of log10 N is 1 / (ln 10 sqrt N)
        slope, intercept = np.polyfit(centres[index], np.log10(counts[index]), 1, w=np.sqrt(counts[index]))
        law = 10.0 ** (intercept + slope * centres[index[-1]])
        if index.size <= min_bins or counts[index[-1]] >= law - trim_sigma * math.sqrt(law):
            break
        fitted[index[-1]] = False
    fit_range = (float(edges[index[0]]), float(edges[index[-1] + 1]))
    if not slope > 0:
        return failed(f"the counts do not rise towards the faint end (slope {slope:.3f}): no turnover to measure",
                      intercept, slope, fit_range)
    law = 10.0 ** (intercept + slope * centres[index[0]:])
    ratio = isotonic_regression(counts[index[0]:] / law, weights=law, increasing=False).x
    limits = {}
    for level in (0.9, 0.5):
        below = np.flatnonzero(ratio < level)
        if below.size == 0 or below[0] == 0:
            return failed(f"the counts do not cross {level:.0%} of the law within the histogram", intercept,
                          slope, fit_range, limits.get(0.9, np.nan))
        j = below[0]
        limits[level] = float(np.interp(level, ratio[[j, j - 1]], centres[index[0]:][[j, j - 1]]))
    return Completeness(limits[0.9], limits[0.5], float(intercept), float(slope), fit_range, edges, counts)


def _positions(catalog: pd.DataFrame):
    """Each source's position: a merged catalog's ``x``, ``y``; else the windowed centroid, the barycentre
    where that is NaN."""
    if {"x", "y"} <= set(catalog.columns):
        return catalog["x"].to_numpy(float), catalog["y"].to_numpy(float)
    return (catalog["x_win"].fillna(catalog["x_iso"]).to_numpy(float),
            catalog["y_win"].fillna(catalog["y_iso"]).to_numpy(float))


def kron_ellipses(catalog: pd.DataFrame, **kwargs):
    """A matplotlib collection of the sources' Kron ellipses (semi-axes ``kron_radius`` times ``a``, ``b``,
    major axis at ``theta`` degrees from +x), at 0-based pixel positions; sources with a NaN in any of these
    are left out."""
    from matplotlib.collections import PatchCollection
    from matplotlib.patches import Ellipse

    x, y = _positions(catalog)
    scale = catalog["kron_radius"].to_numpy(float)
    a, b, theta = (catalog[name].to_numpy(float) for name in ("a", "b", "theta"))
    good = np.isfinite(x) & np.isfinite(y) & np.isfinite(scale * a * b * theta)
    kwargs.setdefault("facecolor", "none")
    return PatchCollection([Ellipse((x[i], y[i]), 2 * scale[i] * a[i], 2 * scale[i] * b[i], angle=theta[i])
                            for i in np.flatnonzero(good)], **kwargs)


def _classes(catalog: pd.DataFrame, compactness_cut: float):
    """Boolean masks of the stars, galaxies and unclassified sources (compactness NaN)."""
    compactness = catalog["compactness"].to_numpy(float)
    return {"stars": compactness < compactness_cut, "galaxies": compactness >= compactness_cut,
            "unclassified": ~np.isfinite(compactness)}


def _plain_log_ticks(axis):
    """Label a log axis 2, 3, 10 rather than 2 x 10^0 (minor ticks only over a short range, as by default)."""
    from matplotlib.ticker import LogFormatter

    axis.set_major_formatter(LogFormatter(labelOnlyBase=False))
    axis.set_minor_formatter(LogFormatter(labelOnlyBase=False, minor_thresholds=(1, 0.5)))


def _say(axes, text):
    axes.set_axis_off()
    axes.text(0.5, 0.5, text, ha="center", va="center", transform=axes.transAxes, wrap=True)


def _histogram_panel(axes, completeness: Completeness, *, zero_point: float):
    if completeness.counts.sum() == 0:
        return _say(axes, "no source with a positive FLUX_AUTO:\nno magnitude histogram")
    edges, counts = completeness.edges, completeness.counts
    axes.stairs(counts, edges, color="k", lw=1.0, label=f"{counts.sum()} sources")
    axes.set_yscale("log")
    if np.isfinite(completeness.slope):
        bright, faint = completeness.fit_range
        axes.axvspan(bright, faint, color="0.9", zorder=0, label="fitted")
        mags = np.linspace(edges[0], edges[-1], 200)
        axes.plot(mags, completeness.expected(mags), "--", color="tab:blue", lw=1,
                  label=f"log N = {completeness.intercept:.2f} + {completeness.slope:.3f} m")
        axes.set_ylim(0.5, 3 * counts.max())  # the extrapolated law would dwarf the counts
    for level, value in ((0.9, completeness.mag90), (0.5, completeness.mag50)):
        if np.isfinite(value):
            axes.axvline(value, color=LIMIT_COLORS[level], lw=1.2, label=f"{level:.0%} complete: {value:.2f}")
    if completeness.reason:
        axes.text(0.98, 0.02, f"no completeness estimate:\n{completeness.reason}", ha="right",
                  transform=axes.transAxes, fontsize="x-small", bbox={"facecolor": "white", "edgecolor": "0.7"})
    _plain_log_ticks(axes.yaxis)
    bin_width = edges[1] - edges[0]
    axes.set_xlabel(f"MAG_AUTO = {zero_point:g} - 2.5 log10(FLUX_AUTO)")
    axes.set_ylabel(f"sources per {bin_width:g} mag")
    axes.set_title("magnitude histogram and completeness (power-law turnover)", fontsize="medium")
    axes.legend(fontsize="x-small", loc="upper left")


def _size_panel(axes, mag, radius, classes, *, compactness, compactness_cut: float):
    shown = np.isfinite(mag) & np.isfinite(radius) & (radius > 0)
    if not shown.any():
        return _say(axes, "no source with a magnitude and a half-light radius")
    labels = {"stars": f"stars (compactness < {compactness_cut:g})",
              "galaxies": f"extended: galaxies, blends (compactness >= {compactness_cut:g})",
              "unclassified": "unclassified (compactness NaN)"}
    for name, label in labels.items():
        selection = shown & classes[name]
        if selection.any():
            axes.plot(mag[selection], radius[selection], ".", color=CLASS_COLORS[name], ms=4, alpha=0.7,
                      label=f"{label}: {int(selection.sum())}")
    # compactness is flux_radius over the point source's at that magnitude: their ratio gives the locus back
    with np.errstate(divide="ignore", invalid="ignore"):
        locus = radius / compactness
    known = shown & np.isfinite(locus) & (locus > 0)
    if known.any():
        order = np.argsort(mag[known])
        low, high = np.min(locus[known]), np.max(locus[known])
        along = (f"the stellar locus, {low:.2f} to {high:.2f} px" if high > low * 1.001
                 else f"a point source's {low:.2f} px")
        axes.plot(mag[known][order], locus[known][order] * compactness_cut, color="k", lw=0.8, ls=":",
                  label=f"cut: {compactness_cut:g} x {along}")
    axes.set_yscale("log")
    _plain_log_ticks(axes.yaxis)
    axes.set_xlabel("MAG_AUTO")
    axes.set_ylabel("FLUX_RADIUS (half-light radius, px)")
    axes.set_title("size against magnitude", fontsize="medium")
    axes.legend(fontsize="x-small", loc="best")


def label_colours(max_label: int, *, seed: int = 0):
    """A colour map of a random, seeded colour per label (hue anywhere, muted saturation, bright value, as
    photutils' ``make_random_cmap``) and black for 0, the sky."""
    from matplotlib.colors import ListedColormap, hsv_to_rgb

    rng = np.random.default_rng(seed)
    hsv = np.column_stack([rng.uniform(0.0, 1.0, max_label + 1), rng.uniform(0.2, 0.7, max_label + 1),
                           rng.uniform(0.5, 1.0, max_label + 1)])
    rgb = hsv_to_rgb(hsv)
    rgb[0] = 0.0
    return ListedColormap(rgb)


def _segmentation_panels(figure, segments, image, catalog, *, classes, ellipses: bool):
    if segments is None:
        return _say(figure.subplots(), "no segmentation pass")
    panels = figure.subplots(1, 2 if image is not None else 1, sharex=True, sharey=True, squeeze=False)[0]
    if image is not None:
        stretched, (black, _, white) = display_stretch(image)
        show_image(panels[0], stretched)
        if ellipses and {"kron_radius", "a", "b", "theta"} <= set(catalog.columns):
            for name, color in CLASS_COLORS.items():
                panels[0].add_collection(kron_ellipses(catalog[classes[name]], edgecolor=color, linewidth=0.6))
        panels[0].set_title(f"image, asinh stretch {black:.3g} to {white:.3g}"
                            + (", Kron ellipses" if ellipses else ""), fontsize="medium")
        panels[0].set_ylabel("y (pixel, 0-based)")
    max_label = int(segments.max())
    panels[-1].imshow(segments, origin="lower", cmap=label_colours(max_label), interpolation="nearest", vmin=-0.5,
                      vmax=max_label + 0.5)
    n_labels = np.unique(segments[segments > 0]).size
    panels[-1].set_title(f"segmentation map: {n_labels} segments, a random colour each",
                         fontsize="medium")
    ny, nx = segments.shape
    for axes in panels:
        axes.set_xlim(-0.5, nx - 0.5)
        axes.set_ylim(-0.5, ny - 0.5)
        axes.set_xlabel("x (pixel, 0-based)")


def plot_catalog(path, catalog: pd.DataFrame, *, segments=None, image=None, zero_point: float = 25.0,
                 compactness_cut: float = 1.2, kron: bool = True, title: str | None = None):
    """The catalog's magnitude histogram with its completeness, its sizes against magnitude, and its
    segmentation map, in one PNG written atomically at ``path``.

    Parameters
    ----------
    path : str or Path
        Where the PNG goes (its folder is made).
    catalog : pandas.DataFrame
        ``detect_segments``' catalog, or a merged one: ``flux_auto``, ``flux_radius``, ``compactness``; for
        the Kron ellipses also ``kron_radius``, ``a``, ``b``, ``theta`` and a position (``x``, ``y``, else
        ``x_win``, ``y_win`` falling back on ``x_iso``, ``y_iso``). NaN anywhere leaves that source out of
        what needs the value (a merged catalog's finder-only sources have no magnitude); an empty table,
        with or without columns, gives panels that say so.
    segments : 2D int array, optional
        The segmentation map (0 the sky, each source its label; a photutils ``SegmentationImage`` will do), a
        random colour per label (seeded: the same every time). Without it, or all zero, the third panel says
        "no segmentation pass".
    image : 2D array, optional
        The image segmented, drawn beside the map (zscale/asinh stretch) with the Kron ellipses, stars in
        blue and galaxies in orange; ignored without ``segments``.
    zero_point : float
        Magnitude of a flux of 1: ``MAG_AUTO = zero_point - 2.5 log10(flux_auto)``, positive fluxes only.
    compactness_cut : float
        Sources of ``compactness`` below it are stars, the others galaxies; NaN ones unclassified.
    kron : bool
        Draw the Kron ellipses over the image.
    title : str, optional
        First line of the figure's title; the second gives the counts and the completeness limits.

    Returns
    -------
    pathlib.Path
        ``path``.

    Raises
    ------
    ValueError
        A non-empty catalog without ``flux_auto``, ``flux_radius`` or ``compactness``; ``image`` and
        ``segments`` of different shapes.
    """
    missing = [name for name in CATALOG_COLUMNS if name not in catalog.columns]
    if len(catalog) and missing:
        raise ValueError(f"the catalog lacks the column(s) {missing}")
    if missing:  # an empty table: the columns only need to exist
        catalog = pd.DataFrame({name: pd.Series(dtype=float) for name in CATALOG_COLUMNS})
    if segments is not None:  # a SegmentationImage's labels are its data
        segments = np.asarray(getattr(segments, "data", segments)).astype(int, copy=False)
        segments = segments if segments.any() else None
    if segments is not None and image is not None and np.shape(image) != segments.shape:
        raise ValueError(f"image has shape {np.shape(image)}, the segmentation map {segments.shape}")
    mag = auto_magnitude(catalog["flux_auto"], zero_point=zero_point)
    radius = catalog["flux_radius"].to_numpy(float)
    compactness = catalog["compactness"].to_numpy(float)
    classes = _classes(catalog, compactness_cut)
    completeness = completeness_limit(mag)

    width = 13.0
    map_height = 0.8 if segments is None else min(width / (2 if image is not None else 1) * segments.shape[0]
                                                  / segments.shape[1], 8.0) + 0.7
    figure = new_figure(width, 4.6 + map_height)
    top, bottom = figure.subfigures(2, 1, height_ratios=[4.6, map_height])
    histogram_axes, size_axes = top.subplots(1, 2)
    _histogram_panel(histogram_axes, completeness, zero_point=zero_point)
    _size_panel(size_axes, mag, radius, classes, compactness=compactness, compactness_cut=compactness_cut)
    _segmentation_panels(bottom, segments, image, catalog, classes=classes, ellipses=kron)

    summary = (f"{len(catalog)} sources, {int(np.isfinite(mag).sum())} with a positive FLUX_AUTO: "
               f"{int(classes['stars'].sum())} stars, {int(classes['galaxies'].sum())} extended"
               if len(catalog) else "empty catalog: no sources")
    for level, value in ((90, completeness.mag90), (50, completeness.mag50)):
        if np.isfinite(value):
            summary += f"; {level} % complete at {value:.2f} mag"
    figure.suptitle(f"{title}\n{summary}" if title else summary, fontsize="medium")
    return save_figure(figure, path)
