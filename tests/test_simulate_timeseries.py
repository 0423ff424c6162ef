"""Tests of the simulator's time series: per-frame transparency, variable stars, seeing of 2.5-5 px, a site,
and the truth of each against the pixels."""

import dataclasses
import datetime as dt
import hashlib
import math
import time

import numpy as np
import pandas as pd
import pytest
import yaml
from astropy.io import fits
from astropy.time import Time
from scipy import integrate

from stackphot.geometry import Transform
from stackphot.numerics import moffat_alpha
from stackphot.simulate import TRUTH_LIGHTCURVES, SimulationConfig, simulate_frame_set, write_frame_set
from stackphot.simulate.variables import Sine, Transit

# The realistic time series of issue 20's acceptance: 60 frames of 256 x 256 px with 150 field stars, one every
# 4 minutes over 3.9 hours, seeing of 2.5 to 5 px, clouds taking or giving up to 20% of the starlight, drift and a
# field rotation of up to 1 degree; a transit of 1% depth and 2 h (15 min ingress) mid-series and a sinusoid of
# 0.05 mag (semi-amplitude) and 1.5 h, each on an isolated, unsaturated star chosen by the simulator. The camera is
# a binned CCD's large well (4 e-/ADU), so the transit's host (~190000 ADU, 760000 e-) is measured to ~0.13% a frame.
TIME_SERIES = dict(
    shape=(256, 256), n_frames=60, seed=0, object_name="TS-1", exptime=60.0, cadence=240.0,
    start_time="2024-06-14T22:00:00", gain=4.0, read_noise=12.0, n_cluster_stars=0, n_field_stars=150,
    flux_range=(2e3, 1e6), flux_slope=0.5, fwhm_range=(2.5, 5.0), transparency=0.2, max_offset=8.0, max_rotation=1.0,
    pixel_scale=1.2, site=(28.3, -16.51, 2390.0),
    variables=[
        dict(kind="transit", star="auto", depth=0.01, duration_hours=2.0, mid_time="2024-06-14T23:58:00",
             ingress_hours=0.25),
        dict(kind="sine", star="auto", amplitude_mag=0.05, period_hours=1.5, phase=0.0),
    ],
)

# Noiseless frames of a few bright stars on a flat sky of 500 ADU over a bias of 100: every pixel is 600 plus
# starlight, rounded. 24 frames 10 minutes apart (4 h); seed 2 has six stars with no other within 40 px.
CLEAN = dict(shape=(256, 256), n_frames=24, cadence=600.0, exptime=60.0, n_cluster_stars=0, n_field_stars=12,
             flux_range=(1e5, 2e5), fwhm_range=(2.5, 5.0), max_offset=6.0, noise=False, sky=500.0, sky_jitter=0.0,
             sky_gradient=0.0, banding_rms=0.0, hot_pixel_fraction=0.0, dead_pixel_fraction=0.0,
             cosmic_rays_per_frame=0, seed=2)
LEVEL = 600.0
TRAPEZOID = dict(kind="transit", star="auto", depth=0.01, duration_hours=1.5, mid_time=1.2, ingress_hours=0.25)
BOX = dict(kind="transit", star="auto", depth=0.02, duration_hours=1.0, mid_time="2024-06-15T01:30:00Z")
SINE = dict(kind="sine", star=9, amplitude_mag=0.05, period_hours=1.5, phase=0.3)
VARYING = dict(CLEAN, transparency=0.2, variables=[TRAPEZOID, BOX, SINE], site=(-24.6272, -70.4042, 2635.0))
# Half the side (px) of the box summed around a star: the same pixels in both sets, where the star gives each at
# least 2 ADU (the rounding to whole ADU of fainter wings, which no rise or fall lifts over the next half ADU,
# would bias the ratios). Stars with no other within ISOLATION px.
HALF = 10
ISOLATION = 40

