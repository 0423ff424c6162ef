"""Sky background: a sigma-clipped constant, or a 2D mesh model for gradients, with its RMS map.

Destriping here (the config's ``background: destripe``, the ``destripe_rows`` options) means one thing:
adding each row's offset to the sky, for row banding fixed to the readout.
"""

from __future__ import annotations

import functools
import math
import warnings
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from astropy.stats import SigmaClip, sigma_clipped_stats
from astropy.utils.exceptions import AstropyUserWarning

from stackphot.numerics import nanmedian
from stackphot.provenance import Product

METHODS = ("constant", "mesh")


@dataclass
class Background:
    """A background estimate: the sky map, its RMS map and their medians."""

    map: np.ndarray
    rms: np.ndarray
    method: str
    box_size: int | None = None
    destripe_rows: bool = False  # each row's offset is in the map

    # Each is asked for by the cards, the history and the job's log: one median of the whole map is enough.
    @functools.cached_property
    def level(self) -> float:
        return float(np.nanmedian(self.map))

    @functools.cached_property
    def rms_median(self) -> float:
        return float(np.nanmedian(self.rms))

    def describe(self) -> str:
        how = "sigma-clipped median" if self.method == "constant" else f"Background2D mesh, box {self.box_size} px"
        if self.destripe_rows:
            how += ", plus row offsets"
        return f"background: {how}; median sky {self.level:.3f}, median rms {self.rms_median:.3f}"


def source_mask(data, *, mask=None, box_size: int = 64, nsigma: float = 3.0, n_pixels: int = 5,
                dilate: int = 5) -> np.ndarray:
    """Pixels belonging to sources, dilated by ``dilate`` pixels, so that their wings stay out of the sky estimate.

    Sources are found above ``nsigma`` times the noise, after removing a first, coarse mesh background (against a
    single level, the bright side of a sky gradient would itself look like a source), on the residual binned
    2 x 2 and smoothed by a Gaussian of 1.5 binned pixels' FWHM: 3 pixels of the frame, the same matched filter as
    photutils' ``make_2dgaussian_kernel(3, size=7)`` on the frame itself, on a quarter of the pixels to smooth and
    label. A source is ``n_pixels`` of the frame's pixels or more (connected blocks of 4, 8-connected, as
    photutils' ``detect_sources``); the blocks found are dilated on the frame's pixels, as
    ``make_source_mask(size=2 * dilate + 1)``. ``tests/test_fast_paths_sky.py`` compares the mask with
    photutils' on the unbinned frame. Returns an all-False mask when nothing is found.
    """
    from scipy import ndimage

    invalid = ~np.isfinite(data) if mask is None else (np.asarray(mask, dtype=bool) | ~np.isfinite(data))
    coarse = _coarse_mesh(data, invalid, box_size=box_size, sigma=3.0)
    residual = np.where(invalid, np.float32(0), data - _bilinear_background(coarse, np.shape(data)))
    sums, counts = _blocks_of_four(residual), _blocks_of_four(~invalid)
    # Each block's sum over 2 sqrt(count): the mean for a whole block, and for one cut by masked pixels a value
    # whose noise is a whole block's (the pixels' sigma / 2), so that the threshold holds at masks' edges too.
    with np.errstate(invalid="ignore", divide="ignore"):
        binned = np.where(counts > 0, sums / (2 * np.sqrt(counts)), np.float32(0)).astype(np.float32)
    profile = smoothing_profile(1.5, size=5).astype(np.float32)
    # Symmetric and separable: two 1D passes along contiguous rows (the second on the transpose) are the 2D
    # convolution. Zeros beyond the edge, as astropy's boundary="fill".
    smoothed = ndimage.correlate1d(binned, profile, axis=1, mode="constant", cval=0.0)
    smoothed = ndimage.correlate1d(np.ascontiguousarray(smoothed.T), profile, axis=1, mode="constant", cval=0.0).T
    # Binning halves the noise; smoothing lowers it by the kernel's equivalent width, sqrt(sum(kernel**2)), which for
    # the outer product of the profile is sum(profile**2).
    smoothed_noise = coarse.background_rms_median / 2 * float((profile.astype(float) ** 2).sum())
    above = (smoothed > nsigma * smoothed_noise) & (counts > 0)
    labels, _ = ndimage.label(above, structure=np.ones((3, 3), bool))
    large = np.bincount(labels.ravel()) >= math.ceil(n_pixels / 4)
    large[0] = False
    found = np.repeat(np.repeat(large[labels], 2, axis=0), 2, axis=1)[: np.shape(data)[0], : np.shape(data)[1]]
    # A square footprint's dilation is a maximum along the rows, then along the columns.
    dilated = ndimage.maximum_filter1d(found.view(np.uint8), 2 * dilate + 1, axis=1)
    return ndimage.maximum_filter1d(dilated, 2 * dilate + 1, axis=0).view(bool)


