"""Tests of the simulator's colour (Bayer mosaic) frames against their per-filter truth."""

import numpy as np
import pandas as pd
import pytest
import yaml
from astropy.io import fits

from stackphot.simulate import SimulationConfig, simulate_frame_set, write_frame_set

# A noiseless set of a few bright stars on a flat sky: every pixel is the stars, the sky and the bias. The sky
# is a whole number of ADU in each filter (500 times the default sky colour 1.1, 1, 0.8): a fractional one would
# round the same way in every pixel, a bias of up to 0.5 ADU a pixel in the sums.
CLEAN = dict(shape=(160, 160), n_frames=2, n_cluster_stars=0, n_field_stars=8, flux_range=(5e4, 1e5),
             max_offset=6.0, noise=False, sky=500.0, sky_jitter=0.0, sky_gradient=0.0, banding_rms=0.0,
             hot_pixel_fraction=0.0, dead_pixel_fraction=0.0, cosmic_rays_per_frame=0, seed=3)
# Half a box's side (px) around a star: holds all but ~2e-4 of a Moffat (beta 3, FWHM < 4 px) star's light.
HALF = 20


def planes(frame, pattern):
    """The superpixel planes of a mosaic, split by hand: R, mean of the two G, B, and the luminance (cell sums)."""
    cells = {(i, j): frame[i::2, j::2].astype(float) for i in (0, 1) for j in (0, 1)}
    by_colour = {colour: [cells[divmod(k, 2)] for k, c in enumerate(pattern) if c == colour] for colour in "RGB"}
    return {**{colour: np.mean(found, axis=0) for colour, found in by_colour.items()}, "L": sum(cells.values())}


def isolated_stars_in_frame(frame_set, index):
    """(star, y, x) of the stars with no other star within 2 HALF, and a whole box inside frame ``index``."""
    stars = frame_set.stars
    distance = np.hypot(*(stars[c].to_numpy()[:, None] - stars[c].to_numpy() for c in ("x", "y")))
    np.fill_diagonal(distance, np.inf)
    dy, dx = frame_set.transforms.iloc[index][["dy", "dx"]]
    ny, nx = frame_set.config.shape
    found = []
    for star, nearest in zip(stars.itertuples(), distance.min(axis=1)):
        y, x = star.y - dy, star.x - dx
        if nearest > 2 * HALF and HALF <= y < ny - HALF - 2 and HALF <= x < nx - HALF - 2:
            found.append((star, y, x))
    return found


@pytest.fixture(scope="module", params=["RGGB", "BGGR", "GRBG", "GBRG"])
def colour_set(request):
    return simulate_frame_set(bayer_pattern=request.param, **CLEAN)


def test_superpixel_planes_hold_a_quarter_of_each_filters_flux(colour_set):
    config = colour_set.config
    sky_colour = dict(zip("RGB", config.sky_colour))
    measured = 0
    for index, frame in enumerate(colour_set.frames):
        split = planes(frame - np.float64(config.bias), config.bayer_pattern)
        sky = {colour: colour_set.sky_levels[index] * level for colour, level in sky_colour.items()}
        sky["L"] = sky["R"] + 2 * sky["G"] + sky["B"]
        for star, y, x in isolated_stars_in_frame(colour_set, index):
            # The superpixel of (y, x) is (y / 2, x / 2), whatever the cell's pixel centres.
            cy, cx, half = round(y / 2), round(x / 2), HALF // 2
            truth = {"R": star.flux_r, "G": star.flux_g, "B": star.flux_b}
            truth["L"] = truth["R"] + 2 * truth["G"] + truth["B"]
            for name, plane in split.items():
                box = plane[cy - half : cy + half + 1, cx - half : cx + half + 1] - sky[name]
                assert box.sum() == pytest.approx(truth[name] / 4, rel=0.01), name
            measured += 1
    assert measured >= 8  # four stars in each frame