# SHA-256 of sets written before the time series (at commit 3aa3670): a colour set and one that turns, scales
# and flips. Sets without the new options must stay byte for byte what they were.
BASE = dict(shape=(96, 128), n_cluster_stars=30, n_field_stars=10, cluster_scale_radius=10.0, cluster_max_radius=40.0)
PINNED = {
    "colour": (dict(n_frames=2, bayer_pattern="GRBG", pixel_scale=1.2, **BASE), {
        "frame_001.fits": "a9c97002e27370dac2b0a23297df5fe8413867c7e6bb3c627d4a66307a0f2136",
        "frame_002.fits": "3b06f31b5f27986a58579678c24b2c80253f3dca398e672acb0558ceddbbf5b0",
        "truth_shifts.csv": "99f700f4d9142942ae5481ff27e6e0e277004da6c84956e678aaee6dc2c51bce",
        "truth_stars.csv": "fa314b61e16dd4f60ef496d1ce450855ba71a00fb34ccad0290b1f8dccc347a1",
    }),
    "turned": (dict(n_frames=3, max_rotation=5.0, scale_change=0.002, meridian_flip=3, pixel_scale=1.0, **BASE), {
        "frame_001.fits": "c1c36c6e0d11d858b5c5f2e29bd9c54f3f290765aba14c837b6a6e899da09ffa",
        "frame_002.fits": "a0aeca4b4173fc6ce758d41a6b268321e9f94a9cfc61e34145865471dfe99660",
        "frame_003.fits": "10b5bc2fe5b185caabc8e0e140b6022822ff718eb39e88c06856002d079ae171",
        "truth_shifts.csv": "758bc2d70f88a0e75df1d03538237d09b230f3eee7bf4270753bd8e50559a58e",
        "truth_stars.csv": "8cd9bde3de7770b8ba5cb294eef846be65010bf291347cb3fdb53cb4142d5a95",
    }),
}


@pytest.fixture(scope="module")
def realistic():
    start = time.perf_counter()
    frame_set = simulate_frame_set(**TIME_SERIES)
    return frame_set, time.perf_counter() - start


@pytest.fixture(scope="module")
def varying():
    return simulate_frame_set(**VARYING)


@pytest.fixture(scope="module")
def steady():
    """The same frames without transparency or variable stars."""
    return simulate_frame_set(**CLEAN)


def box_sum(frame, y, x):
    iy, ix = round(y), round(x)
    return float(np.sum(frame[iy - HALF : iy + HALF + 1, ix - HALF : ix + HALF + 1] - LEVEL))


def isolated(frame_set):
    """Rows of the stars with no other within ISOLATION px whose box lies inside every frame."""
    stars = frame_set.stars
    distance = np.hypot(*(stars[c].to_numpy()[:, None] - stars[c].to_numpy() for c in ("x", "y")))
    np.fill_diagonal(distance, np.inf)
    ny, nx = frame_set.config.shape
    reach = HALF + frame_set.config.max_offset + 1
    inside = stars.x.between(reach, nx - 1 - reach) & stars.y.between(reach, ny - 1 - reach)
    return stars[(distance.min(axis=1) > ISOLATION) & inside]


def star_ratios(varying, steady):
    """Each isolated star's light in each frame of ``varying`` over that in ``steady``: ``{id: array}``."""
    ratios = {}
    for star in isolated(varying).itertuples():
        ratios[star.id] = np.array([
            box_sum(a.astype(float), star.y - dy, star.x - dx) / box_sum(b.astype(float), star.y - dy, star.x - dx)
            for a, b, (dy, dx) in zip(varying.frames, steady.frames, varying.transforms[["dy", "dx"]].to_numpy())
        ])
    return ratios


def hours_after_start(table, start="2024-06-14T22:30:00"):
    return np.array([(dt.datetime.fromisoformat(t) - dt.datetime.fromisoformat(start)).total_seconds() / 3600
                     for t in table["mid_time"]])


