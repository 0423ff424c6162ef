"""Colour (Bayer) mosaics: the pattern read from the header, the superpixel planes and where they lie."""

import numpy as np
import pytest
from astropy.io import fits
from astropy.wcs import WCS

from conftest import gaussian_star
from stackphot.colour import PatternError, bayer_pattern, channel_offset, plane_offsets, split_mosaic, split_products


def header(**cards):
    result = fits.Header()
    for key, value in cards.items():
        result[key] = value
    return result


@pytest.mark.parametrize(("cards", "n_rows", "expected"), [
    ({"BAYERPAT": "RGGB"}, 100, "RGGB"),
    ({"BAYERPAT": "grbg "}, 100, "GRBG"),
    ({"COLORTYP": "BGGR"}, 100, "BGGR"),
    ({"BAYERPAT": "RGGB", "XBAYROFF": 1}, 100, "GRBG"),
    ({"BAYERPAT": "RGGB", "YBAYROFF": 1}, 100, "GBRG"),
    ({"BAYERPAT": "RGGB", "XBAYROFF": 1, "YBAYROFF": 1}, 100, "BGGR"),
    # The pattern is the sensor's from its top row: the data's first row is the sensor's last.
    ({"BAYERPAT": "RGGB", "ROWORDER": "BOTTOM-UP"}, 100, "GBRG"),
    ({"BAYERPAT": "RGGB", "ROWORDER": "BOTTOM-UP"}, 101, "RGGB"),
    ({"BAYERPAT": "RGGB", "ROWORDER": "TOP-DOWN"}, 100, "RGGB"),
    ({}, 100, None),
    ({"BAYERPAT": "MONO"}, 100, None),
])
def test_the_pattern_of_the_data_as_stored(cards, n_rows, expected):
    assert bayer_pattern(header(**cards), n_rows=n_rows) == expected


def test_the_configured_pattern_wins_and_mono_takes_a_colour_frame_as_monochrome():
    assert bayer_pattern(header(BAYERPAT="RGGB"), configured="BGGR") == "BGGR"
    assert bayer_pattern(header(BAYERPAT="RGGB"), configured="mono") is None


@pytest.mark.parametrize(("cards", "named"), [({"BAYERPAT": "RGBG"}, "RGBG"),
                                              ({"BAYERPAT": "RGGB", "ROWORDER": "SIDEWAYS"}, "SIDEWAYS")])
def test_a_pattern_that_is_not_one_is_refused_naming_it(cards, named):
    with pytest.raises(PatternError, match=named):
        bayer_pattern(header(**cards), n_rows=10)


def mosaic_of(values, pattern, shape):
    """A mosaic whose pixels of each colour hold ``values[colour]``."""
    mosaic = np.empty(shape, np.float32)
    for index, colour in enumerate(pattern):
        row, column = divmod(index, 2)
        mosaic[row::2, column::2] = values[colour]
    return mosaic


@pytest.mark.parametrize("pattern", ["RGGB", "BGGR", "GRBG", "GBRG"])
def test_planes_hold_their_colours_and_the_luminance_the_cells_sum(pattern):
    data = mosaic_of({"R": 10.0, "G": 20.0, "B": 40.0}, pattern, (9, 12))  # an odd row: dropped
    error = np.full(data.shape, 2.0, np.float32)
    mask = np.zeros(data.shape, np.uint8)
    second_green = [index for index, colour in enumerate(pattern) if colour == "G"][1]
    mask[divmod(second_green, 2)] = 2  # one green pixel saturated: that cell's G2 and L, nothing else
    planes = split_mosaic(data, error, mask, pattern=pattern)
    assert list(planes) == ["L", "R", "G1", "G2", "B"]
    assert {plane[0].shape for plane in planes.values()} == {(4, 6)}
    assert [float(planes[name][0].mean()) for name in planes] == [90.0, 10.0, 20.0, 20.0, 40.0]
    assert [float(planes[name][1][0, 0]) for name in planes] == pytest.approx([4.0, 2.0, 2.0, 2.0, 2.0])
    assert [int(planes[name][2][0, 0]) for name in planes] == [2, 0, 0, 2, 0]
    assert sum(int(planes[name][2].sum()) for name in planes) == 4


