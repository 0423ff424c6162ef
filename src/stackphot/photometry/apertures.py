"""Circular-aperture photometry at pixel positions, with a local annulus background, and its flags.

Every measurement goes through one internal routine, ``_measure``: circular apertures at given pixel
positions, the sky from the sigma-clipped median of a circular annulus around each position
(``stackphot.photometry.annulus``), and errors that add the error map's aperture sum and the uncertainty of
that median. ``measure_apertures`` calls it with pixel positions; ``stackphot.photometry.sky`` with sky
positions and radii in arcsec converted through the WCS.

No data is ever counted as zero: an aperture that holds a NaN, masked or off-image pixel yields a NaN flux
at that radius (and a flag, below), rather than a sum that silently lacks part of the star.

Flags (bit values, combined with ``|``): ``flags`` those of the largest aperture; with ``aperture_flags``, each
aperture's own EDGE, NONFINITE and SATURATED, and the star's NEIGHBOUR and CROWDED_SKY, per radius.

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

import numpy as np
import pandas as pd

from stackphot.photometry.annulus import annulus_sky

__all__ = ["EDGE", "NONFINITE", "SATURATED", "NEIGHBOUR", "CROWDED_SKY", "measure_apertures", "photometry_units"]

EDGE = 1
NONFINITE = 2
SATURATED = 4
NEIGHBOUR = 8
CROWDED_SKY = 16
# Magnitude error of a flux error: 2.5 / ln(10).
MAG_ERROR_FACTOR = 1.0857


def invalid_pixels(data, *, error, mask) -> np.ndarray:
    """Pixels with no usable value: non-finite data or error, or masked."""
    invalid = ~np.isfinite(data)
    if error is not None:
        invalid |= ~np.isfinite(error)
    if mask is not None:
        invalid |= np.asarray(mask, dtype=bool)
    return invalid


def off_image(positions, radius, shape) -> np.ndarray:
    """Whether a circle of ``radius`` around each (x, y) reaches beyond the outer edges of the pixels."""
    x, y = positions[:, 0], positions[:, 1]
    ny, nx = shape
    return (x - radius < -0.5) | (x + radius > nx - 0.5) | (y - radius < -0.5) | (y + radius > ny - 0.5)


def touches(flagged, aperture) -> np.ndarray:
    """Whether any pixel flagged (1.0, else 0.0) in ``flagged`` overlaps each aperture, even partly."""
    from photutils.aperture import aperture_photometry

    return np.asarray(aperture_photometry(flagged, aperture)["aperture_sum"]) > 0


def touches_per_radius(flagged, positions, radii) -> np.ndarray:
    """``touches`` of the circles of each radius (columns) around ``positions``: the largest everywhere, a smaller
    one only where the largest touches, as a circle inside one that misses every flagged pixel misses them too."""
    from photutils.aperture import CircularAperture

    touched = np.zeros((len(positions), len(radii)), dtype=bool)
    if not flagged.any():
        return touched
    largest = int(np.argmax(radii))
    touched[:, largest] = touches(flagged, CircularAperture(positions, radii[largest]))
    some = np.flatnonzero(touched[:, largest])
    for i, radius in enumerate(radii):
        if i != largest and some.size:
            touched[some, i] = touches(flagged, CircularAperture(positions[some], radius))
    return touched


def _measure(data, positions, radii, r_in, r_out, *, error, mask, saturated, neighbour_radius, sigma,
             sky_mask, min_sky_fraction, global_sky):
    """Core of the aperture photometry: per position the local (or global) sky and, per radius, flux and error.

    Returns a dict of arrays: ``bkg``, ``bkg_err`` (n,), ``flux``, ``flux_err``, ``aperture_flags`` (n, n_radii),
    ``flags`` (n,: the largest aperture's column of ``aperture_flags``).
    """
    from photutils.aperture import CircularAnnulus, CircularAperture, aperture_photometry
    from scipy.spatial import cKDTree

    n = len(positions)
    if n == 0:
        return {"bkg": np.empty(0), "bkg_err": np.empty(0), "flux": np.empty((0, len(radii))),
                "flux_err": np.empty((0, len(radii))), "aperture_flags": np.empty((0, len(radii)), dtype=int),
                "flags": np.empty(0, dtype=int)}
    data = np.asarray(data, dtype=float)
    error = None if error is None else np.asarray(error, dtype=float)
    invalid = invalid_pixels(data, error=error, mask=mask)

    annulus = CircularAnnulus(positions, r_in, r_out)
    crowded = np.zeros(n, dtype=bool)
    if global_sky is not None:
        global_sky = np.broadcast_to(np.asarray(global_sky, dtype=float), data.shape)
        bkg = _aperture_mean(global_sky, CircularAperture(positions, radii[0]))
        bkg_err = np.zeros(n)
    elif sky_mask is None:
        bkg, bkg_err, _ = annulus_sky(data, annulus, invalid, sigma)
    else:
        # Clipping alone leaves the faint wings of neighbours in a crowded annulus, biasing the sky high.
        bkg, bkg_err, n_sky = annulus_sky(data, annulus, invalid | np.asarray(sky_mask, dtype=bool), sigma)
        crowded = ~(n_sky >= min_sky_fraction * annulus.area)
        if crowded.any():
            bkg[crowded], bkg_err[crowded], _ = annulus_sky(data, annulus[crowded], invalid, sigma)

    edge = np.column_stack([off_image(positions, radius, data.shape) for radius in radii])
    nonfinite = touches_per_radius(invalid.astype(float), positions, radii)
    flux = np.empty((n, len(radii)))
    flux_err = np.full((n, len(radii)), np.nan)
    for i, radius in enumerate(radii):
        aperture = CircularAperture(positions, radius)
        # The mask keeps NaNs out of the sum (they would spoil even pixels of zero overlap); apertures that
        # do hold an invalid or off-image pixel are then set to NaN, not left short of that pixel's light.
        table = aperture_photometry(data, aperture, error=error, mask=invalid)
        no_data = nonfinite[:, i] | edge[:, i]
        # The global map's own sum over each aperture, as Source Extractor subtracts it pixel by pixel.
        sky = bkg * aperture.area if global_sky is None else _aperture_mean(global_sky, aperture) * aperture.area
        flux[:, i] = np.where(no_data, np.nan, np.asarray(table["aperture_sum"]) - sky)
        if error is not None:
            flux_err[:, i] = np.where(no_data, np.nan,
                                      np.hypot(np.asarray(table["aperture_sum_err"]), aperture.area * bkg_err))

    aperture_flags = np.where(edge, EDGE, 0) | np.where(nonfinite, NONFINITE, 0)
    if saturated is not None:
        saturated_weight = np.asarray(saturated, dtype=bool).astype(float)
        aperture_flags |= np.where(touches_per_radius(saturated_weight, positions, radii), SATURATED, 0)
    nearest = cKDTree(positions).query(positions, k=2)[0][:, 1]  # inf when there is no other position
    star_flags = np.where(nearest <= (r_out if neighbour_radius is None else neighbour_radius), NEIGHBOUR, 0)
    star_flags |= np.where(crowded, CROWDED_SKY, 0)
    aperture_flags = (aperture_flags | star_flags[:, None]).astype(int)
    return {"bkg": bkg, "bkg_err": bkg_err, "flux": flux, "flux_err": flux_err, "aperture_flags": aperture_flags,
            "flags": aperture_flags[:, int(np.argmax(radii))]}


def _aperture_mean(image, aperture) -> np.ndarray:
    """The mean of ``image`` over each aperture (exact overlaps; NaN pixels count as 0)."""
    from photutils.aperture import aperture_photometry

    return np.asarray(aperture_photometry(np.nan_to_num(image), aperture)["aperture_sum"]) / aperture.area


def check_geometry(radii, r_in, r_out) -> np.ndarray:
    """The radii as an array, once they are positive and distinct and the annulus lies outside them all."""
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
                      min_sky_fraction: float = 0.25, global_sky=None, aperture_flags: bool = False) -> pd.DataFrame:
    """Circular-aperture photometry with a local background from an annulus around each source, or a global
    one from a background map.

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
    aperture_flags : bool
        Also each aperture's flags, ``flags_r{r:g}``: a neighbour's saturated pixel or a NaN out at the largest
        radius then spoils only the apertures it reaches.

    Returns
    -------
    DataFrame with one row per source: ``id``, ``x``, ``y``, ``bkg`` (local sky per pixel), ``bkg_err``;
    per radius r ``flux_r{r:g}``, ``flux_err_r{r:g}`` (e.g. ``flux_r4``, ``flux_err_r2.5``); for the first
    radius ``flux``, ``flux_err``, ``mag``, ``mag_err`` (both NaN where flux <= 0 or NaN); ``flags`` (int:
    EDGE, NONFINITE, SATURATED, NEIGHBOUR, CROWDED_SKY of this module, for the largest aperture; read it as
    ``table["flags"]``, as ``table.flags`` is pandas' own attribute). A flux is NaN when its
    aperture holds a NaN, masked or off-image pixel, or when the annulus has no valid pixel. With
    ``aperture_flags``, per radius r ``flags_r{r:g}`` (int: that aperture's EDGE, NONFINITE, SATURATED and the
    star's NEIGHBOUR, CROWDED_SKY) after ``flags``.

    Raises
    ------
    ValueError
        If radii are not positive and distinct, the annulus is not outside the largest aperture, or x, y,
        ids differ in length.
    """
    r_in, r_out = annulus
    radii = check_geometry(radii, r_in, r_out)
    x = np.atleast_1d(np.asarray(x, dtype=float))
    y = np.atleast_1d(np.asarray(y, dtype=float))
    ids = np.arange(1, x.size + 1) if ids is None else np.atleast_1d(np.asarray(ids))
    if not x.shape == y.shape == ids.shape or x.ndim != 1:
        raise ValueError(f"x, y and ids must be 1D and of one length, got {x.shape}, {y.shape}, {ids.shape}")
    measured = _measure(data, np.column_stack([x, y]), radii, r_in, r_out, error=error, mask=mask,
                        saturated=saturated, neighbour_radius=neighbour_radius, sigma=sigma, sky_mask=sky_mask,
                        min_sky_fraction=min_sky_fraction, global_sky=global_sky)
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
    if aperture_flags:
        columns.update({f"flags_r{radius:g}": measured["aperture_flags"][:, i] for i, radius in enumerate(radii)})
    return pd.DataFrame(columns)


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