def test_realistic_time_series_simulates_quickly_with_what_it_was_asked_for(realistic):
    frame_set, seconds = realistic
    config, truth = frame_set.config, frame_set.lightcurves
    stars = frame_set.stars
    hosts = stars[stars.variable != ""]
    rotation = frame_set.transforms.rotation.abs()
    offsets = frame_set.transforms[["dy", "dx"]].abs().to_numpy()
    print(f"\nrealistic time series: {config.n_frames} frames of {config.shape}, {len(stars)} stars, "
          f"simulated in {seconds:.2f} s; FWHM {min(frame_set.fwhm):.2f}-{max(frame_set.fwhm):.2f} px, "
          f"transparency {min(frame_set.transparency):.3f}-{max(frame_set.transparency):.3f}, "
          f"rotation up to {rotation.max():.2f} deg, offsets up to {offsets.max():.2f} px; "
          + ", ".join(f"{row.variable} on star {row.id} ({row.flux:.0f} ADU)" for row in hosts.itertuples()))
    assert seconds < 30
    assert len(frame_set.frames) == 60 and frame_set.frames[0].shape == (256, 256)
    assert 140 <= len(stars) <= 150  # those no frame can see are dropped
    assert 2.5 <= min(frame_set.fwhm) < 2.7 and 4.8 < max(frame_set.fwhm) <= 5.0
    assert 0.8 <= min(frame_set.transparency) < 0.83 and 1.17 < max(frame_set.transparency) <= 1.2
    assert 0.8 < rotation.max() <= 1.0 and offsets.max() > 3  # a turned frame's dy, dx hold its turn too
    assert sorted(hosts.variable) == ["sine", "transit"]
    span = hours_after_start(truth, config.start_time)
    assert span[0] == pytest.approx(0.5 / 60) and span[-1] == pytest.approx(59 * 4 / 60 + 0.5 / 60)
    transit = truth[f"factor_{hosts.id[hosts.variable == 'transit'].item()}"]
    assert transit.min() == pytest.approx(0.99) and 25 <= (transit < 1).sum() <= 31  # 2 h of 4-minute frames
    sine = truth[f"factor_{hosts.id[hosts.variable == 'sine'].item()}"]
    assert sine.min() == pytest.approx(10**-0.02, abs=2e-4) and sine.max() == pytest.approx(10**0.02, abs=2e-4)
    for row in hosts.itertuples():  # never near saturation, in any frame
        for frame, transform in zip(frame_set.frames, frame_set.transforms.itertuples()):
            x, y = Transform.from_row(transform).inverse().apply(row.x, row.y)
            iy, ix = round(float(y)), round(float(x))
            assert 25 < iy < 230 and 25 < ix < 230
            assert frame[iy - 3 : iy + 4, ix - 3 : ix + 4].max() < 0.6 * config.saturation


def test_sets_without_the_new_options_are_byte_identical_to_before(tmp_path):
    for name, (options, pinned) in PINNED.items():
        explicit = dict(options, transparency=0.0, variables=[], site=None)
        for label, given in (("implicit", options), ("explicit", explicit)):
            paths = write_frame_set(simulate_frame_set(**given), tmp_path / name / label)
            assert {path.name: hashlib.sha256(path.read_bytes()).hexdigest() for path in paths} == pinned, label
            header = fits.getheader(paths[0])
            assert not {"SITELAT", "SITELONG", "SITEELEV", "RA", "DEC"} & set(header)


def test_transparency_scales_every_star_of_a_frame_alike_and_not_the_sky(varying, steady):
    ratios = star_ratios(varying, steady)
    variables = set(varying.stars.id[varying.stars.variable != ""])
    constant = {star: ratio for star, ratio in ratios.items() if star not in variables}
    assert len(constant) >= 3
    measured = np.array(list(constant.values()))
    np.testing.assert_allclose(measured, np.broadcast_to(varying.transparency, measured.shape), rtol=0, atol=3e-4)
    assert np.ptp(measured, axis=0).max() < 4e-4  # the stars of one frame agree
    assert min(varying.transparency) < 0.85 and max(varying.transparency) > 1.15
    np.testing.assert_array_equal(varying.lightcurves.transparency, varying.transparency)
    # Pixel by pixel, away from the variable stars: the sky and bias stay 600 ADU, the starlight is scaled.
    for index in (0, 7):
        expected = LEVEL + varying.transparency[index] * (steady.frames[index].astype(float) - LEVEL)
        away = np.ones(expected.shape, bool)
        dy, dx = varying.transforms.iloc[index][["dy", "dx"]]
        for star in varying.stars[varying.stars.variable != ""].itertuples():
            iy, ix = round(star.y - dy), round(star.x - dx)
            away[max(iy - 40, 0) : iy + 41, max(ix - 40, 0) : ix + 41] = False
        assert np.abs(varying.frames[index][away] - expected[away]).max() <= 1.1
        assert np.count_nonzero(steady.frames[index] == LEVEL) > 0.3 * expected.size  # plenty of bare sky


