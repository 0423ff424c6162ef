"""The workflow's catalog of one image: leftover sky, finder passes, residual pass, centroids, the segmentation
pass and its measurements, sky columns."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from stackphot.background import estimate_background
from stackphot.detect.centroids import refine_centroids
from stackphot.detect.cores import fill_saturated_cores
from stackphot.detect.finders import find_sources
from stackphot.detect.passes import DetectionPass, as_passes
from stackphot.detect.residual import add_residual_sources
from stackphot.detect.morphology import morphology_units
from stackphot.detect.segmentation import SEGMENTATION_PASS, detect_segments, merge_segments

__all__ = ["detect_catalog", "add_sky_coordinates", "catalog_units"]

_PIXEL_COLUMNS = ("x", "y", "x_detect", "y_detect", "fwhm")


def detect_catalog(data, error, *, passes: Sequence[DetectionPass | Mapping], box_size: int,
                   match_radius: float | None = None, clean: bool = False, residual_pass: bool = False,
                   centroid: str = "com", centroid_box: int = 11, centroid_max_shift: float | None = None,
                   segmentation: Mapping | None = None, saturated=None):
    """Sources of a sky-subtracted image, found in all passes, merged and centroided; with ``segmentation``,
    measured as Source Extractor would, and joined by the extended sources the finders miss.

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
    segmentation : mapping, optional
        ``detect_segments``' ``fwhm`` (None: the first pass's), ``threshold``, ``npixels``, ``nlevels``,
        ``contrast``; ``add_sources`` and ``min_snr`` (``merge_segments``'): a segmentation pass on the same
        image and noise, merged (``merge_segments``, within ``match_radius``). With ``add_sources``, its
        sources that no finder found are added, with their windowed centroid as ``x``, ``y`` (and
        ``x_detect``, ``y_detect``), ``flux_auto`` as ``flux``, ``flux_max`` as ``peak`` and twice their
        half-light radius as ``fwhm`` (a Gaussian's).
    saturated : 2D bool array, optional
        Saturated pixels, for the segmentation's SATURATED flag; the saturated cores found as holes of no data
        (``cores.fill_saturated_cores``) are added. Those cores are filled at their rim's highest value for the
        finders, the centroids and the segmentation (a saturated star is found and centred on its plateau, as
        Source Extractor does), not for the residual pass's PSF fits.

    Returns
    -------
    (pandas.DataFrame, SegmentationImage or None)
        The catalog: ``find_sources``' columns with ids renumbered 1..n after the drop, ``x``, ``y`` the
        refined centroids (columns 1 and 2) and ``x_detect``, ``y_detect`` the finder's; with
        ``segmentation``, then ``segment_id`` and the columns of ``morphology.SEXTRACTOR_NAMES``. And the
        segmentation image (labels: ``segment_id``), None without ``segmentation`` or when it found nothing.
    """
    invalid = ~np.isfinite(data)
    leftover_sky = estimate_background(data, method="mesh", box_size=box_size, mask=invalid)
    image = data - leftover_sky.map
    noise = np.where(np.isfinite(error), np.fmax(error, leftover_sky.rms), leftover_sky.rms)
    # Saturated cores are found and centred on their plateau; the PSF fits of the residual pass keep them out.
    image, cores = fill_saturated_cores(image, invalid, noise)
    searched = invalid & ~cores
    passes = as_passes(passes)
    catalog = find_sources(image, passes=passes, rms=noise, mask=searched, match_radius=match_radius, clean=clean)
    residual = image
    if residual_pass and len(catalog):
        catalog, residual = add_residual_sources(image, catalog, passes=passes, rms=noise, mask=invalid,
                                                 error=noise, match_radius=match_radius, clean=clean)
    catalog = catalog[catalog.flux > 0].reset_index(drop=True)
    catalog["id"] = np.arange(1, len(catalog) + 1)
    x, y = np.empty(len(catalog)), np.empty(len(catalog))
    for found_in_residual, picture, masked in ((False, image, searched), (True, residual, invalid)):
        rows = (catalog["residual"] == found_in_residual).to_numpy()
        x[rows], y[rows] = refine_centroids(picture, catalog.x[rows], catalog.y[rows], method=centroid,
                                            box_size=centroid_box, mask=masked, max_shift=centroid_max_shift)
    catalog = catalog.rename(columns={"x": "x_detect", "y": "y_detect"})
    catalog.insert(1, "x", x)
    catalog.insert(2, "y", y)
    if segmentation is None:
        return catalog, None
    fwhm = segmentation.get("fwhm") or passes[0].fwhm
    saturated = cores if saturated is None else np.asarray(saturated, dtype=bool) | cores
    segments, segmented = detect_segments(
        image, rms=noise, fwhm=fwhm, mask=searched, saturated=saturated,
        **{key: segmentation[key] for key in ("threshold", "npixels", "nlevels", "contrast")})
    merged = merge_segments(catalog, segmented, match_radius=match_radius or max(p.fwhm for p in passes) / 2,
                            labels=None if segments is None else segments.data,
                            min_snr=segmentation["min_snr"] if segmentation["add_sources"] else np.inf)
    return _as_found(merged), segments


def _as_found(merged: pd.DataFrame) -> pd.DataFrame:
    """The segmentation's own sources given the finders' columns it measures too (see ``detect_catalog``)."""
    added = (merged["pass"] == SEGMENTATION_PASS).to_numpy()
    for column, source in (("x_detect", "x"), ("y_detect", "y"), ("flux", "flux_auto"), ("peak", "flux_max")):
        merged.loc[added, column] = merged.loc[added, source]
    merged.loc[added, "fwhm"] = 2 * merged.loc[added, "flux_radius"]
    merged["residual"] = merged["residual"].astype("boolean").fillna(False).astype(bool)
    return merged


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
    """Units of a catalog's columns, for ECSV: pixels, the image's unit for ``peak`` and ``flux``, degrees, and
    those of the segmentation's measurements (``morphology_units``)."""
    units = morphology_units(columns, flux_unit)
    units.update({column: "pix" for column in _PIXEL_COLUMNS if column in columns})
    units.update({column: flux_unit for column in ("peak", "flux") if column in columns})
    units.update({column: "deg" for column in ("ra", "dec") if column in columns})
    return units
