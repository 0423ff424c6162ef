"""The stack's and the alignment's fast paths give, bit for bit, what the straightforward computation gives.

Each reference below is the plain computation the fast path replaced, kept here rather than in the package:
sigma clipping that re-clips every pixel in every iteration, and the bad-pixel footprint of a translation
resampled by scipy's linear interpolation.
"""

import importlib

import numpy as np
import pytest
from scipy import ndimage

from stackphot import align
from stackphot.geometry import Transform
from stackphot.numerics import median_over_frames
from stackphot.stack import combine

# The module itself: stackphot.stack's attribute of that name is the function.
combine_module = importlib.import_module("stackphot.stack.combine")

FIELDS = ("image", "error", "coverage", "rejected")


def reference_clip(values, errors, finite, *, sigma, maxiters):
    """Every pixel clipped again in every iteration, until no pixel of the block changes."""
    kept = finite.copy()
    iterations = 0
    while maxiters is None or iterations < maxiters:
        iterations += 1
        count = kept.sum(axis=0)
        centre = median_over_frames(np.where(kept, values, np.nan), kept, count)
        scale = 1.4826 * median_over_frames(np.abs(values - centre), kept, count)
        if errors is not None:
            scale = np.fmax(scale, median_over_frames(np.where(kept, errors, np.nan), kept, count))
        still_kept = kept & (np.abs(values - centre) <= sigma * scale)
        if np.array_equal(still_kept, kept):
            break
        kept = still_kept
    return kept