def test_transit_stars_follow_the_box_and_trapezoid_laws(varying, steady):
    ratios = star_ratios(varying, steady)
    truth, stars = varying.lightcurves, varying.stars
    hours = hours_after_start(truth)
    # The factor columns come in the order of the config's variables.
    trapezoid, box, sine = (int(column.removeprefix("factor_")) for column in truth.columns[6:])
    assert stars.set_index("id").variable[[trapezoid, box, sine]].tolist() == ["transit", "transit", "sine"]
    assert trapezoid in ratios and box in ratios  # 'auto' picked isolated stars
    # Trapezoid: full depth within 0.5 h of mid-time 1.2 h, none beyond 0.75 h, linear between.
    law = 1 - 0.01 * np.clip((0.75 - np.abs(hours - 1.2)) / 0.25, 0, 1)
    assert np.any((law > 0.99) & (law < 1))  # a frame in the ingress or egress
    # Box: 2% while within 0.5 h of 01:30 UTC (3 h after the start).
    law_box = np.where(np.abs(hours - 3.0) < 0.5, 0.98, 1.0)
    for star, expected in ((trapezoid, law), (box, law_box)):
        np.testing.assert_allclose(truth[f"factor_{star}"], expected, rtol=0, atol=1e-6)
        measured = ratios[star] / np.array(varying.transparency)
        np.testing.assert_allclose(measured, expected, rtol=0, atol=3e-4)
    assert (law < 1).sum() >= 8 and (law_box < 1).sum() == 6


def test_sine_star_follows_its_sinusoid(varying, steady):
    ratios = star_ratios(varying, steady)
    hours = hours_after_start(varying.lightcurves)
    expected = 10 ** (-0.4 * 0.05 * np.sin(2 * np.pi * (hours / 1.5 + 0.3)))
    assert varying.stars.set_index("id").variable[9] == "sine"  # the star given by id
    np.testing.assert_allclose(varying.lightcurves["factor_9"], expected, rtol=0, atol=1e-6)
    np.testing.assert_allclose(ratios[9] / np.array(varying.transparency), expected, rtol=0, atol=3e-4)
    magnitudes = -2.5 * np.log10(ratios[9] / np.array(varying.transparency))
    assert 0.09 < np.ptp(magnitudes) <= 0.1  # twice the semi-amplitude, sampled every 10 minutes


def test_a_colour_sets_filters_all_dim_alike():
    grey = dict(bayer_pattern="RGGB", sky_colour=(1.0, 1.0, 1.0))  # a sky of 600 ADU in every pixel, as above
    varying = simulate_frame_set(**VARYING, **grey)
    ratios = star_ratios(varying, simulate_frame_set(**CLEAN, **grey))
    assert len(ratios) >= 5 and "flux_r" in varying.stars and (varying.stars.variable != "").sum() == 3
    for star, ratio in ratios.items():
        column = f"factor_{star}"
        factor = varying.lightcurves[column].to_numpy() if column in varying.lightcurves else 1.0
        np.testing.assert_allclose(ratio, np.array(varying.transparency) * factor, rtol=0, atol=3e-4)


@pytest.mark.parametrize("which", [np.argmin, np.argmax])
def test_seeing_from_2_5_to_5_px_renders_the_moffat_integral(steady, which):
    index = int(which(steady.fwhm))
    assert steady.fwhm[index] < 2.8 if which is np.argmin else steady.fwhm[index] > 4.7
    star = isolated(steady).iloc[0]
    dy, dx = steady.transforms.iloc[index][["dy", "dx"]]
    y, x = star.y - dy, star.x - dx
    alpha = moffat_alpha(steady.fwhm[index], 3.0)
    peak = star.flux * 2.0 / (math.pi * alpha**2)
    image = steady.frames[index].astype(float) - LEVEL
    for py, px in [(0, 0), (1, 0), (-2, 1), (3, 3)]:
        py, px = round(y) + py, round(x) + px
        exact, _ = integrate.dblquad(lambda v, u: peak * (1 + ((v - y) ** 2 + (u - x) ** 2) / alpha**2) ** -3.0,
                                     px - 0.5, px + 0.5, py - 0.5, py + 0.5)
        assert image[py, px] == pytest.approx(exact, rel=0.003, abs=0.5)