def _blocks_of_four(image) -> np.ndarray:
    """Sums of 2 x 2 blocks of ``image`` (float32; bool gives counts), a last odd row and column padded with 0."""
    ny, nx = np.shape(image)
    padded = np.pad(image, ((0, ny % 2), (0, nx % 2)))
    blocks = padded.reshape(padded.shape[0] // 2, 2, padded.shape[1] // 2, 2)
    return blocks.sum(axis=(1, 3), dtype=np.int32 if padded.dtype == bool else np.float32)


def smoothing_kernel(fwhm: float, *, size: int, oversampling: int = 10) -> np.ndarray:
    """photutils' ``make_2dgaussian_kernel(fwhm, size)``: a Gaussian averaged over ``oversampling``² points of
    each of ``size`` x ``size`` pixels, summing to 1. Separable: the outer product of ``smoothing_profile``."""
    profile = smoothing_profile(fwhm, size=size, oversampling=oversampling)
    return np.outer(profile, profile)


def smoothing_profile(fwhm: float, *, size: int, oversampling: int = 10) -> np.ndarray:
    """The 1D factor of ``smoothing_kernel``: a Gaussian averaged over ``oversampling`` points of each pixel,
    summing to 1."""
    sigma = fwhm / (2.0 * np.sqrt(2.0 * np.log(2.0)))
    points = (np.arange(size * oversampling) + 0.5) / oversampling - size / 2.0
    profile = np.exp(-0.5 * (points / sigma) ** 2).reshape(size, oversampling).mean(axis=1)
    return profile / profile.sum()


def _mesh(data, mask, *, box_size, filter_size, sigma):
    from photutils.background import Background2D, StdBackgroundRMS

    with warnings.catch_warnings():
        # Boxes that are mostly masked are excluded and interpolated over: expected near bright stars.
        warnings.simplefilter("ignore", AstropyUserWarning)
        return Background2D(
            data,
            box_size,
            mask=mask,
            filter_size=filter_size,
            # Keep boxes that are up to half masked: a box near a cluster or at a masked edge still
            # knows its sky better than an interpolation from boxes further away.
            exclude_percentile=50.0,
            sigma_clip=SigmaClip(sigma=sigma, maxiters=10),
            bkg_estimator=_box_median(),
            bkg_rms_estimator=StdBackgroundRMS(),
        )


@functools.cache
def _box_median():
    """photutils' ``MedianBackground`` whose boxes' medians take one sort (``numerics.nanmedian``, bit for bit
    ``np.nanmedian``) instead of ``np.nanmedian``'s Python loop over a thousand boxes."""
    from photutils.background import MedianBackground

    class BoxMedian(MedianBackground):
        def calc_background(self, data, axis=None, masked=False):
            if self.sigma_clip is not None or masked or not isinstance(axis, int):  # Background2D clips first
                return super().calc_background(data, axis=axis, masked=masked)
            return nanmedian(np.asarray(data), axis=axis)

    return BoxMedian(sigma_clip=None)


class CoarseMesh(NamedTuple):
    """An intermediate model's mesh: the box values, the boxes' size in the frame's pixels, the median RMS."""

    background_mesh: np.ndarray
    box_size: tuple[int, int]
    background_rms_median: float


def _coarse_mesh(data, invalid, *, box_size: int, sigma: float) -> CoarseMesh:
    """The mesh of the intermediate models (no median filter), on every other pixel of every other row.

    Those models only steer the source mask, through the row destriping and the residual it thresholds: a box's
    median of 1024 pixels instead of 4096 is as good for that, and the sigma clipping, most of the sky's cost, takes
    a quarter of the time. Box k of the subsampled frame covers the frame's rows and columns of box k, so the mesh
    is the frame's, partial boxes at the far edges included. The final sky map uses every pixel.
    """
    box = min(box_size, *np.shape(data))
    step = 2 if box % 2 == 0 and box >= 16 else 1
    mesh = _mesh(data[::step, ::step], invalid[::step, ::step], box_size=box // step, filter_size=1, sigma=sigma)
    return CoarseMesh(np.asarray(mesh.background_mesh), (box, box), float(mesh.background_rms_median))


def _bilinear_background(mesh, shape) -> np.ndarray:
    """A mesh's background at every pixel, interpolated linearly between the box centres.

    For the intermediate models that only steer the source mask and the row destriping: 4 times faster than
    ``Background2D.background``'s cubic spline at 2048 x 2048, and as good for that purpose.
    """
    return _zoomed(mesh.background_mesh, mesh.box_size, shape, order=1, mode="nearest")


def _mesh_images(mesh, shape) -> tuple[np.ndarray, np.ndarray]:
    """``Background2D.background`` and ``background_rms``: photutils' interpolation of the meshes (a cubic spline
    through the box centres, ``reflect`` beyond them, clipped to the mesh's range), by ``_zoomed``."""
    images = []
    for values in (mesh.background_mesh, mesh.background_rms_mesh):
        values = np.asarray(values)
        if np.ptp(values) == 0:
            images.append(np.full(shape, values.min(), dtype=values.dtype))
            continue
        image = _zoomed(values, mesh.box_size, shape, order=3, mode="reflect")
        images.append(np.clip(image, values.min(), values.max(), out=image))
    return images[0], images[1]


def _zoomed(values, box_size, shape, *, order: int, mode: str) -> np.ndarray:
    """``scipy.ndimage.zoom(values, box_size, order=order, mode=mode, grid_mode=True)`` cropped to ``shape``, as two
    matrix products: a spline zoom is separable and linear, so it is ``rows @ values @ columns.T``, each matrix the
    1D zoom of the unit vectors. The same sums in another order, rounded to the values' type as zoom rounds them
    (``tests/test_fast_paths_sky.py``); far fewer operations than zoom's per-pixel tensor of spline weights."""
    values = np.asarray(values)
    rows = _zoom_matrix(values.shape[0], box_size[0], shape[0], order, mode)
    columns = _zoom_matrix(values.shape[1], box_size[1], shape[1], order, mode)
    return (rows @ values.astype(float) @ columns.T).astype(values.dtype, copy=False)


@functools.lru_cache(maxsize=16)
def _zoom_matrix(n_boxes: int, box: int, length: int, order: int, mode: str) -> np.ndarray:
    from scipy.ndimage import zoom

    unit = np.eye(n_boxes)
    return np.stack([zoom(vector, box, order=order, mode=mode, grid_mode=True)[:length] for vector in unit], axis=1)


def estimate_background(
    data,
    *,
    method: str = "mesh",
    mask=None,
    box_size: int = 64,
    filter_size: int = 3,
    sigma: float = 3.0,
    mask_sources: bool = True,
    destripe_rows: bool = False,
) -> Background:
    """Estimate the sky under a frame.

    Parameters
    ----------
    data : 2D array
        The frame; NaN pixels are ignored.
    method : {'constant', 'mesh'}
        ``constant``: one sigma-clipped median for the whole frame, and its sigma-clipped standard
        deviation as the RMS. ``mesh``: photutils ``Background2D`` on boxes of ``box_size`` pixels, median
        filtered over ``filter_size`` boxes, for skies with gradients.
    mask : 2D bool array, optional
        Pixels to ignore (bad pixels). Sources are masked in addition when ``mask_sources``.
    box_size, filter_size, sigma
        Mesh box (px), median filter (boxes), and the sigma-clipping threshold.
    destripe_rows : bool
        Add each row's sigma-clipped median offset from the model to the map (sources masked): row
        banding fixed to the readout is far narrower than any mesh box.

    Returns
    -------
    Background
        Maps of the same shape as ``data``. Where every pixel is masked or NaN, a constant map of the finite
        pixels' median (0 without any), their standard deviation as the RMS, and a warning.
    """
    if method not in METHODS:
        raise ValueError(f"unknown background method {method!r}; choose one of {', '.join(METHODS)}")
    data = np.asarray(data, dtype=np.float32)
    bad = ~np.isfinite(data)
    if mask is not None:
        bad |= np.asarray(mask, dtype=bool)
    if bad.all():
        # No pixel to measure a sky on: a frame ingest masked whole (BADFRAME, the frame selection rejects it).
        # Its median and spread stand in, so that the frame goes on to be rejected rather than stop the run.
        warnings.warn("every pixel is masked: no sky to estimate; the frame's median stands in", stacklevel=2)
        finite = data[np.isfinite(data)]
        level, spread = (float(np.median(finite)), float(np.std(finite))) if finite.size else (0.0, 0.0)
        return Background(np.full(data.shape, level, np.float32), np.full(data.shape, spread, np.float32),
                          "constant")
    destriped = data
    if destripe_rows:  # banding would otherwise be found as sources, whole rows at a time
        first_mesh = _coarse_mesh(data, bad, box_size=box_size, sigma=sigma)
        residual = data - _bilinear_background(first_mesh, data.shape)
        # For the source mask alone, as the coarse mesh: every other column gives each row's offset well enough.
        destriped = data - row_offsets(residual[:, ::2], mask=bad[:, ::2], sigma=sigma)[:, None]
    masked = bad | source_mask(destriped, mask=bad, box_size=box_size) if mask_sources else bad
    if method == "constant":
        _, median, std = sigma_clipped_stats(data, mask=masked, sigma=sigma, maxiters=10)
        sky, rms = np.full(data.shape, median, np.float32), np.full(data.shape, std, np.float32)
    else:
        try:
            mesh = _mesh(data, masked, box_size=box_size, filter_size=filter_size, sigma=sigma)
        except ValueError:
            # A crowded field can leave no box with enough unmasked sky: sigma clipping alone must do.
            warnings.warn("sources cover too much of the frame to mask them; relying on sigma clipping", stacklevel=2)
            mesh = _mesh(data, bad, box_size=box_size, filter_size=filter_size, sigma=sigma)
        sky, rms = (image.astype(np.float32) for image in _mesh_images(mesh, data.shape))
    if destripe_rows:
        sky = sky + row_offsets(data - sky, mask=masked, sigma=sigma)[:, None]
    return Background(sky, rms, method, box_size=box_size if method == "mesh" else None, destripe_rows=destripe_rows)


def row_offsets(residual, *, mask, sigma: float = 3.0) -> np.ndarray:
    """Sigma-clipped median of each row of a sky-subtracted frame (0 for rows with no unmasked pixel).

    The median of ``sigma_clipped_stats(residual, mask=mask, sigma=sigma, maxiters=5, axis=1)``, bit for
    bit: the same clipping, without the mean and standard deviation it would also compute, and the rows'
    medians by one sort (``numerics.nanmedian``).
    """
    data = np.ma.MaskedArray(residual, mask)
    if data.mask.all():
        return np.zeros(np.shape(residual)[0], np.float32)
    with warnings.catch_warnings(), np.errstate(invalid="ignore"):
        warnings.simplefilter("ignore", AstropyUserWarning)  # fully masked rows
        warnings.simplefilter("ignore", RuntimeWarning)
        clipped = SigmaClip(sigma=sigma, maxiters=5)(data, axis=1, masked=False, return_bounds=False, copy=True)
    return np.nan_to_num(nanmedian(clipped, axis=1).astype(np.float32))


def subtracted_error(subtracted, background: Background, *, gain: float) -> np.ndarray:
    """Total error of a background-subtracted frame: the sky's measured RMS plus the sources' Poisson noise.

    The measured RMS already holds the sky's Poisson noise and the read noise (and any noise the model of
    the detector misses), so only the sources' own counts add Poisson variance (photutils'
    ``calc_total_error`` convention).
    """
    source_variance = np.clip(np.nan_to_num(subtracted, nan=0.0), 0, None) / gain
    return np.sqrt(background.rms.astype(np.float64) ** 2 + source_variance).astype(np.float32)


class SkySubtraction(NamedTuple):
    """What the background stage writes for a frame, and the sky estimate behind it (for the job's log)."""

    subtracted: Product  # the frame minus the sky, with ERR and MASK
    sky: Product  # the sky map, with its RMS map
    background: Background


def subtract_background(data, mask, *, gain: float, method: str = "mesh", box_size: int = 64,
                        filter_size: int = 3, sigma: float = 3.0, destripe_rows: bool = False) -> SkySubtraction:
    """Remove the sky from an ingested frame: the subtracted frame and the sky map, as products.

    ``mask`` is the frame's MASK (bit flags; any set bit keeps a pixel out of the sky estimate), carried
    over unchanged. The ERR of the subtracted frame is ``subtracted_error`` with ``gain`` (e-/ADU, the
    frame's GAIN card); the other options are ``estimate_background``'s. Both products carry the median
    sky and RMS (SKYLEVEL, SKYRMS) and the same HISTORY, so either file says how it was made. The inputs
    are not changed.
    """
    sky = estimate_background(data, method=method, mask=np.asarray(mask) > 0, box_size=box_size,
                              filter_size=filter_size, sigma=sigma, destripe_rows=destripe_rows)
    subtracted = data - sky.map
    error = subtracted_error(subtracted, sky, gain=gain)
    history = [f"stackphot {sky.describe()}", "ERR: sky rms and the sources' Poisson noise"]
    cards = {"SKYLEVEL": (sky.level, "median subtracted sky (ADU)"),
             "SKYRMS": (sky.rms_median, "median sky rms (ADU)")}
    return SkySubtraction(Product(subtracted, {"ERR": error, "MASK": mask}, cards, history),
                          Product(sky.map, {"RMS": sky.rms}, dict(cards), list(history)), sky)
