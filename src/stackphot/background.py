"""Sky background: a sigma-clipped constant, or a 2D mesh model for gradients, with its RMS map.

Destriping here (the config's ``background: destripe``, the ``destripe_rows`` options) means one thing:
adding each row's offset to the sky, for row banding fixed to the readout.
"""

from __future__ import annotations

import functools
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

    @property
    def level(self) -> float:
        return float(np.nanmedian(self.map))

    @property
    def rms_median(self) -> float:
        return float(np.nanmedian(self.rms))

    def describe(self) -> str:
        how = "sigma-clipped median" if self.method == "constant" else f"Background2D mesh, box {self.box_size} px"
        if self.destripe_rows:
            how += ", plus row offsets"
        return f"background: {how}; median sky {self.level:.3f}, median rms {self.rms_median:.3f}"


def source_mask(data, *, mask=None, box_size: int = 64, nsigma: float = 3.0, n_pixels: int = 5,
                dilate: int = 5) -> np.ndarray:
    """Pixels belonging to sources, dilated, so that their wings stay out of the sky estimate.

    Sources are found on a smoothed image above ``nsigma`` times its noise, after removing a first, coarse
    mesh background: against a single level, the bright side of a sky gradient would itself look like a
    source. Returns an all-False mask when nothing is found.

    photutils' ``detect_sources`` and ``make_source_mask`` after astropy's ``convolve`` with
    ``make_2dgaussian_kernel(3, size=7)``, done with scipy.ndimage (``tests/test_fast_paths_sky.py`` holds them
    equal): importing photutils.segmentation and astropy.convolution costs every sky job a second of CPU.
    """
    from scipy import ndimage

    invalid = ~np.isfinite(data) if mask is None else (np.asarray(mask, dtype=bool) | ~np.isfinite(data))
    coarse = _mesh(data, invalid, box_size=min(box_size, *np.shape(data)), filter_size=1, sigma=3.0)
    residual = np.where(invalid, 0.0, data - _bilinear_background(coarse, np.shape(data)))
    kernel = smoothing_kernel(3.0, size=7)
    # A symmetric kernel: correlating is convolving; zeros beyond the edge, as astropy's boundary="fill".
    smoothed = ndimage.correlate(residual.astype(float), kernel, mode="constant", cval=0.0)
    # Smoothing lowers the noise by the kernel's equivalent width.
    smoothed_noise = coarse.background_rms_median * np.sqrt((kernel**2).sum())
    with np.errstate(invalid="ignore"):
        above = (smoothed > nsigma * smoothed_noise) & ~invalid
    labels, _ = ndimage.label(above, structure=np.ones((3, 3), bool))  # 8-connected, as photutils
    large = np.bincount(labels.ravel()) >= n_pixels
    large[0] = False
    return ndimage.grey_dilation(large[labels], footprint=np.ones((2 * dilate + 1,) * 2, bool))


def smoothing_kernel(fwhm: float, *, size: int, oversampling: int = 10) -> np.ndarray:
    """photutils' ``make_2dgaussian_kernel(fwhm, size)``: a Gaussian averaged over ``oversampling``² points of
    each of ``size`` x ``size`` pixels, summing to 1. Separable: the outer product of its 1D profile."""
    sigma = fwhm / (2.0 * np.sqrt(2.0 * np.log(2.0)))
    points = (np.arange(size * oversampling) + 0.5) / oversampling - size / 2.0
    profile = np.exp(-0.5 * (points / sigma) ** 2).reshape(size, oversampling).mean(axis=1)
    kernel = np.outer(profile, profile)
    return kernel / kernel.sum()


def _mesh(data, mask, *, box_size, filter_size, sigma):
    from photutils.background import Background2D, MedianBackground, StdBackgroundRMS

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
            bkg_estimator=MedianBackground(),
            bkg_rms_estimator=StdBackgroundRMS(),
        )


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
        first_mesh = _mesh(data, bad, box_size=min(box_size, *data.shape), filter_size=1, sigma=sigma)
        residual = data - _bilinear_background(first_mesh, data.shape)
        destriped = data - row_offsets(residual, mask=bad, sigma=sigma)[:, None]
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
