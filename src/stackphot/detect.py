"""Source detection: one or more star-finder passes merged into one catalogue, centroid refinement, matching.

A single finder pass is tuned to one star size: DAOFIND's sharpness criterion rejects what is much broader
or much sharper than its kernel. Frames that hold both sharp faint stars and bloated bright ones (a
photographic plate, a stack with saturated stars) therefore need several passes, e.g. a small FWHM at a
low threshold and a large FWHM at a higher one. ``find_sources`` runs them all and merges the detections:
detections closer than a match radius are one source, measured by its most significant detection.

Positions are 0-based pixel coordinates, the centre of pixel ``(0, 0)`` being ``(0.0, 0.0)``
(numpy/photutils), as everywhere in the workflow.
"""

from __future__ import annotations

import dataclasses
import inspect
import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from astropy.utils.exceptions import AstropyUserWarning
from photutils.centroids import centroid_1dg, centroid_com, centroid_quadratic, centroid_sources
from photutils.detection import DAOStarFinder, IRAFStarFinder
from photutils.utils.exceptions import NoDetectionsWarning
from scipy import ndimage
from scipy.spatial import cKDTree

from stackphot.numerics import box_pixels, levenberg_marquardt, replace_outliers
from stackphot.psf import PSFFitError, fit_moffat_shape, fit_psf_photometry

__all__ = [
    "FINDERS",
    "CENTROID_METHODS",
    "CATALOGUE_COLUMNS",
    "DetectionPass",
    "find_sources",
    "subtract_sources",
    "add_residual_sources",
    "clean_outliers",
    "refine_centroids",
    "gaussian_centroids",
    "cross_match",
]

FINDERS = {"dao": DAOStarFinder, "iraf": IRAFStarFinder}
CENTROID_METHODS = ("com", "quadratic", "1dg", "2dg")
# 2dg is fitted here, all boxes at once (gaussian_centroids); the others are photutils' per-box functions.
_PHOTUTILS_CENTROIDS = {"com": centroid_com, "quadratic": centroid_quadratic, "1dg": centroid_1dg}
CATALOGUE_COLUMNS = (
    "id", "x", "y", "peak", "flux", "sharpness", "roundness", "significance", "pass", "fwhm", "found_by",
    "residual",
)
_COLUMN_TYPES = {"id": "int64", "pass": "int64", "found_by": str, "residual": bool}
# An outlier is this many times the noise above the median of its 3 x 3 neighbourhood ...
OUTLIER_NSIGMA = 5.0
# ... and more than this many times that median: the core of a pixel-integrated Gaussian star with FWHM
# >= 2.2 px is at most 2.9 times it, whatever its subpixel position (1.5 px: 9 times), so stars are kept.
OUTLIER_RATIO = 3.0


