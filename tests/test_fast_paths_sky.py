"""The fast medians and maxima of the sky and registration steps, bit for bit against the scipy, numpy and
astropy calls they replace, on seeded data with NaN, odd shapes and features on the borders."""

import warnings

import numpy as np
import pytest
from astropy.stats import sigma_clipped_stats
from scipy import ndimage

from stackphot.background import row_offsets
from stackphot.numerics import median3x3, median_over_frames, nanmedian, replace_outliers
from stackphot.register.prepare import subtract_line_medians
from stackphot.register.stars import find_peaks

SHAPES = [(1, 1), (1, 7), (2, 2), (3, 5), (8, 3), (37, 61), (5, 601), (601, 4)]


def same_bits(a, b) -> bool:
    """Same dtype, shape and bytes: tells -0.0 from 0.0 and one NaN from another."""
    a, b = np.asarray(a), np.asarray(b)
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


def with_holes(rng, shape, dtype, nan_fraction=0.3):
    """Normal noise with NaN, infinities, an all-NaN first row and column, and rows of one and two values."""
    values = rng.normal(100.0, 5.0, shape).astype(dtype)
    values[rng.random(shape) < nan_fraction] = np.nan
    values[rng.random(shape) < 0.03] = np.inf
    values[rng.random(shape) < 0.03] = -np.inf
    values[0] = np.nan
    values[:, 0] = np.nan
    if shape[0] > 2 and shape[1] > 3:
        values[1, 2:] = np.nan
        values[2, 3:] = np.nan
    return values


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", SHAPES)
def test_nanmedian_is_numpys(shape, dtype):
    # Lines shorter than 600 values go through numpy's masked-array median, longer ones through its loop.
    values = with_holes(np.random.default_rng(1), shape, dtype)
    before = values.copy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN lines
        for axis in (0, 1):
            assert same_bits(nanmedian(values, axis=axis), np.nanmedian(values, axis=axis))
    assert same_bits(values, before)
    assert nanmedian(np.array([[3.0, np.nan, 1.0, 2.0, 10.0]]), axis=1).tolist() == [2.5]


def test_median_over_frames_is_numpys():
    rng = np.random.default_rng(2)
    values = rng.normal(size=(7, 31, 29)).astype(np.float32)
    finite = rng.random(values.shape) < 0.6
    finite[:, 0, 0] = False
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # the all-NaN pixel
        expected = np.nanmedian(np.where(finite, values, np.nan), axis=0)
    assert same_bits(median_over_frames(values, finite, finite.sum(axis=0)), expected)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int16])
@pytest.mark.parametrize("shape", SHAPES)
def test_median3x3_is_scipys(shape, dtype):
    rng = np.random.default_rng(3)
    # Few distinct values: many ties, and extremes on the borders where "nearest" repeats the edge.
    data = rng.integers(-4, 5, shape).astype(dtype)
    data[0, 0], data[-1, -1] = 50, -50
    assert same_bits(median3x3(data), ndimage.median_filter(data, size=3, mode="nearest"))
    smooth = rng.normal(size=shape).astype(dtype) if dtype != np.int16 else data
    assert same_bits(median3x3(smooth), ndimage.median_filter(smooth, size=3, mode="nearest"))


def replace_outliers_reference(data, *, noise=None, nsigma=5.0, ratio=3.0):
    """What replace_outliers did with scipy's median filter everywhere."""
    from astropy.stats import mad_std

    median = ndimage.median_filter(data, size=3, mode="nearest")
    noise = mad_std(data) if noise is None else noise
    outlier = (np.abs(data - median) > nsigma * noise) & (np.abs(data) > ratio * np.abs(median))
    return np.where(outlier, median, data)


@pytest.mark.parametrize("with_nan", [False, True])
def test_replace_outliers_unchanged(with_nan):
    rng = np.random.default_rng(4)
    data = rng.normal(0.0, 1.0, (53, 71)).astype(np.float32) + 20.0
    hot = rng.integers(0, data.size, 40)
    data.flat[hot] = 500.0  # hot pixels, some on the borders
    data[0, 0], data[-1, 35], data[20, -1] = 900.0, -800.0, 700.0
    if with_nan:
        data[rng.random(data.shape) < 0.02] = np.nan  # scipy's path, kept for them
    replaced = replace_outliers(data, noise=1.0)
    assert same_bits(replaced, replace_outliers_reference(data, noise=1.0))
    assert same_bits(replace_outliers(data), replace_outliers_reference(data))
    assert replaced[0, 0] < 25.0 and replaced[-1, 35] > 15.0