def centroid(image):
    y, x = np.indices(image.shape, dtype=float)
    weights = np.clip(image, 0, None)
    return (weights * y).sum() / weights.sum(), (weights * x).sum() / weights.sum()


@pytest.mark.parametrize("pattern", ["RGGB", "GRBG"])
@pytest.mark.parametrize(("y0", "x0"), [(20.0, 20.0), (21.3, 18.7), (19.5, 22.5)])
def test_a_grey_stars_colours_lie_on_one_another_once_each_plane_is_put_where_its_pixels_are(pattern, y0, x0):
    star = gaussian_star((40, 44), y0, x0, flux=5000.0, sigma=1.6)
    planes = split_mosaic(star, np.ones_like(star), np.zeros(star.shape, np.uint8), pattern=pattern)
    offsets = plane_offsets(pattern)
    # Superpixel (i, j) is centred on mosaic (2i + 0.5, 2j + 0.5).
    truth = ((y0 - 0.5) / 2, (x0 - 0.5) / 2)
    raw, placed = {}, {}
    for name in planes:
        cy, cx = centroid(planes[name][0])
        raw[name] = (cy, cx)
        placed[name] = (cy + offsets[name][0], cx + offsets[name][1])
        assert placed[name] == pytest.approx(truth, abs=0.01)
    # Without the offsets, red and blue (and the two greens) lie half a superpixel apart along a diagonal.
    for one, other in (("R", "B"), ("G1", "G2")):
        apart = np.hypot(raw[one][0] - raw[other][0], raw[one][1] - raw[other][1])
        assert apart == pytest.approx(np.sqrt(0.5), abs=0.02)


def test_each_plane_has_the_mosaics_sky_its_noise_model_and_no_mosaic_cards():
    shape = (64, 80)
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs.wcs.crval = [150.0, 2.0]
    wcs.wcs.crpix = [33.0, 20.5]
    wcs.wcs.cd = [[-1e-4, 2e-5], [2e-5, 1e-4]]
    mosaic_header = wcs.to_header()
    for key, value in {"BAYERPAT": "GRBG", "GAIN": 0.5, "RDNOISE": 3.0, "SATURATE": 60000.0}.items():
        mosaic_header[key] = value
    data = np.ones(shape, np.float32)
    products = split_products(data, data, np.zeros(shape, np.uint8), mosaic_header, pattern="GRBG")
    places = {"R": (0, 1), "B": (1, 0), "G1": (0, 0), "G2": (1, 1)}  # GRBG, rows then columns
    for name, (row, column) in places.items():
        plane_header = mosaic_header.copy()
        plane_header.update({key: value[0] if isinstance(value, tuple) else value
                             for key, value in products[name].cards.items()})
        plane_wcs = WCS(plane_header)
        i, j = 7, 11
        on_mosaic = wcs.pixel_to_world_values(2 * j + column, 2 * i + row)
        assert np.array(plane_wcs.pixel_to_world_values(j, i)) == pytest.approx(np.array(on_mosaic), abs=1e-10)
    cards = {name: product.cards for name, product in products.items()}
    assert [cards[name]["CHANNEL"][0] for name in products] == ["L", "R", "G", "G", "B"]
    # Every plane holds sums of whole pixels: the gain stays, the luminance has four pixels' read noise.
    assert "GAIN" not in cards["R"] and cards["L"]["RDNOISE"][0] == 6.0 and "RDNOISE" not in cards["G1"]
    assert all("BAYERPAT" in product.removed and "SATURATE" in product.removed for product in products.values())


def test_a_plane_is_moved_onto_the_luminance_grid_before_its_frames_transform():
    offset, cards = channel_offset(header(CHANOFFX=-0.25, CHANOFFY=0.25))
    assert offset.apply(10.0, 20.0) == (9.75, 20.25)
    assert cards == {"CHANOFFX": 0.0, "CHANOFFY": 0.0}
    identity, none = channel_offset(header(EXPTIME=10.0))
    assert identity.is_translation and (identity.dy, identity.dx) == (0.0, 0.0) and none == {}