@dataclass(frozen=True, kw_only=True)
class DetectionPass:
    """One run of a photutils star finder.

    Attributes
    ----------
    fwhm : float
        FWHM (px) of the finder's Gaussian kernel: the size of the stars this pass looks for.
    threshold : float
        Detection threshold in units of the background RMS. Both finders compare it with the amplitude of
        the kernel Gaussian fitted at each pixel (the kernel-convolved image). ``dao`` first scales it by
        the noise of that amplitude in units of the pixel RMS, so 5 means a 5-sigma matched-filter
        detection whatever the FWHM; ``iraf`` uses it as is, an amplitude of 5 pixel RMS.
    finder : {'dao', 'iraf'}
        photutils ``DAOStarFinder`` or ``IRAFStarFinder``.
    sharplo, sharphi, roundlo, roundhi : float, optional
        Bounds on sharpness and roundness; None keeps the finder's photutils default for that bound
        (DAO: sharpness 0.2..1.0, roundness -1..1; IRAF: sharpness 0.5..2.0, roundness 0..0.2). Hot
        pixels and cosmic rays are sharper than any star, so ``sharphi`` is what rejects them.
    min_separation : float, optional
        Minimum distance (px) between two detections of this pass; None keeps the photutils default
        ``2.5 * fwhm``.
    sigma_radius : float, optional
        Kernel truncation radius in Gaussian sigmas; None keeps the photutils default 1.5. That default
        makes a 5 x 5 zero-sum kernel for FWHM up to about 4 px, whose "background" ring lies in the
        star's own wings: it detects at roughly half the signal-to-noise of a matched filter. 2.5 (a 7 x 7
        kernel at FWHM 3.5) recovers most of it, but raises the sharpness of real stars (measured against
        a wider ring), so ``sharphi`` must then be raised above the DAO default of 1.0.
    """

    fwhm: float
    threshold: float
    finder: str = "dao"
    sharplo: float | None = None
    sharphi: float | None = None
    roundlo: float | None = None
    roundhi: float | None = None
    min_separation: float | None = None
    sigma_radius: float | None = None

    def __post_init__(self):
        if self.finder not in FINDERS:
            raise ValueError(f"unknown finder {self.finder!r}; choose one of {', '.join(FINDERS)}")
        # YAML gives ints where floats are meant: normalise (frozen, hence object.__setattr__).
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if field.name != "finder" and value is not None:
                object.__setattr__(self, field.name, float(value))
        checks = {
            "fwhm must be positive": math.isfinite(self.fwhm) and self.fwhm > 0,
            "threshold must be positive": math.isfinite(self.threshold) and self.threshold > 0,
            "sharplo must be <= sharphi": None in (self.sharplo, self.sharphi) or self.sharplo <= self.sharphi,
            "roundlo must be <= roundhi": None in (self.roundlo, self.roundhi) or self.roundlo <= self.roundhi,
            "min_separation must be >= 0": self.min_separation is None or self.min_separation >= 0,
            "sigma_radius must be positive": self.sigma_radius is None or self.sigma_radius > 0,
        }
        failed = [message for message, ok in checks.items() if not ok]
        if failed:
            raise ValueError("invalid detection pass: " + "; ".join(failed))

    @classmethod
    def from_mapping(cls, mapping: Mapping) -> DetectionPass:
        """Pass from a mapping such as a parsed YAML entry; ``fwhm`` and ``threshold`` are required.

        Raises
        ------
        ValueError
            Unknown keys (all of them are named), missing required keys, a bad finder or bad values.
        """
        fields = dataclasses.fields(cls)
        known = {field.name for field in fields}
        unknown = sorted(map(str, set(mapping) - known))
        if unknown:
            raise ValueError(
                f"unknown detection pass option(s): {', '.join(unknown)} (known: {', '.join(sorted(known))})"
            )
        required = [f.name for f in fields if f.default is dataclasses.MISSING]
        missing = [name for name in required if name not in mapping]
        if missing:
            raise ValueError(f"detection pass is missing required option(s): {', '.join(missing)}")
        return cls(**mapping)

    def make_finder(self, threshold, *, exclude_border: bool = True):
        """The photutils finder of this pass for an absolute ``threshold`` (scalar or 2D map, data units)."""
        cls = FINDERS[self.finder]
        defaults = inspect.signature(cls).parameters  # photutils' own defaults for the bounds left as None
        sharp_default = defaults["sharpness_range"].default
        round_default = defaults["roundness_range"].default
        sharpness_range = (
            sharp_default[0] if self.sharplo is None else self.sharplo,
            sharp_default[1] if self.sharphi is None else self.sharphi,
        )
        roundness_range = (
            round_default[0] if self.roundlo is None else self.roundlo,
            round_default[1] if self.roundhi is None else self.roundhi,
        )
        return cls(
            threshold=threshold,
            fwhm=self.fwhm,
            sigma_radius=defaults["sigma_radius"].default if self.sigma_radius is None else self.sigma_radius,
            exclude_border=exclude_border,
            min_separation=self.min_separation,
            sharpness_range=sharpness_range,
            roundness_range=roundness_range,
        )


def _empty_catalogue() -> pd.DataFrame:
    return pd.DataFrame(
        {
            name: pd.Series(dtype=_COLUMN_TYPES.get(name, "float64"))
            for name in CATALOGUE_COLUMNS
        }
    )


def _noise_map(rms, shape) -> np.ndarray | float:
    """The RMS as a positive scalar, or a map whose non-finite or non-positive pixels take its median."""
    rms = np.asarray(rms, dtype=float)
    if rms.ndim == 0:
        if not (np.isfinite(rms) and rms > 0):
            raise ValueError(f"rms must be positive and finite, got {float(rms)}")
        return float(rms)
    if rms.shape != tuple(shape):
        raise ValueError(f"rms map has shape {rms.shape}, the data {tuple(shape)}")
    valid = np.isfinite(rms) & (rms > 0)
    if not valid.any():
        raise ValueError("rms map has no positive finite value")
    return np.where(valid, rms, np.median(rms[valid]))


