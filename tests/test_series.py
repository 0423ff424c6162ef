"""The per-frame photometry as a time series (stackphot.lightcurve.series and curves): the accepted frames, the
matrices, the targets found in the catalog, the blends, and what a light curve is made of."""

import numpy as np
import pandas as pd
import pytest
from astropy.wcs import WCS

from stackphot.lightcurve import (Matrices, TargetError, accepted_photometry, band_magnitudes, best_light_curve,
                                  colour_alike, crowding, find_target, frame_annulus, least_crowded, light_curve_column,
                                  light_curve_columns, star_colours, star_matrix, target_light_curve)
from stackphot.photometry import NEIGHBOUR, SATURATED

CATALOG = pd.DataFrame({"id": [1, 2, 3, 4], "x": [10.0, 50.0, 52.0, 90.0], "y": [10.0, 50.0, 50.0, 20.0],
                        "flux": [1e5, 5e4, 5e4, 1e3], "fwhm": [3.0] * 4})


def long_table(frames, ids, flux):
    """A long table, a row per frame and star, from a matrix ``flux[frame, star]``."""
    return pd.DataFrame({"frame": np.repeat(frames, len(ids)), "id": np.tile(ids, len(frames)),
                         "flux_r4": flux.ravel(), "flux_err_r4": np.sqrt(np.abs(flux.ravel())) + 1.0,
                         "flags": np.zeros(flux.size, int)})


def test_only_accepted_frames_enter_the_series_in_the_selections_order():
    batches = [long_table(["f2", "f1"], [1, 2], np.ones((2, 2))), long_table(["f3"], [1, 2], np.ones((1, 2)))]
    selection = pd.DataFrame({"frame": ["f1", "f2", "f3"], "accepted": [True, False, True]})
    series = accepted_photometry(batches, selection)
    assert list(series["frame"]) == ["f1", "f1", "f3", "f3"] and list(series["id"]) == [1, 2, 1, 2]


def test_a_star_not_measured_in_a_frame_is_nan_and_flagged_there():
    table = long_table(["a", "b"], [1, 2], np.array([[1.0, 2.0], [3.0, 4.0]])).iloc[:3]
    assert np.array_equal(star_matrix(table, "flux_r4", ["a", "b"], [1, 2]), [[1, 2], [3, np.nan]], equal_nan=True)
    assert star_matrix(table, "flags", ["a", "b"], [1, 2]).tolist() == [[0, 0], [0, -1]]


@pytest.mark.parametrize(("target", "expected"), [({"name": "t", "id": 3}, 3), ({"name": "t", "x": 51.2, "y": 49.1}, 3),
                                                  ({"name": "t", "x": 49.0, "y": 50.5}, 2)])
def test_a_target_is_the_catalog_source_it_names_or_the_nearest_to_its_position(target, expected):
    assert find_target(CATALOG, target, match_radius=3.0) == expected


def test_a_target_by_sky_position_goes_through_the_stacks_wcs():
    wcs = WCS(naxis=2)
    wcs.wcs.ctype, wcs.wcs.crval, wcs.wcs.crpix = ["RA---TAN", "DEC--TAN"], [150.0, 2.0], [51.0, 51.0]
    wcs.wcs.cdelt = [-1 / 3600, 1 / 3600]
    ra, dec = wcs.all_pix2world(90.0, 20.0, 0)
    assert find_target(CATALOG, {"name": "t", "ra": float(ra), "dec": float(dec)}, match_radius=1.0, wcs=wcs) == 4


@pytest.mark.parametrize(("target", "message"), [
    ({"name": "far", "x": 30.0, "y": 30.0}, "no catalog source within 3 px"),
    ({"name": "gone", "id": 99}, "id 99 is not in the catalog"),
    ({"name": "sky", "ra": 150.0, "dec": 2.0}, "has no celestial WCS"),
    ({"name": "nowhere"}, "give x and y, ra and dec, or id"),
])
def test_a_target_that_is_not_there_is_named_with_the_fix(target, message):
    with pytest.raises(TargetError, match=message):
        find_target(CATALOG, target, match_radius=3.0)


def test_close_pairs_are_blends_and_a_lone_star_is_not():
    shares = crowding(CATALOG, radius=4.0, fwhm=3.0)
    # Stars 2 and 3 lie 2 px apart, inside each other's apertures: each holds all of the other's light.
    assert shares[1] == pytest.approx(1.0, rel=0.05) and shares[2] == pytest.approx(1.0, rel=0.05)
    assert shares[0] < 1e-3 and shares[3] < 1e-2