def subtract_line_medians_reference(data, *, mask=None):
    """subtract_line_medians with numpy's nanmedian."""
    work = np.array(data, dtype=np.float32)
    if mask is not None:
        work[np.asarray(mask, dtype=bool)] = np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        work -= np.nan_to_num(np.nanmedian(work, axis=1, keepdims=True))
        work -= np.nan_to_num(np.nanmedian(work, axis=0, keepdims=True))
    return work


@pytest.mark.parametrize("shape", [(1, 1), (4, 9), (53, 611), (611, 53)])
def test_subtract_line_medians_unchanged(shape):
    rng = np.random.default_rng(5)
    data = rng.normal(10.0, 2.0, shape) + rng.normal(0.0, 3.0, shape[0])[:, None]  # float64 in, row banding
    data[rng.random(shape) < 0.1] = np.nan
    mask = rng.random(shape) < 0.2
    mask[-1] = True  # a blank row and column
    mask[:, 0] = True
    for masked in (None, mask):
        result = subtract_line_medians(data, mask=masked)
        assert same_bits(result, subtract_line_medians_reference(data, mask=masked))
    if shape == (4, 9):
        assert np.isnan(result[-1]).all() and np.isnan(result[:, 0]).all()


def find_peaks_reference(smoothed, *, noise, nsigma=5.0):
    """find_peaks with scipy's maximum filter (mode "reflect") over the whole image."""
    peaks = (smoothed == ndimage.maximum_filter(smoothed, size=5)) & (smoothed > nsigma * noise)
    ys, xs = np.nonzero(peaks)
    order = np.argsort(-smoothed[ys, xs], kind="stable")
    return ys[order], xs[order]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(1, 1), (1, 6), (2, 3), (4, 4), (5, 5), (7, 2), (41, 67)])
def test_find_peaks_unchanged(shape, dtype):
    rng = np.random.default_rng(6)
    smoothed = ndimage.gaussian_filter(rng.normal(size=shape), 1.0).astype(dtype)
    smoothed = np.round(smoothed * 8) / 8  # plateaus: equal neighbours are both peaks
    smoothed[0, 0] = smoothed[-1, -1] = 3.0  # peaks on corners and edges
    smoothed[0, shape[1] // 2] = smoothed[shape[0] // 2, -1] = 2.5
    for noise in (0.01, 0.1, 1.0):
        found = find_peaks(smoothed, noise=noise, nsigma=1.0)
        expected = find_peaks_reference(smoothed, noise=noise, nsigma=1.0)
        assert all(np.array_equal(a, b) for a, b in zip(found, expected))
    assert find_peaks(smoothed, noise=10.0)[0].size == 0


def test_find_peaks_order_and_plateau():
    image = np.zeros((9, 12))
    image[0, 11] = 5.0  # corner
    image[4, 3] = image[4, 4] = 7.0  # a plateau of two
    image[8, 6] = 6.0  # bottom edge
    image[6, 6] = 4.0  # within 2 px of a brighter one: not a peak
    ys, xs = find_peaks(image, noise=1.0, nsigma=1.0)
    assert list(zip(ys.tolist(), xs.tolist())) == [(4, 3), (4, 4), (8, 6), (0, 11)]


def row_offsets_reference(residual, *, mask, sigma=3.0):
    """row_offsets through sigma_clipped_stats."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _, medians, _ = sigma_clipped_stats(residual, mask=mask, sigma=sigma, maxiters=5, axis=1)
    return np.nan_to_num(np.asarray(medians, dtype=np.float32))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(1, 5), (6, 9), (40, 131), (5, 700)])
def test_row_offsets_unchanged(shape, dtype):
    rng = np.random.default_rng(7)
    residual = (rng.normal(0.0, 1.0, shape) + rng.normal(0.0, 0.5, shape[0])[:, None]).astype(dtype)
    residual[rng.random(shape) < 0.05] += 30.0  # stars and hot pixels, to be clipped
    residual[rng.random(shape) < 0.03] = np.nan
    mask = rng.random(shape) < 0.2
    if shape[0] > 2:
        mask[1] = True  # a row masked whole: offset 0
        residual[2, 1:] = np.nan  # a row of one value
    for sigma in (2.0, 3.0):
        assert same_bits(row_offsets(residual, mask=mask, sigma=sigma),
                         row_offsets_reference(residual, mask=mask, sigma=sigma))
    if shape[0] > 2:
        assert row_offsets(residual, mask=mask)[1] == 0.0


def test_row_offsets_all_masked_and_known_offsets():
    assert same_bits(row_offsets(np.ones((3, 4)), mask=np.ones((3, 4), bool)), np.zeros(3, np.float32))
    residual = np.tile(np.array([[0.5], [-1.25], [2.0]]), (1, 11))
    residual[0, 3] = 100.0  # clipped
    assert row_offsets(residual, mask=np.zeros(residual.shape, bool)).tolist() == [0.5, -1.25, 2.0]


@pytest.mark.parametrize("shape, box", [((300, 410), 64), ((256, 256), 32), ((130, 77), 25), ((64, 64), 64)])
def test_mesh_images_are_photutils_interpolation(shape, box):
    """The sky and RMS maps by two matrix products against Background2D's own (scipy's zoom): the same float32
    numbers, and the intermediate maps' linear zoom too."""
    from stackphot.background import _bilinear_background, _mesh, _mesh_images

    rng = np.random.default_rng(shape[0] * box)
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    data = (100 + 0.05 * xx - 0.03 * yy + 20 * np.sin(xx / 40.0) + rng.normal(0, 5, shape)).astype(np.float32)
    mask = np.zeros(shape, bool)
    mask[10:30, 40:60] = True
    mesh = _mesh(data, mask, box_size=box, filter_size=3, sigma=3.0)
    sky, rms = _mesh_images(mesh, shape)
    for ours, theirs in ((sky, mesh.background), (rms, mesh.background_rms)):
        assert ours.dtype == theirs.dtype and ours.shape == theirs.shape
        np.testing.assert_allclose(ours, theirs, rtol=2e-7)
        assert np.mean(ours == theirs) > 0.999
    linear = ndimage.zoom(mesh.background_mesh, mesh.box_size, order=1, mode="nearest", grid_mode=True)
    np.testing.assert_allclose(_bilinear_background(mesh, shape), linear[: shape[0], : shape[1]], rtol=2e-7)


