"""Source Extractor's measurements of segmented sources, from photutils' ``SourceCatalog``.

``measure_segments`` gives each source of a segmentation image the columns of ``SEXTRACTOR_NAMES``, each
meaning what its Source Extractor namesake means, with SE's default settings (``PHOT_AUTOPARAMS 2.5, 3.5``,
``MASK_TYPE CORRECT``) unless told otherwise. Positions are 0-based pixel coordinates, the centre of pixel
``(0, 0)`` being ``(0.0, 0.0)``: SE's ``X_IMAGE`` is ``x_iso + 1``.

Flags (SE's bit values, combined with ``|``; read them as ``table["flags"]``):

``CROWDED`` (1)
    other sources' segments or invalid pixels make up more than 10 % of the Kron aperture (SE: "neighbours
    bright and close enough to bias the photometry, or bad pixels").
``BLENDED`` (2)
    the source was deblended from a detection holding other sources.
``SATURATED`` (4)
    a pixel of its segment is saturated (only with a ``saturated`` map).
``TRUNCATED`` (8)
    its segment touches the image's edge.
``APERTURE_INCOMPLETE`` (16)
    its Kron aperture reaches beyond the image or holds an invalid pixel (SE: "aperture data incomplete").

SE's 32 (isophotal data corrupted), 64 and 128 (memory overflows) have no meaning here and are never set.

The star/galaxy measure is ``compactness``: ``flux_radius`` over that of a point source. A point source
has 1 whatever its brightness; an extended one more. The point source's half-light radius is given, or
found as the stellar locus of the catalog: the densest 20 % wide interval of ``flux_radius`` among the
unflagged sources with a Kron SNR of 20 or more (stars are the most compact real sources and, at one PSF,
all of one size, while galaxies spread over a wide range). Where stars are not all of one size (a plate's
bright stars are wider than its faint ones), the locus follows the magnitudes: the same estimate over windows
of sources of similar flux, never falling with flux (``_stellar_locus``; it needs 80 such sources, else the one
locus). SE's ``CLASS_STAR`` needs a trained network and the seeing; this needs neither, but a field of a few
stars and many galaxies of one size could fool it (give ``point_source_radius`` then).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

__all__ = [
    "CROWDED", "BLENDED", "SATURATED", "TRUNCATED", "APERTURE_INCOMPLETE", "SEXTRACTOR_NAMES",
    "measure_segments", "morphology_columns", "morphology_units",
]

CROWDED = 1
BLENDED = 2
SATURATED = 4
TRUNCATED = 8
APERTURE_INCOMPLETE = 16
# SE's CROWD_THRESHOLD: the share of the Kron aperture that others' or bad pixels may hold unflagged.
CROWDED_FRACTION = 0.1
# The stellar locus: a point source's flux_radius is the median of the densest interval this wide (ratio) ...
LOCUS_WIDTH = 1.2
# ... among unflagged sources of at least this Kron SNR.
LOCUS_MIN_SNR = 20.0
# Along the magnitudes (a plate's bright stars are wider), over windows of this many of them.
LOCUS_WINDOW = 40

# Column -> Source Extractor parameter (positions: SE's minus 1). ``flux_r{r}``, ``flux_err_r{r}`` (one per
# aperture radius) are FLUX_APER, FLUXERR_APER of diameter 2r.
SEXTRACTOR_NAMES = {
    "id": "NUMBER",
    "x_win": "XWIN_IMAGE",
    "y_win": "YWIN_IMAGE",
    "x_iso": "X_IMAGE",
    "y_iso": "Y_IMAGE",
    "flux_max": "FLUX_MAX",
    "flux_iso": "FLUX_ISO",
    "flux_iso_err": "FLUXERR_ISO",
    "flux_auto": "FLUX_AUTO",
    "flux_auto_err": "FLUXERR_AUTO",
    "snr": "FLUX_AUTO / FLUXERR_AUTO",
    "kron_radius": "KRON_RADIUS",
    "flux_radius": "FLUX_RADIUS",
    "x2": "X2_IMAGE",
    "y2": "Y2_IMAGE",
    "xy": "XY_IMAGE",
    "a": "A_IMAGE",
    "b": "B_IMAGE",
    "theta": "THETA_IMAGE",
    "elongation": "ELONGATION",
    "ellipticity": "ELLIPTICITY",
    "isoarea": "ISOAREA_IMAGE",
    "compactness": "(none: FLUX_RADIUS over the stars')",
    "flags": "FLAGS",
}
_UNITS = {
    "x_win": "pix", "y_win": "pix", "x_iso": "pix", "y_iso": "pix", "flux_radius": "pix", "a": "pix", "b": "pix",
    "x2": "pix2", "y2": "pix2", "xy": "pix2", "isoarea": "pix2", "theta": "deg",
}


def morphology_columns(radii=()) -> dict[str, str]:
    """The columns of ``measure_segments``' table (with these aperture ``radii``) and their dtypes."""
    columns = {name: "float64" for name in SEXTRACTOR_NAMES}
    columns.update({"id": "int64", "isoarea": "int64", "flags": "int64"})
    for radius in radii:
        columns[f"flux_r{radius:g}"] = columns[f"flux_err_r{radius:g}"] = "float64"
    return columns