def test_truth_tables_and_headers_hold_what_they_claim(varying, tmp_path):
    paths = write_frame_set(varying, tmp_path)
    assert [p.name for p in paths[-3:]] == ["truth_shifts.csv", "truth_stars.csv", TRUTH_LIGHTCURVES]
    stars = pd.read_csv(tmp_path / "truth_stars.csv", keep_default_na=False)
    assert list(stars.columns) == ["id", "x", "y", "flux", "variable"]
    variables = stars[stars.variable != ""]
    assert sorted(variables.variable) == ["sine", "transit", "transit"] and (stars.variable == "").sum() == 9

    table = pd.read_csv(tmp_path / TRUTH_LIGHTCURVES)
    factors = [f"factor_{star}" for star in variables.id.sort_values()]
    assert list(table.columns[:6]) == ["frame", "mid_time", "jd_utc", "transparency", "fwhm", "sky"]
    assert sorted(table.columns[6:]) == sorted(factors) and len(table) == 24
    assert list(table.frame) == [f"frame_{i:03d}" for i in range(1, 25)]
    np.testing.assert_allclose(table.transparency, varying.transparency, rtol=0, atol=0)  # what was used
    np.testing.assert_allclose(table.fwhm, varying.fwhm, rtol=0, atol=5e-7)
    np.testing.assert_allclose(table.sky, varying.sky_levels, rtol=0, atol=5e-7)
    for column in factors:
        np.testing.assert_array_equal(table[column], varying.lightcurves[column])

    for path, row in zip(paths, table.itertuples()):
        header = fits.getheader(path)
        start = dt.datetime.fromisoformat(header["DATE-OBS"])
        assert row.mid_time == (start + dt.timedelta(seconds=header["EXPTIME"] / 2)).isoformat(timespec="milliseconds")
        # Julian date by hand: JD 2440587.5 is 1970-01-01T00:00 UTC, no leap second on this night.
        unix = (dt.datetime.fromisoformat(row.mid_time) - dt.datetime(1970, 1, 1)).total_seconds()
        assert row.jd_utc == pytest.approx(2440587.5 + unix / 86400, abs=2e-8)
        assert row.jd_utc == pytest.approx(Time(row.mid_time, scale="utc").jd, abs=1e-8)
        assert (header["SITELAT"], header["SITELONG"], header["SITEELEV"]) == (-24.6272, -70.4042, 2635.0)
        assert (header["RA"], header["DEC"]) == varying.config.sky_centre
        assert "truth_lightcurves.csv" in str(header["COMMENT"])
    assert table.mid_time[1] == "2024-06-14T22:40:30.000"  # 10 minutes, then half the 60 s exposure


def test_a_site_alone_writes_its_cards_and_the_field_centre_but_no_time_series(tmp_path):
    frame_set = simulate_frame_set(n_frames=1, site=[52.38, 4.64, -2.0], **BASE)
    header = frame_set.headers[0]
    assert (header["SITELAT"], header["SITELONG"], header["SITEELEV"], header["RA"]) == (52.38, 4.64, -2.0, 250.4235)
    assert [p.name for p in write_frame_set(frame_set, tmp_path)][-1] == "truth_stars.csv"
    assert "variable" not in frame_set.stars and list(frame_set.lightcurves.columns) == [
        "frame", "mid_time", "jd_utc", "transparency", "fwhm", "sky"]


def test_first_frames_and_the_variable_stars_do_not_depend_on_n_frames():
    options = dict(CLEAN, transparency=0.1, variables=[dict(SINE, star="auto", period_hours=0.1)], noise=True,
                   cosmic_rays_per_frame=5.0)
    short, long = (simulate_frame_set(**dict(options, n_frames=n)) for n in (2, 4))
    for a, b in zip(short.frames, long.frames):
        np.testing.assert_array_equal(a, b)
    pd.testing.assert_frame_equal(short.stars, long.stars)
    pd.testing.assert_frame_equal(short.lightcurves, long.lightcurves.head(2))
    # The throughput has its own stream: the same frames' noise and shifts as without it.
    plain = simulate_frame_set(**dict(options, n_frames=2, transparency=0.0, variables=[]))
    pd.testing.assert_frame_equal(short.transforms, plain.transforms)
    assert short.fwhm == plain.fwhm and short.sky_levels == plain.sky_levels