def test_crowding_of_many_stars_in_row_blocks_is_the_whole_matrix_s():
    """More stars than a block of rows: the same shares as the stars x stars matrix at once."""
    from stackphot.lightcurve.series import CROWDING_BETA, CROWDING_ROWS
    from stackphot.numerics import moffat_alpha

    rng = np.random.default_rng(3)
    n = 2 * CROWDING_ROWS + 77
    catalog = pd.DataFrame({"x": rng.uniform(0, 2000, n), "y": rng.uniform(0, 2000, n),
                            "flux": np.exp(rng.uniform(5, 12, n))})
    x, y, flux = catalog.x.to_numpy(), catalog.y.to_numpy(), catalog.flux.to_numpy()
    alpha, radius = moffat_alpha(3.0, CROWDING_BETA), 4.0
    distance = np.hypot(x[:, None] - x[None, :], y[:, None] - y[None, :])
    np.fill_diagonal(distance, np.inf)
    tail = (1 + (np.clip(distance - radius, 0, None) / alpha) ** 2) ** (1 - CROWDING_BETA)
    tail -= (1 + ((distance + radius) / alpha) ** 2) ** (1 - CROWDING_BETA)
    share = np.where(distance <= radius, 1.0, tail * radius / (4 * distance))
    expected = (share * flux[None, :]).sum(axis=1) / flux
    np.testing.assert_allclose(crowding(catalog, radius=radius, fwhm=3.0), expected, rtol=1e-12)


def test_a_crowded_field_falls_back_to_its_least_crowded_stars():
    shares = np.array([1e-4, 5e-2, 2e-2, 3e-1, 1e-2])
    allowed = np.array([True, True, True, True, False])
    assert least_crowded(shares, allowed, minimum=1).tolist() == [True, False, False, False, False]
    assert least_crowded(shares, allowed, minimum=3).tolist() == [True, True, True, False, False]


def test_the_annulus_moves_out_of_an_aperture_that_the_seeing_grew():
    assert frame_annulus((12.0, 18.0), 9.0) == (12.0, 18.0)
    assert frame_annulus((12.0, 18.0), 14.0) == (17.5, 23.5)


def test_the_light_curves_take_the_first_fixed_radius_or_the_first_seeing_scaled_one():
    table = pd.DataFrame({"flux_r4": [1.0], "flux_r6": [1.0], "flux_f1.5": [1.0]})
    assert light_curve_column({"radii": [4.0, 6.0], "fwhm_radii": [1.5]}, table) == "flux_r4"
    options = {"radii": [4.0, 6.0], "fwhm_radii": [1.5], "use_fwhm_radius": True}
    assert light_curve_column(options, table) == "flux_f1.5"
    assert light_curve_column(options, table.assign(**{"flux_f1.5": [np.nan]})) == "flux_r4"


def test_every_measured_aperture_is_a_candidate_where_one_is_to_be_chosen():
    table = pd.DataFrame({"frame": ["a", "a", "b", "b"], "flux_r4": 1.0, "flux_r6": 1.0, "flux_f1.5": 1.0,
                          "flux_f2.5": [1.0, 1.0, np.nan, np.nan]})
    options = {"radii": [4.0, 6.0], "fwhm_radii": [1.5, 2.5], "choose_aperture": True}
    # flux_f2.5 lacks frame b (no FWHM there): the curve would lose it.
    assert light_curve_columns(options, table) == ["flux_r4", "flux_r6", "flux_f1.5"]
    assert light_curve_columns({**options, "choose_aperture": False}, table) == ["flux_r4"]


