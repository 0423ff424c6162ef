import numpy as np
import pytest

from conftest import gaussian_star
from stackphot.align import align_frame, covered


def centroid(image):
    y, x = np.indices(image.shape)
    weights = np.nan_to_num(image)
    return (weights * y).sum() / weights.sum(), (weights * x).sum() / weights.sum()


@pytest.mark.parametrize("dy, dx", [(0.37, -1.62), (-5.5, 3.25), (2.0, -7.0)])
def test_a_star_moves_by_the_shift_with_its_flux(dy, dx):
    shape = (64, 64)
    star = gaussian_star(shape, 30.2, 31.7, flux=1000.0, sigma=1.6)
    aligned = align_frame(star, dy, dx)
    cy, cx = centroid(aligned.data)
    assert (cy, cx) == pytest.approx((30.2 + dy, 31.7 + dx), abs=0.01)
    assert np.nansum(aligned.data) == pytest.approx(1000.0, rel=1e-3)
    # The star keeps its shape: same second moment as the same star rendered at the new place.
    expected = gaussian_star(shape, 30.2 + dy, 31.7 + dx, flux=1000.0, sigma=1.6)
    assert np.nanmax(np.abs(aligned.data - expected)) < 0.02 * expected.max()


def test_uncovered_pixels_are_nan_never_zero():
    data = np.ones((10, 12), np.float32)
    aligned = align_frame(data, 2.5, -3.0)
    # Output row y samples input row y - 2.5: rows 0-2 fall before the frame; columns 9-11 after it.
    assert np.isnan(aligned.data[:3]).all() and np.isnan(aligned.data[:, 9:]).all()
    assert np.allclose(aligned.data[3:, :9], 1.0)
    assert aligned.valid.sum() == 7 * 9
    assert covered((4, 4), 0.0, 0.0).all()


def test_integer_shift_is_exact():
    rng = np.random.default_rng(3)
    data = rng.normal(size=(20, 20)).astype(np.float32)
    aligned = align_frame(data, 3.0, -2.0)
    np.testing.assert_allclose(aligned.data[3:, :18], data[:17, 2:], atol=1e-5)


def test_a_bad_pixel_becomes_a_small_hole_not_a_smear():
    data = gaussian_star((40, 40), 20.0, 20.0, flux=500.0)
    data[10, 10] = 1e6  # a hot pixel flagged in the mask
    mask = np.zeros(data.shape, bool)
    mask[10, 10] = True
    aligned = align_frame(data, 0.5, 0.5, mask=mask)
    holes = np.argwhere(~aligned.valid & covered(data.shape, 0.5, 0.5))
    assert 1 <= len(holes) <= 16
    assert np.all(np.abs(holes - [10.5, 10.5]).max(axis=1) <= 2)
    assert np.nanmax(aligned.data) < 100  # the 1e6 did not leak into any pixel


def test_error_is_shifted_as_variance_and_stays_positive():
    error = np.full((16, 16), 3.0, np.float32)
    aligned = align_frame(np.zeros((16, 16)), 0.5, 0.25, error=error)
    assert np.allclose(aligned.error[aligned.valid], 3.0)
    assert np.isnan(aligned.error[~aligned.valid]).all()


def test_shift_wcs_moves_the_sky_with_the_pixels():
    from astropy.wcs import WCS

    from stackphot.align import shift_wcs
    from stackphot.simulate import simulate_frame_set

    frame_set = simulate_frame_set(n_frames=2, shape=(64, 80), n_cluster_stars=0, n_field_stars=5, pixel_scale=0.8,
                                   rotation=30.0)
    _, dy, dx = frame_set.shifts.iloc[1]
    header = frame_set.headers[1].copy()
    header["CRPIX1A"], header["CRPIX2A"] = 10.0, 20.0
    shift_wcs(header, dy, dx)
    reference = WCS(frame_set.headers[0])
    # Aligned, the frame's pixel (y, x) holds the reference's (y, x): the same sky.
    np.testing.assert_allclose(WCS(header).pixel_to_world_values(12.3, 45.6),
                               reference.pixel_to_world_values(12.3, 45.6), rtol=0, atol=1e-10)
    assert (header["CRPIX1A"], header["CRPIX2A"]) == (10.0 + dx, 20.0 + dy)
    bare = frame_set.headers[1].copy()
    for key in ("CRPIX1", "CRPIX2"):
        del bare[key]
    shift_wcs(bare, dy, dx)
    assert "CRPIX1" not in bare
