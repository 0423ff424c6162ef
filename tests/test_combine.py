"""Tests of combine: each method against known truth, NaN coverage, cosmic rays, error propagation,
and results that do not depend on the memory budget or on how the cube is stored."""

import tracemalloc
import warnings

import numpy as np
import pandas as pd
import pytest
from astropy.io import fits

from stackphot.stack import METHODS, PIXEL_FRAMES, CombineResult, block_rows, combine

TRUTH = 100.0


def noisy_cube(rng, n, ny, nx, *, sigma=1.0):
    """TRUTH plus Gaussian noise of ``sigma`` (a scalar or an (ny, nx) map), float32 like real frames."""
    return (TRUTH + sigma * rng.normal(size=(n, ny, nx))).astype(np.float32)


def partial_coverage(rng, n, ny, nx):
    """A noisy cube where pixel (y, x) is covered by the first (y + x) % (n + 1) frames: 0..n, NaN beyond."""
    cube = noisy_cube(rng, n, ny, nx)
    k = np.add.outer(np.arange(ny), np.arange(nx)) % (n + 1)
    cube[np.arange(n)[:, None, None] >= k] = np.nan
    return cube, k


def test_block_rows_fits_the_budget_and_takes_at_least_one_row():
    # 10 frames x 100 px x 4 bytes x 4 copies = 16000 bytes per row; 1 MiB holds 65 rows.
    assert block_rows(10, 100, memory_mb=1, itemsize=4, copies=4) == 65
    assert block_rows(10, 100, memory_mb=2, itemsize=4, copies=4) == 131
    assert block_rows(10, 100, memory_mb=1, itemsize=8, copies=4) == 32
    assert block_rows(10, 100, memory_mb=1e-6) == 1
    assert block_rows(10_000, 100_000, memory_mb=512) == 1
    with pytest.raises(ValueError, match="memory_mb"):
        block_rows(10, 100, memory_mb=0)
    with pytest.raises(ValueError, match=">= 1"):
        block_rows(0, 100, memory_mb=1)


def test_each_method_recovers_a_constant_under_gaussian_noise():
    rng = np.random.default_rng(1)
    n, sigma = 9, 2.0
    cube = noisy_cube(rng, n, 60, 80, sigma=sigma)
    as64 = cube.astype(np.float64)
    results = {method: combine(cube, method=method) for method in METHODS}
    mean_error = sigma / np.sqrt(n)
    for method in ("mean", "median"):
        # Every pixel within 5 sigma of the truth (the median: its sqrt(pi/2) larger scatter), and the
        # bias and scatter over the 4800 pixels as expected.
        image = results[method].image
        assert image.dtype == np.float32 and image.shape == (60, 80)
        scale = mean_error * (np.sqrt(np.pi / 2) if method == "median" else 1.0)
        assert np.abs(image - TRUTH).max() < 5 * scale
        assert abs(np.mean(image) - TRUTH) < 5 * scale / np.sqrt(image.size)
        assert np.std(image) == pytest.approx(scale, rel=0.05)
    # Clipping with the MAD of 9 values also rejects ~5% of clean values, which widens the scatter ~11%
    # and its tails: unbiased, but judged on the bulk rather than the worst pixel.
    clipped = results["sigma_clip"]
    assert abs(np.mean(clipped.image) - TRUTH) < 5 * 1.2 * mean_error / np.sqrt(clipped.image.size)
    assert mean_error < np.std(clipped.image) < 1.2 * mean_error
    assert np.percentile(np.abs(clipped.image - TRUTH), 99) < 3 * 1.2 * mean_error
    assert 0.02 < clipped.rejected.sum() / cube.size < 0.08
    for result in results.values():
        np.testing.assert_array_equal(result.coverage, n)
    np.testing.assert_allclose(results["mean"].image, as64.mean(axis=0), rtol=1e-7)
    np.testing.assert_array_equal(results["median"].image, np.median(as64, axis=0).astype(np.float32))
    np.testing.assert_allclose(results["sum"].image, n * results["mean"].image, rtol=1e-6)
    np.testing.assert_allclose(results["sum"].image, as64.sum(axis=0), rtol=1e-7)
    for method in ("sum", "mean", "median"):
        assert results[method].rejected.dtype == np.int16 and not results[method].rejected.any()
        assert results[method].error is None


