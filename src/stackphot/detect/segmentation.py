"""A Source-Extractor-like segmentation pass: filter, threshold, deblend, measure; and its merge with the finders'.

``detect_segments`` finds sources the way Source Extractor does, so that its settings mean what a Source
Extractor user expects:

- the image is filtered with a normalised Gaussian of the PSF's FWHM (SE's ``FILTER_NAME gauss_*.conv``);
- a pixel is detected where the filtered image exceeds ``threshold`` times the background RMS map (SE's
  ``DETECT_THRESH`` with ``THRESH_TYPE RELATIVE``; as in SE, the filtered image's lower noise is not
  rescaled: the threshold is in units of the unfiltered RMS);
- groups of at least ``npixels`` connected pixels (8-connectivity) are sources (``DETECT_MINAREA``);
- a group is split over ``nlevels`` exponentially spaced levels wherever a branch holds at least
  ``contrast`` of the group's flux (``DEBLEND_NTHRESH``, ``DEBLEND_MINCONT``).

SE's ``CLEAN`` step (removing spurious detections in the wings of bright sources) has no equivalent here.
The sources are measured by ``stackphot.detect.morphology.measure_segments``. ``merge_segments`` adds the
sources the star finders missed (galaxies, mostly) to a ``find_sources`` catalog.

Positions are 0-based pixel coordinates (Source Extractor's are 1-based: add 1 to compare).
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
from photutils.utils.exceptions import NoDetectionsWarning
from scipy.spatial import cKDTree

from stackphot.background import smoothing_kernel
from stackphot.detect.finders import invalid_pixels, noise_map
from stackphot.detect.morphology import TRUNCATED, measure_segments, morphology_columns

__all__ = ["SEGMENTATION_PASS", "detect_segments", "filter_kernel", "merge_segments"]

# The ``pass`` of the sources that only the segmentation pass found, in a merged catalog.
SEGMENTATION_PASS = "segmentation"


def filter_kernel(fwhm: float) -> np.ndarray:
    """A normalised 2D Gaussian of the given FWHM (px), ``2 ceil(fwhm) + 1`` pixels square, pixel-integrated.

    The size of SE's own filters: ``gauss_3.0_7x7.conv`` for a FWHM of 3 px.
    """
    if not fwhm > 0:
        raise ValueError(f"fwhm must be positive, got {fwhm}")
    return smoothing_kernel(fwhm, size=2 * math.ceil(fwhm) + 1)


def detect_segments(data, *, rms, fwhm: float, threshold: float = 1.5, npixels: int = 5, nlevels: int = 32,
                    contrast: float = 0.005, mask=None, gain: float | None = None, saturated=None,
                    radii=(), point_source_radius: float | None = None,
                    neighbours: str = "correct"):
    """Detect and deblend the sources of a sky-subtracted image, and measure them.

    Parameters
    ----------
    data : 2D array
        Sky-subtracted image; NaN or infinite where there is no data.
    rms : float or 2D array
        Background RMS (one sigma per pixel, without the sources' Poisson noise); non-finite or non-positive
        map pixels take the map's median.
    fwhm : float
        FWHM (px) of the Gaussian filter, matched to the stars'.
    threshold : float
        Detection threshold in units of ``rms`` (SE ``DETECT_THRESH``, default 1.5 as SE's).
    npixels : int
        Minimum number of connected pixels above the threshold, also of each deblended part
        (SE ``DETECT_MINAREA``, default 5).
    nlevels, contrast
        Deblending levels and minimum flux fraction of a part (SE ``DEBLEND_NTHRESH`` 32 and
        ``DEBLEND_MINCONT`` 0.005). ``contrast=1`` switches deblending off.
    mask : 2D bool array, optional
        Pixels to ignore (True), in addition to the non-finite ones: they are neither detected nor measured
        (filtered as zeros, so the filter does not spread them).
    gain, saturated, radii, point_source_radius, neighbours
        As for ``stackphot.detect.morphology.measure_segments``.

    Returns
    -------
    segments : photutils.segmentation.SegmentationImage or None
        The deblended segmentation image, labels 1..n matching the catalog's ``id``; None if nothing found.
    catalog : pandas.DataFrame
        ``measure_segments``' table, one row per source, sorted by ``id``. When nothing is found (an empty
        or all-NaN image included), an empty table with the same columns and a
        ``photutils.utils.exceptions.NoDetectionsWarning``.

    Raises
    ------
    ValueError
        ``data`` not 2D, ``rms`` or ``mask`` of the wrong shape, non-positive ``rms`` or ``fwhm``,
        ``npixels`` < 1.
    """
    from astropy.convolution import convolve_fft
    from photutils.segmentation import deblend_sources, detect_sources

    data = np.asarray(data, dtype=float)
    if data.ndim != 2:
        raise ValueError(f"data must be a 2D image, got {data.ndim} dimension(s)")
    if npixels < 1:
        raise ValueError(f"npixels must be at least 1, got {npixels}")
    invalid = invalid_pixels(data, mask)
    noise = noise_map(rms, data.shape)
    work = np.where(invalid, 0.0, data)
    # Zero padding, as SE's filter treats beyond the edge; the FFT keeps it fast for wide kernels.
    convolved = convolve_fft(work, filter_kernel(fwhm), boundary="fill", fill_value=0.0, normalize_kernel=False,
                             nan_treatment="fill", preserve_nan=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NoDetectionsWarning)  # one warning of ours below, not photutils'
        detected = detect_sources(convolved, threshold * noise, npixels, mask=invalid) if (~invalid).any() else None
    if detected is None:
        warnings.warn("no sources found by the segmentation pass", NoDetectionsWarning, stacklevel=2)
        return None, pd.DataFrame({name: pd.Series(dtype=dtype) for name, dtype in morphology_columns().items()})
    if contrast < 1:
        segments = deblend_sources(convolved, detected, npixels, n_levels=nlevels, contrast=contrast,
                                   mode="exponential", progress_bar=False)
    else:
        segments = detected.copy()
    catalog = measure_segments(work, segments, rms=noise, parents=detected, mask=invalid, gain=gain,
                               saturated=saturated, radii=radii, point_source_radius=point_source_radius,
                               neighbours=neighbours)
    return segments, catalog


def merge_segments(found: pd.DataFrame, segmented: pd.DataFrame, *, match_radius: float,
                   labels=None, min_snr: float = 0.0) -> pd.DataFrame:
    """A finders' catalog with the segmentation pass's measurements and the sources only it found.

    A segmentation source whose windowed centroid (its barycentre where that is NaN) lies within
    ``match_radius`` of a finders' source is that source: the finders' row is kept, with the segmentation
    columns added to it. Each is matched to its nearest finders' source, and each finders' source takes at
    most one segmentation source, the nearest (a second one, a deblended part, is added as a source of its
    own). The unmatched segmentation sources are appended with ``pass`` "segmentation", ``x``, ``y`` their
    windowed centroid (the barycentre where that is NaN) and NaN in the finders' columns; with ``labels``
    (the segmentation image's array), only those whose segment holds no finders' source: one that does is
    the blended light of those sources (a cluster's core), whose centroid is no source's; and only those of
    ``snr`` ``min_snr`` or more whose segment does not touch the image's edge (``TRUNCATED``: its centroid is
    the cut's, and the finders leave the border out too).

    Parameters
    ----------
    found : pandas.DataFrame
        ``find_sources`` or ``detect_catalog`` output: ``id``, ``x``, ``y``, ``pass``, ... (may be empty).
    segmented : pandas.DataFrame
        ``detect_segments``' catalog (may be empty).
    match_radius : float
        Distance (px) within which two positions are one source; half the FWHM is a good choice.
    labels : 2D int array, optional
        The segmentation image (label ``id`` of ``segmented`` at each pixel, 0 the sky).
    min_snr : float
        The least ``snr`` of a segmentation source that is added.

    Returns
    -------
    pandas.DataFrame
        The finders' rows first, in their order, then the added ones; ``id`` renumbered 1..n; the
        segmentation columns follow the finders', its ``id`` as ``segment_id`` (NaN where a finders' source
        has no segment). ``pass`` holds the finders' pass indices and "segmentation" (so it is of object dtype
        once a source is added); ``found_by`` gets ",segmentation" where the segmentation pass found the
        source too, "segmentation" for the added ones.

    Raises
    ------
    ValueError
        Non-positive ``match_radius``; ``found`` without ``x``, ``y`` or ``pass``.
    """
    if not match_radius > 0:
        raise ValueError(f"match_radius must be positive, got {match_radius}")
    missing = {"x", "y", "pass"} - set(found.columns)
    if missing:
        raise ValueError(f"the finders' catalog lacks the column(s) {sorted(missing)}")
    segmented = segmented.rename(columns={"id": "segment_id"})
    x = segmented["x_win"].fillna(segmented["x_iso"]).to_numpy()
    y = segmented["y_win"].fillna(segmented["y_iso"]).to_numpy()
    matched_to = np.full(len(segmented), -1)
    located = np.isfinite(x) & np.isfinite(y)
    if len(found) and located.any():
        distance = np.full(len(segmented), np.inf)
        nearest = np.zeros(len(segmented), dtype=int)
        distance[located], nearest[located] = cKDTree(found[["x", "y"]].to_numpy()).query(
            np.column_stack([x[located], y[located]]))
        taken = set()
        # Nearest first, so that a source's own segment claims it before a deblended neighbour's.
        for i in np.argsort(distance, kind="stable"):
            if distance[i] <= match_radius and nearest[i] not in taken:
                matched_to[i] = nearest[i]
                taken.add(nearest[i])

    matched = matched_to >= 0
    blended = np.zeros(len(segmented), bool)
    if labels is not None and len(found):
        rows = np.clip(np.rint(found["y"].to_numpy()).astype(int), 0, labels.shape[0] - 1)
        columns = np.clip(np.rint(found["x"].to_numpy()).astype(int), 0, labels.shape[1] - 1)
        blended = segmented["segment_id"].isin(labels[rows, columns]).to_numpy() & ~matched
    merged = found.reset_index(drop=True).join(segmented[matched].set_index(matched_to[matched]))
    if "found_by" in merged:
        by_both = merged.index.isin(matched_to[matched])
        merged.loc[by_both, "found_by"] = merged.loc[by_both, "found_by"].astype(str) + "," + SEGMENTATION_PASS

    whole = (segmented["flags"].to_numpy() & TRUNCATED) == 0
    alone = ~matched & ~blended & whole & (segmented["snr"].to_numpy() >= min_snr)
    added = segmented[alone].reset_index(drop=True)
    if len(added):
        added.insert(0, "x", x[alone])
        added.insert(1, "y", y[alone])
        added["pass"] = SEGMENTATION_PASS
        if "found_by" in merged:
            added["found_by"] = SEGMENTATION_PASS
        merged = pd.concat([merged.astype({"pass": object}), added], ignore_index=True)
    merged["id"] = np.arange(1, len(merged) + 1)
    return merged[["id"] + [c for c in merged.columns if c != "id"]]
