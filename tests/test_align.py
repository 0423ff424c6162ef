import numpy as np
import pytest

from conftest import gaussian_star
from stackphot.align import align_frame
from stackphot.geometry import Transform


def centroid(image):
    y, x = np.indices(image.shape)
    weights = np.nan_to_num(image)
    return (weights * y).sum() / weights.sum(), (weights * x).sum() / weights.sum()


@pytest.mark.parametrize("dy, dx", [(0.37, -1.62), (-5.5, 3.25), (2.0, -7.0)])
def test_a_star_moves_by_the_shift_with_its_flux(dy, dx):
    shape = (64, 64)
    star = gaussian_star(shape, 30.2, 31.7, flux=1000.0, sigma=1.6)
    aligned = align_frame(star, Transform.translation(dy, dx))
    cy, cx = centroid(aligned.data)
    assert (cy, cx) == pytest.approx((30.2 + dy, 31.7 + dx), abs=0.01)
    assert np.nansum(aligned.data) == pytest.approx(1000.0, rel=1e-3)
    # The star keeps its shape: same second moment as the same star rendered at the new place.
    expected = gaussian_star(shape, 30.2 + dy, 31.7 + dx, flux=1000.0, sigma=1.6)
    assert np.nanmax(np.abs(aligned.data - expected)) < 0.02 * expected.max()


def test_uncovered_pixels_are_nan_never_zero():
    data = np.ones((10, 12), np.float32)
    aligned = align_frame(data, Transform.translation(2.5, -3.0))
    # Output row y samples input row y - 2.5: rows 0-2 fall before the frame; columns 9-11 after it.
    assert np.isnan(aligned.data[:3]).all() and np.isnan(aligned.data[:, 9:]).all()
    assert np.allclose(aligned.data[3:, :9], 1.0)
    assert aligned.valid.sum() == 7 * 9
    assert Transform.translation(0.0, 0.0).covered((4, 4)).all()


def test_integer_shift_is_exact():
    rng = np.random.default_rng(3)
    data = rng.normal(size=(20, 20)).astype(np.float32)
    aligned = align_frame(data, Transform.translation(3.0, -2.0))
    np.testing.assert_allclose(aligned.data[3:, :18], data[:17, 2:], atol=1e-5)


def test_a_bad_pixel_becomes_a_small_hole_not_a_smear():
    data = gaussian_star((40, 40), 20.0, 20.0, flux=500.0)
    data[10, 10] = 1e6  # a hot pixel flagged in the mask
    mask = np.zeros(data.shape, bool)
    mask[10, 10] = True
    aligned = align_frame(data, Transform.translation(0.5, 0.5), mask=mask)
    holes = np.argwhere(~aligned.valid & Transform.translation(0.5, 0.5).covered(data.shape))
    assert 1 <= len(holes) <= 16
    assert np.all(np.abs(holes - [10.5, 10.5]).max(axis=1) <= 2)
    assert np.nanmax(aligned.data) < 100  # the 1e6 did not leak into any pixel


def test_error_is_shifted_as_variance_and_stays_positive():
    error = np.full((16, 16), 3.0, np.float32)
    aligned = align_frame(np.zeros((16, 16)), Transform.translation(0.5, 0.25), error=error)
    assert np.allclose(aligned.error[aligned.valid], 3.0)
    assert np.isnan(aligned.error[~aligned.valid]).all()