def test_partial_coverage_counts_frames_and_sum_is_total_as_if_fully_covered():
    rng = np.random.default_rng(2)
    n = 6
    cube, k = partial_coverage(rng, n, 21, 17)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # all-NaN pixels must not warn
        results = {method: combine(cube, np.ones_like(cube), method=method) for method in METHODS}
    # References from the covered values of each pixel, NaN where there are none.
    covered_values = [[cube[: k[y, x], y, x].astype(np.float64) for x in range(17)] for y in range(21)]
    nanmean = np.array([[v.mean() if v.size else np.nan for v in row] for row in covered_values])
    nanmedian = np.array([[np.median(v) if v.size else np.nan for v in row] for row in covered_values])
    for method, result in results.items():
        assert result.coverage.dtype == np.int16
        np.testing.assert_array_equal(result.coverage, k)
        assert np.isnan(result.image[k == 0]).all() and np.isnan(result.error[k == 0]).all()
        assert np.isfinite(result.image[k > 0]).all()
    np.testing.assert_allclose(results["mean"].image, nanmean, rtol=1e-6)
    np.testing.assert_allclose(results["sum"].image, n * nanmean, rtol=1e-6)
    np.testing.assert_allclose(results["median"].image, nanmedian, rtol=1e-6)
    # The sum of a flat sky stays flat where coverage drops, instead of stepping with the coverage map.
    covered = results["sum"].image[k > 0]
    assert np.abs(covered - n * TRUTH).max() < 5 * n  # within 5 sigma of the mean of >= 1 frame


def test_a_cosmic_ray_in_one_of_five_frames_is_clipped_but_kept_by_sum_and_mean():
    rng = np.random.default_rng(3)
    n, sigma, ray = 5, 1.0, (10, 12)
    cube = noisy_cube(rng, n, 30, 40, sigma=sigma)
    # At the ray pixel the clean values are a fixed, typical Gaussian sample, so exactly one rejection is
    # the right answer (random ones sometimes lose a clean value too: see the random rays below).
    cube[:, ray[0], ray[1]] = TRUTH + np.array([-1.0, -0.3, 5000.0, 0.3, 1.0]) * sigma
    clipped = combine(cube, method="sigma_clip")
    assert clipped.image[ray] == pytest.approx(TRUTH, abs=1e-5)
    assert clipped.rejected[ray] == 1 and clipped.coverage[ray] == n
    mean = combine(cube, method="mean").image[ray]
    assert mean == pytest.approx(TRUTH + 5000.0 / n, rel=1e-6)
    assert combine(cube, method="sum").image[ray] == pytest.approx(TRUTH * n + 5000.0, rel=1e-6)
    # sigma is passed on: nothing is 1e9 sigma off, so clipping becomes the mean.
    loose = combine(cube, method="sigma_clip", sigma=1e9)
    assert not loose.rejected.any()
    assert loose.image[ray] == pytest.approx(mean, rel=1e-6)


def test_random_cosmic_rays_are_all_rejected():
    rng = np.random.default_rng(11)
    n, sigma = 5, 1.0
    cube = noisy_cube(rng, n, 30, 40, sigma=sigma)
    hit = rng.random((30, 40)) < 0.1
    frame = rng.integers(0, n, size=(30, 40))
    ys, xs = np.nonzero(hit)
    cube[frame[hit], ys, xs] += rng.uniform(500.0, 5000.0, size=hit.sum())
    clipped = combine(cube, method="sigma_clip")
    mean = combine(cube, method="mean")
    # Every ray is gone: what is left is within noise of the truth; sum and mean keep it, far off.
    assert (clipped.rejected[hit] >= 1).all()
    assert np.abs(clipped.image - TRUTH).max() < 5 * sigma / np.sqrt(2)
    assert (mean.image[hit] > TRUTH + 500.0 / n - 5 * sigma).all()
    # The MAD of 5 values also clips clean noise (~9% of values); most rays go alone.
    assert np.mean(clipped.rejected[hit] == 1) > 0.6
    assert clipped.rejected[~hit].sum() < 0.12 * n * (~hit).sum()


