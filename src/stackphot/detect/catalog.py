"""The workflow's catalog of one image: leftover sky, finder passes, residual pass, centroids, sky columns."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from stackphot.background import estimate_background
from stackphot.detect.centroids import refine_centroids
from stackphot.detect.finders import find_sources
from stackphot.detect.passes import DetectionPass, as_passes
from stackphot.detect.residual import add_residual_sources

__all__ = ["detect_catalog", "add_sky_coordinates", "catalog_units"]

_PIXEL_COLUMNS = ("x", "y", "x_detect", "y_detect", "fwhm")


def detect_catalog(data, error, *, passes: Sequence[DetectionPass | Mapping], box_size: int,
                   match_radius: float | None = None, clean: bool = False, residual_pass: bool = False,
                   centroid: str = "com", centroid_box: int = 11,
                   centroid_max_shift: float | None = None) -> pd.DataFrame:
    """Sources of a sky-subtracted image, found in all passes, merged and centroided.

    What is left of the sky is removed first (a mesh background of ``box_size``). Each pixel's detection
    noise is its own ``error``, never below the leftover sky's RMS: near a stack's edges fewer frames cover
    a pixel, and there the noise is higher than the sky's median RMS. With ``residual_pass`` the sources
    that the found ones hid are added (``add_residual_sources``). A source with no positive finder flux
    above the local sky is noise however it peaked, and is dropped. Centroids are then refined
    (``refine_centroids``), those of the residual pass's sources on the image less the others' light.

    Parameters
    ----------
    data : 2D array
        Sky-subtracted image; NaN where there is no data.
    error : 2D array
        One-sigma error per pixel; non-finite values take the leftover sky's RMS.
    passes, match_radius, clean
        As for ``find_sources``.
    box_size : int
        Mesh size (px) of the leftover sky.
    residual_pass : bool
        Also find the sources hidden by the others' light (skipped when nothing was found).
    centroid, centroid_box, centroid_max_shift
        ``method``, ``box_size`` and ``max_shift`` of ``refine_centroids``.

    Returns
    -------
    pandas.DataFrame
        ``find_sources``' columns with ids renumbered 1..n after the drop, ``x``, ``y`` the refined
        centroids (columns 1 and 2) and ``x_detect``, ``y_detect`` the finder's.
    """
    invalid = ~np.isfinite(data)
    leftover_sky = estimate_background(data, method="mesh", box_size=box_size, mask=invalid)
    image = data - leftover_sky.map
    noise = np.where(np.isfinite(error), np.fmax(error, leftover_sky.rms), leftover_sky.rms)
    passes = as_passes(passes)
    catalog = find_sources(image, passes=passes, rms=noise, mask=invalid, match_radius=match_radius, clean=clean)
    residual = image
    if residual_pass and len(catalog):
        catalog, residual = add_residual_sources(image, catalog, passes=passes, rms=noise, mask=invalid,
                                                 error=noise, match_radius=match_radius, clean=clean)
    catalog = catalog[catalog.flux > 0].reset_index(drop=True)
    catalog["id"] = np.arange(1, len(catalog) + 1)
    x, y = np.empty(len(catalog)), np.empty(len(catalog))
    for found_in_residual, picture in ((False, image), (True, residual)):
        rows = (catalog["residual"] == found_in_residual).to_numpy()
        x[rows], y[rows] = refine_centroids(picture, catalog.x[rows], catalog.y[rows], method=centroid,
                                            box_size=centroid_box, mask=invalid, max_shift=centroid_max_shift)
    catalog = catalog.rename(columns={"x": "x_detect", "y": "y_detect"})
    catalog.insert(1, "x", x)
    catalog.insert(2, "y", y)
    return catalog


def add_sky_coordinates(catalog: pd.DataFrame, wcs) -> pd.DataFrame:
    """The catalog with ICRS ``ra``, ``dec`` (degrees) of its ``x``, ``y`` through a celestial WCS.

    Unchanged (a copy) when ``wcs`` is None or the catalog is empty: no sky columns then.
    """
    catalog = catalog.copy()
    if wcs is not None and len(catalog):
        sky = wcs.pixel_to_world(catalog.x.to_numpy(), catalog.y.to_numpy()).icrs
        catalog["ra"], catalog["dec"] = sky.ra.deg, sky.dec.deg
    return catalog


def catalog_units(columns, flux_unit: str) -> dict[str, str]:
    """Units of a catalog's columns, for ECSV: pixels, the image's unit for ``peak`` and ``flux``, degrees."""
    units = {column: "pix" for column in _PIXEL_COLUMNS if column in columns}
    units.update({column: flux_unit for column in ("peak", "flux") if column in columns})
    units.update({column: "deg" for column in ("ra", "dec") if column in columns})
    return units
