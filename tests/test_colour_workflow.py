"""A simulated colour (Bayer) night through the workflow: colour stacks whose stars lie on one another and
whose fluxes are the stars' own colours, against the simulator's truth."""

import numpy as np
import pandas as pd
import pytest
import yaml
from astropy.io import fits
from astropy.table import Table
from scipy.spatial import cKDTree

from workflow_helpers import run_snakemake

SIMULATION = {
    "shape": [512, 640], "n_frames": 4, "seed": 29, "bayer_pattern": "GRBG", "n_cluster_stars": 0,
    "n_field_stars": 170, "flux_range": [2.0e4, 3.0e6], "flux_slope": 0.6, "fwhm_range": [5.0, 6.0],
    "max_offset": 9.0, "cosmic_rays_per_frame": 1.0, "sky": 300.0,
}
CHANNEL_TRUTH = {"R": "flux_r", "G": "flux_g", "B": "flux_b"}


def true_colour(truth):
    """The stars' true colour index B - R."""
    return -2.5 * np.log10(truth.flux_b / truth.flux_r)


def light_curve_target(truth):
    """A bright star of middling colour, on the superpixel grid of the reference frame."""
    bright = truth[truth.flux_g > 3e5]
    star = bright.iloc[np.argsort(np.abs(true_colour(bright) - true_colour(truth).median()))[0]]
    return {"name": "star", "x": float((star.x - 0.5) / 2), "y": float((star.y - 0.5) / 2)}


@pytest.fixture(scope="module")
def colour_run(tmp_path_factory):
    work = tmp_path_factory.mktemp("colour")
    (work / "sim.yaml").write_text(yaml.safe_dump(SIMULATION))
    run_snakemake(work, {"datasets": {"colour": {"simulate": "sim.yaml"}}}, "simulate")
    truth = pd.read_csv(work / "data" / "colour" / "truth_stars.csv")
    # A neighbour beyond 12 px (6 FWHM) puts under 0.1% of its light into a 9 px aperture.
    run_snakemake(work, {"datasets": {"colour": {"simulate": "sim.yaml"}}, "photometry": {"neighbour_radius": 12.0},
                         "lightcurve": {"targets": [light_curve_target(truth)]}, "run": {"batch_size": 4}},
                  "colour", "stack", "photometry", "lightcurve", "results/colour/plots/colour.png")
    return work / "results" / "colour", truth


def measured_against_truth(results, truth, channel):
    """The channel's photometry of the unflagged sources matched (0.5 px) to true stars on the superpixel grid
    that no other true star brighter than a thousandth of them comes within 12 px of (the catalog cannot
    separate what the finder does not see), with the true stars' fluxes of every colour."""
    table = pd.read_csv(results / "channels" / f"photometry.{channel}.csv")
    table = table[table["flags"] == 0]
    # Superpixel (i, j) is centred on mosaic pixel (2i + 0.5, 2j + 0.5): the reference frame's truth moved there.
    positions = np.column_stack([(truth.x - 0.5) / 2, (truth.y - 0.5) / 2])
    tree = cKDTree(positions)
    crowded = np.zeros(len(truth), bool)
    for one, other in tree.query_pairs(12.0, output_type="ndarray"):
        crowded[one] |= truth.flux_g[other] > 1e-3 * truth.flux_g[one]
        crowded[other] |= truth.flux_g[one] > 1e-3 * truth.flux_g[other]
    distance, index = tree.query(np.column_stack([table.x, table.y]))
    keep = (distance < 0.5) & ~crowded[index]
    return pd.concat([table[keep].reset_index(drop=True),
                      truth.iloc[index[keep]][list(CHANNEL_TRUTH.values())].reset_index(drop=True)], axis=1)


def test_the_colour_stack_has_three_planes_and_no_mosaic_left(colour_run):
    results, _ = colour_run
    with fits.open(results / "stack_rgb.fits") as hdul:
        assert hdul[0].data.shape == hdul["ERR"].data.shape == hdul["COVERAGE"].data.shape == (3, 256, 320)
        assert hdul[0].header["PLANES"] == "R,G,B" and hdul[0].header["NCOMBINE"] == 4
        assert int(hdul["COVERAGE"].data.max()) == 4
    for image in ("stack.fits", "stack_rgb.fits", "channels/stack.G.fits"):
        assert "BAYERPAT" not in fits.getheader(results / image), image
    assert (results / "plots" / "colour.png").stat().st_size > 10_000