def test_mad_std_rejects_a_single_outlier_that_a_std_would_hide():
    # With std the outlier A sits 2.5 std from the median of [0, 0, 0, 0, A]; the MAD of the zeros is 0.
    cube = np.array([0.0, 0.0, 0.0, 0.0, 1000.0]).reshape(5, 1, 1)
    result = combine(cube, method="sigma_clip", maxiters=None)
    assert result.image[0, 0] == 0.0 and result.rejected[0, 0] == 1 and result.coverage[0, 0] == 5


def test_errors_propagate_as_documented():
    rng = np.random.default_rng(4)
    n = 8
    sigma = rng.uniform(0.5, 3.0, size=(12, 15))
    cube, k = partial_coverage(rng, n, 12, 15)
    error = np.broadcast_to(sigma, cube.shape).astype(np.float32)
    covered = k > 0
    expected = np.where(covered, sigma / np.sqrt(np.maximum(k, 1)), np.nan)
    results = {method: combine(cube, error, method=method) for method in ("sum", "mean", "median")}
    assert results["mean"].error.dtype == np.float32
    np.testing.assert_allclose(results["mean"].error, expected, rtol=1e-6)
    np.testing.assert_allclose(results["sum"].error, n * expected, rtol=1e-6)
    np.testing.assert_allclose(results["median"].error, np.sqrt(np.pi / 2) * expected, rtol=1e-6)
    # Full coverage: the textbook sigma / sqrt(n).
    full = combine(noisy_cube(rng, n, 12, 15, sigma=sigma), error, method="mean")
    np.testing.assert_allclose(full.error, sigma / np.sqrt(n), rtol=1e-6)
    # sigma_clip: errors of the kept values only.
    cube = noisy_cube(rng, 5, 4, 4)
    cube[0, 1, 1] += 1000.0
    error = np.ones_like(cube)
    error[0, 1, 1] = 50.0  # the rejected value's error must not count
    clipped = combine(cube, error, method="sigma_clip")
    kept = 5 - clipped.rejected[1, 1]
    assert clipped.rejected[1, 1] >= 1 and clipped.error[1, 1] == pytest.approx(1 / np.sqrt(kept), rel=1e-6)
    # A finite value with an unknown error gives an unknown error.
    error[3, 2, 2] = np.nan
    assert np.isnan(combine(cube, error, method="mean").error[2, 2])


@pytest.mark.parametrize(("method", "n"), [("mean", 5), ("sum", 5), ("median", 51), ("sigma_clip", 50)])
def test_propagated_error_matches_the_monte_carlo_scatter(method, n):
    # Each pixel is one realisation; its own sigma makes the normalised residuals comparable. The median's
    # sqrt(pi/2) is its large-n efficiency, hence 51 frames; the clipped error is ~3% low at 50 frames
    # (~5% for fewer), as documented.
    rng = np.random.default_rng(5)
    sigma = rng.uniform(0.5, 3.0, size=(100, 100))
    cube = noisy_cube(rng, n, 100, 100, sigma=sigma)
    result = combine(cube, np.broadcast_to(sigma, cube.shape), method=method)
    truth = n * TRUTH if method == "sum" else TRUTH
    z = (result.image - truth) / result.error
    assert abs(np.mean(z)) < 5 / np.sqrt(z.size)
    assert np.std(z) == pytest.approx(1.0, rel=0.05)


def messy_cube(rng, n, ny, nx):
    """Noise, partial coverage, an inf and cosmic rays: everything each method must handle."""
    cube, _ = partial_coverage(rng, n, ny, nx)
    cube[rng.random(cube.shape) < 0.02] += 3000.0
    cube[1, 0, 1] = np.inf
    return cube