def _invalid_pixels(data, mask) -> np.ndarray:
    """Non-finite pixels, and the given mask's (which must match the data's shape)."""
    invalid = ~np.isfinite(data)
    if mask is not None:
        mask = np.asarray(mask, dtype=bool)
        if mask.shape != data.shape:
            raise ValueError(f"mask has shape {mask.shape}, the data {data.shape}")
        invalid |= mask
    return invalid


def clean_outliers(data, noise) -> tuple[np.ndarray, np.ndarray]:
    """Replace isolated outliers (hot pixels, cosmic-ray hits) by the median of their 3 x 3 neighbourhood.

    ``stackphot.numerics.replace_outliers`` with ``OUTLIER_NSIGMA`` times ``noise`` (scalar or map) and
    ``OUTLIER_RATIO``. Star cores are safe for a FWHM of 2.2 px or more; undersampled images (smaller FWHM)
    lose their star peaks, so do not clean them. Cosmic-ray blobs that fill most of a 3 x 3 box survive
    (their median is high); the sharpness criterion is what rejects them.

    Returns
    -------
    cleaned : numpy.ndarray
        A copy of ``data`` with the outliers replaced.
    outliers : numpy.ndarray of bool
        The replaced pixels.
    """
    cleaned = replace_outliers(data, noise=noise, nsigma=OUTLIER_NSIGMA, ratio=OUTLIER_RATIO)
    return cleaned, cleaned != data


def _run_pass(data, invalid, noise, detection_pass: DetectionPass, index: int, exclude_border: bool):
    """Detections of one pass in catalogue columns (no id, found_by), or None."""
    threshold = detection_pass.threshold * noise
    finder = detection_pass.make_finder(threshold, exclude_border=exclude_border)
    with warnings.catch_warnings():
        # A pass that finds nothing is normal in a multi-pass run; only an empty merged catalogue warns.
        warnings.simplefilter("ignore", NoDetectionsWarning)
        found = finder.find_stars(data, mask=invalid)
    if found is None or len(found) == 0:
        return None
    x = np.asarray(found["x_centroid"], dtype=float)
    y = np.asarray(found["y_centroid"], dtype=float)
    peak = np.asarray(found["peak"], dtype=float)
    if detection_pass.finder == "dao":
        # daofind_mag is -2.5 log10 of the fitted amplitude over the (kernel-scaled) threshold it was held to.
        significance = 10.0 ** (-0.4 * np.asarray(found["daofind_mag"], dtype=float))
    else:
        row = np.clip(np.rint(y).astype(int), 0, data.shape[0] - 1)
        column = np.clip(np.rint(x).astype(int), 0, data.shape[1] - 1)
        significance = peak / (threshold[row, column] if np.ndim(threshold) == 2 else threshold)
    return pd.DataFrame(
        {
            "x": x,
            "y": y,
            "peak": peak,
            "flux": np.asarray(found["flux"], dtype=float),
            "sharpness": np.asarray(found["sharpness"], dtype=float),
            "roundness": np.asarray(found["roundness1" if detection_pass.finder == "dao" else "roundness"], float),
            "significance": significance,
            "pass": index,
            "fwhm": detection_pass.fwhm,
        }
    )


def _as_passes(passes) -> list[DetectionPass]:
    return [p if isinstance(p, DetectionPass) else DetectionPass.from_mapping(p) for p in passes]


def _merge(detections: pd.DataFrame, fwhms: Sequence[float], match_radius: float | None) -> pd.DataFrame:
    """One row per source: greedy, most significant detection first, each claiming its unclaimed neighbours."""
    # Most significant first; on a tie the earlier pass wins (stable order of the passes).
    order = np.lexsort((detections["pass"].to_numpy(), -detections["significance"].to_numpy()))
    detections = detections.iloc[order].reset_index(drop=True)
    xy = detections[["x", "y"]].to_numpy()
    pass_fwhm = np.asarray(fwhms, dtype=float)[detections["pass"].to_numpy()]
    search = match_radius if match_radius is not None else 0.5 * max(fwhms)
    neighbours = cKDTree(xy).query_ball_point(xy, search)

    owner = np.full(len(detections), -1)
    for i, candidates in enumerate(neighbours):
        if owner[i] >= 0:
            continue
        owner[i] = i
        candidates = np.asarray(candidates, dtype=int)
        candidates = candidates[owner[candidates] < 0]
        if candidates.size:
            if match_radius is None:
                radius = 0.5 * np.maximum(pass_fwhm[i], pass_fwhm[candidates])
            else:
                radius = match_radius
            close = np.hypot(*(xy[candidates] - xy[i]).T) <= radius
            owner[candidates[close]] = i

    found_by = detections["pass"].groupby(owner).agg(lambda p: ",".join(map(str, sorted(set(p)))))
    kept = detections.iloc[found_by.index].copy()
    kept["found_by"] = found_by.to_numpy()
    kept["residual"] = False
    return kept


