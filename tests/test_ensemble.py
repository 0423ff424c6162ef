"""Comparison ensembles and differential light curves, on seeded synthetic fields with known answers."""

import numpy as np
import pytest

from stackphot.lightcurve.ensemble import (
    choose_comparisons,
    detrend,
    differential_light_curve,
    ensemble_curve,
    ensemble_weights,
)

GAIN, SKY, N_PIXELS, READ_NOISE = 2.0, 200.0, 50.0, 8.0


def simulate_field(rng, mags, *, n_frames=360, transparency=0.2, signals=None):
    """Fluxes, errors and flags of stars of the given magnitudes under a changing transparency.

    ``signals`` maps a star to its true relative flux per frame. The noise is the photon noise of star and
    sky and the read noise, and the errors state it exactly.
    """
    clear = 1e6 * 10 ** (-0.4 * (np.asarray(mags) - 10.0))
    sky_clouds = 1.0 + transparency * np.sin(np.linspace(0, 5 * np.pi, n_frames)) \
        * rng.uniform(0.5, 1.0, n_frames)
    true = sky_clouds[:, None] * clear[None, :]
    for star, signal in (signals or {}).items():
        true[:, star] *= signal
    sigma = np.sqrt(true * GAIN + N_PIXELS * (SKY * GAIN + READ_NOISE**2)) / GAIN
    flux = true + sigma * rng.standard_normal(true.shape)
    return flux, sigma, np.zeros(true.shape, dtype=int), sky_clouds


def robust_sigma(values):
    return 1.4826 * np.nanmedian(np.abs(values - np.nanmedian(values)))


def test_comparisons_are_similar_clean_usable_and_brightest_first():
    rng = np.random.default_rng(1)
    mags = np.array([12.0, 11.0, 13.5, 15.0, 10.5, 12.5, 9.0, 11.5, 12.2])
    flux, err, flags, _ = simulate_field(rng, mags, n_frames=50)
    flags[:10, 5] = 4          # star 5 doubtful in 20% of the frames
    usable = np.ones(mags.size, dtype=bool)
    usable[7] = False          # star 7 saturated or crowded
    chosen = choose_comparisons(flux, err, flags, target=0, exclude=[8], usable=usable)
    # Within 2 mag of 12: 11.0, 13.5, 10.5 (9.0 and 15.0 are out); brightest first.
    assert chosen.tolist() == [4, 1, 2]
    assert choose_comparisons(flux, err, flags, target=0, exclude=[8], usable=usable, max_stars=2).tolist() \
        == [4, 1]
    assert 5 in choose_comparisons(flux, err, flags, target=0, min_good_fraction=0.8)


def test_no_comparison_is_a_warning_and_an_unmeasured_target_an_error():
    rng = np.random.default_rng(2)
    flux, err, flags, _ = simulate_field(rng, [12.0, 16.0], n_frames=20)
    with pytest.warns(UserWarning, match="no comparison"):
        assert choose_comparisons(flux, err, flags, target=0).size == 0
    flux[:, 0] = np.nan
    with pytest.raises(ValueError, match="no good measurement"):
        choose_comparisons(flux, err, flags, target=0)


def test_broeg_weights_drop_a_variable_comparison_and_the_target_stays_flat():
    rng = np.random.default_rng(3)
    mags = np.array([12.0, 11.2, 11.5, 11.8, 12.0, 12.1, 12.3, 12.5, 12.8, 13.0, 11.6])
    n_frames = 360
    variable = 10     # a 0.05 mag sinusoid among the comparisons
    wave = 10 ** (-0.4 * 0.05 * np.sin(np.linspace(0, 6 * np.pi, n_frames)))
    flux, err, flags, _ = simulate_field(rng, mags, n_frames=n_frames, signals={variable: wave})
    comparisons = np.arange(1, 11)
    weights, dropped = ensemble_weights(flux, err, comparisons)
    assert dropped.tolist() == [False] * 9 + [True]
    assert weights[-1] == 0 and weights.sum() == pytest.approx(1.0)
    # Each constant star weighted by its own scatter: the brightest weighs most, the faintest least.
    assert np.argmax(weights) == 0 and np.argmin(weights[:-1]) == 8
    curve = differential_light_curve(flux, err, target=0, comparisons=comparisons, weights=weights)
    expected = np.median(curve.rel_flux_err)
    # The constant target recovered to its noise; with the variable weighted by its errors it is not.
    assert robust_sigma(curve.rel_flux) < 1.1 * expected
    assert np.std(curve.rel_flux) < 1.15 * expected
    naive = 1 / np.nanmedian(err[:, comparisons] / flux[:, comparisons], axis=0) ** 2
    spoilt = differential_light_curve(flux, err, target=0, comparisons=comparisons, weights=naive / naive.sum())
    assert np.std(spoilt.rel_flux) > 1.5 * expected