def two_aperture_night(noise_r4, noise_r6, *, noisy_target_in=None, seed=8):
    """40 steady stars under passing clouds measured through two apertures, each with its own fractional noise per
    star and frame (the small one's seeing losses, the large one's sky), the target (id 1) with a 1% transit and,
    in the aperture ``noisy_target_in``, 5% more noise of its own (a neighbour's light, say)."""
    rng = np.random.default_rng(seed)
    n_frames, ids = 150, list(range(1, 41))
    clouds = 1 + 0.2 * np.sin(np.linspace(0, 9, n_frames))
    signal = np.ones((n_frames, len(ids)))
    signal[50:100, 0] = 0.99
    flux = 1e5 * rng.uniform(0.7, 1.4, len(ids)) * signal * clouds[:, None]
    frames = pd.DataFrame({"frame": [f"f{index:03d}" for index in range(n_frames)],
                           "bjd_tdb": 2460000.5 + np.arange(n_frames) / 720, "airmass": 1.0 + clouds / 10})
    table = long_table(frames["frame"], ids, flux).drop(columns=["flux_r4", "flux_err_r4"])
    for column, noise in (("r4", noise_r4), ("r6", noise_r6)):
        scatter = np.full(flux.shape, noise)
        scatter[:, 0] = np.hypot(noise, 0.05 if f"flux_{column}" == noisy_target_in else 0.0)
        table[f"flux_{column}"] = (flux * (1 + rng.normal(0, scatter))).ravel()
        table[f"flux_err_{column}"] = (flux * noise).ravel()
    catalog = pd.DataFrame({"id": ids, "x": 30.0 * np.arange(len(ids)), "y": 0.0, "flux": 1e5, "fwhm": 3.0})
    return table, frames.assign(fwhm=3.0), catalog, ids


@pytest.mark.parametrize(("noise_r4", "noise_r6", "chosen"), [(0.01, 0.003, "flux_r6"), (0.002, 0.006, "flux_r4")])
def test_the_light_curve_takes_the_aperture_whose_comparisons_scatter_least(noise_r4, noise_r6, chosen):
    # The target scatters more in the chosen aperture than in the other: the choice is the comparisons', not its.
    table, frames, catalog, ids = two_aperture_night(noise_r4, noise_r6, noisy_target_in=chosen)
    matrices, curve, made = best_light_curve(table, frames, catalog, columns=["flux_r4", "flux_r6"], target=1,
                                             usable=np.ones(len(ids), bool), max_comparisons=20)
    assert made["flux_column"] == chosen and matrices.flux[0, 0] == table[chosen].iloc[0]
    # A comparison against the other 19 (one is the check star) scatters by its own noise and theirs.
    noise = min(noise_r4, noise_r6)
    assert made["comparison_scatter"][chosen] == pytest.approx(noise * np.sqrt(1 + 1 / 18), rel=0.15)
    assert made["comparison_scatter"][chosen] < 0.6 * max(made["comparison_scatter"].values())
    depth = 1 - curve["rel_flux"][50:100].mean() / np.r_[curve["rel_flux"][:50], curve["rel_flux"][100:]].mean()
    assert depth == pytest.approx(0.01, abs=4 * np.hypot(noise, 0.05) / np.sqrt(50))


@pytest.mark.parametrize("understated", [1.0, 2.0])
def test_errors_the_ensemble_shows_too_small_are_scaled_until_the_check_star_is_flat_within_them(understated):
    table, frames, catalog, ids = two_aperture_night(0.004, 0.004)
    table["flux_err_r4"] /= understated
    _, curve, made = best_light_curve(table, frames, catalog, columns=["flux_r4"], target=1,
                                      usable=np.ones(len(ids), bool), max_comparisons=20)
    assert made["error_scale"] == pytest.approx(understated, rel=0.1)
    level = curve["check_rel_flux"].median()
    chi2 = (((curve["check_rel_flux"] / level - 1) / (curve["check_rel_flux_err"] / level)) ** 2).mean()
    assert chi2 == pytest.approx(1.0, abs=0.3)


def test_a_transit_under_clouds_is_recovered_against_steady_comparisons_and_a_variable_is_left_out():
    rng = np.random.default_rng(4)
    n_frames, ids = 120, list(range(1, 9))
    clouds = 1 + 0.2 * np.sin(np.linspace(0, 9, n_frames))
    level = np.array([2e5, 2.2e5, 1.8e5, 2.5e5, 1.5e5, 2e5, 1.9e5, 2.1e5])
    signal = np.ones((n_frames, len(ids)))
    signal[40:80, 0] = 0.99  # the target's 1% transit
    signal[:, 1] = 1 + 0.05 * np.sin(np.linspace(0, 30, n_frames))  # a variable among the candidates
    flux = level * signal * clouds[:, None]
    flux += rng.normal(0, np.sqrt(flux))
    frames = pd.DataFrame({"frame": [f"f{index:03d}" for index in range(n_frames)],
                           "bjd_tdb": 2460000.5 + np.arange(n_frames) / 720, "airmass": 1.0 + clouds / 10})
    matrices = Matrices.of(long_table(frames["frame"], ids, flux), "flux_r4", frames["frame"])
    variable = np.array([star == 2 for star in ids])
    curve, made = target_light_curve(matrices, frames, target=1, usable=np.ones(len(ids), bool),
                                     crowding=np.zeros(len(ids)), variable=variable)
    assert 2 not in made["comparison_ids"] and made["check_id"] not in made["comparison_ids"] + [1]
    depth = 1 - curve["rel_flux"][40:80].mean() / np.r_[curve["rel_flux"][:40], curve["rel_flux"][80:]].mean()
    assert depth == pytest.approx(0.01, abs=0.001)
    assert curve["check_rel_flux"].std() < 2 * curve["check_rel_flux_err"].median()