def awkward_cube(seed, n, ny, nx):
    """Noisy frames with cosmic rays, NaN holes, a few inf, pixels no frame covers, one frame with no data,
    and an error cube with a few NaN where the value is finite; float32 like real frames."""
    rng = np.random.default_rng(seed)
    errors = rng.uniform(0.5, 2.0, size=(n, ny, nx))
    cube = 100 + errors * rng.normal(size=(n, ny, nx))
    rays = rng.random(cube.shape) < 0.03
    cube[rays] += rng.uniform(20, 5000, size=rays.sum())
    cube[rng.random(cube.shape) < 0.1] = np.nan
    cube[rng.random(cube.shape) < 0.005] = np.inf
    cube[:, rng.random((ny, nx)) < 0.05] = np.nan  # no frame covers these pixels
    cube[n // 2, : ny // 2] = np.nan  # a frame that covers only half the rows
    errors[rng.random(cube.shape) < 0.01] = np.nan
    return cube.astype(np.float32), errors.astype(np.float32), int(rays.sum())


def assert_same_bits(result, expected):
    for field in FIELDS:
        ours, theirs = getattr(result, field), getattr(expected, field)
        if theirs is None:
            assert ours is None, field
        else:
            assert ours.dtype == theirs.dtype and ours.tobytes() == theirs.tobytes(), field


@pytest.mark.parametrize("n, ny, nx", [(3, 7, 5), (6, 13, 11), (11, 9, 1), (25, 1, 17)])
@pytest.mark.parametrize("with_error", [True, False])
@pytest.mark.parametrize("maxiters", [0, 1, 5, None])
def test_clip_keeps_what_clipping_every_pixel_each_time_keeps(n, ny, nx, with_error, maxiters):
    cube, errors, _ = awkward_cube(n * ny + nx, n, ny, nx)
    values = cube.astype(np.float64)
    errs = errors.astype(np.float64) if with_error else None
    finite = np.isfinite(values)
    for sigma in (2.0, 3.0):
        expected = reference_clip(values, errs, finite, sigma=sigma, maxiters=maxiters)
        kept = combine_module._clip(values, errs, finite, sigma=sigma, maxiters=maxiters)
        assert kept.flags.c_contiguous and kept.shape == values.shape
        np.testing.assert_array_equal(kept, expected)
        assert not (kept & ~finite).any()
    # The inputs are left as they were.
    np.testing.assert_array_equal(values, cube.astype(np.float64))


@pytest.mark.parametrize("weights", [None, "uneven"])
@pytest.mark.parametrize("with_error", [True, False])
def test_sigma_clip_stack_is_unchanged_bit_for_bit_across_blocks_and_workers(monkeypatch, weights, with_error):
    n, ny, nx = 8, 23, 19
    cube, errors, n_rays = awkward_cube(7, n, ny, nx)
    error = errors if with_error else None
    frame_weights = None if weights is None else np.linspace(0.5, 1.5, n)
    options = dict(method="sigma_clip", sigma=3.0, maxiters=5, weights=frame_weights)
    # memory_mb for blocks of 1, 2 and 7 rows (23 rows: the last block is short) and for all rows at once.
    row_bytes = (n + 2) * nx * 8 * combine_module.CLIP_COPIES
    budgets = [rows * row_bytes / 2**20 for rows in (1, 2, 7)] + [512]
    fast = [combine(cube, error, memory_mb=mb, **options) for mb in budgets]
    fast.append(combine(cube, error, memory_mb=budgets[1] * 2, workers=2, **options))
    monkeypatch.setattr(combine_module, "_clip", reference_clip)
    for result, mb in zip(fast, budgets + [budgets[1] * 2]):
        assert_same_bits(result, combine(cube, error, memory_mb=mb, **options))
    # What was compared is real clipping: 103 cosmic rays of up to 5000 planted, 100 values rejected with the
    # error floor (272 by the MAD alone), every pixel within 3 of 100; the 17 pixels no frame covers are NaN.
    result = fast[-2]
    assert n_rays == 103 and result.rejected.sum() == (100 if with_error else 272)
    assert np.nanmax(np.abs(result.image - 100)) < 3
    uncovered = result.coverage == 0
    assert uncovered.sum() == 17 and np.isnan(result.image[uncovered]).all()


def test_clip_stops_a_pixel_once_its_set_is_settled():
    """One cosmic ray among five frames: removed in the first iteration; the other pixels never change."""
    values = np.full((5, 2, 3), 100.0)
    values += np.arange(5)[:, None, None] * 0.1  # a spread, so the MAD is not 0
    values[2, 1, 1] = 1000.0
    finite = np.isfinite(values)
    kept = combine_module._clip(values, None, finite, sigma=3.0, maxiters=None)
    assert kept.sum() == 29 and not kept[2, 1, 1]
    result = combine(values.astype(np.float32), method="sigma_clip")
    assert result.rejected.tolist() == [[0, 0, 0], [0, 1, 0]]
    assert result.image[1, 1] == pytest.approx(np.mean([100.0, 100.1, 100.3, 100.4]), abs=1e-5)


def reference_touched(bad, offset):
    return ndimage.affine_transform(bad.astype(np.float32), np.ones(2), np.asarray(offset, dtype=float), order=1,
                                    mode="constant", cval=0.0, prefilter=False) > 0


# Integer and half-integer shifts, both signs, fractions so small that scipy's second weight is or is not 0,
# shifts just inside and past the frame, past it entirely, and not finite.
SHIFTS = [0.0, -0.0, 1.0, -1.0, 0.5, -0.5, 2.5, -3.5, 7.25, -7.75, 0.3, -0.3, 1e-300, -1e-300, 1e-17, -1e-17,
          6e-17, 1e-16, 1e-12, -1e-12, 3 - 1e-13, 3 + 1e-13, -3 + 1e-13, 1e-6, -1e-6, 0.999999, -0.999999,
          16.0, -16.0, 17.0, 16.99, -16.5, 1e9, -1e9, np.inf, np.nan]


@pytest.mark.parametrize("shape", [(17, 16), (1, 9), (9, 1), (2, 2)])
def test_translation_footprint_is_scipys_linear_resampling(shape):
    rng = np.random.default_rng(shape[0] * 100 + shape[1])
    sparse = rng.random(shape) < 0.1
    # Bad pixels along every border, where scipy's constant mode stops interpolating.
    sparse[0] |= rng.random(shape[1]) < 0.5
    sparse[-1] |= rng.random(shape[1]) < 0.5
    sparse[:, 0] |= rng.random(shape[0]) < 0.5
    sparse[:, -1] |= rng.random(shape[0]) < 0.5
    # Isolated bad pixels in a checkerboard: a source pixel too many or too few shows.
    checkerboard = np.add.outer(np.arange(shape[0]), np.arange(shape[1])) % 2 == 1
    for bad in (sparse, checkerboard, ~checkerboard):
        for dy in SHIFTS:
            for dx in SHIFTS[::4] + [dy]:
                np.testing.assert_array_equal(align._touched_by_translation(bad, (dy, dx)),
                                              reference_touched(bad, (dy, dx)), err_msg=f"shift {dy}, {dx}")


def test_translation_footprint_of_one_bad_pixel():
    bad = np.zeros((10, 12), bool)
    bad[4, 6] = True
    touched = align._touched_by_translation(bad, (-0.5, 2.0))  # output (y, x) samples (y - 0.5, x + 2)
    assert list(zip(*np.nonzero(touched))) == [(4, 4), (5, 4)]
    assert not align._touched_by_translation(bad, (20.0, 0.0)).any()  # samples rows from 20: off the frame
    assert not align._touched_by_translation(bad, (0.0, 100.0)).any()


@pytest.mark.parametrize("order", [1, 3])
def test_aligned_frames_are_unchanged_bit_for_bit(monkeypatch, order):
    """align_frame with the fast footprint against scipy's, on frames whose masks touch the borders, for shifts
    whose sampled edges fall on, just inside and just outside the frame (EDGE_TOLERANCE covers 1e-6)."""
    rng = np.random.default_rng(order)
    ny, nx = 24, 21
    data = rng.normal(0, 5, size=(ny, nx)).astype(np.float32)
    data[3, 0] = np.nan
    error = rng.uniform(1, 2, size=(ny, nx)).astype(np.float32)
    mask = rng.random((ny, nx)) < 0.05
    mask[0, ::3] = mask[-1, 1::4] = mask[::5, -1] = True
    shifts = [(0.0, 0.0), (2.0, -3.0), (0.5, -0.5), (1e-6, -1e-6), (-1e-7, 2e-7), (5 - 1e-13, 1e-12), (3.37, -7.81),
              (-23.5, 0.25), (30.0, 1.0)]
    fast = {shift: align.align_frame(data, Transform.translation(*shift), error=error, mask=mask, order=order)
            for shift in shifts}
    monkeypatch.setattr(align, "_touched_by_translation", reference_touched)
    for shift, ours in fast.items():
        theirs = align.align_frame(data, Transform.translation(*shift), error=error, mask=mask, order=order)
        for field in ("data", "error", "valid"):
            assert getattr(ours, field).tobytes() == getattr(theirs, field).tobytes(), (shift, field)
    # Real products: an integer shift covers (24 - 2) x (21 - 3) pixels, of which the bad pixels' footprint
    # takes a part, and moves the values exactly; a frame shifted off the reference is empty.
    moved = fast[(2.0, -3.0)]
    assert 0.5 * 22 * 18 < moved.valid.sum() < 22 * 18
    rows, cols = np.nonzero(moved.valid)
    np.testing.assert_array_equal(moved.data[rows, cols], data[rows - 2, cols + 3])
    assert not fast[(30.0, 1.0)].valid.any()


@pytest.mark.parametrize("order", [1, 2, 3, 4, 5])
def test_translation_is_scipy_s_shift(order):
    """The separable translation against scipy's ``shift`` (mode "nearest", the prefilter for orders above 1), at
    every pixel, for shifts within the spline's padding, beyond it and off the frame: the same to 1e-12 of the
    values' scale (the sums' order differs)."""
    rng = np.random.default_rng(order)
    image = rng.normal(0, 100, size=(40, 33))
    for shift in [(0.0, 0.0), (0.5, -0.5), (3.37, -7.81), (5 - 1e-13, 1e-12), (-14.6, 13.2), (39.5, -2.25),
                  (-60.0, 70.3)]:
        theirs = ndimage.shift(image, shift, order=order, mode="nearest", prefilter=order > 1)
        ours = align._translated(image, (-shift[0], -shift[1]), order=order, prefilter=order > 1)
        np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-12 * 100, err_msg=f"shift {shift}")


@pytest.mark.parametrize("order", [2, 3, 4, 5])
def test_a_bad_pixel_s_footprint_holds_its_heavier_taps(order):
    """A bad pixel's footprint in the aligned frame: every output pixel whose interpolation gives its spline
    coefficient a weight above 1/36 is NaN; only the corners of the cubic's square of taps, weighing less, stay
    data. The footprint is the linear one grown by a cross, as ``ndimage.binary_dilation``."""
    bad = np.zeros((21, 21), bool)
    bad[10, 10] = True
    for shift in [(0.5, 0.5), (0.3, -0.2), (0.0, 0.7), (-0.45, 0.05), (1e-9, 0.0)]:
        transform = Transform.translation(*shift)
        aligned = align.align_frame(np.zeros(bad.shape, np.float32), transform, mask=bad, order=order)
        weight = np.abs(ndimage.shift(bad.astype(float), shift, order=order, prefilter=False))
        assert weight[aligned.valid].max() <= 1 / 36 + 1e-12, shift
        linear = reference_touched(bad, transform.sampling()[1])
        expected = ndimage.binary_dilation(linear, iterations=order // 2) | ~transform.covered(bad.shape)
        np.testing.assert_array_equal(~aligned.valid, expected, err_msg=f"shift {shift}")