@pytest.mark.parametrize("method", METHODS)
def test_results_are_bitwise_independent_of_memory_mb_and_workers(method):
    rng = np.random.default_rng(6)
    n, ny, nx = 7, 37, 23
    cube = messy_cube(rng, n, ny, nx)
    error = rng.uniform(0.5, 2.0, size=cube.shape).astype(np.float32)
    # The budgets give blocks of 1 row, of 3 rows (not dividing 37) and the whole image.
    budgets = (1e-6, 0.02, 1000.0)
    assert [block_rows(n + PIXEL_FRAMES, nx, memory_mb=m, itemsize=8) for m in budgets[:2]] == [1, 3]
    assert block_rows(n + PIXEL_FRAMES, nx, memory_mb=budgets[2], itemsize=8) >= ny
    results = [combine(cube, error, method=method, memory_mb=m) for m in budgets]
    results += [combine(cube, error, method=method, memory_mb=0.02, workers=2)]  # blocks in two threads
    for other in results[1:]:
        for field in ("image", "error", "coverage", "rejected"):
            assert getattr(other, field).tobytes() == getattr(results[0], field).tobytes(), field


@pytest.mark.parametrize("method", METHODS)
def test_one_pixel_wide_many_frames_is_independent_of_memory_mb(method):
    # A one-pixel-wide block is where numpy would switch to pairwise summation.
    cube = noisy_cube(np.random.default_rng(7), 200, 9, 1, sigma=1e3)
    tiny, large = (combine(cube, cube, method=method, memory_mb=m) for m in (1e-6, 1000.0))
    assert tiny.image.tobytes() == large.image.tobytes() and tiny.error.tobytes() == large.error.tobytes()


def test_memmap_and_fits_inputs_and_memmap_outputs_give_the_same_result(tmp_path):
    rng = np.random.default_rng(8)
    cube = messy_cube(rng, 6, 40, 30)
    expected = combine(cube, method="sigma_clip")

    stored = np.lib.format.open_memmap(tmp_path / "cube.npy", mode="w+", dtype=np.float32, shape=cube.shape)
    stored[:] = cube
    stored.flush()
    del stored
    mapped = np.load(tmp_path / "cube.npy", mmap_mode="r")
    out = CombineResult(
        image=np.lib.format.open_memmap(tmp_path / "image.npy", mode="w+", dtype=np.float32, shape=(40, 30)),
        error=None,
        coverage=np.lib.format.open_memmap(tmp_path / "coverage.npy", mode="w+", dtype=np.int16, shape=(40, 30)),
        rejected=np.lib.format.open_memmap(tmp_path / "rejected.npy", mode="w+", dtype=np.int16, shape=(40, 30)),
    )
    written = combine(mapped, method="sigma_clip", memory_mb=0.01, out=out)
    assert written is out
    for field in ("image", "coverage", "rejected"):
        np.testing.assert_array_equal(getattr(written, field), getattr(expected, field))

    fits.PrimaryHDU(cube).writeto(tmp_path / "cube.fits")  # stored big-endian
    with fits.open(tmp_path / "cube.fits", memmap=True) as hdul:
        from_fits = combine(hdul[0].data, method="sigma_clip", memory_mb=0.01)
    assert from_fits.image.tobytes() == expected.image.tobytes()


@pytest.mark.parametrize("method", METHODS)
def test_working_memory_stays_within_memory_mb(tmp_path, method):
    rng = np.random.default_rng(9)
    n, ny, nx, budget = 5, 64, 400, 0.25
    cube = np.lib.format.open_memmap(tmp_path / "cube.npy", mode="w+", dtype=np.float32, shape=(n, ny, nx))
    error = np.lib.format.open_memmap(tmp_path / "error.npy", mode="w+", dtype=np.float32, shape=(n, ny, nx))
    cube[:] = messy_cube(rng, n, ny, nx)
    error[:] = 1.0
    out = CombineResult(*(np.empty((ny, nx), dtype) for dtype in (np.float32, np.float32, np.int16, np.int16)))
    combine(cube, error, method=method, memory_mb=budget, out=out)  # warm-up: lazy imports, caches
    tracemalloc.start()
    try:
        combine(cube, error, method=method, memory_mb=budget, out=out)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    # 2 MiB of cube and errors as float64 went through a quarter MiB of working memory.
    assert peak < budget * 2**20


def test_inputs_are_not_modified():
    rng = np.random.default_rng(10)
    cube = messy_cube(rng, 5, 8, 9)
    error = rng.uniform(0.5, 2.0, size=cube.shape)
    cube_before, error_before = cube.copy(), error.copy()
    for method in METHODS:
        combine(cube, error, method=method)
        assert cube.tobytes() == cube_before.tobytes() and error.tobytes() == error_before.tobytes()