def morphology_units(columns, flux_unit: str) -> dict[str, str]:
    """Units of a table's morphology columns, for ECSV: pixels, pixels squared, degrees, the image's flux unit.

    ``kron_radius`` (in units of ``a`` and ``b``, as SE's), ``elongation``, ``ellipticity``, ``snr`` and
    ``compactness`` are dimensionless and have none."""
    units = {column: _UNITS[column] for column in columns if column in _UNITS}
    units.update({column: flux_unit for column in columns if column.startswith("flux_")
                  and column != "flux_radius"})
    return units


def _locus_candidates(radius, snr, flags) -> np.ndarray:
    """The sources the stellar locus is found among: unflagged, of Kron SNR ``LOCUS_MIN_SNR`` or more (every
    source with a radius where fewer than 3 are)."""
    usable = np.isfinite(radius) & (radius > 0)
    candidates = usable & (snr >= LOCUS_MIN_SNR) & (flags == 0)
    return candidates if candidates.sum() >= 3 else usable


def _densest_median(log_radius) -> float:
    """The median of the densest ``LOCUS_WIDTH`` interval of sorted ``log_radius`` (the first, most compact, on a
    tie); NaN if empty."""
    if log_radius.size == 0:
        return np.nan
    ends = np.searchsorted(log_radius, log_radius + np.log(LOCUS_WIDTH), side="right")
    start = int(np.argmax(ends - np.arange(log_radius.size)))
    return float(np.median(log_radius[start:ends[start]]))


def _point_source_radius(radius, snr, flags) -> float:
    """The catalog's one stellar locus ``flux_radius``: the median of its densest ``LOCUS_WIDTH`` interval, NaN if
    none."""
    return float(np.exp(_densest_median(np.sort(np.log(radius[_locus_candidates(radius, snr, flags)])))))


def _stellar_locus(radius, flux, snr, flags) -> np.ndarray:
    """Each source's point-source ``flux_radius``: the stellar locus at its ``flux``.

    Along the candidates (``_locus_candidates``) in order of flux, each window of ``LOCUS_WINDOW`` of them gives
    its densest interval's median; these are fitted by a sequence that never falls with flux (isotonic
    regression), as brighter stars are as wide or wider (a plate's halation, the brighter-fatter effect), and
    interpolated in log flux to every source, held beyond the faintest and brightest of them (sources without a
    positive flux take the faintest's). With fewer than ``2 * LOCUS_WINDOW`` candidates, the catalog's one locus
    for all (``_point_source_radius``).
    """
    from scipy.optimize import isotonic_regression

    tracked = _locus_candidates(radius, snr, flags) & np.isfinite(flux) & (flux > 0)
    if tracked.sum() < 2 * LOCUS_WINDOW:
        return np.full(np.shape(radius), _point_source_radius(radius, snr, flags))
    order = np.argsort(flux[tracked])
    log_flux, log_radius = np.log(flux[tracked][order]), np.log(radius[tracked][order])
    half = LOCUS_WINDOW // 2
    local = [_densest_median(np.sort(log_radius[max(0, i - half):i + half])) for i in range(log_radius.size)]
    locus = isotonic_regression(local, increasing=True).x
    at = np.full(np.shape(flux), -np.inf)  # no positive flux: below the faintest
    positive = flux > 0
    at[positive] = np.log(flux[positive])
    return np.exp(np.interp(at, log_flux, locus))