def test_filter_pixels_of_the_mosaic_differ_by_the_stars_colour(colour_set):
    config = colour_set.config
    ny, nx = config.shape
    channel = np.tile(np.array(["RGB".index(c) for c in config.bayer_pattern]).reshape(2, 2), (ny // 2, nx // 2))
    image = colour_set.frames[0] - np.float64(config.bias)
    image -= colour_set.sky_levels[0] * np.choose(channel, config.sky_colour)
    stars = isolated_stars_in_frame(colour_set, 0)
    for star, y, x in stars:
        box = np.s_[round(y) - HALF : round(y) + HALF + 1, round(x) - HALF : round(x) + HALF + 1]
        # Twice as many G pixels as R or B ones.
        red, green, blue = (image[box][channel[box] == c].sum() for c in (0, 1, 2))
        assert red / (green / 2) == pytest.approx(star.flux_r / star.flux_g, rel=0.01)
        assert blue / (green / 2) == pytest.approx(star.flux_b / star.flux_g, rel=0.01)
    ratios = colour_set.stars[["flux_r", "flux_b"]].to_numpy() / colour_set.stars[["flux_g"]].to_numpy()
    assert ratios.min() >= 0.5 and ratios.max() <= 2.0 and ratios.std() > 0.1  # stars of many colours
    assert len(stars) >= 4


def test_colour_set_shares_the_mono_sets_scene_and_its_green_pixels():
    mono = simulate_frame_set(**CLEAN)
    colour = simulate_frame_set(bayer_pattern="RGGB", **CLEAN)
    assert list(mono.stars.columns) == ["id", "x", "y", "flux"]
    assert "BAYERPAT" not in mono.headers[0]
    pd.testing.assert_frame_equal(colour.stars[["id", "x", "y", "flux"]], mono.stars)
    np.testing.assert_array_equal(colour.stars.flux_g, colour.stars.flux)
    pd.testing.assert_frame_equal(colour.transforms, mono.transforms)
    assert colour.fwhm == mono.fwhm and colour.sky_levels == mono.sky_levels
    for c, m in zip(colour.frames, mono.frames):
        # The sky's green level is 1: the green pixels are the monochrome frame's, exactly.
        np.testing.assert_array_equal(c[0::2, 1::2], m[0::2, 1::2])
        np.testing.assert_array_equal(c[1::2, 0::2], m[1::2, 0::2])
        assert not np.array_equal(c[0::2, 0::2], m[0::2, 0::2])


def test_grey_stars_on_a_grey_sky_make_the_monochrome_frames():
    mono = simulate_frame_set(**{**CLEAN, "noise": True, "banding_rms": 8.5, "cosmic_rays_per_frame": 5})
    grey = simulate_frame_set(bayer_pattern="GBRG", star_colour_range=(1, 1), sky_colour=(1, 1, 1),
                              **{**CLEAN, "noise": True, "banding_rms": 8.5, "cosmic_rays_per_frame": 5})
    for g, m in zip(grey.frames, mono.frames):
        np.testing.assert_array_equal(g, m)
    pd.testing.assert_frame_equal(grey.cosmic_rays, mono.cosmic_rays)


def test_noisy_colour_set_is_deterministic_and_keeps_its_defects():
    options = dict(CLEAN, noise=True, banding_rms=8.5, hot_pixel_fraction=1e-3, cosmic_rays_per_frame=5)
    first, again = (simulate_frame_set(bayer_pattern="RGGB", **options) for _ in range(2))
    for a, b in zip(first.frames, again.frames):
        np.testing.assert_array_equal(a, b)
    mono = simulate_frame_set(**options)
    np.testing.assert_array_equal(first.hot_pixels, mono.hot_pixels)
    assert (first.frames[0][first.hot_pixels] > 2000).all()


@pytest.mark.parametrize(
    "options, message",
    [
        (dict(bayer_pattern="RGBG"), "bayer_pattern must be one of RGGB, BGGR, GRBG, GBRG or null, got 'RGBG'"),
        (dict(bayer_pattern="rggb"), "bayer_pattern must be one of"),
        (dict(bayer_pattern="RGGB", shape=(127, 128)), r"shape must be even in both axes .* got \(127, 128\)"),
        (dict(bayer_pattern="RGGB", shape=(128, 129)), "shape must be even in both axes"),
        (dict(star_colour_range=(2.0, 0.5)), "star_colour_range must be 0 < low <= high"),
        (dict(star_colour_range=(0.0, 2.0)), "star_colour_range must be 0 < low <= high"),
        (dict(sky_colour=(1.0, -1.0, 1.0)), "sky_colour must be >= 0"),
        (dict(sky_colour=(1.0, 1.0)), "sky_colour must have 3 values"),
    ],
)
def test_bad_colour_options_are_refused_with_a_clear_message(options, message):
    with pytest.raises(ValueError, match=message):
        SimulationConfig(**options)


def test_odd_shape_is_fine_for_a_monochrome_set():
    assert SimulationConfig(shape=(127, 129)).shape == (127, 129)


def test_colour_options_load_from_yaml():
    spec = yaml.safe_load("bayer_pattern: GRBG\nstar_colour_range: [0.7, 1.5]\nsky_colour: [1.2, 1, 0.9]\n")
    config = SimulationConfig.from_mapping(spec)
    assert config.bayer_pattern == "GRBG"
    assert config.star_colour_range == (0.7, 1.5) and config.sky_colour == (1.2, 1.0, 0.9)
    assert SimulationConfig().bayer_pattern is None


def test_write_frame_set_writes_the_pattern_and_the_filter_fluxes(tmp_path):
    frame_set = simulate_frame_set(bayer_pattern="GRBG", **CLEAN)
    paths = write_frame_set(frame_set, tmp_path)
    header = fits.getheader(paths[0])
    assert (header["BAYERPAT"], header["XBAYROFF"], header["YBAYROFF"]) == ("GRBG", 0, 0)
    assert "ROWORDER" not in header
    np.testing.assert_array_equal(fits.getdata(paths[0]), frame_set.frames[0])
    truth = pd.read_csv(tmp_path / "truth_stars.csv")
    assert list(truth.columns) == ["id", "x", "y", "flux", "flux_r", "flux_g", "flux_b"]
    np.testing.assert_allclose(truth[["flux_r", "flux_g", "flux_b"]], frame_set.stars[["flux_r", "flux_g", "flux_b"]],
                               rtol=0, atol=5e-7)
    np.testing.assert_array_equal(truth.flux_g, truth.flux)