def test_unknown_method_and_bad_shapes_raise_clear_errors():
    cube = np.zeros((3, 4, 5), np.float32)
    with pytest.raises(ValueError, match="'average'") as excinfo:
        combine(cube, method="average")
    assert all(method in str(excinfo.value) for method in METHODS)
    with pytest.raises(ValueError, match="shape"):
        combine(cube[0], method="mean")
    with pytest.raises(ValueError, match="must match"):
        combine(cube, cube[:2], method="mean")
    with pytest.raises(ValueError, match="out.error"):
        combine(cube, cube, method="mean", out=combine(cube, method="mean"))
    with pytest.raises(ValueError, match="out.image has shape"):
        combine(cube, method="mean", out=combine(cube[:, :2], method="mean"))


def test_with_an_error_cube_clipping_keeps_clean_data_and_still_rejects_rays():
    rng = np.random.default_rng(12)
    n, sigma = 5, 1.0
    cube = noisy_cube(rng, n, 60, 80, sigma=sigma)
    error = np.full(cube.shape, sigma, np.float32)
    hit = rng.random((60, 80)) < 0.05
    frame = rng.integers(0, n, size=(60, 80))
    ys, xs = np.nonzero(hit)
    cube[frame[hit], ys, xs] += rng.uniform(50.0, 5000.0, size=hit.sum())
    clipped = combine(cube, error, method="sigma_clip")
    assert (clipped.rejected[hit] >= 1).all()
    # The error map as a floor of the scale: clean values are rarely lost (the MAD alone loses ~9%).
    assert clipped.rejected[~hit].sum() < 0.01 * n * (~hit).sum()
    clean = clipped.image[~hit]
    assert np.std(clean) == pytest.approx(sigma / np.sqrt(n), rel=0.08)


def test_weighted_frames_give_the_weighted_mean_and_its_error(rng):
    from stackphot.stack import frame_weights

    truth = rng.uniform(50, 150, (40, 50))
    sigmas = np.array([1.0, 1.0, 1.0, 4.0])
    cube = truth + rng.normal(0, 1, (4, 40, 50)) * sigmas[:, None, None]
    errors = np.broadcast_to(sigmas[:, None, None], cube.shape).copy()
    frames = pd.DataFrame({"frame": list("abcd"), "sky_rms": sigmas, "fwhm": [3.0, 3.0, 3.0, 6.0],
                           "n_stars": [40, 40, 40, 10]})
    weights = frame_weights(frames, "noise")
    np.testing.assert_allclose(weights, np.array([1, 1, 1, 1 / 16]) / np.mean([1, 1, 1, 1 / 16]))
    # 1 / FWHM**2 and the star counts both give the fourth frame a quarter of the others' weight here.
    np.testing.assert_allclose(frame_weights(frames, "fwhm"), np.array([4, 4, 4, 1]) / 3.25)
    np.testing.assert_allclose(frame_weights(frames, "stars"), np.array([4, 4, 4, 1]) / 3.25)
    weighted = combine(cube, errors, method="mean", weights=weights)
    plain = combine(cube, errors, method="mean")
    np.testing.assert_allclose(weighted.image, np.average(cube, axis=0, weights=weights), rtol=1e-6)
    # Inverse-variance weights: sqrt(1 / sum(1 / sigma**2)) = 0.570 against the plain mean's sqrt(19) / 4 = 1.090.
    assert np.std(weighted.image - truth) == pytest.approx(np.sqrt(1 / np.sum(1 / sigmas**2)), rel=0.05)
    np.testing.assert_allclose(weighted.error, np.sqrt(1 / np.sum(1 / sigmas**2)), rtol=1e-5)
    assert np.std(plain.image - truth) > 1.9 * np.std(weighted.image - truth)
    with pytest.raises(ValueError, match="not to median"):
        combine(cube, errors, method="median", weights=weights)
    with pytest.raises(ValueError, match="d lack"):
        frame_weights(frames.assign(fwhm=[3.0, 3.0, 3.0, np.nan]), "fwhm")
