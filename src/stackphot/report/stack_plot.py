"""The stack with every photometry aperture over it, and one star close up with its sky annulus."""

from __future__ import annotations

import numpy as np
import pandas as pd

from stackphot.report.display import ZSCALE_BRIGHTNESS, display_stretch, new_figure, show_image

CLEAN_COLOR = "#39d353"  # apertures without flags
CROWDED_COLOR = "#cc5de8"  # apertures whose only flags say a neighbour is close (measured, but check)
FLAGGED_COLOR = "#ff5a36"  # apertures with any other photometry flag (edge, no data, saturated)
# photometry.NEIGHBOUR | photometry.CROWDED_SKY, spelled out so the plots need no photutils import.
CROWDING_FLAGS = 8 | 16


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


def catalog_numbers(photometry: pd.DataFrame, catalog: pd.DataFrame | None = None) -> str:
    """The catalog in one line: sources, unflagged ones, median FWHM (px, of the catalog) and the 5-sigma
    limiting magnitude, where log SNR against magnitude, fitted over the unflagged sources of SNR 3 to 100,
    reaches 5 (none with fewer than 3 such sources)."""
    unflagged = photometry[photometry["flags"] == 0]
    text = f"{len(photometry)} sources ({len(unflagged)} unflagged)"
    fwhm = pd.to_numeric(catalog["fwhm"], errors="coerce") if catalog is not None and "fwhm" in catalog else None
    if fwhm is not None and fwhm.notna().any():
        text += f", median FWHM {fwhm.median():.2f} px"
    snr = unflagged["flux"] / unflagged["flux_err"]
    usable = np.isfinite(unflagged["mag"]) & (snr >= 3) & (snr <= 100)
    if usable.sum() >= 3:
        slope, intercept = np.polyfit(unflagged["mag"][usable], np.log10(snr[usable]), 1)
        if slope < 0:
            text += f", 5-sigma limit mag {(np.log10(5) - intercept) / slope:.2f}"
    return text


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
    figure = new_figure(14.0, 14.0 * ny / nx * 0.6 + 0.8)
    full, close = figure.subplots(1, 2, width_ratios=[nx / ny, 0.62 * nx / ny])
    show_image(full, stretched)
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
        show_image(close, stretched)
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
