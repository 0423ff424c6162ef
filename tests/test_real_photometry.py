"""Detection and photometry through the workflow on real single frames in ../shared/data."""

import numpy as np
import pandas as pd
import pytest
from astropy.io import fits

from conftest import SHARED_DATA
from workflow_helpers import run_snakemake

pytestmark = [pytest.mark.workflow, pytest.mark.shared]


def run_single_frame(tmp_path_factory, folder, config):
    if not (SHARED_DATA / folder).is_dir():
        pytest.skip(f"real data not available: {SHARED_DATA / folder} does not exist")
    work = tmp_path_factory.mktemp(folder)
    run_snakemake(work, {"data": str(SHARED_DATA / folder), **config})
    return work / "results" / folder


@pytest.fixture(scope="module")
def horsehead(tmp_path_factory):
    config = {
        "detect": {"passes": [{"finder": "dao", "fwhm": 6.0, "threshold": 5.0},
                              {"finder": "dao", "fwhm": 15.0, "threshold": 10.0}],
                   "centroid": "com", "centroid_box": 11},
        "photometry": {"radii": [5.0, 8.0, 12.0], "annulus": [15.0, 22.0]},
    }
    return run_single_frame(tmp_path_factory, "horsehead", config)


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


def test_m67_runs_with_the_seed_parameters(tmp_path_factory):
    from astropy.stats import sigma_clipped_stats
    from photutils.detection import DAOStarFinder

    from stackphot.detect import cross_match

    results = run_single_frame(tmp_path_factory, "m67", {
        "background": {"method": "constant"},
        "detect": {"passes": [{"finder": "dao", "fwhm": 3.0, "threshold": 5.0}], "clean": False},
    })
    catalog = pd.read_csv(results / "catalog.csv")
    # The seed: a sigma-clipped median and std of the raw plate, DAOStarFinder(fwhm=3, threshold=5 std).
    data = fits.getdata(SHARED_DATA / "m67" / "M6707HH.fits").astype(float)
    _, median, std = sigma_clipped_stats(data, sigma=3.0)
    seed = DAOStarFinder(fwhm=3.0, threshold=5.0 * std)(data - median)
    index, _ = cross_match(seed["x_centroid"], seed["y_centroid"], catalog.x_detect, catalog.y_detect, radius=1.0)
    print(f"M67: workflow {len(catalog)} sources, seed {len(seed)}; {(index >= 0).mean():.1%} of the seed's found")
    assert len(catalog) > 0.5 * len(seed)
    assert (index >= 0).mean() > 0.5


def test_spitzer_sky_apertures_match_the_psf_fluxes(tmp_path_factory):
    from astropy.table import Table

    catalog_file = SHARED_DATA / "spitzer" / "spitzer_example_catalog.xml"
    results = run_single_frame(tmp_path_factory, "spitzer", {
        "detect": {"passes": [{"finder": "dao", "fwhm": 2.0, "threshold": 5.0}], "clean": False},
        "photometry": {"radii": [4.0], "annulus": [6.0, 10.0],
                       "sky": {"targets_file": str(catalog_file), "columns": ["l", "b"], "frame": "galactic",
                               "radius_arcsec": 4.8, "annulus_arcsec": [7.2, 12.0]}},
    })
    measured = pd.read_csv(results / "sky_photometry.csv")
    reference = Table.read(catalog_file, format="votable")
    assert len(measured) == len(reference) == 224
    # The aperture correction from 4.8" (4 px) to 7.2" (6 px, where the local sky begins), from the curve
    # of growth of the image's own bright isolated stars.
    correction = pd.read_csv(results / "curve_of_growth.csv")["correction_r4_to_r6"].median()
    pixel_sr = (1.2 / 206264.806) ** 2
    mjy = measured.flux.to_numpy() * correction * pixel_sr * 1e9  # MJy/sr summed over pixels -> mJy
    ratio = mjy / np.asarray(reference["f4_5"], dtype=float)
    ratio = ratio[np.isfinite(ratio)]
    median = np.median(ratio)
    scatter = 1.4826 * np.median(np.abs(ratio - median))
    print(f"Spitzer: {ratio.size} sources, aperture correction {correction:.3f}, median ratio {median:.4f}, "
          f"robust scatter {scatter:.4f}")
    assert ratio.size >= 220
    assert abs(median - 1) <= 0.05
    assert scatter <= 0.06
