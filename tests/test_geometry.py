import numpy as np
import pandas as pd
import pytest
from astropy.io import fits
from astropy.wcs import WCS

from stackphot.geometry import COLUMNS, Transform, rms_distance

SIMILARITY = Transform.about((40.0, 30.0), rotation=7.5, scale=0.998, dy=-3.25, dx=5.5)


def test_inverse_undoes_the_transform():
    x, y = np.array([0.0, 12.5, 79.0]), np.array([0.0, 40.25, 59.0])
    back = SIMILARITY.inverse().apply(*SIMILARITY.apply(x, y))
    np.testing.assert_allclose(back, (x, y), atol=1e-12)


def test_a_similarity_about_a_centre_keeps_the_centre_then_shifts_it():
    assert SIMILARITY.apply(40.0, 30.0) == pytest.approx((40.0 + 5.5, 30.0 - 3.25))
    assert (SIMILARITY.rotation, SIMILARITY.scale) == pytest.approx((7.5, 0.998))


def test_a_row_of_the_table_gives_back_the_transform():
    row = pd.DataFrame([{"frame": "a", **SIMILARITY.columns()}])
    assert list(row.columns[1:]) == list(COLUMNS)
    restored = Transform.from_row(next(row.itertuples()))
    np.testing.assert_allclose(restored.linear, SIMILARITY.linear, rtol=0, atol=1e-15)
    assert (restored.dy, restored.dx) == (SIMILARITY.dy, SIMILARITY.dx)
    assert Transform.from_row(row.iloc[0]) == restored


def test_the_overlap_is_the_covered_area():
    shape = (60, 80)
    # Random points of the frame's area, moved onto the reference: the fraction that lands on it.
    points = np.random.default_rng(5).uniform(-0.5, np.array([80, 60]) - 0.5, (200_000, 2))
    x, y = SIMILARITY.apply(points[:, 0], points[:, 1])
    landed = ((x >= -0.5) & (x <= 79.5) & (y >= -0.5) & (y <= 59.5)).mean()
    assert SIMILARITY.overlap(shape) == pytest.approx(landed, abs=0.003)
    turned = Transform.about((39.5, 29.5), rotation=90.0, scale=1.0)
    assert turned.overlap(shape) == pytest.approx(60 * 60 / (60 * 80))
    assert Transform.translation(10.0, -20.0).overlap(shape) == pytest.approx(50 * 60 / (60 * 80))
    assert Transform.translation(100.0, 0.0).overlap(shape) == 0.0


def test_an_unknown_transform_covers_nothing():
    unknown = Transform.unknown()
    assert not unknown.is_valid and not unknown.covered((5, 6)).any()
    assert Transform.translation(0.5, 0.5).is_valid


@pytest.mark.parametrize("form", ["cd", "crota"])
def test_the_moved_wcs_rotates_with_the_pixels(form):
    header = fits.Header()
    header.update({"CTYPE1": "RA---TAN", "CTYPE2": "DEC--TAN", "CRVAL1": 10.0, "CRVAL2": -30.0,
                   "CRPIX1": 41.0, "CRPIX2": 31.0})
    if form == "cd":
        header.update({"CD1_1": -2e-4, "CD1_2": 5e-5, "CD2_1": 5e-5, "CD2_2": 2e-4})
    else:
        header.update({"CDELT1": -2e-4, "CDELT2": 2e-4, "CROTA2": 14.0})
    moved = header.copy()
    for key, value in SIMILARITY.moved_wcs_cards(header).items():
        moved[key] = value
    x, y = np.array([3.0, 41.0, 70.5]), np.array([2.0, 31.0, 55.0])
    np.testing.assert_allclose(WCS(moved).pixel_to_world_values(*SIMILARITY.apply(x, y)),
                               WCS(header).pixel_to_world_values(x, y), rtol=0, atol=1e-11)


def test_a_transform_then_another_maps_as_both_in_turn_and_the_grid_distance_is_their_spread():
    first = Transform.about((50.0, 40.0), rotation=12.0, scale=1.01, dy=3.0, dx=-7.5)
    second = Transform(((0.99, 0.02), (-0.03, 1.02)), -1.25, 4.0)
    x, y = np.array([0.0, 99.0, 37.5]), np.array([0.0, 79.0, 12.25])
    assert np.allclose(first.then(second).apply(x, y), second.apply(*first.apply(x, y)))
    moved = Transform.translation(3.0, 4.0)
    assert rms_distance(moved, Transform(), (80, 100)) == pytest.approx(5.0)
    assert rms_distance(first, first.then(Transform()), (80, 100)) == pytest.approx(0.0, abs=1e-12)
