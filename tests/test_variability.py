"""Expected noise, the field's variability table, periods and transits, on seeded synthetic light curves."""

import numpy as np
import pytest

from stackphot.lightcurve.ensemble import differential_light_curve, ensemble_curve, ensemble_weights
from stackphot.lightcurve.variability import expected_noise, fit_transit, period_search, variability_table

GAIN, SKY, N_PIXELS, READ_NOISE = 2.0, 200.0, 50.0, 8.0
MINUTE = 1.0 / 1440.0


def test_expected_noise_matches_hand_calculations():
    # 10000 ADU at gain 2: 20000 e-; 50 pixels of 100 ADU sky (200 e-) and 10 e- read noise: 35000 e-^2.
    poisson = expected_noise(10000.0, sky_per_pixel=100.0, n_pixels=50, gain=2.0, read_noise=10.0)
    assert poisson == pytest.approx(np.sqrt(35000.0) / 20000.0, rel=1e-12)
    assert poisson == pytest.approx(0.0093541435, rel=1e-8)
    # Scintillation, 0.5 m (50 cm) at airmass 1.5, 2000 m, 60 s:
    # 1.5 * 0.09 * 50**(-2/3) * 1.5**1.75 * exp(-0.25) / sqrt(120) = 0.0014377473.
    both = expected_noise(10000.0, sky_per_pixel=100.0, n_pixels=50, gain=2.0, read_noise=10.0, exptime=60.0,
                          diameter=0.5, airmass=1.5, altitude=2000.0)
    assert both == pytest.approx(np.hypot(0.009354143467, 0.0014377473), rel=1e-8)
    # Sea level when the altitude is not given; the scintillation term alone for a very bright star.
    bright = expected_noise(1e12, sky_per_pixel=0.0, n_pixels=1, gain=1.0, read_noise=0.0, exptime=30.0,
                            diameter=1.0, airmass=1.0)
    assert bright == pytest.approx(np.hypot(1e-6, 1.5 * 0.09 * 100.0 ** (-2 / 3) / np.sqrt(60.0)), rel=1e-9)
    # Broadcasting: frames down, stars across; no positive flux, no noise.
    grid = expected_noise(np.array([[1e4, 1e5, 0.0]]) * np.ones((4, 1)), sky_per_pixel=np.full((4, 1), 100.0),
                          n_pixels=50, gain=2.0, read_noise=10.0)
    assert grid.shape == (4, 3) and np.all(grid[:, 0] == poisson) and np.all(np.isnan(grid[:, 2]))
    with pytest.raises(ValueError, match="airmass"):
        expected_noise(1e4, sky_per_pixel=1.0, n_pixels=1, gain=1.0, read_noise=1.0, exptime=1.0, diameter=0.5)


def simulate_survey(rng, n_stars, *, n_frames=200, signals=None):
    """A field of stars of 10-16 mag under ±20% transparency, with errors stating the noise exactly.

    Stars 0-29, of 10.5-12 mag, are the comparisons; star 30 is of 13.5 mag.
    """
    mags = rng.uniform(10.0, 16.0, n_stars)
    mags[:31] = np.r_[np.linspace(10.5, 12.0, 30), 13.5]
    clear = 1e6 * 10 ** (-0.4 * (mags - 10.0))
    clouds = 1.0 + 0.2 * np.sin(np.linspace(0, 4 * np.pi, n_frames)) * rng.uniform(0.5, 1.0, n_frames)
    true = clouds[:, None] * clear[None, :]
    for star, signal in (signals or {}).items():
        true[:, star] *= signal
    sigma = true * expected_noise(true, sky_per_pixel=SKY, n_pixels=N_PIXELS, gain=GAIN, read_noise=READ_NOISE)
    flux = true + sigma * rng.standard_normal(true.shape)
    comparisons = np.arange(30)
    weights, _ = ensemble_weights(flux, sigma, comparisons)
    reference, reference_err = ensemble_curve(flux, sigma, comparisons=comparisons, weights=weights)
    return flux, sigma, np.zeros(flux.shape, dtype=int), reference, reference_err


def test_fewer_than_1_percent_of_2000_constant_stars_are_flagged_and_a_variable_is():
    rng = np.random.default_rng(11)
    n_frames, variable = 200, 30
    wave = 10 ** (-0.4 * 0.05 * np.sin(np.linspace(0, 5 * np.pi, n_frames)))
    flux, err, flags, reference, reference_err = simulate_survey(rng, 2001, n_frames=n_frames,
                                                                 signals={variable: wave})
    table = variability_table(flux, err, flags, reference=reference, reference_err=reference_err)
    assert list(table.columns) == ["n_good", "median_flux", "mag", "rms", "expected", "chi2_red", "p_value",
                                   "ratio", "variable"]
    constant = table.drop(index=variable)
    assert len(constant) == 2000
    assert constant.variable.mean() < 0.01
    assert constant.variable.sum() == 0          # with p < 2.9e-7 none is expected among 2000
    assert constant.ratio.median() == pytest.approx(1.0, abs=0.05)
    assert constant.chi2_red.median() == pytest.approx(1.0, abs=0.02)
    assert table.variable[variable]
    assert table.ratio[variable] > 3
    assert (table.n_good == n_frames).all()


