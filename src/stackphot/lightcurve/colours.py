"""Each star's colour, where the night gives two bands: a colour sensor's planes, or two filters' groups of one
night (their catalogs matched on the sky); the light curves choose comparisons of their target's colour."""

from __future__ import annotations

import numpy as np
import pandas as pd


def band_magnitudes(stack_photometry: pd.DataFrame) -> pd.Series:
    """Each source's instrumental magnitude in one band's stack photometry, by catalog id; NaN where its flux is
    not positive or its measurement doubtful. A neighbour's light counts: the colour that matters is that of
    the light in the aperture, which the air reddens."""
    from stackphot.photometry import CROWDED_SKY, NEIGHBOUR

    flux = stack_photometry["flux"].to_numpy(dtype=float)
    doubtful = (stack_photometry["flags"].to_numpy() & ~(NEIGHBOUR | CROWDED_SKY)) != 0
    with np.errstate(invalid="ignore", divide="ignore"):
        mag = np.where((flux > 0) & ~doubtful, -2.5 * np.log10(flux), np.nan)
    return pd.Series(mag, index=stack_photometry["id"].to_numpy())


# Two groups' catalogs of one night, each on its own stack's WCS, are matched on the sky within this: a
# plate solution's error is a fraction of an arcsecond, a field's stars tens of arcseconds apart.
COLOUR_MATCH_ARCSEC = 2.0


def sky_match(catalog: pd.DataFrame, other: pd.DataFrame, *, radius_arcsec: float) -> pd.Series:
    """The ids of ``other``'s sources (a catalog with ``ra``, ``dec``) at ``catalog``'s, within ``radius_arcsec``,
    indexed by ``catalog``'s ids; empty where either catalog has no sky columns."""
    import astropy.units as u
    from astropy.coordinates import SkyCoord, match_coordinates_sky

    if not ({"ra", "dec"} <= set(catalog.columns) and {"ra", "dec"} <= set(other.columns)) or not len(other):
        return pd.Series(dtype=int)
    here = SkyCoord(catalog["ra"].to_numpy() * u.deg, catalog["dec"].to_numpy() * u.deg)
    there = SkyCoord(other["ra"].to_numpy() * u.deg, other["dec"].to_numpy() * u.deg)
    nearest, distance, _ = match_coordinates_sky(here, there)
    close = distance.arcsec <= radius_arcsec
    return pd.Series(other["id"].to_numpy()[nearest[close]], index=catalog["id"].to_numpy()[close])


def star_colours(first: pd.Series, second: pd.Series, ids, *, catalog: pd.DataFrame | None = None,
                 second_catalog: pd.DataFrame | None = None, radius_arcsec: float = 1.0) -> np.ndarray:
    """The colour index ``first - second`` (two bands' ``band_magnitudes``) of each of ``ids``; NaN where either
    band lacks it.

    Both bands are by the ids of one catalog (a colour sensor's planes, measured at the luminance's sources)
    unless ``second_catalog`` is given: then ``second`` is by its ids (another group's stack, registered on its
    own), carried to ``catalog``'s through the sky (``sky_match`` within ``radius_arcsec``); NaN everywhere where
    either catalog has no sky position.
    """
    ids = list(ids)
    if second_catalog is not None:
        matched = sky_match(catalog, second_catalog, radius_arcsec=radius_arcsec)
        second = pd.Series(second.reindex(matched.to_numpy()).to_numpy(dtype=float), index=matched.index)
    return first.reindex(ids).to_numpy(dtype=float) - second.reindex(ids).to_numpy(dtype=float)



# Where the stars' colours are known, comparisons within this colour index of the target's: the atmosphere's
# extinction, and the transparency's changes, depend on colour (second-order extinction). Doubled until
# enough candidates are left, up to the largest, beyond which colour no longer narrows the choice.
COMPARISON_COLOUR_RANGE = 0.25
MAX_COLOUR_RANGE = 2.0


def colour_alike(colour: np.ndarray, target: int, allowed: np.ndarray, *, minimum: int) -> tuple[np.ndarray, float]:
    """The ``allowed`` stars whose colour index lies within ``COMPARISON_COLOUR_RANGE`` of star ``target``'s, the
    range doubled until ``minimum`` of them are left; and the range. All of ``allowed`` (range inf) where the
    target's colour is unknown or no range up to ``MAX_COLOUR_RANGE`` leaves ``minimum``. Stars of unknown colour
    (NaN) are never alike."""
    allowed = np.asarray(allowed, bool)
    if not np.isfinite(colour[target]):
        return allowed, np.inf
    distance = np.abs(np.asarray(colour, float) - colour[target])
    limit = COMPARISON_COLOUR_RANGE
    while limit <= MAX_COLOUR_RANGE:
        alike = allowed & (distance <= limit)
        alike[target] = False
        if alike.sum() >= minimum:
            return allowed & (distance <= limit), limit
        limit *= 2
    return allowed, np.inf


def read_colours(paths, catalog: pd.DataFrame, ids) -> np.ndarray:
    """The colour index of each of ``ids`` from two bands' files as make_light_curve gets them: ``paths`` the
    first band's stack photometry and catalog, then the second's (``star_colours``; the second band's sources
    matched on the sky where its catalog is another)."""
    first, first_catalog, second, second_catalog = (str(path) for path in paths)
    return star_colours(band_magnitudes(pd.read_csv(first)), band_magnitudes(pd.read_csv(second)), ids,
                        catalog=catalog, radius_arcsec=COLOUR_MATCH_ARCSEC,
                        second_catalog=None if second_catalog == first_catalog else pd.read_csv(second_catalog))