def test_moved_wcs_keeps_the_sky_of_a_shifted_frame():
    from astropy.wcs import WCS

    from stackphot.simulate import simulate_frame_set

    frame_set = simulate_frame_set(n_frames=2, shape=(64, 80), n_cluster_stars=0, n_field_stars=5, pixel_scale=0.8,
                                   rotation=30.0)
    dy, dx = frame_set.transforms.iloc[1][["dy", "dx"]]
    header = frame_set.headers[1].copy()
    header["CRPIX1A"], header["CRPIX2A"] = 10.0, 20.0
    cards = Transform.translation(dy, dx).moved_wcs_cards(header)
    assert set(cards) == {"CRPIX1", "CRPIX2", "CRPIX1A", "CRPIX2A"}  # a shift leaves the linear part alone
    for key, value in cards.items():
        header[key] = value
    reference = WCS(frame_set.headers[0])
    # Aligned, the frame's pixel (y, x) holds the reference's (y, x): the same sky.
    np.testing.assert_allclose(WCS(header).pixel_to_world_values(12.3, 45.6),
                               reference.pixel_to_world_values(12.3, 45.6), rtol=0, atol=1e-10)
    assert (header["CRPIX1A"], header["CRPIX2A"]) == (10.0 + dx, 20.0 + dy)
    bare = frame_set.headers[1].copy()
    for key in ("CRPIX1", "CRPIX2"):
        del bare[key]
    assert Transform.translation(dy, dx).moved_wcs_cards(bare) == {}


def _star_field(shape, n_stars, rng, *, sigma, margin=24, min_separation=14.0):
    """Positions and fluxes of isolated stars, and the noiseless frame holding them."""
    positions = []
    while len(positions) < n_stars:
        candidate = rng.uniform(margin, np.array(shape[::-1]) - margin)
        if all(np.hypot(*(candidate - other)) >= min_separation for other in positions):
            positions.append(candidate)
    x, y = np.array(positions).T
    flux = rng.uniform(2e3, 2e4, n_stars)
    frame = sum(gaussian_star(shape, yi, xi, flux=fi, sigma=sigma) for xi, yi, fi in zip(x, y, flux))
    return x, y, flux, frame.astype(np.float32)


def _aperture_sums(image, x, y, radius):
    yy, xx = np.indices(image.shape)
    return np.array([np.nansum(image[np.hypot(xx - xi, yy - yi) <= radius]) for xi, yi in zip(x, y)])


def test_a_similarity_transform_moves_every_star_with_its_flux_and_its_sky():
    from astropy.coordinates import SkyCoord
    from astropy.io import fits
    from astropy.wcs import WCS
    from photutils.centroids import centroid_2dg, centroid_sources

    from stackphot.align import aligned_product

    rng = np.random.default_rng(17)
    shape = (256, 256)
    x, y, flux, frame = _star_field(shape, 30, rng, sigma=1.5)
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs.wcs.crval = [250.42, 36.46]
    wcs.wcs.crpix = [128.5, 128.5]
    turn, scale = np.radians(20.0), 1.0 / 3600  # 1 arcsec pixels, north 20 degrees from +y
    wcs.wcs.cd = scale * np.array([[-np.cos(turn), np.sin(turn)], [np.sin(turn), np.cos(turn)]])
    header = fits.Header(wcs.to_header())
    transform = Transform.about((127.5, 127.5), rotation=3.0, scale=1.002, dy=4.3, dx=-6.7)

    product = aligned_product(frame, transform, header, error=np.ones_like(frame), mask=np.zeros(shape, bool),
                              order=3)
    true_x, true_y = transform.apply(x, y)
    found_x, found_y = centroid_sources(np.nan_to_num(product.data), true_x, true_y, box_size=11,
                                        centroid_func=centroid_2dg)
    position_error = np.hypot(found_x - true_x, found_y - true_y).max()
    kept = _aperture_sums(product.data, true_x, true_y, 8.0) / _aperture_sums(frame, x, y, 8.0)
    print(f"similarity alignment: largest position error {position_error:.4f} px, flux {np.abs(kept - 1).max():.2e}")
    assert position_error < 0.02
    assert np.abs(kept - 1).max() < 0.005
    aligned_header = header.copy()
    for key, value in product.cards.items():
        aligned_header[key] = value
    seen = WCS(aligned_header).pixel_to_world(found_x, found_y)
    truth = WCS(header).pixel_to_world(x, y)
    print(f"similarity alignment: largest sky position error {seen.separation(truth).arcsec.max():.4f} arcsec")
    assert isinstance(seen, SkyCoord) and seen.separation(truth).arcsec.max() < 0.05
    assert (product.cards["ROTATION"][0], product.cards["SCALE"][0]) == pytest.approx((3.0, 1.002))