def test_variables_load_from_yaml_and_survive_overrides():
    spec = yaml.safe_load("""
        transparency: 0.2
        site: [28.3, -16.51, 2390]
        variables:
          - {kind: transit, star: auto, depth: 0.01, duration_hours: 2, mid_time: 2024-06-14T23:58:00}
          - {kind: sine, star: 12, amplitude_mag: 0.05, period_hours: 1.5}
    """)
    config = SimulationConfig.from_mapping(spec)
    assert config.site == (28.3, -16.51, 2390.0) and config.time_series
    assert config.variables == (Transit(star="auto", depth=0.01, duration_hours=2.0, mid_time="2024-06-14T23:58:00"),
                                Sine(star=12, amplitude_mag=0.05, period_hours=1.5))
    again = SimulationConfig.from_mapping({**dataclasses.asdict(config), "n_frames": 3})
    assert again.variables == config.variables and not SimulationConfig().time_series
    hours = np.array([0.4, 0.5, 88 / 60, 2.4, 2.5])  # a box 2 h long about 23:58, 88 minutes after 22:30
    np.testing.assert_allclose(config.variables[0].factor(hours, "2024-06-14T22:30:00"), [1, 0.99, 0.99, 0.99, 1],
                               rtol=0, atol=1e-12)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (dict(transparency=1.0), r"transparency must be in \[0, 1\)"),
        (dict(transparency=-0.1), r"transparency must be in \[0, 1\)"),
        (dict(transparency="cloudy"), "transparency must be a number, got 'cloudy'"),
        (dict(variables="transit"), "variables must be a list of mappings"),
        (dict(variables=[5]), r"variables\[0\] must be a mapping"),
        (dict(variables=[dict(kind="flare", star=1)]), r"kind must be one of transit, sine, got 'flare'"),
        (dict(variables=[dict(kind="transit", star="auto", depth=0.01)]),
         r"variables\[0\] \(transit\) is missing required option\(s\): duration_hours, mid_time"),
        (dict(variables=[dict(SINE, period=2.0)]), r"unknown variables\[0\] \(sine\) option\(s\): period"),
        (dict(variables=[dict(TRAPEZOID, depth=1.5)]), r"depth must be in \(0, 1\)"),
        (dict(variables=[dict(TRAPEZOID, ingress_hours=1.0)]), r"ingress_hours must be in \[0, duration_hours / 2\]"),
        (dict(variables=[dict(TRAPEZOID, duration_hours=0)]), "duration_hours must be > 0"),
        (dict(variables=[dict(SINE, star=0)]), "star must be a catalog id .* or 'auto', got 0"),
        (dict(variables=[dict(SINE, star="brightest")]), "star must be a catalog id"),
        (dict(variables=[dict(SINE, star=True)]), "star must be a catalog id"),
        (dict(variables=[dict(TRAPEZOID, mid_time="midnight")]), "mid_time must be an ISO time or hours"),
        (dict(variables=[dict(SINE, amplitude_mag="0.05")]), r"variables\[0\]: amplitude_mag must be a number"),
        (dict(variables=[dict(SINE, period_hours=0.0)]), "period_hours must be > 0"),
        (dict(variables=[SINE, dict(TRAPEZOID, star=9)]), r"star\(s\) 9 given more than one light curve"),
        (dict(site=(100.0, 0.0, 0.0)), r"site must be latitude in \[-90, 90\]"),
        (dict(site=(10.0, 0.0)), r"site \(latitude, longitude, elevation\) must have 3 values"),
        (dict(site=52.0), "site .* must have 3 values"),
    ],
)
def test_bad_time_series_options_are_refused_with_a_clear_message(options, message):
    with pytest.raises(ValueError, match=message):
        SimulationConfig(**options)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (dict(variables=[dict(SINE, star=999)]), r"star\(s\) 999 not in the catalog \(ids 1 to 12\)"),
        (dict(flux_range=(100.0, 200.0), variables=[TRAPEZOID]), "no star left for an 'auto' transit"),
        (dict(variables=[TRAPEZOID] * 7), "no star left for an 'auto' transit"),  # six suit
    ],
)
def test_variable_stars_the_catalog_cannot_give_are_refused(options, message):
    with pytest.raises(ValueError, match=message):
        simulate_frame_set(**dict(CLEAN, n_frames=1, **options))