def reddened_night(colours, levels, *, seed=5):
    """Frames from airmass 1 to 2.5 whose extinction depends on colour (second order: 0.05 mag per airmass per
    magnitude of colour index), for stars of ``colours`` and ``levels``; the target is the first star."""
    rng = np.random.default_rng(seed)
    n_frames, ids = 100, list(range(1, len(colours) + 1))
    airmass = np.linspace(1.0, 2.5, n_frames)
    flux = levels * 10 ** (-0.4 * (0.15 + 0.05 * np.asarray(colours)[None, :]) * airmass[:, None])
    flux += rng.normal(0, np.sqrt(flux))
    frames = pd.DataFrame({"frame": [f"f{index:03d}" for index in range(n_frames)],
                           "bjd_tdb": 2460000.5 + np.arange(n_frames) / 720, "airmass": airmass})
    return Matrices.of(long_table(frames["frame"], ids, flux), "flux_r4", frames["frame"]), frames


def test_comparisons_of_the_targets_colour_leave_no_colour_extinction_trend():
    # The target is red (1.0); 25 stars of its colour, and 25 blue ones (0.0) twice as bright, which the
    # brightest-first choice would take without the colours.
    colours = np.r_[1.0, np.linspace(0.9, 1.1, 25), np.zeros(25)]
    levels = np.r_[2e6, np.full(25, 2e6), np.full(25, 4e6)]
    matrices, frames = reddened_night(colours, levels)
    everyone = dict(usable=np.ones(len(colours), bool), crowding=np.zeros(len(colours)))
    slopes = {}
    for known, colour in (("colours", colours), ("none", None)):
        curve, made = target_light_curve(matrices, frames, target=1, colour=colour, **everyone)
        slopes[known] = np.polyfit(frames["airmass"], curve["mag"], 1)[0]
        chosen = colours[np.array(made["comparison_ids"]) - 1]
        if known == "colours":
            assert np.abs(chosen - 1.0).max() <= 0.1 and made["comparison_colour_range"] == 0.25
        else:
            assert np.all(chosen == 0.0) and "comparison_colour_range" not in made
    print(f"target's slope, mag per airmass: {slopes['colours']:+.4f} against comparisons of its colour, "
          f"{slopes['none']:+.4f} against the brightest (blue)")
    assert abs(slopes["colours"]) < 0.003  # mag per airmass, the noise's
    assert slopes["none"] == pytest.approx(0.05, abs=0.005)  # the colour difference's extinction, as made


def test_the_colour_range_widens_until_enough_comparisons_and_unknown_colours_narrow_nothing():
    colours = np.r_[1.0, 0.9, 1.05, 0.5, 0.1, np.nan, -1.5]
    allowed = np.ones(len(colours), bool)
    alike, limit = colour_alike(colours, 0, allowed, minimum=2)
    assert limit == 0.25 and list(np.flatnonzero(alike)) == [0, 1, 2]
    alike, limit = colour_alike(colours, 0, allowed, minimum=3)
    assert limit == 0.5 and list(np.flatnonzero(alike)) == [0, 1, 2, 3]
    alike, limit = colour_alike(colours, 0, allowed, minimum=4)
    assert limit == 1.0 and list(np.flatnonzero(alike)) == [0, 1, 2, 3, 4]
    # Not even at 2 mag: the colours cannot narrow the choice, everyone allowed stays so.
    assert colour_alike(colours, 0, allowed, minimum=6) == (pytest.approx(allowed), np.inf)
    assert colour_alike(colours, 5, allowed, minimum=1)[1] == np.inf


