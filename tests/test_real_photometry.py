"""Detection and photometry through the workflow on real single frames in ../shared/data, three datasets of
one run, each with its own settings."""

import numpy as np
import pandas as pd
import pytest
from astropy.io import fits

from conftest import SHARED_DATA
from flux_units import surface_brightness_to_flux_density
from workflow_helpers import run_snakemake

pytestmark = [pytest.mark.workflow, pytest.mark.shared]


SPITZER_CATALOG = SHARED_DATA / "spitzer" / "spitzer_example_catalog.xml"
# Each single frame with the settings its kind of image needs, as its own dataset of one run. No segmentation
# pass: these tests check the finders and the apertures, and its deblending of the Horsehead's nebula takes 36 s of
# CPU (tests/test_segmentation.py and tests/test_sep_comparison.py test it).
NO_SEGMENTATION = {"segmentation": {"enabled": False}}
SETTINGS = {
    # A plate with sharp faint stars and bloated bright ones: two passes. Not the pass on the PSF residual:
    # it adds 41 sources for 170 s of CPU, the most of this file's time (the throughput issue's to speed up).
    "horsehead": {
        "detect": {"passes": [{"finder": "dao", "fwhm": 6.0, "threshold": 5.0},
                              {"finder": "dao", "fwhm": 15.0, "threshold": 10.0}],
                   "centroid": "com", "centroid_box": 11, "residual_pass": False, **NO_SEGMENTATION},
        "photometry": {"radii": [5.0, 8.0, 12.0], "annulus": [15.0, 22.0]},
    },
    # The seed's parameters: one DAOStarFinder pass, nothing cleaned, no second pass on the PSF residual.
    "m67": {
        "background": {"method": "constant"},
        "detect": {"passes": [{"finder": "dao", "fwhm": 3.0, "threshold": 5.0}], "clean": False,
                   "residual_pass": False, **NO_SEGMENTATION},
    },
    # Sky apertures on the catalog's targets.
    "spitzer": {
        "detect": {"passes": [{"finder": "dao", "fwhm": 2.0, "threshold": 5.0}], "clean": False, **NO_SEGMENTATION},
        "photometry": {"radii": [4.0], "annulus": [6.0, 10.0],
                       "sky": {"targets_file": str(SPITZER_CATALOG), "columns": ["l", "b"], "frame": "galactic",
                               "radius_arcsec": 4.8, "annulus_arcsec": [7.2, 12.0]}},
    },
}


@pytest.fixture(scope="module")
def real_run(tmp_path_factory):
    """The three frames through one Snakemake run, each with its own settings; then what a change of one
    dataset's settings would rerun (a dry run)."""
    present = [name for name in SETTINGS if (SHARED_DATA / name).is_dir()]
    if not present:
        pytest.skip(f"real data not available: {SHARED_DATA} holds none of {', '.join(SETTINGS)}")
    work = tmp_path_factory.mktemp("real")
    config = {"datasets": {name: {"path": str(SHARED_DATA / name), "settings": SETTINGS[name]} for name in present}}
    run_snakemake(work, config)
    changed = {**config, "datasets": {**config["datasets"]}}
    changed["datasets"][present[0]] = {**config["datasets"][present[0]],
                                       "settings": {**SETTINGS[present[0]], "photometry": {"radii": [7.0]}}}
    rerun = run_snakemake(work, changed, "--dry-run", "--quiet", "rules")
    return {"results": work / "results", "present": present, "rerun": rerun.stdout}


def results_of(real_run, name):
    if name not in real_run["present"]:
        pytest.skip(f"real data not available: {SHARED_DATA / name} does not exist")
    return real_run["results"] / name


@pytest.fixture(scope="module")
def horsehead(real_run):
    return results_of(real_run, "horsehead")


def test_changing_one_dataset_s_settings_reruns_its_photometry_alone(real_run):
    print(real_run["rerun"])
    assert "measure_photometry" in real_run["rerun"]
    assert "detect_sources" not in real_run["rerun"] and "stack_frames" not in real_run["rerun"]
    # One dataset's photometry: the measuring rule runs once.
    line = next(line for line in real_run["rerun"].splitlines() if line.strip().startswith("measure_photometry"))
    assert line.split()[-1] == "1"


