"""Saturated cores (stackphot.detect.cores): holes of no data in bright stars, found, centred and flagged as
Source Extractor does with saturated stars, while holes in the sky stay holes."""

import numpy as np
import pytest

from conftest import gaussian_star
from stackphot.detect import detect_catalog
from stackphot.detect.cores import fill_saturated_cores
from stackphot.detect.morphology import SATURATED

SHAPE, RMS, SATURATION = (120, 140), 5.0, 20000.0
# Two bright stars 12 px apart (the brighter one the m13sim cluster's pair), a faint one, and their cores gone.
STARS = [(60.3, 52.6, 1.6e6), (56.1, 64.2, 1.4e6), (30.7, 100.2, 5e3)]
PASSES = [{"finder": "iraf", "fwhm": 3.5, "threshold": 5.0, "min_separation": 3.0},
          {"finder": "dao", "fwhm": 3.5, "threshold": 5.0, "sigma_radius": 2.5, "sharphi": 1.5, "min_separation": 5.0}]


@pytest.fixture(scope="module")
def field():
    rng = np.random.default_rng(22)
    image = sum(gaussian_star(SHAPE, y, x, flux=flux, sigma=1.8) for y, x, flux in STARS)
    image = image + rng.normal(0, RMS, SHAPE)
    image[image > SATURATION] = np.nan  # saturated in every frame: no value in the stack
    image[90, 20] = np.nan  # a defect in every frame, in the sky
    image[:, :3] = np.nan  # a blank edge
    return image


def test_the_bright_stars_holes_are_filled_at_their_rims_highest_value_and_nothing_else(field):
    invalid = ~np.isfinite(field)
    filled, cores = fill_saturated_cores(field, invalid, np.full(SHAPE, RMS))
    star_holes = invalid.copy()
    star_holes[90, 20] = False
    star_holes[:, :3] = False
    assert star_holes.sum() > 10 and np.array_equal(cores, star_holes)
    assert np.isnan(filled[90, 20]) and np.isnan(filled[:, :3]).all()
    assert np.array_equal(filled[~invalid], field[~invalid])
    # Each core a plateau at its rim's highest value: below the saturation level, in the star's brightest part.
    assert 0.5 * SATURATION < np.nanmin(filled[cores]) and np.nanmax(filled[cores]) <= np.nanmax(field) < SATURATION


def test_saturated_stars_are_found_at_their_place_and_flagged(field):
    catalog, _ = detect_catalog(field, np.full(SHAPE, RMS), passes=PASSES, box_size=32, clean=True,
                                residual_pass=True, centroid="2dg", centroid_box=5, centroid_max_shift=1.0,
                                segmentation={"fwhm": None, "threshold": 1.5, "npixels": 5, "nlevels": 32,
                                              "contrast": 0.005, "add_sources": False, "min_snr": 10.0})
    for index, (y, x, _) in enumerate(STARS):
        distance = np.hypot(catalog.x - x, catalog.y - y)
        nearest = catalog.loc[distance.idxmin()]
        print(f"star at ({x}, {y}): found {distance.min():.3f} px away, flags {int(nearest['flags'])}")
        assert distance.min() < 0.25
        assert bool(int(nearest["flags"]) & SATURATED) == (index < 2)
    # No ring of false sources around the cores: near them, the two stars alone.
    near = np.hypot(catalog.x.to_numpy()[:, None] - [x for _, x, _ in STARS[:2]],
                    catalog.y.to_numpy()[:, None] - [y for y, _, _ in STARS[:2]]).min(axis=1) < 15
    assert near.sum() == 2