def test_colours_from_one_catalogs_planes_or_another_groups_catalog_on_the_sky():
    blue = pd.DataFrame({"id": [1, 2, 3, 4], "flux": [100.0, 100.0, -5.0, 100.0],
                         "flags": [0, NEIGHBOUR, 0, SATURATED]})
    red = pd.DataFrame({"id": [1, 2, 3, 4], "flux": [1000.0, 10.0, 100.0, 100.0], "flags": [0, 0, 0, 0]})
    colour = star_colours(band_magnitudes(blue), band_magnitudes(red), [4, 2, 1, 3])
    assert np.isnan(colour[0]) and np.isnan(colour[3])  # saturated in blue; no positive flux in blue
    assert colour[1:3] == pytest.approx([-2.5, 2.5])
    # Another group's stack has its own ids: matched on the sky, a star 1 arcsec off is the same, 5 arcsec not.
    here = pd.DataFrame({"id": [1, 2, 3], "ra": [10.0, 10.01, 10.02], "dec": [20.0, 20.0, 20.0]})
    there = pd.DataFrame({"id": [7, 8, 9], "ra": [10.02, 10.01 + 1 / 3600, 10.0 + 5 / 3600], "dec": [20.0] * 3})
    other = band_magnitudes(pd.DataFrame({"id": [7, 8, 9], "flux": [10.0, 100.0, 1000.0], "flags": [0, 0, 0]}))
    first = band_magnitudes(pd.DataFrame({"id": [1, 2, 3], "flux": [100.0] * 3, "flags": [0, 0, 0]}))
    colour = star_colours(first, other, [1, 2, 3], catalog=here, second_catalog=there, radius_arcsec=2.0)
    assert np.isnan(colour[0]) and colour[1:] == pytest.approx([0.0, -2.5])


def test_a_frame_only_the_larger_aperture_flags_stays_in_the_smaller_apertures_curve():
    frames = ["a", "b", "c"]
    table = long_table(frames, [1, 2], np.array([[1e4, 2e4], [1.1e4, 2e4], [1.2e4, 2e4]]))
    table["flux_r9"], table["flux_err_r9"] = 1.2 * table["flux_r4"], 1.5 * table["flux_err_r4"]
    # Star 1 has a neighbour (the star's, in every aperture); in frame b a saturated pixel reaches its 9 px only.
    table["flags_r4"] = np.where(table["id"] == 1, NEIGHBOUR, 0)
    table["flags_r9"] = table["flags_r4"] | np.where((table["id"] == 1) & (table["frame"] == "b"), SATURATED, 0)
    table["flags"] = table["flags_r9"]
    table = table.iloc[:-1]  # star 2 not measured in frame c
    small, large = (Matrices.of(table, column, frames) for column in ("flux_r4", "flux_r9"))
    assert small.clean[:, 0].tolist() == [1e4, 1.1e4, 1.2e4] and small.flags[:, 0].tolist() == [0, 0, 0]
    assert np.isnan(large.clean[1, 0]) and large.flags[:, 0].tolist() == [0, SATURATED, 0]
    assert small.flags[:, 1].tolist() == large.flags[:, 1].tolist() == [0, 0, -1] and np.isnan(small.clean[2, 1])
    # A table of before the apertures' own flags: the largest aperture's for every column.
    older = Matrices.of(table.drop(columns=["flags_r4", "flags_r9"]), "flux_r4", frames)
    assert np.isnan(older.clean[1, 0]) and older.flags[:, 0].tolist() == [0, SATURATED, 0]


def test_usable_stars_leave_out_flagged_and_residual_pass_sources():
    """A star flagged in the stack (saturated, at the edge) does not compare; a neighbour's flags alone do not
    stop it; a source the residual pass found (in a brighter star's wings) does not compare either."""
    from stackphot.lightcurve import usable_stars
    from stackphot.photometry import CROWDED_SKY

    stack = pd.DataFrame({"id": [1, 2, 3, 4, 5], "flags": [0, SATURATED, NEIGHBOUR | CROWDED_SKY, 0, 0]})
    catalog = pd.DataFrame({"id": [1, 2, 3, 4, 5], "residual": [False, False, False, True, False]})
    assert usable_stars(stack, [5, 4, 3, 2, 1, 6], catalog).tolist() == [True, False, True, False, True, False]
