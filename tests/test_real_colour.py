"""The real Seestar S50 frames of M94 (../shared/data/seestar_m94: six raw GRBG mosaics, names with spaces)
through the workflow as a user runs them: a colour stack whose colours lie on one another, error maps as
large as the noise, and no star taken for a hot pixel."""

import numpy as np
import pandas as pd
import pytest
from astropy.io import fits
from astropy.stats import sigma_clipped_stats

from conftest import shared_set
from workflow_helpers import run_snakemake

pytestmark = pytest.mark.shared

# Measured by photon transfer over the four colours (tests/test_ingest_cameras.py): e-/ADU, and the level of
# zero variance, the camera's offset.
GAIN, OFFSET = 0.067, 438.0


@pytest.fixture(scope="module")
def seestar_run(tmp_path_factory):
    folder = shared_set("seestar_m94")
    work = tmp_path_factory.mktemp("seestar")
    config = {"datasets": {"m94": {"path": str(folder),
                                   "settings": {"ingest": {"gain": GAIN, "offset": OFFSET}}}},
              "run": {"batch_size": 6}}  # one job per stage: the products are the same, the Python starts fewer
    run_snakemake(work, config, *(f"results/m94/{product}" for product in
                                  ("stack_rgb.fits", "colour_alignment.csv", "plots/colour.png", "defects.fits")))
    return work / "results" / "m94"


def test_the_colours_of_the_stars_lie_on_one_another(seestar_run):
    offsets = pd.read_csv(seestar_run / "colour_alignment.csv")
    for channel in ("R", "B"):
        found = offsets[[f"dx_{channel}", f"dy_{channel}"]].dropna()
        median = found.median().to_numpy()
        print(f"{channel} from G: (dx, dy) = {median.round(4)} px, median of {len(found)} stars")
        assert len(found) >= 20 and np.abs(median).max() < 0.05


def test_the_colour_stack_is_three_planes_of_the_six_frames_with_no_mosaic_card(seestar_run):
    with fits.open(seestar_run / "stack_rgb.fits") as hdul:
        assert hdul[0].data.shape == (3, 960, 540) and hdul["COVERAGE"].data.max() == 6
        assert "BAYERPAT" not in hdul[0].header and hdul[0].header["PLANES"] == "R,G,B"
    assert fits.getheader(seestar_run / "stack.fits")["CHANNEL"] == "L"
    assert (seestar_run / "plots" / "colour.png").stat().st_size > 50_000


def test_error_maps_are_the_noise_of_the_sky(seestar_run):
    """ERR of each colour's plane against the scatter of its star-free sky, in every frame."""
    for path in sorted((seestar_run / "channels").glob("*.R.fits"))[:3]:
        for plane in ("R", "G1", "G2", "B"):
            with fits.open(str(path).replace(".R.fits", f".{plane}.fits")) as hdul:
                data, error = hdul[0].data, hdul["ERR"].data
            # The frame's sky is flat away from the galaxy (rows 0-300 of 960): 20 x 20 boxes there.
            ratios = []
            for y in range(20, 300, 40):
                for x in range(20, 520, 40):
                    box = data[y : y + 20, x : x + 20]
                    _, median, noise = sigma_clipped_stats(box, sigma=3)
                    if np.max(box) < median + 6 * noise:  # no star
                        ratios.append(np.median(error[y : y + 20, x : x + 20]) / noise)
            ratio = float(np.median(ratios))
            print(f"{path.name.removesuffix('.R.fits')} {plane}: ERR / noise {ratio:.3f} ({len(ratios)} boxes)")
            assert len(ratios) >= 20 and 0.8 < ratio < 1.2


def test_the_defect_map_takes_no_star_for_a_hot_pixel(seestar_run):
    """The Seestar's stars are sharper than FWHM 2 px on the luminance, and the pointing holds them on one
    pixel three frames at a time: spikes, but not in most frames."""
    with fits.open(seestar_run / "defects.fits") as hdul:
        ys, xs = np.nonzero(hdul[0].data > 0)
    catalog = pd.read_csv(seestar_run / "catalog.csv")
    on_sources = sum(np.hypot(catalog.x - x, catalog.y - y).min() < 3 for y, x in zip(ys, xs))
    print(f"{ys.size} defects, {on_sources} of them within 3 px of a source of the catalog")
    assert on_sources == 0