def test_a_few_cosmic_rays_do_not_make_a_star_variable_but_flags_and_nan_are_left_out():
    rng = np.random.default_rng(12)
    flux, err, flags, reference, reference_err = simulate_survey(rng, 200)
    hit = rng.choice(np.arange(30, 200), 40, replace=False)
    flux[3, hit] += 15 * err[3, hit]         # an unflagged 15-sigma outlier in one frame each
    flux[9, hit] += 15 * err[9, hit]
    table = variability_table(flux, err, flags, reference=reference, reference_err=reference_err)
    assert (table.p_value[hit] < 2.9e-7).all()     # the chi-squared alone would flag them all
    assert not table.variable.any()
    flux[:5, 50] = np.nan
    flags[5:15, 50] = 1
    flux[:, 51] = np.nan
    table = variability_table(flux, err, flags, reference=reference, reference_err=reference_err)
    assert table.n_good[50] == 185 and table.n_good[51] == 0
    assert table.loc[51, ["rms", "chi2_red", "ratio"]].isna().all() and not table.variable[51]
    # An expected noise twice the true one hides nothing from the chi-squared but halves the ratio.
    twice = 2 * err / flux
    doubled = variability_table(flux, err, flags, reference=reference, expected=twice)
    assert doubled.ratio.median() == pytest.approx(0.5, abs=0.05)


def test_period_of_a_005_mag_sinusoid_in_one_night():
    rng = np.random.default_rng(13)
    t = 2460000.5 + np.arange(360) * MINUTE             # 6 h of 1-minute data
    period = 0.0713
    y = 0.05 * np.sin(2 * np.pi * t / period + 0.4) + 0.003 * rng.standard_normal(t.size)
    found, power = period_search(t, y, np.full(t.size, 0.003), min_period=0.02, max_period=0.2)
    assert found == pytest.approx(period, rel=0.01)
    assert power > 0.9


def test_period_of_a_cepheid_from_98_nights_one_point_each():
    rng = np.random.default_rng(14)
    nights = np.sort(rng.choice(np.arange(160), 98, replace=False))
    t = 2455000.0 + nights + rng.uniform(-0.1, 0.1, nights.size)
    for period in (3.27, 4.9, 6.8):
        y = 0.05 * np.sin(2 * np.pi * t / period) + 0.01 * rng.standard_normal(t.size)
        found, _ = period_search(t, y, np.full(t.size, 0.01), min_period=3.0, max_period=7.0)
        assert found == pytest.approx(period, rel=0.005)
        assert found == pytest.approx(period, rel=0.001)
    with pytest.raises(ValueError):
        period_search(t[:2], y[:2], np.ones(2), min_period=3.0, max_period=7.0)


def transit(t, *, depth, mid, duration, ingress=0.0):
    """A trapezoid (a box when ``ingress`` is 0) of the given depth and full duration."""
    edge = duration / 2 - np.abs(t - mid)
    shape = np.clip(edge / ingress, 0, 1) if ingress > 0 else (edge >= 0).astype(float)
    return 1 - depth * shape


@pytest.mark.parametrize("ingress_minutes", [0.0, 15.0])
def test_a_1_percent_2_hour_transit_in_6_hours_of_1_minute_data(ingress_minutes):
    rng = np.random.default_rng(15)
    t = 2460000.5 + np.arange(360) * MINUTE
    mid = t[0] + 3.3 / 24
    y = transit(t, depth=0.01, mid=mid, duration=2 / 24, ingress=ingress_minutes * MINUTE)
    y = y + 0.002 * rng.standard_normal(t.size)
    fit = fit_transit(t, y, np.full(t.size, 0.002))
    assert fit["depth"] == pytest.approx(0.01, rel=0.05)
    assert abs(fit["mid_time"] - mid) < 2 * MINUTE
    assert fit["duration"] == pytest.approx(2 / 24, abs=5 * MINUTE)
    assert fit["depth_err"] < 0.0005 and fit["chi2_red"] == pytest.approx(1.0, abs=0.2)


def test_a_transit_through_clouds_and_the_ensemble():
    rng = np.random.default_rng(16)
    n_frames = 360
    t = 2460000.5 + np.arange(n_frames) * MINUTE
    mid = t[0] + 2.7 / 24
    dip = transit(t, depth=0.01, mid=mid, duration=2 / 24, ingress=10 * MINUTE)
    mags = np.r_[10.0, np.linspace(9.5, 11.0, 10)]
    clear = 1e6 * 10 ** (-0.4 * (mags - 10.0))
    clouds = 1.0 + 0.2 * np.sin(np.linspace(0, 3 * np.pi, n_frames))
    true = clouds[:, None] * clear[None, :]
    true[:, 0] *= dip
    err = true * expected_noise(true, sky_per_pixel=SKY, n_pixels=N_PIXELS, gain=GAIN, read_noise=READ_NOISE)
    flux = true + err * rng.standard_normal(true.shape)
    comparisons = np.arange(1, 11)
    weights, _ = ensemble_weights(flux, err, comparisons)
    curve = differential_light_curve(flux, err, target=0, comparisons=comparisons, weights=weights)
    fit = fit_transit(t, curve.rel_flux, curve.rel_flux_err)
    assert fit["depth"] == pytest.approx(0.01, rel=0.05)
    assert abs(fit["mid_time"] - mid) < 2 * MINUTE


def test_no_dip_is_a_warning_and_nan():
    t = np.arange(100.0)
    with pytest.warns(UserWarning, match="no dip"):
        fit = fit_transit(t, np.ones(100), np.full(100, 0.01))
    assert np.isnan(fit["depth"]) and np.isnan(fit["mid_time"])
    with pytest.raises(ValueError, match="10 finite"):
        fit_transit(t[:5], np.ones(5), np.ones(5))