def source_mask_reference(data, *, mask=None, box_size=64, nsigma=3.0, n_pixels=5, dilate=5):
    """The source mask made with photutils.segmentation and astropy.convolution on the unbinned frame."""
    from astropy.convolution import convolve
    from photutils.segmentation import detect_sources, make_2dgaussian_kernel

    from stackphot.background import _bilinear_background, _coarse_mesh

    invalid = ~np.isfinite(data) if mask is None else (np.asarray(mask, dtype=bool) | ~np.isfinite(data))
    coarse = _coarse_mesh(data, invalid, box_size=box_size, sigma=3.0)
    residual = np.where(invalid, 0.0, data - _bilinear_background(coarse, np.shape(data)))
    kernel = make_2dgaussian_kernel(3.0, size=7)
    smoothed = convolve(residual, kernel, normalize_kernel=True)
    smoothed_noise = coarse.background_rms_median * np.sqrt((kernel.array**2).sum())
    segments = detect_sources(smoothed, nsigma * smoothed_noise, n_pixels, mask=invalid)
    return np.zeros(np.shape(data), bool) if segments is None else segments.make_source_mask(size=2 * dilate + 1)


@pytest.mark.parametrize("shape", [(300, 410), (97, 131), (600, 600)])
def test_source_mask_as_photutils_segmentation_finds_it(shape):
    """Stars of every brightness down to the threshold, some on the borders, a gradient, masked and NaN pixels:
    the mask found on the frame binned 2 x 2 against photutils' on the frame itself. Every star whose peak stands
    twice above the noise is masked by both, the masked fraction is photutils' within a tenth, 94% of the pixels
    agree, and pure noise is masked no more often than by photutils; the kernels agree to 1e-15."""
    from photutils.segmentation import make_2dgaussian_kernel

    from stackphot.background import smoothing_kernel, source_mask

    rng = np.random.default_rng(shape[1])
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    data = 100 + 0.05 * xx - 0.03 * yy + rng.normal(0, 5, shape)
    xs, ys, fluxes = rng.uniform(-3, shape[1] + 3, 60), rng.uniform(-3, shape[0] + 3, 60), 10 ** rng.uniform(1.5, 4, 60)
    for x, y, flux in zip(xs, ys, fluxes):
        data += flux / (2 * np.pi * 2.0**2) * np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * 2.0**2))
    data = data.astype(np.float32)
    data[rng.random(shape) < 0.002] = np.nan
    mask = np.zeros(shape, bool)
    mask[5:15, 20:40] = True
    # Stars whose peak is at least twice the noise: fainter ones are found or missed by chance, by either.
    seen = (xs >= 0) & (xs <= shape[1] - 1) & (ys >= 0) & (ys <= shape[0] - 1) & (fluxes / (8 * np.pi) >= 10.0)
    rows, columns = np.round(ys[seen]).astype(int), np.round(xs[seen]).astype(int)
    for kwargs in ({}, {"mask": mask}, {"mask": mask, "nsigma": 2.0, "dilate": 2}):
        ours, theirs = source_mask(data, **kwargs), source_mask_reference(data, **kwargs)
        assert ours.dtype == theirs.dtype == bool and ours.any() and not ours.all()
        unmasked = ~kwargs.get("mask", np.zeros(shape, bool))[rows, columns]  # a masked star is not looked for
        assert ours[rows, columns][unmasked].all() and theirs[rows, columns][unmasked].all()
        assert abs(ours.mean() - theirs.mean()) < 0.1 * theirs.mean()
        assert np.mean(ours == theirs) > 0.94
    noise = rng.normal(100, 5, shape).astype(np.float32)
    assert source_mask(noise).mean() <= source_mask_reference(noise).mean() + 0.005
    assert np.abs(smoothing_kernel(3.0, size=7) - make_2dgaussian_kernel(3.0, size=7).array).max() < 1e-15
    assert not source_mask(np.full(shape, 100.0, np.float32)).any()