def find_sources(
    data,
    *,
    passes: Sequence[DetectionPass | Mapping],
    rms,
    mask=None,
    match_radius: float | None = None,
    exclude_border: bool = True,
    clean: bool = False,
) -> pd.DataFrame:
    """Run one or more star-finder passes on a background-subtracted image and merge their detections.

    Parameters
    ----------
    data : 2D array
        Background-subtracted image. NaN and infinite pixels are masked (and read as 0 by the finders'
        convolution, so they neither spread nor count as signal).
    passes : sequence of DetectionPass or mapping
        The passes, in order; mappings go through ``DetectionPass.from_mapping``. Pass ``i`` is called
        ``i`` in the ``pass`` and ``found_by`` columns.
    rms : float or 2D array
        Background RMS, a scalar or a map of the data's shape. A pass's absolute threshold is
        ``pass.threshold * rms`` (a map where ``rms`` is one); non-finite or non-positive map pixels take
        the map's median.
    mask : 2D bool array, optional
        Pixels to ignore (True), in addition to the non-finite ones.
    match_radius : float, optional
        Two detections closer than this (px) are the same source. Default: half the larger FWHM of the two
        detections' passes. It also removes duplicates within a pass (rare, as each pass already keeps
        its detections ``min_separation`` apart).
    exclude_border : bool
        Drop detections within half a kernel of the image edge, where the kernel sees zeros beyond it.
    clean : bool
        First replace isolated bright pixels by their 3 x 3 median (``clean_outliers``). The sharpness
        criterion rejects a hot pixel or cosmic ray, but only after the peak search, in which that
        outlier, brighter than its neighbours, has already suppressed every fainter peak within
        ``min_separation`` (or the kernel footprint). On a simulated 256 x 320 raw frame (41 hot pixels,
        16 cosmic-ray pixels) that hid 14 % of the isolated stars with SNR > 10 (found: 82 % without
        cleaning, 96 % with). Worth it on single raw frames; stacks are mostly free of such pixels. Needs
        a star FWHM of 2.2 px or more. The catalogue is measured on the cleaned image.

    Returns
    -------
    pandas.DataFrame
        One row per source, sorted by ``flux`` descending, with columns:
        ``id`` (1..n in that order); ``x``, ``y`` (the finder's centroid, 0-based pixels); ``peak`` (the
        finder's peak pixel value: DAO the data's value at the peak, IRAF above its local sky); ``flux``
        (the finder's flux: the sum within its kernel footprint, not calibrated photometry);
        ``sharpness``; ``roundness`` (DAO ``roundness1``, IRAF ``roundness``); ``significance`` (the
        detection's peak-to-threshold ratio, see below); ``pass`` (index of the pass whose measurement is
        kept); ``fwhm`` (that pass's FWHM); ``found_by`` (comma-separated indices of the passes that
        detected the source, e.g. ``"0,1"``); ``residual`` (False here; True for the sources that
        ``add_residual_sources`` finds).

        ``significance`` is the ratio a finder thresholds on, at the source: for DAO the amplitude of the
        fitted kernel Gaussian over the pass's effective threshold (DAOFIND's own ratio, photutils'
        ``daofind_mag`` as a ratio), i.e. the matched-filter signal-to-noise in units of the pass
        threshold; for IRAF ``peak`` over the pass's absolute threshold at that pixel. The raw ``peak``
        pixel is not used for DAO: two DAO passes usually report the same pixel for a star, which would
        make the lower threshold win regardless of the kernel, whereas the fitted amplitude is highest
        for the kernel that best matches the star (a bloated star keeps its broad pass's centroid).

        Of the detections that are one source, the most significant is kept, ties going to the earlier
        pass. Detections are grouped greedily in that order: the most significant detection claims every
        unclaimed detection within the match radius, so a broad pass's detection between two close sharp
        stars merges into one of them instead of chaining both into one source.

        When nothing is found, an empty table with these columns is returned and a
        ``photutils.utils.exceptions.NoDetectionsWarning`` is issued.

    Raises
    ------
    ValueError
        ``data`` not 2D, no passes, a bad pass, ``rms`` or ``mask`` of the wrong shape, non-positive ``rms``
        or ``match_radius``.
    """
    data = np.asarray(data, dtype=float)
    if data.ndim != 2:
        raise ValueError(f"data must be a 2D image, got {data.ndim} dimension(s)")
    passes = _as_passes(passes)
    if not passes:
        raise ValueError("at least one detection pass is needed")
    if match_radius is not None and not match_radius > 0:
        raise ValueError(f"match_radius must be positive, got {match_radius}")
    invalid = _invalid_pixels(data, mask)
    noise = _noise_map(rms, data.shape)
    work = np.where(invalid, 0.0, data)
    if clean:
        work = clean_outliers(work, noise)[0]

    tables = [
        table
        for index, detection_pass in enumerate(passes)
        if (table := _run_pass(work, invalid, noise, detection_pass, index, exclude_border)) is not None
    ]
    if not tables:
        warnings.warn(f"no sources found by {len(passes)} detection pass(es)", NoDetectionsWarning, stacklevel=2)
        return _empty_catalogue()
    merged = _merge(pd.concat(tables, ignore_index=True), [p.fwhm for p in passes], match_radius)
    merged = merged.sort_values("flux", ascending=False, kind="stable").reset_index(drop=True)
    merged.insert(0, "id", np.arange(1, len(merged) + 1))
    return merged[list(CATALOGUE_COLUMNS)].astype(_COLUMN_TYPES)


