"""A simulated night of time-series photometry through the workflow, against the simulator's truth: clouds of
±20%, seeing of 2.5 to 5 px, drift and turning, a 1% transit of 2 h and a 0.05 mag sinusoidal variable."""

import numpy as np
import pandas as pd
import pytest
import yaml
from astropy.table import Table
from astropy.time import Time

from stackphot.lightcurve import fit_transit, period_search
from stackphot.simulate import SimulationConfig, simulate_frame_set
from test_simulate_timeseries import TIME_SERIES as SIMULATOR_SERIES
from workflow_helpers import run_snakemake

# The simulator's time series on a field of the density of an exoplanet's (aperture photometry's, not a
# cluster's), 120 stars over 384 x 384 px, as bright as a transit survey's targets and comparisons, with a
# camera of 8 e-/ADU under a dark sky: the variables collect over a million electrons a frame, so that the 1%
# transit's depth is measured to about 3% of itself.
TIME_SERIES = {**SIMULATOR_SERIES, "shape": (384, 384), "n_field_stars": 120, "gain": 8.0, "sky": 200.0,
               "flux_range": (1.5e5, 4.0e5)}


@pytest.fixture(scope="module")
def night(tmp_path_factory):
    work = tmp_path_factory.mktemp("timeseries")
    spec = {key: list(value) if isinstance(value, tuple) else value for key, value in TIME_SERIES.items()}
    (work / "sim.yaml").write_text(yaml.safe_dump(spec))
    truth = simulate_frame_set(SimulationConfig.from_mapping(spec))
    variables = truth.stars[truth.stars["variable"].astype(str).isin(["transit", "sine"])].set_index("variable")
    targets = [{"name": kind, "x": float(variables.loc[kind, "x"]), "y": float(variables.loc[kind, "y"])}
               for kind in ("transit", "sine")]
    config = {"datasets": {"series": {"simulate": "sim.yaml"}},
              # The light curves' aperture (1.5 FWHM) and one fixed, where the default measures five.
              "lightcurve": {"targets": targets, "use_fwhm_radius": True, "radii": [6.0], "fwhm_radii": [1.5]},
              "observatory": {"latitude": 28.3, "longitude": -16.51, "elevation": 2390.0},
              "run": {"batch_size": 30}}  # two jobs per per-frame stage: the same products, fewer Python starts
    run_snakemake(work, config, "lightcurve")
    return work / "results" / "series", truth


def curve_of(results, name):
    table = Table.read(results / "lightcurves" / f"{name}.ecsv", format="ascii.ecsv")
    return table.to_pandas(), table.meta


def test_every_accepted_frame_has_a_point_with_its_bjd(night):
    results, truth = night
    curve, meta = curve_of(results, "transit")
    assert len(curve) == TIME_SERIES["n_frames"]
    assert {"frame", "bjd_tdb", "rel_flux", "rel_flux_err", "mag", "mag_err", "airmass"} <= set(curve.columns)
    assert np.isfinite(curve["airmass"]).all() and (curve["airmass"] >= 1).all()
    jd = Time(pd.to_datetime(curve["mid_time"]).to_numpy(), scale="utc").jd
    # BJD minus JD: the light travel time to the barycentre (at most 8.3 min) and TDB - UTC (69.184 s in 2024).
    assert np.all(np.abs((curve["bjd_tdb"] - jd) * 86400 - 69.184) < 500)
    assert meta["target_id"] and len(meta["comparison_ids"]) >= 5
    # Timed for the star itself, through the stack's WCS, not for the field's centre as the series is.
    star = pd.read_csv(results / "catalog.csv").set_index("id").loc[meta["target_id"]]
    assert meta["target_source"] == "the target's pixel position through the stack's WCS"
    assert (meta["target"]["ra"], meta["target"]["dec"]) == pytest.approx((star["ra"], star["dec"]), abs=1e-9)


def test_the_transit_is_recovered(night):
    results, truth = night
    curve, meta = curve_of(results, "transit")
    fit = fit_transit(curve["bjd_tdb"].to_numpy(), curve["rel_flux"].to_numpy(), curve["rel_flux_err"].to_numpy())
    # The truth's mid-time is UTC: as a BJD it gains TDB - UTC and the light travel time to the barycentre, as
    # every frame's time does.
    frames_tdb = Time(pd.to_datetime(curve["mid_time"]).to_numpy(), scale="utc").tdb.jd
    true_mid = (Time(TIME_SERIES["variables"][0]["mid_time"], scale="utc").tdb.jd
                + float(np.median(curve["bjd_tdb"] - frames_tdb)))
    offset_minutes = (fit["mid_time"] - true_mid) * 1440
    print(f"transit: depth {fit['depth']:.5f} +- {fit['depth_err']:.5f} (true 0.01), mid-time {offset_minutes:+.2f} "
          f"+- {fit['mid_time_err'] * 1440:.2f} min from the truth; per-frame scatter out of transit "
          f"{curve['rel_flux'][np.abs(curve['bjd_tdb'] - true_mid) > 0.06].std():.5f}, errors "
          f"{curve['rel_flux_err'].median():.5f} ({meta['flux_column']}, scaled by {meta['error_scale']})")
    assert fit["depth"] == pytest.approx(0.01, rel=0.05)
    assert abs(offset_minutes) < 2.0


def test_the_sinusoidal_variable_has_its_period(night):
    results, _ = night
    curve, _ = curve_of(results, "sine")
    good = np.isfinite(curve["rel_flux"])
    period, _ = period_search(curve["bjd_tdb"][good].to_numpy(), curve["mag"][good].to_numpy(),
                              curve["mag_err"][good].to_numpy(), min_period=0.02, max_period=0.2)
    true_period = TIME_SERIES["variables"][1]["period_hours"] / 24
    print(f"sine: period {period * 24:.4f} h (true {true_period * 24:.4f} h)")
    assert period == pytest.approx(true_period, rel=0.01)


def test_the_variability_search_flags_both_variables_and_few_constant_stars(night):
    results, truth = night
    table = pd.read_csv(results / "lightcurves" / "variability.csv")
    flagged = set(table.loc[table["variable"], "id"])
    ids = {kind: curve_of(results, kind)[1]["target_id"] for kind in ("transit", "sine")}
    constant = table[~table["id"].isin(ids.values()) & (table["n_good"] > 0)]
    print(f"flagged {sorted(flagged)}; the variables are {ids}; {int(constant['variable'].sum())} of "
          f"{len(constant)} constant stars flagged")
    assert set(ids.values()) <= flagged
    assert constant["variable"].sum() <= 0.01 * len(constant)


def test_the_comparison_stars_scatter_as_their_noise_predicts(night):
    results, _ = night
    table = pd.read_csv(results / "lightcurves" / "variability.csv").set_index("id")
    _, meta = curve_of(results, "transit")
    kept = [star for star in meta["comparison_ids"] if star not in meta["dropped_comparisons"]]
    ratios = table.loc[kept, "ratio"]
    print(f"comparison stars' scatter / expected noise: median {ratios.median():.3f} over {len(ratios)} stars")
    assert ratios.median() < 1.2
