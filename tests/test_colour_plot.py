"""The colour picture of three channel stacks and its figure: neutral sky, stars in their colours, a PNG."""

import re

import numpy as np
import pytest

from conftest import gaussian_star
from stackphot.report.colour_plot import colour_balance, colour_figure, colour_picture, colour_star, plot_colour

SHAPE = (90, 120)
SKIES = (300.0, 500.0, 250.0)  # R, G, B: a sky glow of its own colour


def render(rng, stars, *, response=(1.0, 1.0, 1.0), skies=SKIES, noise=4.0, sigma=1.3):
    """Planes R, G, B of the stars ``(x, y, flux, (r, g, b) colour)``, seen through ``response``."""
    planes = []
    for channel, (gain, sky) in enumerate(zip(response, skies)):
        plane = rng.normal(sky, noise, SHAPE) if noise else np.full(SHAPE, sky)
        for x, y, flux, colour in stars:
            plane += gaussian_star(SHAPE, y, x, flux=flux * colour[channel] * gain, sigma=sigma)
        planes.append(plane)
    return planes


GREY_STARS = [(20.3, 30.6, 4e4, (1, 1, 1)), (95.2, 20.1, 2e4, (1, 1, 1)), (40.7, 70.4, 3e4, (1, 1, 1)),
              (100.5, 75.3, 1.5e4, (1, 1, 1)), (70.1, 15.8, 2.5e4, (1, 1, 1))]
RED_STAR = (62.4, 48.7, 3e4, (3.0, 1.0, 0.8))


def test_the_picture_is_rgb_in_0_1_and_black_without_data(rng):
    red, green, blue = render(rng, GREY_STARS + [RED_STAR])
    green[:10, :15] = np.nan  # one channel uncovered is enough
    picture = colour_picture(red, green, blue)
    assert picture.shape == SHAPE + (3,) and np.isfinite(picture).all()
    assert picture.min() >= 0 and picture.max() <= 1
    assert np.all(picture[:10, :15] == 0)
    assert picture.max() == 1.0  # the brightest cores reach white (in their colour)


def test_a_grey_star_on_a_grey_sky_stays_grey(rng):
    plane = render(rng, [(60.2, 45.6, 3e4, (1, 1, 1))], skies=(200.0,) * 3)[0]
    picture = colour_picture(plane, plane.copy(), plane.copy())
    assert np.abs(picture - picture[..., :1]).max() <= 1e-6
    assert picture[46, 60, 0] > 0.9 and 0.02 < np.median(picture) < 0.3  # a bright star on a dark sky


def test_a_red_star_is_redder_than_the_neutral_sky(rng):
    red, green, blue = render(rng, GREY_STARS + [RED_STAR])
    picture = colour_picture(red, green, blue)
    core = picture[49, 62]
    assert core[0] > core[1] and core[0] > core[2]
    sky = np.median(picture.reshape(-1, 3), axis=0)  # most pixels are sky
    assert np.ptp(sky) < 0.005 and 0.05 < sky.mean() < 0.2  # neutral, dark grey
    for x, y, *_ in GREY_STARS:  # the grey stars stay grey: their channels within a few per cent
        pixel = picture[int(round(y)), int(round(x))]
        assert np.ptp(pixel) < 0.03 * pixel.max()


def test_the_balance_undoes_the_cameras_response_and_keeps_the_sky_neutral(rng):
    # a Bayer camera: green twice as sensitive as red, 2.5 times as blue
    planes = render(rng, GREY_STARS + [RED_STAR], response=(0.5, 1.0, 0.4))
    balance = colour_balance(*planes)
    assert balance.gains == pytest.approx((2.0, 1.0, 2.5), rel=0.02)
    assert balance.n_stars == len(GREY_STARS) + 1
    assert balance.sky == pytest.approx(SKIES, abs=0.5) and balance.noise == pytest.approx((4.0,) * 3, rel=0.05)
    picture = colour_picture(*planes, balance=balance)
    for x, y, *_ in GREY_STARS:
        pixel = picture[int(round(y)), int(round(x))]
        assert np.ptp(pixel) < 0.03 * pixel.max()
    assert picture[49, 62, 0] > picture[49, 62, 1:].max()
    assert np.ptp(np.median(picture.reshape(-1, 3), axis=0)) < 0.005  # the sky neutral


