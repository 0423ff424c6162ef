"""Aperture photometry at sky positions, with apertures and annulus sized in arcsec."""

from __future__ import annotations

import numpy as np
import pandas as pd

from stackphot.photometry.apertures import check_geometry, measure_apertures

__all__ = ["measure_sky_apertures", "sky_targets"]


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
        Background-subtracted image (units as they are: convert afterwards, e.g. a surface brightness in
        MJy/sr to a flux density through the pixel's solid angle).
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
    check_geometry(radius_arcsec, r_in, r_out)
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


def sky_targets(targets, *, frame: str, table=None, columns=("ra", "dec"), table_name: str = "table"):
    """Names and sky positions of targets: the listed ones, then the rows of a table.

    Parameters
    ----------
    targets : sequence of mapping
        Each with ``name``, ``lon`` and ``lat`` (degrees).
    frame : str
        The coordinates' frame (``icrs``, ``fk5``, ``galactic``).
    table : astropy Table, optional
        More targets, one a row, named ``{table_name}:{row}``.
    columns : (str, str)
        The table's longitude and latitude columns, in degrees.
    table_name : str
        What the table is called in names and errors (its file).

    Returns
    -------
    names : list of str
    coords : SkyCoord
        One position per name, in that order.

    Raises
    ------
    ValueError
        A column is missing from the table (its columns are named).
    """
    from astropy.coordinates import SkyCoord

    names = [target["name"] for target in targets]
    lon = [target["lon"] for target in targets]
    lat = [target["lat"] for target in targets]
    if table is not None:
        lon_column, lat_column = columns
        for column in (lon_column, lat_column):
            if column not in table.colnames:
                raise ValueError(f"{table_name}: no column {column!r} (columns: {', '.join(table.colnames)})")
        names += [f"{table_name}:{row}" for row in range(len(table))]
        lon += list(np.asarray(table[lon_column], dtype=float))
        lat += list(np.asarray(table[lat_column], dtype=float))
    return names, SkyCoord(lon, lat, unit="deg", frame=frame)