@pytest.mark.parametrize("shape, box", [((300, 410), 64), ((130, 77), 25), ((130, 64), 64), ((50, 300), 16)])
def test_box_median_is_photutils_median_background(shape, box):
    """The mesh's box medians by one sort against photutils' MedianBackground (np.nanmedian per box): bit for bit,
    with masked and NaN pixels, boxes more than half masked, and the extra row and column of partial boxes."""
    from astropy.stats import SigmaClip
    from photutils.background import Background2D, MedianBackground, StdBackgroundRMS

    from stackphot.background import _mesh

    rng = np.random.default_rng(shape[1] + box)
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    data = (100 + 0.05 * xx - 0.03 * yy + rng.normal(0, 5, shape)).astype(np.float32)
    data[rng.random(shape) < 0.01] = np.nan
    data[rng.random(shape) < 0.01] = 5000.0  # clipped
    mask = np.zeros(shape, bool)
    mask[: box // 2 + 3, : box] = True  # a box more than half masked: excluded and interpolated over
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = Background2D(data, box, mask=mask, filter_size=3, exclude_percentile=50.0,
                              sigma_clip=SigmaClip(sigma=3.0, maxiters=10), bkg_estimator=MedianBackground(),
                              bkg_rms_estimator=StdBackgroundRMS())
        ours = _mesh(data, mask, box_size=box, filter_size=3, sigma=3.0)
    assert same_bits(ours.background_mesh, theirs.background_mesh)
    assert same_bits(ours.background_rms_mesh, theirs.background_rms_mesh)
    assert np.isfinite(ours.background_mesh).all()


@pytest.mark.parametrize("shape, box", [((300, 410), 64), ((2047, 130), 64), ((129, 77), 32), ((40, 40), 64)])
def test_coarse_mesh_is_the_frames_mesh_from_a_quarter_of_its_pixels(shape, box):
    """The intermediate models' mesh, from every other pixel of every other row: the full mesh's boxes (partial
    boxes at the edges included), its values within their noise, under a gradient that tells boxes apart."""
    from stackphot.background import _coarse_mesh, _mesh

    rng = np.random.default_rng(shape[0] + box)
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    data = (100 + 0.2 * xx - 0.1 * yy + rng.normal(0, 5, shape)).astype(np.float32)
    invalid = np.zeros(shape, bool)
    full = _mesh(data, invalid, box_size=min(box, *shape), filter_size=1, sigma=3.0)
    coarse = _coarse_mesh(data, invalid, box_size=box, sigma=3.0)
    assert coarse.background_mesh.shape == full.background_mesh.shape
    assert coarse.box_size == (min(box, *shape),) * 2
    # A box's median from n pixels scatters by 1.25 sigma / sqrt(n); the coarse one has a quarter of the pixels.
    n_coarse = min(box, *shape) ** 2 / 4
    assert np.abs(coarse.background_mesh - full.background_mesh).max() < 5 * 1.25 * 5 / np.sqrt(n_coarse)
    assert coarse.background_rms_median == pytest.approx(full.background_rms_median, rel=0.05)
