"""Source detection: finder passes merged into one catalog, a residual pass, centroids and matching.

The stage's modules, in the order a catalog is made:

``passes``
    ``DetectionPass``: one photutils star finder, tuned to one star size.
``finders``
    ``find_sources``: every pass on the image, their detections merged into one catalog.
``psf``, ``residual``
    A Moffat PSF fitted to every source at once and subtracted, to find what the sources' light hid.
``centroids``
    Centroids refined in a box around each detection.
``segmentation``, ``morphology``
    Source Extractor's detection (filter, threshold, deblend) and its measurements (Kron, isophotal,
    windowed, half-light radius, shape, flags), merged with the finders' catalog.
``catalog``
    ``detect_catalog``: the workflow's catalog of one image from all of the above, and its sky columns.
``matching``
    ``cross_match``: nearest neighbours of two position lists.

Positions are 0-based pixel coordinates, the centre of pixel ``(0, 0)`` being ``(0.0, 0.0)``
(numpy/photutils), as everywhere in the workflow.
"""

from stackphot.detect.catalog import add_sky_coordinates, catalog_units, detect_catalog
from stackphot.detect.centroids import CENTROID_METHODS, gaussian_centroids, refine_centroids
from stackphot.detect.finders import CATALOG_COLUMNS, clean_outliers, find_sources
from stackphot.detect.matching import cross_match
from stackphot.detect.passes import FINDERS, DetectionPass
from stackphot.detect.psf import PSFFitError
from stackphot.detect.residual import add_residual_sources, subtract_sources
from stackphot.detect.morphology import SEXTRACTOR_NAMES, measure_segments, morphology_units
from stackphot.detect.segmentation import SEGMENTATION_PASS, detect_segments, filter_kernel, merge_segments

__all__ = [
    "FINDERS",
    "CENTROID_METHODS",
    "CATALOG_COLUMNS",
    "DetectionPass",
    "PSFFitError",
    "find_sources",
    "subtract_sources",
    "add_residual_sources",
    "clean_outliers",
    "refine_centroids",
    "gaussian_centroids",
    "cross_match",
    "detect_catalog",
    "add_sky_coordinates",
    "catalog_units",
    "SEGMENTATION_PASS",
    "SEXTRACTOR_NAMES",
    "detect_segments",
    "filter_kernel",
    "measure_segments",
    "merge_segments",
    "morphology_units",
]