def subtract_sources(data, x, y, *, mask=None, error=None, n_psf_stars: int = 30) -> np.ndarray:
    """The image less a PSF model of every listed source: what neighbours' light hid is left to find.

    The PSF is a Moffat profile whose width and shape are the medians of free fits to the ``n_psf_stars``
    first sources (list them brightest first); every source is then fitted with that PSF (position and
    flux of all sources as one least-squares problem, so that close ones are fitted together:
    ``stackphot.psf``) and subtracted.
    A PSF that is no Moffat (a defocused ring, a plate's bloated stars) leaves residuals around bright
    stars that a later detection may take for sources.

    Parameters
    ----------
    data : 2D array
        Background-subtracted image; NaN and infinite pixels are masked.
    x, y : array_like
        Source positions (0-based pixels), brightest first.
    mask : 2D bool array, optional
        Pixels to ignore in the fits.
    error : 2D array, optional
        One-sigma error per pixel, weighting the fits.
    n_psf_stars : int
        How many of the first sources fit the PSF's shape.

    Raises
    ------
    PSFFitError
        If no Moffat profile could be fitted to those sources.
    """
    data = np.asarray(data, dtype=float)
    invalid = _invalid_pixels(data, mask)
    if error is not None:
        invalid |= ~(np.isfinite(error) & (np.asarray(error) > 0))
        error = np.where(invalid, 1.0, error)
    work = np.where(invalid, 0.0, data)
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if x.size == 0:
        return work
    psf = fit_moffat_shape(work, x[:n_psf_stars], y[:n_psf_stars], invalid=invalid, error=error)
    fit_size = 2 * math.floor(psf.fwhm) + 1  # about 2 FWHM: the core, where position and flux are measured
    model_size = 2 * math.ceil(5 * psf.fwhm) + 1  # the wings, to about 1 % of the peak for beta 2.5
    fitted = fit_psf_photometry(work, x, y, psf, invalid=invalid, error=error, fit_size=fit_size,
                                model_size=model_size)
    return work - fitted.model