def _kron_flags(kron_apertures, segments, label_of, invalid) -> np.ndarray:
    """CROWDED and APERTURE_INCOMPLETE of each source from its Kron aperture's pixels (centres inside)."""
    flags = np.zeros(len(kron_apertures), dtype=int)
    bad_pixels = invalid.astype(float)
    for i, aperture in enumerate(kron_apertures):
        if aperture is None:
            flags[i] = APERTURE_INCOMPLETE
            continue
        footprint = aperture.to_mask(method="center")
        inside = footprint.data > 0
        labels = footprint.cutout(segments, fill_value=-1)[inside]
        bad = footprint.cutout(bad_pixels, fill_value=0.0)[inside] > 0
        others = (labels > 0) & (labels != label_of[i])
        if bad.any() or (labels < 0).any():  # -1: beyond the image
            flags[i] |= APERTURE_INCOMPLETE
        if (others | bad).sum() > CROWDED_FRACTION * inside.sum():
            flags[i] |= CROWDED
    return flags


def measure_segments(data, segments, *, rms, parents=None, mask=None, gain: float | None = None,
                     saturated=None, radii=(), kron=(2.5, 3.5), point_source_radius: float | None = None,
                     neighbours: str = "correct") -> pd.DataFrame:
    """Source Extractor's measurements of every source of a segmentation image.

    Parameters
    ----------
    data : 2D array
        Sky-subtracted image the sources are measured on (SE's measurement image, not the filtered one).
    segments : photutils.segmentation.SegmentationImage
        The (deblended) sources; each label is a source, its ``id``.
    rms : float or 2D array
        Background RMS per pixel (positive, finite where the data is valid).
    parents : photutils.segmentation.SegmentationImage, optional
        The segmentation before deblending, for the BLENDED flag (never set without it).
    mask : 2D bool array, optional
        Pixels to leave out (True); non-finite data are left out anyway.
    gain : float, optional
        Electrons per data unit (SE ``GAIN``): errors then add the sources' Poisson noise,
        ``sqrt(rms**2 + max(data, 0) / gain)`` per pixel. Without it they hold the background's only (SE's
        ``GAIN 0``), right for stacks whose ``rms`` map already holds all noise.
    saturated : 2D bool array, optional
        Saturated pixels (e.g. ``raw >= level``, before the sky was subtracted), for the SATURATED flag.
    radii : sequence of float
        Radii (px) of circular apertures at the barycentre (SE's ``PHOT_APERTURES`` are diameters).
    kron : (float, float)
        SE's ``PHOT_AUTOPARAMS``: the Kron factor and the minimum Kron radius, both in units of ``a``, ``b``.
    point_source_radius : float, optional
        Half-light radius (px) of a point source for ``compactness``; default: the catalog's stellar locus
        (see the module's notes). NaN, with a warning, when there is none.
    neighbours : {"correct", "mask", "none"}
        What the Kron, aperture and half-light measurements do with other sources' pixels: replace them
        by the mirror pixels about the centre (SE's ``MASK_TYPE CORRECT``), leave them out, or keep them.

    Returns
    -------
    pandas.DataFrame
        One row per label, sorted by ``id``, with the columns of ``SEXTRACTOR_NAMES`` (and ``flux_r{r:g}``,
        ``flux_err_r{r:g}`` per radius):

        ``id`` (the label); ``x_win``, ``y_win`` (windowed centroid: Gaussian-weighted iteration with sigma
        ``2 flux_radius / 2.35``, the barycentre where it leaves the 1-sigma ellipse, NaN where
        ``flux_radius`` is); ``x_iso``, ``y_iso`` (barycentre of the segment's pixels); ``flux_max`` (its highest pixel);
        ``flux_iso``, ``flux_iso_err`` (sum over the segment); ``flux_auto``, ``flux_auto_err`` (sum in the
        Kron ellipse ``kron_radius`` times ``a``, ``b``); ``snr`` (their ratio); ``kron_radius`` (the
        Kron factor times the first-moment radius within 6 ``a``, ``b``, at least the minimum; NaN where
        the moment radius exceeds 6, a noise-spoilt measurement); ``flux_radius`` (the radius of the circle
        holding half of ``flux_auto``); ``x2``, ``y2``, ``xy`` (second central moments of the segment's
        pixels); ``a``, ``b``, ``theta`` (the moments' ellipse: axes in px, angle of the major axis
        counter-clockwise from +x in (-90, 90] degrees); ``elongation`` (a / b); ``ellipticity``
        (1 - b / a); ``isoarea`` (valid pixels of the segment); ``compactness``; ``flags``.

        Sources with a non-positive sum have NaN moments, Kron and half-light measurements (as SE's
        undefined ones); empty segments give an empty table with these columns.

    Raises
    ------
    ValueError
        Shapes that differ, or an unknown ``neighbours``.
    """
    from photutils.segmentation import SourceCatalog

    if neighbours not in ("correct", "mask", "none"):
        raise ValueError(f"neighbours must be 'correct', 'mask' or 'none', got {neighbours!r}")
    data = np.asarray(data, dtype=float)
    for name, array in (("segments", segments.data), ("mask", mask), ("saturated", saturated)):
        if array is not None and np.shape(array) != data.shape:
            raise ValueError(f"{name} has shape {np.shape(array)}, the data {data.shape}")
    invalid = ~np.isfinite(data) if mask is None else ~np.isfinite(data) | np.asarray(mask, dtype=bool)
    variance = np.broadcast_to(np.asarray(rms, dtype=float) ** 2, data.shape)
    if gain is not None:
        variance = variance + np.clip(np.nan_to_num(data), 0.0, None) / gain
    factor, min_radius = kron
    with warnings.catch_warnings():
        # Sources whose noise makes a moment negative are NaN by design, documented above.
        warnings.simplefilter("ignore", RuntimeWarning)
        catalog = SourceCatalog(data, segments, error=np.sqrt(variance), mask=invalid,
                                aperture_mask_method=neighbours, kron_params=(factor, min_radius / factor, 0.0))
        columns = {
            "id": catalog.label,
            "x_win": catalog.x_centroid_win,
            "y_win": catalog.y_centroid_win,
            "x_iso": catalog.x_centroid,
            "y_iso": catalog.y_centroid,
            "flux_max": catalog.max_value,
            "flux_iso": catalog.segment_flux,
            "flux_iso_err": catalog.segment_flux_err,
            "flux_auto": catalog.kron_flux,
            "flux_auto_err": catalog.kron_flux_err,
            "kron_radius": factor * np.asarray(catalog.kron_radius),
            "flux_radius": catalog.flux_radius(0.5),
            "x2": catalog.covariance_xx,
            "y2": catalog.covariance_yy,
            "xy": catalog.covariance_xy,
            "a": catalog.semimajor_axis,
            "b": catalog.semiminor_axis,
            "theta": (np.asarray(catalog.orientation) + 90.0) % 180.0 - 90.0,
            "elongation": catalog.elongation,
            "ellipticity": catalog.ellipticity,
            "isoarea": catalog.area,
        }
        for radius in radii:
            flux, flux_err = catalog.circular_photometry(radius)
            columns[f"flux_r{radius:g}"], columns[f"flux_err_r{radius:g}"] = flux, flux_err
        kron_apertures = catalog.kron_aperture
    table = pd.DataFrame({name: np.asarray(getattr(value, "value", value)) for name, value in columns.items()})
    table["snr"] = table.flux_auto / table.flux_auto_err
    table["isoarea"] = np.rint(table.isoarea).astype("int64")

    flags = _kron_flags(kron_apertures, segments.data, table["id"].to_numpy(), invalid)
    if parents is not None:
        parent = parents.data[segments.data > 0]
        children = pd.Series(parent).groupby(segments.data[segments.data > 0]).first()
        shared = children.map(children.value_counts()) > 1
        flags |= np.where(shared.reindex(table["id"]).to_numpy(), BLENDED, 0)
    if saturated is not None:
        hits = np.bincount(segments.data[np.asarray(saturated, dtype=bool)], minlength=segments.max_label + 1)
        flags |= np.where(hits[table["id"]] > 0, SATURATED, 0)
    ny, nx = data.shape
    edge = ((np.asarray(catalog.bbox_xmin) == 0) | (np.asarray(catalog.bbox_ymin) == 0)
            | (np.asarray(catalog.bbox_xmax) == nx - 1) | (np.asarray(catalog.bbox_ymax) == ny - 1))
    table["flags"] = flags | np.where(edge, TRUNCATED, 0)

    if point_source_radius is None:
        point_source_radius = _stellar_locus(table.flux_radius.to_numpy(), table.flux_auto.to_numpy(),
                                             table.snr.to_numpy(), table["flags"].to_numpy())
        if not np.isfinite(point_source_radius).any():
            warnings.warn("no source to find the point-source half-light radius: compactness is NaN",
                          stacklevel=2)
    table["compactness"] = table.flux_radius / point_source_radius
    return table[list(morphology_columns(radii))]