def test_too_few_stars_leave_the_channels_unbalanced(rng):
    balance = colour_balance(*render(rng, [RED_STAR]))
    assert balance.gains == (1.0, 1.0, 1.0) and balance.n_stars == 0
    assert "unbalanced" in balance.describe()


def test_the_options_shape_the_picture(rng):
    planes = render(rng, GREY_STARS)
    default = colour_picture(*planes)
    sky_black = colour_picture(*planes, black=0.0)
    assert np.median(sky_black) < np.median(default)  # black at the sky: the sky darker
    assert np.median(colour_picture(*planes, stretch=1.0)) < np.median(default)  # nearly linear
    assert (colour_picture(*planes, white_fraction=0.9) == 1).sum() > (default == 1).sum()
    flat = colour_picture(*(np.full(SHAPE, 7.0),) * 3)
    assert np.all(flat == 0)  # no star, no noise: all black
    with pytest.raises(ValueError, match="one shape"):
        colour_picture(planes[0], planes[1][:-1], planes[2])
    with pytest.raises(ValueError, match="white_fraction"):
        colour_picture(*planes, white_fraction=0.0)
    with pytest.raises(ValueError, match="softening"):
        colour_picture(*planes, stretch=-1.0)
    with pytest.raises(ValueError, match="below the white"):
        colour_picture(*planes, black=1e9)


def test_the_close_up_star_is_the_brightest_isolated_unsaturated_one(rng):
    stars = [(30.2, 30.4, 4e5, (1, 1, 1)),  # saturated below: flat-topped
             (90.3, 60.2, 2e5, (1, 1, 1)), (94.1, 63.0, 2e4, (1, 1, 1)),  # bright, with a close neighbour
             (60.6, 40.3, 5e4, (1, 1, 1)),  # isolated: the one
             (20.0, 70.0, 1e4, (1, 1, 1))]
    planes = [np.minimum(plane, 8000.0) for plane in render(rng, stars)]
    x, y = np.array([s[0] for s in stars]), np.array([s[1] for s in stars])
    assert colour_star(*planes, x=x, y=y) == (60.6, 40.3)
    assert colour_star(*planes) == (61.0, 40.0)  # the peak's pixel, without a catalog
    # a NaN in its box: the next isolated one
    planes[0][40, 55] = np.nan
    assert colour_star(*planes, x=x, y=y) == (20.0, 70.0)
    assert colour_star(*render(rng, []), x=[], y=[]) is None


def test_plot_colour_writes_a_png(rng, tmp_path):
    from matplotlib.image import imread

    red, green, blue = render(rng, GREY_STARS + [RED_STAR])
    red[:8, :] = np.nan
    path = plot_colour(tmp_path / "colour.png", red, green, blue, x=[s[0] for s in GREY_STARS],
                       y=[s[1] for s in GREY_STARS], title="three channels")
    image = imread(path)
    assert image.ndim == 3 and image.shape[2] in (3, 4) and image.shape[0] > 100 and image.shape[1] > 100
    assert not list(tmp_path.glob(".*.part"))
    # without a catalog, and a field without a star to show close up
    for planes in ((red, green, blue), render(rng, [])):
        path = plot_colour(tmp_path / "other.png", *planes)
        assert imread(path).shape[2] in (3, 4)


def test_the_close_up_says_which_channel_a_star_is_too_faint_in(rng):
    """The Seestar M94 stack's close-up star is faint in B: its title named a NaN offset."""
    red, green, blue = render(rng, [(60.6, 40.3, 5e4, (1.0, 1.0, 0.0))])
    title = colour_figure(red, green, blue).axes[1].get_title()
    assert "too faint in B for a centroid" in title and "nan" not in title
    assert re.search(r"R-G \([+-]\d\.\d{3}, [+-]\d\.\d{3}\) px", title), title