def add_residual_sources(data, catalog: pd.DataFrame, *, passes, rms, mask=None, error=None,
                         match_radius: float | None = None, clean: bool = False,
                         profile_error: float = 0.05) -> tuple[pd.DataFrame, np.ndarray]:
    """The catalogue and the sources the same passes find once its sources are subtracted.

    In a crowded field a faint star a few FWHM from a bright one sits on that star's wing: it makes no
    peak of its own, or fails the finders' roundness test, until the bright star is removed
    (``subtract_sources``). New sources closer than the match radius to a catalogued one are dropped (a
    residual of that source's subtraction). On a simulated 5-frame stack of a cluster (300 x 360 px, 750
    stars) the completeness for stars with SNR > 10 rose from 0.92 to 0.98 with photutils' PSF fit; 2 of
    308 sources lay more than 1.5 px from a true star, both centroids of blends. ``tests/test_workflow.py``
    holds it at 0.95 or more with ``stackphot.psf``'s.

    Parameters
    ----------
    data : 2D array
        The image ``catalog`` was found on.
    catalog : DataFrame
        ``find_sources`` output, brightest first.
    passes, rms, mask, match_radius, clean
        As for ``find_sources``; ``error`` as for ``subtract_sources``.
    profile_error : float
        Fraction of the subtracted model added in quadrature to ``rms`` for the second detection.

    Returns
    -------
    catalogue : DataFrame
        The catalogue with the new sources appended (``residual`` True; their ``peak`` and ``flux`` are
        measured on the residual image), ids renumbered 1..n.
    residual : numpy.ndarray
        The image less the catalogue's sources, where the new ones are best measured (their centroids).
    """
    x, y = catalog["x"].to_numpy(), catalog["y"].to_numpy()
    try:
        residual = subtract_sources(data, x, y, mask=mask, error=error)
    except PSFFitError as problem:  # nothing star-like to subtract: the catalogue stands as it is
        warnings.warn(f"no residual pass: {problem}", AstropyUserWarning, stacklevel=2)
        return catalog, np.asarray(data, dtype=float)
    # No model is exact: its error grows with the light it removed (DAOPHOT's profile error), and where
    # a bright star was, the thresholds rise with it instead of taking its residual rings for stars.
    model = np.where(_invalid_pixels(np.asarray(data, dtype=float), mask), 0.0, data) - residual
    noise = np.hypot(_noise_map(rms, residual.shape), profile_error * np.abs(model))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NoDetectionsWarning)  # finding nothing more is normal
        found = find_sources(residual, passes=passes, rms=noise, mask=mask, match_radius=match_radius, clean=clean)
    radius = match_radius if match_radius is not None else 0.5 * max(p.fwhm for p in _as_passes(passes))
    if len(catalog) and len(found):
        distance = cKDTree(np.column_stack([x, y])).query(found[["x", "y"]].to_numpy())[0]
        found = found[distance > radius]
    found = found.assign(residual=True)
    merged = pd.concat([catalog, found], ignore_index=True) if len(found) else catalog.copy()
    merged["id"] = np.arange(1, len(merged) + 1)
    return merged, residual


def refine_centroids(data, x, y, *, method: str = "com", box_size: int = 11, mask=None,
                     max_shift: float | None = None):
    """Recentroid sources in a box around given positions with a photutils centroid function.

    Parameters
    ----------
    data : 2D array
        Background-subtracted image; NaN and infinite pixels are masked.
    x, y : array_like
        Starting positions (0-based pixels), e.g. the ``x``, ``y`` columns of ``find_sources``.
    method : {'com', 'quadratic', '1dg', '2dg'}
        photutils ``centroid_com`` (centre of mass: fast, but pulled towards the box centre by noise and
        neighbours), ``centroid_quadratic`` (a quadratic fitted to the 5 x 5 pixels around the peak),
        ``centroid_1dg`` (Gaussians fitted to the marginal sums) or a 2D Gaussian fit (``2dg``, the fit of
        photutils' ``centroid_2dg`` done for all boxes at once by ``gaussian_centroids``).
    box_size : int
        Odd side (px) of the box centred on each starting position; a few FWHM suits isolated stars.
    mask : 2D bool array, optional
        Pixels to ignore (True), in addition to the non-finite ones.
    max_shift : float, optional
        Largest move (px) accepted from the starting position; default ``box_size / 2``. In a crowded
        field a neighbour in the box pulls the centroid of a faint star towards it: on a simulated cluster
        stack, 2dg centroids with no limit left 2.3 % of the sources more than 1.5 px from any true star,
        with a 1 px limit 0.7 %.

    Returns
    -------
    x_new, y_new : numpy.ndarray
        Refined positions, 1D float arrays of the inputs' length. A source keeps its starting position
        where the centroid fails (NaN, e.g. a fit that does not converge), moves more than ``max_shift``
        px (it ran off to a neighbour), where its box holds no valid pixel, or where the start is not
        finite or off the image.

    Raises
    ------
    ValueError
        Unknown ``method`` (the valid ones are listed), ``box_size`` not an odd integer >= 3, ``x`` and
        ``y`` of different lengths, or ``mask`` of the wrong shape.
    """
    if method not in CENTROID_METHODS:
        raise ValueError(f"unknown centroid method {method!r}; choose one of {', '.join(CENTROID_METHODS)}")
    if int(box_size) != box_size or box_size < 3 or box_size % 2 == 0:
        raise ValueError(f"box_size must be an odd integer >= 3, got {box_size}")
    data = np.asarray(data, dtype=float)
    x = np.atleast_1d(np.asarray(x, dtype=float)).copy()
    y = np.atleast_1d(np.asarray(y, dtype=float)).copy()
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError(f"x and y must be 1D and of the same length, got shapes {x.shape} and {y.shape}")
    invalid = _invalid_pixels(data, mask)

    # centroid_sources refuses any position off the image (and an empty list): centroid the others only.
    inside = np.isfinite(x) & np.isfinite(y) & (x >= 0) & (y >= 0)
    inside &= (x <= data.shape[1] - 1) & (y <= data.shape[0] - 1)
    if invalid.any():
        # photutils raises on a box with no valid pixel: those sources keep their start too.
        usable = ndimage.maximum_filter(~invalid, size=int(box_size), mode="constant", cval=False)
        inside[inside] = usable[np.rint(y[inside]).astype(int), np.rint(x[inside]).astype(int)]
    if not inside.any():
        return x, y
    if method == "2dg":
        cx, cy = gaussian_centroids(data, x[inside], y[inside], box_size=int(box_size), mask=invalid)
    else:
        with warnings.catch_warnings():
            # Failed fits return NaN, handled below; their warnings would only repeat that per source.
            warnings.simplefilter("ignore", AstropyUserWarning)
            warnings.simplefilter("ignore", RuntimeWarning)
            cx, cy = centroid_sources(
                data, x[inside], y[inside], box_size=int(box_size), mask=invalid,
                centroid_func=_PHOTUTILS_CENTROIDS[method],
            )
    limit = box_size / 2 if max_shift is None else max_shift
    good = np.isfinite(cx) & np.isfinite(cy) & (np.hypot(cx - x[inside], cy - y[inside]) <= limit)
    index = np.flatnonzero(inside)[good]
    x[index], y[index] = cx[good], cy[good]
    return x, y