def test_the_colours_of_each_star_lie_on_one_another(colour_run):
    results, _ = colour_run
    table = pd.read_csv(results / "colour_alignment.csv")
    header = fits.getheader(results / "stack_rgb.fits")
    for channel in ("R", "B"):
        offsets = table[[f"dx_{channel}", f"dy_{channel}"]].dropna()
        assert len(offsets) >= 20
        median = offsets.median().to_numpy()
        print(f"{channel} from G: median {median.round(4)} px over {len(offsets)} stars")
        assert np.abs(median).max() < 0.02
        assert [header[f"COLDX_{channel}"], header[f"COLDY_{channel}"]] == pytest.approx(median, abs=1e-4)


def test_each_channel_holds_a_quarter_of_the_stars_light_through_its_filter(colour_run):
    results, truth = colour_run
    for channel, column in CHANNEL_TRUTH.items():
        matched = measured_against_truth(results, truth, channel)
        bright = matched[matched.flux_r9 > 20 * matched.flux_err_r9]
        ratio = bright.flux_r9 / (bright[column] / 4)
        print(f"{channel}: {len(bright)} stars, flux at 9 px / (true / 4): median {ratio.median():.4f}")
        assert len(bright) >= 25
        # The 9 px aperture (18 mosaic pixels) holds all but about 0.7% of a Moffat star of FWHM 5.5 px, beta 3
        # (and the simulator leaves out up to 0.5% of the farthest wings).
        assert 0.98 < ratio.median() < 1.01


def test_the_stars_colours_are_recovered_within_their_errors(colour_run):
    results, truth = colour_run
    tables = {channel: measured_against_truth(results, truth, channel).set_index("id") for channel in CHANNEL_TRUTH}
    for channel in ("R", "B"):
        both = tables[channel].join(tables["G"].add_suffix("_G"), how="inner")
        both = both[both.flux_r9_G > 20 * both.flux_err_r9_G]
        measured = both.flux_r9 / both.flux_r9_G
        error = measured * np.hypot(both.flux_err_r9 / both.flux_r9, both.flux_err_r9_G / both.flux_r9_G)
        pulls = (measured - both[CHANNEL_TRUTH[channel]] / both.flux_g) / error
        robust_sigma = 1.4826 * (pulls - pulls.median()).abs().median()
        outliers = int((pulls.abs() > 4).sum())
        print(f"{channel}/G of {len(both)} stars: pulls median {pulls.median():+.2f}, robust sigma "
              f"{robust_sigma:.2f}, {outliers} beyond 4 sigma")
        assert len(both) >= 25
        # A few stars keep a residue of a cosmic ray or a star the finder did not see: the bulk must be right.
        assert abs(pulls.median()) < 0.5 and 0.7 < robust_sigma < 1.3 and outliers <= 0.1 * len(both)


def test_a_light_curves_comparisons_have_the_targets_colour(colour_run):
    results, truth = colour_run
    meta = Table.read(results / "lightcurves" / "star.ecsv", format="ascii.ecsv").meta
    ids = [meta["target_id"], *meta["comparison_ids"]]
    blue, red = (pd.read_csv(results / "channels" / f"photometry.{plane}.csv").set_index("id") for plane in "BR")
    # The colour of the light in each aperture, a neighbour's included: the light the air reddens.
    measured = -2.5 * np.log10(blue.loc[ids, "flux"] / red.loc[ids, "flux"]).to_numpy()
    positions = np.column_stack([(truth.x - 0.5) / 2, (truth.y - 0.5) / 2])
    tree = cKDTree(positions)
    _, nearest = tree.query(blue.loc[ids, ["x", "y"]].to_numpy())
    # A star keeps its true colour within 0.1 mag where no other star of 5% of its light lies within 12 px
    # (6 FWHM): no star differs in colour by over 2 mag.
    isolated = np.array([all(truth.flux_g[other] < 0.05 * truth.flux_g[star]
                             for other in tree.query_ball_point(positions[star], 12.0) if other != star)
                         for star in nearest])
    colours = true_colour(truth).to_numpy()[nearest]
    limit = meta["comparison_colour_range"]
    print(f"target B - R {measured[0]:.3f} (true {colours[0]:.3f}); {len(ids) - 1} comparisons "
          f"{np.round(measured[1:], 3)} (true, isolated {np.round(colours[1:][isolated[1:]], 3)}), range {limit}")
    assert meta["colour_index"] == "B - R" and limit == 0.25
    assert np.abs(measured[1:] - measured[0]).max() <= limit
    assert isolated[1:].sum() >= 2 and np.abs(colours[1:][isolated[1:]] - colours[0]).max() <= limit + 0.1
