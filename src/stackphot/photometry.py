"""Aperture photometry with a local annulus background, curves of growth and aperture corrections.

Every measurement goes through one internal routine, ``_measure``: circular apertures at given pixel
positions, the sky from the sigma-clipped median of a circular annulus around each position, and errors that
add the error map's aperture sum and the uncertainty of that median. ``measure_apertures`` calls it with
pixel positions, ``measure_sky_apertures`` with sky positions and radii in arcsec converted through the WCS.

No data is ever counted as zero: an aperture that holds a NaN, masked or off-image pixel yields a NaN flux
at that radius (and a flag, below), rather than a sum that silently lacks part of the star.

Flags (bit values, combined with ``|``; all refer to the largest aperture):

``EDGE`` (1)
    the aperture reaches beyond the image.
``NONFINITE`` (2)
    a NaN, masked or error-NaN pixel lies (even partly) inside the aperture.
``SATURATED`` (4)
    a saturated pixel lies (even partly) inside the aperture.
``NEIGHBOUR`` (8)
    another of the measured positions lies within ``neighbour_radius``.
``CROWDED_SKY`` (16)
    masking other sources left less than ``min_sky_fraction`` of the annulus, so the sky is the clipped
    median of the whole annulus, neighbours' light included (biased high: the flux is too low).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from stackphot.numerics import box_pixels, median_over_frames

EDGE = 1
NONFINITE = 2
SATURATED = 4
NEIGHBOUR = 8
CROWDED_SKY = 16

# Standard error of the median of n normal values: sqrt(pi / 2) sigma / sqrt(n).
MEDIAN_ERROR_FACTOR = 1.2533
# Magnitude error of a flux error: 2.5 / ln(10).
MAG_ERROR_FACTOR = 1.0857
ARCSEC_PER_RADIAN = 180.0 * 3600.0 / np.pi


def _invalid_pixels(data, *, error, mask) -> np.ndarray:
    """Pixels with no usable value: non-finite data or error, or masked."""
    invalid = ~np.isfinite(data)
    if error is not None:
        invalid |= ~np.isfinite(error)
    if mask is not None:
        invalid |= np.asarray(mask, dtype=bool)
    return invalid


def _off_image(positions, radius, shape) -> np.ndarray:
    """Whether a circle of ``radius`` around each (x, y) reaches beyond the outer edges of the pixels."""
    x, y = positions[:, 0], positions[:, 1]
    ny, nx = shape
    return (x - radius < -0.5) | (x + radius > nx - 0.5) | (y - radius < -0.5) | (y + radius > ny - 0.5)


def _touches(flagged, aperture) -> np.ndarray:
    """Whether any pixel flagged (1.0, else 0.0) in ``flagged`` overlaps each aperture, even partly."""
    from photutils.aperture import aperture_photometry

    return np.asarray(aperture_photometry(flagged, aperture)["aperture_sum"]) > 0


def _annulus_sky(data, annulus, invalid, sigma, *, maxiters: int = 5, chunk: int = 2000):
    """Sigma-clipped median of each annulus, its standard error and the number of pixels it used.

    The statistics of photutils' ``ApertureStats(data, annulus, mask=invalid, sigma_clip=SigmaClip(sigma))``
    (the pixels whose centres lie in the annulus, clipped around the median by the standard deviation at
    most ``maxiters`` times, as astropy's ``SigmaClip`` does by default), computed for all annuli at once on
    arrays of their pixels instead of one sigma clip per source.
    """
    x, y = np.atleast_2d(annulus.positions).T
    r_in, r_out = annulus.r_in, annulus.r_out
    half = math.ceil(r_out)
    size = 2 * half + 1
    local_y, local_x = (g.ravel() for g in np.indices((size, size)))
    median, std, n_sky = (np.full(x.size, np.nan) for _ in range(3))
    for first in range(0, x.size, chunk):  # bounded memory on a large catalogue
        part = slice(first, first + chunk)
        x_start = np.rint(x[part]).astype(int) - half
        y_start = np.rint(y[part]).astype(int) - half
        pixels, on_image = box_pixels(data.shape, x_start, y_start, size)
        distance2 = ((x_start[:, None] + local_x - x[part, None]) ** 2
                     + (y_start[:, None] + local_y - y[part, None]) ** 2)
        kept = on_image & ~np.take(invalid, pixels) & (distance2 >= r_in**2) & (distance2 < r_out**2)
        values = np.take(data, pixels)
        for _ in range(maxiters):
            centre, spread = _row_median(values, kept)[:, None], _row_std(values, kept)[:, None]
            still = kept & (values >= centre - sigma * spread) & (values <= centre + sigma * spread)
            if np.array_equal(still, kept):
                break
            kept = still
        median[part], std[part], n_sky[part] = _row_median(values, kept), _row_std(values, kept), kept.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):  # an annulus with no valid pixel: NaN
        median_err = MEDIAN_ERROR_FACTOR * std / np.sqrt(n_sky)
    return median, median_err, n_sky


def _row_median(values, kept):
    """Median of each row's kept values (NaN for none), as the stack's median over frames computes it."""
    return median_over_frames(np.where(kept, values, np.nan).T, kept.T, kept.sum(axis=1))


def _row_std(values, kept):
    """Standard deviation of each row's kept values (NaN for none)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        count = kept.sum(axis=1)
        mean = np.where(kept, values, 0.0).sum(axis=1) / count
        return np.sqrt(np.where(kept, (values - mean[:, None]) ** 2, 0.0).sum(axis=1) / count)


def _measure(data, positions, radii, r_in, r_out, *, error, mask, saturated, neighbour_radius, sigma,
             sky_mask, min_sky_fraction):
    """Core of the aperture photometry: per position the local sky and, per radius, flux and error.

    Returns a dict of arrays: ``bkg``, ``bkg_err`` (n,), ``flux``, ``flux_err`` (n, n_radii), ``flags`` (n,).
    """
    from photutils.aperture import CircularAnnulus, CircularAperture, aperture_photometry
    from scipy.spatial import cKDTree

    n = len(positions)
    if n == 0:
        return {"bkg": np.empty(0), "bkg_err": np.empty(0), "flux": np.empty((0, len(radii))),
                "flux_err": np.empty((0, len(radii))), "flags": np.empty(0, dtype=int)}
    data = np.asarray(data, dtype=float)
    error = None if error is None else np.asarray(error, dtype=float)
    invalid = _invalid_pixels(data, error=error, mask=mask)
    invalid_weight = invalid.astype(float)

    annulus = CircularAnnulus(positions, r_in, r_out)
    crowded = np.zeros(n, dtype=bool)
    if sky_mask is None:
        bkg, bkg_err, _ = _annulus_sky(data, annulus, invalid, sigma)
    else:
        # Clipping alone leaves the faint wings of neighbours in a crowded annulus, biasing the sky high.
        bkg, bkg_err, n_sky = _annulus_sky(data, annulus, invalid | np.asarray(sky_mask, dtype=bool), sigma)
        crowded = ~(n_sky >= min_sky_fraction * annulus.area)
        if crowded.any():
            bkg[crowded], bkg_err[crowded], _ = _annulus_sky(data, annulus[crowded], invalid, sigma)

    flux = np.empty((n, len(radii)))
    flux_err = np.full((n, len(radii)), np.nan)
    for i, radius in enumerate(radii):
        aperture = CircularAperture(positions, radius)
        # The mask keeps NaNs out of the sum (they would spoil even pixels of zero overlap); apertures that
        # do hold an invalid or off-image pixel are then set to NaN, not left short of that pixel's light.
        table = aperture_photometry(data, aperture, error=error, mask=invalid)
        no_data = _touches(invalid_weight, aperture) | _off_image(positions, radius, data.shape)
        flux[:, i] = np.where(no_data, np.nan, np.asarray(table["aperture_sum"]) - bkg * aperture.area)
        if error is not None:
            flux_err[:, i] = np.where(no_data, np.nan,
                                      np.hypot(np.asarray(table["aperture_sum_err"]), aperture.area * bkg_err))

    largest = CircularAperture(positions, max(radii))
    flags = np.where(_off_image(positions, max(radii), data.shape), EDGE, 0)
    flags |= np.where(_touches(invalid_weight, largest), NONFINITE, 0)
    if saturated is not None:
        flags |= np.where(_touches(np.asarray(saturated, dtype=bool).astype(float), largest), SATURATED, 0)
    nearest = cKDTree(positions).query(positions, k=2)[0][:, 1]  # inf when there is no other position
    flags |= np.where(nearest <= (r_out if neighbour_radius is None else neighbour_radius), NEIGHBOUR, 0)
    flags |= np.where(crowded, CROWDED_SKY, 0)
    return {"bkg": bkg, "bkg_err": bkg_err, "flux": flux, "flux_err": flux_err, "flags": flags.astype(int)}


def _check_geometry(radii, r_in, r_out) -> np.ndarray:
    radii = np.atleast_1d(np.asarray(radii, dtype=float))
    names = [f"{r:g}" for r in radii]
    if radii.size == 0 or np.any(radii <= 0) or len(set(names)) != len(names):
        raise ValueError(f"radii must be positive and distinct, got {list(radii)}")
    if not 0 < r_in < r_out:
        raise ValueError(f"the annulus needs 0 < r_in < r_out, got ({r_in}, {r_out})")
    if radii.max() > r_in:
        raise ValueError(f"the annulus ({r_in}, {r_out}) must lie outside the largest aperture ({radii.max():g}): "
                         "otherwise it measures the star as sky")
    return radii


def measure_apertures(data, x, y, *, radii, annulus, ids=None, error=None, mask=None, saturated=None,
                      neighbour_radius=None, zero_point: float = 25.0, sigma: float = 3.0, sky_mask=None,
                      min_sky_fraction: float = 0.25) -> pd.DataFrame:
    """Circular-aperture photometry with a local background from an annulus around each source.

    Per source the sky is the sigma-clipped median of the annulus pixels (those whose centre lies in it;
    photutils ``ApertureStats``), per pixel, scaled by each aperture's area and subtracted. The error of a
    flux in an aperture of area A is

        flux_err = sqrt(err_sum**2 + (A * bkg_err)**2),   bkg_err = 1.2533 * std / sqrt(n),

    where ``err_sum`` is the error map added in quadrature over the aperture (photutils
    ``aperture_photometry``), ``std`` the clipped standard deviation of the n annulus pixels kept, and
    ``bkg_err`` the standard error of their median. It assumes independent pixels: on resampled images
    (mosaics, aligned stacks) neighbouring pixels are correlated and both terms are underestimated.

    Parameters
    ----------
    data : 2D array
        Background-subtracted image; NaN where there is no data. Any residual sky is removed by the annulus.
    x, y : array-like
        Source positions in pixels (0-based, pixel centres at integers). Empty: an empty table.
    radii : float or sequence of float
        Aperture radii in pixels; the first is the default radius of ``flux``, ``mag`` and their errors.
    annulus : (float, float)
        Inner and outer radius of the background annulus in pixels; it must lie outside every aperture.
    ids : array-like, optional
        Source identifiers; default 1..n.
    error : 2D array, optional
        One-sigma error per pixel, holding all noise (sky and the sources' Poisson noise). Without it the
        aperture's own noise is unknown and ``flux_err`` columns are NaN (``bkg_err`` is still measured).
    mask : 2D bool array, optional
        Pixels to ignore: left out of the annulus; inside an aperture they make that radius's flux NaN.
    saturated : 2D bool array, optional
        Saturated pixels, for the SATURATED flag (they are still summed).
    neighbour_radius : float, optional
        Distance in pixels within which another of the given positions sets NEIGHBOUR; default the
        annulus's outer radius.
    zero_point : float
        ``mag = zero_point - 2.5 log10(flux)``.
    sigma : float
        Clipping threshold for the annulus statistics.
    sky_mask : 2D bool array, optional
        Pixels of sources (e.g. ``stackphot.background.source_mask``), left out of the annuli only.
    min_sky_fraction : float
        With ``sky_mask``: an annulus left with fewer than this fraction of its area uses all its pixels
        instead, and is flagged CROWDED_SKY.

    Returns
    -------
    DataFrame with one row per source: ``id``, ``x``, ``y``, ``bkg`` (local sky per pixel), ``bkg_err``;
    per radius r ``flux_r{r:g}``, ``flux_err_r{r:g}`` (e.g. ``flux_r4``, ``flux_err_r2.5``); for the first
    radius ``flux``, ``flux_err``, ``mag``, ``mag_err`` (both NaN where flux <= 0 or NaN); ``flags`` (int:
    EDGE, NONFINITE, SATURATED, NEIGHBOUR, CROWDED_SKY of this module, for the largest aperture; read it as
    ``table["flags"]``, as ``table.flags`` is pandas' own attribute). A flux is NaN when its
    aperture holds a NaN, masked or off-image pixel, or when the annulus has no valid pixel.

    Raises
    ------
    ValueError
        If radii are not positive and distinct, the annulus is not outside the largest aperture, or x, y,
        ids differ in length.
    """
    r_in, r_out = annulus
    radii = _check_geometry(radii, r_in, r_out)
    x = np.atleast_1d(np.asarray(x, dtype=float))
    y = np.atleast_1d(np.asarray(y, dtype=float))
    ids = np.arange(1, x.size + 1) if ids is None else np.atleast_1d(np.asarray(ids))
    if not x.shape == y.shape == ids.shape or x.ndim != 1:
        raise ValueError(f"x, y and ids must be 1D and of one length, got {x.shape}, {y.shape}, {ids.shape}")
    measured = _measure(data, np.column_stack([x, y]), radii, r_in, r_out, error=error, mask=mask,
                        saturated=saturated, neighbour_radius=neighbour_radius, sigma=sigma, sky_mask=sky_mask,
                        min_sky_fraction=min_sky_fraction)
    columns = {"id": ids, "x": x, "y": y, "bkg": measured["bkg"], "bkg_err": measured["bkg_err"]}
    for i, radius in enumerate(radii):
        columns[f"flux_r{radius:g}"] = measured["flux"][:, i]
        columns[f"flux_err_r{radius:g}"] = measured["flux_err"][:, i]
    flux, flux_err = measured["flux"][:, 0], measured["flux_err"][:, 0]
    positive = flux > 0
    safe = np.where(positive, flux, 1.0)  # keeps log10 and the division quiet where the answer is NaN anyway
    columns["flux"], columns["flux_err"] = flux, flux_err
    columns["mag"] = np.where(positive, zero_point - 2.5 * np.log10(safe), np.nan)
    columns["mag_err"] = np.where(positive, MAG_ERROR_FACTOR * flux_err / safe, np.nan)
    columns["flags"] = measured["flags"]
    return pd.DataFrame(columns)


def measure_sky_apertures(data, wcs, coords, *, radius_arcsec: float, annulus_arcsec, error=None, mask=None,
                          saturated=None, sigma: float = 3.0, sky_mask=None,
                          min_sky_fraction: float = 0.25) -> pd.DataFrame:
    """Aperture photometry at sky positions, with apertures and annulus sized in arcsec.

    The same measurement as ``measure_apertures`` (same background, errors, NaN rules and flags) after
    converting photutils ``SkyCircularAperture``/``SkyCircularAnnulus`` to pixels with ``.to_pixel(wcs)``.
    photutils converts the radii with the WCS pixel scale at the first position, so on a strongly
    distorted or very wide field the radii in arcsec hold only near that position. NEIGHBOUR uses the
    annulus's outer radius.

    Parameters
    ----------
    data : 2D array
        Background-subtracted image (units as they are: convert afterwards, e.g. with
        ``surface_brightness_to_flux_density`` for MJy/sr).
    wcs : astropy WCS
        The image's celestial WCS.
    coords : SkyCoord
        Source positions, in any frame the WCS can convert; scalar or array; empty gives an empty table.
    radius_arcsec : float
        Aperture radius.
    annulus_arcsec : (float, float)
        Inner and outer background radius; outside the aperture.
    error, mask, saturated, sigma, sky_mask, min_sky_fraction
        As for ``measure_apertures``.

    Returns
    -------
    DataFrame with the coordinates' own longitude and latitude names and values in degrees (``ra``,
    ``dec`` for ICRS; ``l``, ``b`` for galactic), then ``x``, ``y``, ``flux``, ``flux_err``, ``bkg``,
    ``bkg_err``, ``flags``.
    """
    import astropy.units as u
    from photutils.aperture import SkyCircularAnnulus, SkyCircularAperture

    r_in, r_out = annulus_arcsec
    _check_geometry(radius_arcsec, r_in, r_out)
    coords = coords.reshape((-1,)) if coords.isscalar else coords
    lon, lat = list(coords.representation_component_names)[:2]
    columns = [lon, lat, "x", "y", "flux", "flux_err", "bkg", "bkg_err", "flags"]
    if coords.size == 0:  # photutils cannot convert an aperture with no position
        return pd.DataFrame({name: np.empty(0, dtype=int if name == "flags" else float) for name in columns})
    aperture = SkyCircularAperture(coords, radius_arcsec * u.arcsec).to_pixel(wcs)
    annulus = SkyCircularAnnulus(coords, r_in * u.arcsec, r_out * u.arcsec).to_pixel(wcs)
    positions = np.atleast_2d(aperture.positions)
    table = measure_apertures(data, positions[:, 0], positions[:, 1], radii=aperture.r,
                              annulus=(annulus.r_in, annulus.r_out), error=error, mask=mask,
                              saturated=saturated, sigma=sigma, sky_mask=sky_mask,
                              min_sky_fraction=min_sky_fraction)
    table.insert(0, lon, getattr(coords, lon).deg)
    table.insert(1, lat, getattr(coords, lat).deg)
    return table[columns]


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
    invalid = _invalid_pixels(data, error=error, mask=mask)
    position = np.array([[x, y]], dtype=float)
    largest = CircularAperture(position, radii[-1])
    if _off_image(position, radii[-1], data.shape)[0] or _touches(invalid.astype(float), largest)[0]:
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


def plot_curve_of_growth(profiles, path) -> Path:
    """Write a PNG of encircled energy against radius for each star, with each star's r50 marked.

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
    axes.axhline(0.5, color="grey", lw=0.5, ls=":")
    axes.set_xlabel("radius (px)")
    axes.set_ylabel("encircled energy")
    if len(profiles) <= 12:  # a legend of more stars would hide the curves
        axes.legend(fontsize="small")
    path = Path(path)
    figure.savefig(path, dpi=100)
    return path


def pixel_solid_angle_sr(wcs) -> float:
    """Solid angle of one pixel in steradians, from the WCS's projection-plane pixel area.

    Exact at the projection's reference point; on wide fields the true pixel solid angle varies across
    the image (e.g. as cos(latitude) in a CAR projection).
    """
    from astropy.wcs.utils import proj_plane_pixel_area

    return float(proj_plane_pixel_area(wcs.celestial)) * (np.pi / 180.0) ** 2


def surface_brightness_to_flux_density(values_mjy_sr, pixel_scale_arcsec: float):
    """Convert sums of pixel values in MJy/sr to flux densities in mJy.

    A pixel of 1 MJy/sr holds 1e6 Jy * Omega = 1e9 mJy * Omega, with Omega = (scale / 206264.8")^2 its
    solid angle. Works on scalars, arrays and pandas Series alike (NaN stays NaN).
    """
    return np.multiply(values_mjy_sr, 1e9 * (pixel_scale_arcsec / ARCSEC_PER_RADIAN) ** 2)


def photometry_units(columns, flux_unit: str) -> dict[str, str]:
    """Units of a photometry table's columns, for ECSV: pixels, the image's flux unit, magnitudes, degrees."""
    units = {}
    for column in columns:
        if column in ("x", "y") or column.startswith("r50"):
            units[column] = "pix"
        elif column.startswith("flux"):
            units[column] = flux_unit
        elif column.startswith("bkg"):
            units[column] = f"{flux_unit} / pix"
        elif column.startswith("mag"):
            units[column] = "mag"
        elif column in ("ra", "dec", "l", "b", "lon", "lat"):
            units[column] = "deg"
    return units