def _positions(x, y) -> np.ndarray:
    x, y = (np.atleast_1d(np.asarray(v, dtype=float)) for v in (x, y))
    if x.ndim != 1 or x.shape != y.shape:
        raise ValueError(f"x and y must be 1D and of the same length, got shapes {x.shape} and {y.shape}")
    return np.column_stack([x, y])


def cross_match(x1, y1, x2, y2, *, radius: float):
    """Nearest neighbour in a second set of positions for each position of a first set, within a radius.

    Parameters
    ----------
    x1, y1 : array_like
        Positions to match (px).
    x2, y2 : array_like
        Positions to match them to (px).
    radius : float
        Largest accepted distance (px), inclusive.

    Returns
    -------
    index : numpy.ndarray of int
        For each position of the first set, the index into the second set of its nearest neighbour, or
        -1 when none is within ``radius`` (also for non-finite positions, and when the second set is
        empty). The match is not one-to-one: two positions can share a neighbour.
    distance : numpy.ndarray of float
        The distance to that neighbour, NaN where ``index`` is -1.

    Raises
    ------
    ValueError
        ``radius`` not positive, or the x and y of a set of different lengths.
    """
    if not (np.isfinite(radius) and radius > 0):
        raise ValueError(f"radius must be positive and finite, got {radius}")
    first, second = (_positions(x, y) for x, y in ((x1, y1), (x2, y2)))
    index = np.full(len(first), -1)
    distance = np.full(len(first), np.nan)
    usable = np.flatnonzero(np.isfinite(second).all(axis=1))  # a NaN in the tree would poison its queries
    queried = np.isfinite(first).all(axis=1)
    if usable.size == 0 or not queried.any():
        return index, distance
    # scipy's upper bound is exclusive; the next float up makes the radius inclusive.
    bound = np.nextafter(radius, np.inf)
    found_distance, found = cKDTree(second[usable]).query(first[queried], distance_upper_bound=bound)
    hit = np.isfinite(found_distance)
    rows = np.flatnonzero(queried)[hit]
    index[rows] = usable[found[hit]]
    distance[rows] = found_distance[hit]
    return index, distance


