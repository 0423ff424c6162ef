"""Curves of growth of bright isolated stars, and the aperture correction they give."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from stackphot.photometry.apertures import CROWDED_SKY, NEIGHBOUR, invalid_pixels, off_image, touches

__all__ = ["GrowthCurve", "GrowthSummary", "curve_of_growth", "isolated_stars", "aperture_correction",
           "measure_growth_curves", "plot_curve_of_growth"]


@dataclass(frozen=True)
class GrowthCurve:
    """One star's curve of growth.

    Attributes
    ----------
    x, y : float
        Centre in pixels.
    radii : 1D array
        Aperture radii in pixels.
    flux, flux_err : 1D arrays
        Enclosed flux per radius and its error (NaN without an error map).
    ee : 1D array
        Encircled energy: ``flux / flux[-1]``, the largest radius standing for the total.
    r50 : float
        Radius enclosing half of the total (cubic interpolation); NaN if the curve never reaches it.
    """

    x: float
    y: float
    radii: np.ndarray
    flux: np.ndarray
    flux_err: np.ndarray
    ee: np.ndarray
    r50: float

    def ee_at(self, radius):
        """Encircled energy at any radius within the measured range (cubic, as photutils); NaN outside."""
        from scipy.interpolate import PchipInterpolator

        return PchipInterpolator(self.radii, self.ee, extrapolate=False)(radius)


def curve_of_growth(data, x: float, y: float, *, radii, error=None, mask=None) -> GrowthCurve:
    """Encircled energy of one star in concentric circular apertures (photutils ``CurveOfGrowth``).

    Parameters
    ----------
    data : 2D array
        Background-subtracted image around the star (subtract the local sky first, e.g. the ``bkg`` of
        ``measure_apertures``): any residual sky makes the curve keep growing.
    x, y : float
        Star centre in pixels.
    radii : sequence of float
        Strictly increasing radii, at least two; the largest must hold essentially all the light, as the
        curve is normalised to it.
    error : 2D array, optional
        One-sigma error map, for ``flux_err``.
    mask : 2D bool array, optional
        Pixels to ignore.

    Returns
    -------
    GrowthCurve

    Raises
    ------
    ValueError
        If the largest aperture holds a NaN, masked or off-image pixel (its light would be missing from
        the total), or the enclosed flux at the largest radius is not positive.
    """
    from photutils.aperture import CircularAperture
    from photutils.profiles import CurveOfGrowth

    data = np.asarray(data, dtype=float)
    radii = np.asarray(radii, dtype=float)
    invalid = invalid_pixels(data, error=error, mask=mask)
    position = np.array([[x, y]], dtype=float)
    largest = CircularAperture(position, radii[-1])
    if off_image(position, radii[-1], data.shape)[0] or touches(invalid.astype(float), largest)[0]:
        raise ValueError(f"the aperture of radius {radii[-1]:g} at ({x:.1f}, {y:.1f}) holds pixels with no data")
    profile = CurveOfGrowth(data, (x, y), radii, error=error, mask=invalid)
    total = profile.profile[-1]
    if not total > 0:
        raise ValueError(f"no positive flux within radius {radii[-1]:g} at ({x:.1f}, {y:.1f})")
    flux_err = profile.profile_error if error is not None else np.full(radii.shape, np.nan)
    # calc_radius_at_ee interpolates the (monotonic part of the) un-normalised profile, so asking for half
    # the flux at the largest radius gives r50 for our normalisation (photutils' normalize uses the maximum).
    r50 = float(profile.calc_radius_at_ee(0.5 * total))
    return GrowthCurve(x=float(x), y=float(y), radii=radii, flux=np.asarray(profile.profile, dtype=float),
                       flux_err=np.asarray(flux_err, dtype=float), ee=profile.profile / total, r50=r50)


def isolated_stars(photometry: pd.DataFrame, *, radius: float, contrast: float = 0.01) -> np.ndarray:
    """Which sources of a ``measure_apertures`` table suit a curve of growth: a positive flux, no flag but
    NEIGHBOUR or CROWDED_SKY, and no neighbour within ``radius`` px brighter than ``contrast`` times it.

    Both flags would leave no bright star in a crowded field, where every star has faint neighbours in
    its annulus; for the brightest stars these neighbours, and the sky bias they cause, are negligible.
    """
    from scipy.spatial import cKDTree

    flux = photometry["flux"].to_numpy()
    usable = ((photometry["flags"].to_numpy() & ~(NEIGHBOUR | CROWDED_SKY)) == 0) & (flux > 0)
    xy = photometry[["x", "y"]].to_numpy()
    if not len(xy):
        return usable
    for i, others in enumerate(cKDTree(xy).query_ball_point(xy, radius)):
        if usable[i]:
            others = [j for j in others if j != i]
            usable[i] = not np.any(np.nan_to_num(flux[others], nan=np.inf) > contrast * flux[i])
    return usable


def aperture_correction(table_or_profiles, radius: float, total_radius: float) -> float:
    """Factor flux(total_radius) / flux(radius) that corrects aperture fluxes to total fluxes.

    The median over the given stars, which should be bright and isolated (their ratio is the PSF's, not
    noise or a neighbour's light).

    Parameters
    ----------
    table_or_profiles : DataFrame or sequence of GrowthCurve
        A ``measure_apertures`` table with columns ``flux_r{radius:g}`` and ``flux_r{total_radius:g}``, or
        curves of growth whose radii span both radii (interpolated).
    radius, total_radius : float
        The measuring radius and the radius taken as total, in pixels.

    Raises
    ------
    ValueError
        If no star gives a finite, positive ratio.
    """
    if isinstance(table_or_profiles, pd.DataFrame):
        ratios = table_or_profiles[f"flux_r{total_radius:g}"] / table_or_profiles[f"flux_r{radius:g}"]
    else:
        ratios = [profile.ee_at(total_radius) / profile.ee_at(radius) for profile in table_or_profiles]
    ratios = np.asarray(ratios, dtype=float)
    ratios = ratios[np.isfinite(ratios) & (ratios > 0)]
    if ratios.size == 0:
        raise ValueError(f"no star gives a finite flux ratio between radii {radius:g} and {total_radius:g}")
    return float(np.median(ratios))


@dataclass(frozen=True)
class GrowthSummary:
    """Curves of growth of a photometry table's brightest isolated stars, and what they give.

    Attributes
    ----------
    table : DataFrame
        One row per star: ``id``, ``x``, ``y``, ``r50``, ``ee_r{radius:g}`` (its encircled energy at the
        measuring radius) and ``correction_r{radius:g}_to_r{total_radius:g}`` (one over it).
    curves : list of GrowthCurve
        The curves, in the table's order.
    correction : float
        The median aperture correction from the measuring radius to the total (``aperture_correction``).
    left_out : dict
        Star id to why its curve could not be measured (missing pixels inside the largest aperture).
    """

    table: pd.DataFrame
    curves: list
    correction: float
    left_out: dict


def measure_growth_curves(data, photometry: pd.DataFrame, *, radius: float, total_radius: float,
                          isolation_radius: float, n_stars: int, step: float = 0.5) -> GrowthSummary:
    """Curves of growth of the ``n_stars`` brightest isolated stars of a ``measure_apertures`` table.

    Stars are chosen by ``isolated_stars`` within ``isolation_radius``, brightest ``flux`` first; each
    curve is measured on the image less that star's own annulus sky (``bkg``), at radii ``step``,
    ``2 step``, ... up to ``total_radius``, which stands for the total (the annulus's inner radius: the
    largest the local sky leaves to the star).

    Raises
    ------
    ValueError
        If no chosen star gives a curve of growth.
    """
    radii = np.arange(step, total_radius + 1e-9, step)
    isolated = isolated_stars(photometry, radius=isolation_radius)
    clean = photometry[isolated].sort_values("flux", ascending=False)
    profiles, left_out = [], {}
    for star in clean.head(n_stars).itertuples():
        try:
            profiles.append((star.id, curve_of_growth(data - star.bkg, star.x, star.y, radii=radii)))
        except ValueError as error:  # missing pixels inside the largest aperture
            left_out[star.id] = str(error)
    if not profiles:
        raise ValueError("no isolated, unflagged star for a curve of growth")
    curves = [curve for _, curve in profiles]
    correction = aperture_correction(curves, radius, total_radius)
    table = pd.DataFrame(
        {
            "id": [star_id for star_id, _ in profiles],
            "x": [curve.x for curve in curves],
            "y": [curve.y for curve in curves],
            "r50": [curve.r50 for curve in curves],
            f"ee_r{radius:g}": [float(curve.ee_at(radius)) for curve in curves],
            f"correction_r{radius:g}_to_r{total_radius:g}": [1 / float(curve.ee_at(radius)) for curve in curves],
        }
    )
    return GrowthSummary(table=table, curves=curves, correction=correction, left_out=left_out)


def plot_curve_of_growth(profiles, path, *, note: str | None = None) -> Path:
    """Write a PNG of encircled energy against radius for each star, with each star's r50 marked; ``note``,
    written across the axes, says why there is no curve where there is none.

    Uses a bare matplotlib ``Figure`` (Agg), so the caller's pyplot backend and state are untouched.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    profiles = list(profiles)
    figure = Figure(figsize=(6, 4.5))
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    for profile in profiles:
        (line,) = axes.plot(profile.radii, profile.ee, lw=1,
                            label=f"({profile.x:.0f}, {profile.y:.0f}) r50 {profile.r50:.2f}")
        axes.plot([profile.r50], [0.5], "o", color=line.get_color())
    if note:
        axes.text(0.5, 0.5, note, transform=axes.transAxes, ha="center", va="center", wrap=True)
    axes.axhline(0.5, color="grey", lw=0.5, ls=":")
    axes.set_xlabel("radius (px)")
    axes.set_ylabel("encircled energy")
    if 0 < len(profiles) <= 12:  # a legend of more stars would hide the curves
        axes.legend(fontsize="small")
    path = Path(path)
    figure.savefig(path, dpi=100)
    return path