def test_differential_curve_removes_transparency_changes_of_20_percent():
    rng = np.random.default_rng(4)
    mags = np.r_[12.0, np.linspace(11.0, 13.0, 12)]
    flux, err, flags, clouds = simulate_field(rng, mags, transparency=0.2)
    assert np.ptp(clouds) > 0.3
    comparisons = choose_comparisons(flux, err, flags, target=0)
    weights, dropped = ensemble_weights(flux, err, comparisons)
    assert not dropped.any()
    curve = differential_light_curve(flux, err, target=0, comparisons=comparisons, weights=weights)
    assert list(curve.columns) == ["rel_flux", "rel_flux_err", "mag", "mag_err"]
    assert len(curve) == flux.shape[0] and np.nanmedian(curve.rel_flux) == pytest.approx(1.0)
    assert np.std(curve.rel_flux) < 1.1 * np.median(curve.rel_flux_err)
    assert abs(np.corrcoef(curve.rel_flux, clouds)[0, 1]) < 0.15
    assert np.allclose(curve.mag_err, 2.5 / np.log(10) * curve.rel_flux_err / curve.rel_flux)
    assert curve.attrs["comparisons"] == comparisons.tolist()


def test_unmeasured_frames_give_nan_and_a_partial_ensemble_still_counts():
    rng = np.random.default_rng(5)
    flux, err, _, _ = simulate_field(rng, [12.0, 11.5, 12.0, 12.5], n_frames=40)
    flux[3, 0] = np.nan           # target unmeasured
    flux[5, 1:] = np.nan          # whole ensemble unmeasured
    flux[7, 1] = np.nan           # one comparison unmeasured
    comparisons = [1, 2, 3]
    weights, _ = ensemble_weights(flux, err, comparisons)
    curve_value, curve_err = ensemble_curve(flux, err, comparisons=comparisons, weights=weights)
    assert np.isnan(curve_value[5]) and np.isnan(curve_err[5]) and np.isfinite(curve_value[7])
    curve = differential_light_curve(flux, err, target=0, comparisons=comparisons, weights=weights)
    assert curve.loc[[3, 5]].isna().all().all()
    assert curve.drop(index=[3, 5]).notna().all().all()
    assert abs(curve.rel_flux[7] - 1) < 5 * curve.rel_flux_err[7]


def test_a_single_comparison_gets_all_the_weight():
    rng = np.random.default_rng(6)
    flux, err, _, _ = simulate_field(rng, [12.0, 11.5], n_frames=30)
    weights, dropped = ensemble_weights(flux, err, [1])
    assert weights.tolist() == [1.0] and not dropped.any()
    with pytest.raises(ValueError, match="no comparison"):
        ensemble_weights(flux, err, [])


def test_detrend_recovers_airmass_and_time_coefficients():
    rng = np.random.default_rng(7)
    n = 300
    time = np.linspace(0, 0.25, n)
    airmass = 1.0 / np.cos(np.radians(np.linspace(30, 65, n)))
    noise = 0.002
    mag = 0.08 * (airmass - airmass.mean()) - 0.2 * (time - time.mean()) + noise * rng.standard_normal(n)
    rel, rel_err = 10 ** (-0.4 * mag), np.full(n, noise / 1.0857)
    rel[10] = np.nan
    detrended, coefficients = detrend(rel, rel_err, {"airmass": airmass, "time": time})
    assert coefficients["airmass"] == pytest.approx(0.08, abs=0.01)
    assert coefficients["time"] == pytest.approx(-0.2, abs=0.05)
    assert np.isnan(detrended[10])
    assert np.nanstd(-2.5 * np.log10(detrended)) < 1.1 * noise
    # Fitting outside a dip keeps the dip: its depth survives the detrending.
    dip = (time > 0.1) & (time < 0.15)
    rel_dip = np.where(dip, 0.99, 1.0) * rel
    kept, _ = detrend(rel_dip, rel_err, {"airmass": airmass, "time": time}, fit_mask=~dip)
    assert 1 - np.nanmean(kept[dip]) / np.nanmean(kept[~dip]) == pytest.approx(0.01, abs=0.001)
    unchanged, only_constant = detrend(rel, rel_err, {})
    assert np.allclose(unchanged, rel, equal_nan=True) and list(only_constant) == ["constant"]
    with pytest.raises(ValueError, match="cannot fit"):
        detrend(rel[:3], rel_err[:3], {"airmass": airmass[:3]})