def gaussian_centroids(data, x, y, *, box_size: int, mask=None, max_iterations: int = 200):
    """Centres of 2D Gaussians fitted by least squares to the box around each position, all boxes at once.

    The fit is photutils' ``centroid_2dg`` run through ``centroid_sources``: the same box (astropy's
    ``overlap_slices``, cut at the image's edges), an elliptical Gaussian with no constant term fitted to
    the box's valid pixels with equal weights, started from the moments of the box minus its minimum. It
    is solved by Levenberg-Marquardt iterations on every box together (arrays of boxes x pixels x
    parameters) instead of one astropy fit per box, which is what makes 2dg affordable on crowded fields
    (``python bench/centroids.py`` times both).

    Parameters
    ----------
    data : 2D array
        Background-subtracted image.
    x, y : 1D arrays
        Box centres (px), on the image.
    box_size : int
        Odd side of the boxes (px).
    mask : 2D bool array, optional
        Pixels to leave out of the fits (True), besides the non-finite ones.
    max_iterations : int
        Iterations after which a fit that still improves stops where it is. As with photutils (whose fit
        stops after 100 evaluations), this happens when the Gaussian narrows towards a spike on a pixel;
        its centre has settled long before its width.

    Returns
    -------
    x_fit, y_fit : numpy.ndarray
        The fitted centres (px); NaN where there is nothing to fit (fewer than 6 valid pixels, a flat
        box, moments with no width) or the fit diverges.
    """
    data = np.asarray(data, dtype=float)
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    invalid = _invalid_pixels(data, mask)
    x_start = np.ceil(x - box_size / 2).astype(int)
    y_start = np.ceil(y - box_size / 2).astype(int)
    # ``on_image`` marks the pixels of photutils' boxes, which are cut at the image's edges.
    pixels, on_image = box_pixels(data.shape, x_start, y_start, box_size)
    weights = ~np.take(invalid, pixels) & on_image
    boxes = np.where(weights, np.take(data, pixels), 0.0)
    weights = weights.astype(float)
    grid_y, grid_x = (g.ravel().astype(float) for g in np.indices((box_size, box_size)))
    start, fittable = _gaussian_moments(boxes, weights, on_image, grid_x, grid_y)
    fitted = _fit_gaussians(boxes[fittable], weights[fittable], start[fittable], grid_x, grid_y, max_iterations)
    x_fit, y_fit = np.full(len(x), np.nan), np.full(len(x), np.nan)
    index = np.flatnonzero(fittable)
    x_fit[index] = fitted[:, 1] + x_start[index]
    y_fit[index] = fitted[:, 2] + y_start[index]
    return x_fit, y_fit


def _gaussian_moments(boxes, weights, on_image, grid_x, grid_y):
    """photutils' starting point (``_gaussian2d_moments`` of the box minus its minimum, masked pixels
    being 0) as ``(amplitude, x0, y0, a, b, c)`` of the exponent ``a dx^2 + b dx dy + c dy^2``
    (astropy's Gaussian2D), and whether a box can be fitted at all."""
    shifted = np.where(on_image, boxes - np.where(on_image, boxes, np.inf).min(axis=1, keepdims=True), 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        total = shifted.sum(axis=1)
        x_mean = (shifted * grid_x).sum(axis=1) / total
        y_mean = (shifted * grid_y).sum(axis=1) / total
        dx, dy = grid_x - x_mean[:, None], grid_y - y_mean[:, None]
        mu_20, mu_02, mu_11 = ((shifted * moment).sum(axis=1) / total for moment in (dx**2, dy**2, dx * dy))
        # The exponent's quadratic form is half the inverse of the moments' covariance.
        determinant = mu_20 * mu_02 - mu_11**2
        start = np.column_stack([shifted.max(axis=1), x_mean, y_mean, 0.5 * mu_02 / determinant,
                                 -mu_11 / determinant, 0.5 * mu_20 / determinant])
        fittable = (weights.sum(axis=1) >= 6) & (total > 0) & (determinant > 0) & np.isfinite(start).all(axis=1)
    return start, fittable


def _fit_gaussians(boxes, weights, start, grid_x, grid_y, max_iterations):
    """The Gaussians' fitted parameters (NaN for a fit that diverged), by ``levenberg_marquardt``."""

    def model_and_jacobian(p):
        dx, dy = grid_x - p[:, 1:2], grid_y - p[:, 2:3]
        a, b, c = p[:, 3:4], p[:, 4:5], p[:, 5:6]
        profile = np.exp(-(a * dx**2 + b * dx * dy + c * dy**2))
        model = p[:, 0:1] * profile
        jacobian = np.stack([profile, model * (2 * a * dx + b * dy), model * (b * dx + 2 * c * dy),
                             -model * dx**2, -model * dx * dy, -model * dy**2], axis=-1)
        return model, jacobian

    return levenberg_marquardt(model_and_jacobian, boxes, weights, start, max_iterations=max_iterations)