def test_horsehead_two_passes_merge_without_duplicates(horsehead):
    catalog = pd.read_csv(horsehead / "catalog.csv")
    found_by = catalog.found_by.astype(str)
    print(f"{len(catalog)} sources: {found_by.eq('0').sum()} faint pass only, {found_by.eq('1').sum()} bloated "
          f"pass only, {found_by.eq('0,1').sum()} both")
    assert found_by.eq("1").sum() + found_by.eq("0,1").sum() > 10  # the bloated bright stars
    xy = catalog[["x", "y"]].to_numpy()
    separation = np.hypot(*(xy[:, None, :] - xy[None, :, :]).transpose(2, 0, 1))
    np.fill_diagonal(separation, np.inf)
    assert separation.min() > 3.0
    assert {"ra", "dec"} <= set(catalog.columns)  # the plate's WCS


def test_horsehead_photometry_equals_a_direct_photutils_computation(horsehead):
    from astropy.stats import SigmaClip
    from photutils.aperture import ApertureStats, CircularAnnulus, CircularAperture, aperture_photometry

    from stackphot.background import source_mask
    from stackphot.photometry import CROWDED_SKY

    photometry = pd.read_csv(horsehead / "photometry.csv")
    image = fits.getdata(horsehead / "stack.fits").astype(float)
    positions = photometry[["x", "y"]].to_numpy()
    invalid = ~np.isfinite(image)
    # The workflow leaves other sources out of the annulus, unless too little of it would be left.
    crowded = (photometry["flags"].to_numpy() & CROWDED_SKY) > 0
    annulus = CircularAnnulus(positions, 15.0, 22.0)
    sky = ApertureStats(image, annulus, mask=invalid | source_mask(image, mask=invalid),
                        sigma_clip=SigmaClip(sigma=3.0)).median
    sky[crowded] = ApertureStats(image, annulus[crowded], mask=invalid, sigma_clip=SigmaClip(sigma=3.0)).median
    for radius in (5.0, 8.0, 12.0):
        aperture = CircularAperture(positions, r=radius)
        direct = aperture_photometry(image, aperture)["aperture_sum"].value - sky * aperture.area
        workflow = photometry[f"flux_r{radius:g}"].to_numpy()
        usable = np.isfinite(workflow)
        assert usable.mean() > 0.9
        np.testing.assert_allclose(workflow[usable], direct[usable], rtol=1e-6)


def test_m67_runs_with_the_seed_parameters(real_run):
    from astropy.stats import sigma_clipped_stats
    from photutils.detection import DAOStarFinder

    from stackphot.detect import cross_match

    results = results_of(real_run, "m67")
    catalog = pd.read_csv(results / "catalog.csv")
    # The seed: a sigma-clipped median and std of the raw plate, DAOStarFinder(fwhm=3, threshold=5 std).
    data = fits.getdata(SHARED_DATA / "m67" / "M6707HH.fits").astype(float)
    _, median, std = sigma_clipped_stats(data, sigma=3.0)
    seed = DAOStarFinder(fwhm=3.0, threshold=5.0 * std)(data - median)
    index, _ = cross_match(seed["x_centroid"], seed["y_centroid"], catalog.x_detect, catalog.y_detect, radius=1.0)
    print(f"M67: workflow {len(catalog)} sources, seed {len(seed)}; {(index >= 0).mean():.1%} of the seed's found")
    assert len(catalog) > 0.5 * len(seed)
    assert (index >= 0).mean() > 0.5


def test_spitzer_sky_apertures_match_the_psf_fluxes(real_run):
    from astropy.table import Table

    results = results_of(real_run, "spitzer")
    measured = pd.read_csv(results / "sky_photometry.csv")
    reference = Table.read(SPITZER_CATALOG, format="votable")
    assert len(measured) == len(reference) == 224
    # The aperture correction from 4.8" (4 px) to 7.2" (6 px, where the local sky begins), from the curve
    # of growth of the image's own bright isolated stars.
    correction = pd.read_csv(results / "curve_of_growth.csv")["correction_r4_to_r6"].median()
    mjy = surface_brightness_to_flux_density(measured.flux.to_numpy() * correction, 1.2)  # 1.2" pixels
    ratio = mjy / np.asarray(reference["f4_5"], dtype=float)
    ratio = ratio[np.isfinite(ratio)]
    median = np.median(ratio)
    scatter = 1.4826 * np.median(np.abs(ratio - median))
    print(f"Spitzer: {ratio.size} sources, aperture correction {correction:.3f}, median ratio {median:.4f}, "
          f"robust scatter {scatter:.4f}")
    assert ratio.size >= 220
    assert abs(median - 1) <= 0.05
    assert scatter <= 0.06
