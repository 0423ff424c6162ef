"""The real night of ../shared/data/bsu_sn2022yid, from its folders as the observer kept them: five R lights of
120 s, five R flats of 1.5 s and five 1.5 s darks for the flats; no bias and no 120 s darks."""

import numpy as np
import pandas as pd
import pytest
from astropy.io import fits
from astropy.stats import sigma_clipped_stats

from stackphot.calibrate.noise import CLIPPED_STD

from conftest import shared_set
from workflow_helpers import run_snakemake

pytestmark = [pytest.mark.workflow, pytest.mark.shared]
BOX = 100  # px: the corner and centre boxes whose sky levels are compared


@pytest.fixture(scope="module")
def night(tmp_path_factory):
    folder = shared_set("bsu_sn2022yid")
    work = tmp_path_factory.mktemp("bsu")
    run = run_snakemake(work, {"data": str(folder)}, "ingest", "calibrate")
    return work / "results" / "bsu_sn2022yid", run


def corner_ratios(image):
    ny, nx = image.shape
    centre = sigma_clipped_stats(image[ny // 2 - BOX : ny // 2 + BOX, nx // 2 - BOX : nx // 2 + BOX])[1]
    return np.array([sigma_clipped_stats(image[rows, cols])[1] / centre
                     for rows in (slice(0, BOX), slice(ny - BOX, ny)) for cols in (slice(0, BOX), slice(nx - BOX, nx))])


def test_the_folders_become_masters_and_the_record_says_what_was_done(night):
    results, run = night
    table = pd.read_csv(results / "calibration.csv")
    assert table.kind.value_counts().to_dict() == {"light": 5, "dark": 5, "flat": 5}
    assert set(table[table.kind == "dark"].used_for) == {"master_dark_1p5s"}
    assert set(table[table.kind == "flat"].used_for) == {"master_flat_R_bin2x2"}
    lights = table[table.kind == "light"].used_for
    assert (lights.str.startswith("less the 1.5 s master dark as the bias (no bias frames and no 120 s dark")
            & lights.str.endswith("divided by master_flat_R_bin2x2")).all()
    for name in ("master_dark_1p5s", "master_flat_R_bin2x2"):
        assert fits.getheader(results / "calibrate" / f"{name}.fits")["NCOMBINE"] == 5
    frames = pd.read_csv(results / "frames.csv")
    assert (frames.calibration_warning.str.startswith("no dark of its exposure (120.0 s): the 1.5 s master dark as "
                                                      "the bias")).all()
    log = (results.parents[1] / "logs" / "bsu_sn2022yid" / "calibrate_frames").glob("*.log")
    assert "no dark of its exposure (120.0 s)" in "".join(path.read_text() for path in log)


def test_the_vignetting_is_taken_out_of_the_lights(night):
    results, _ = night
    dark = fits.getdata(results / "calibrate" / "master_dark_1p5s.fits")
    for light in sorted((results / "ingest").glob("*.fits")):
        raw = corner_ratios(fits.getdata(light).astype(float) - dark)
        calibrated = corner_ratios(fits.getdata(results / "calibrate" / light.name))
        print(f"{light.stem}: corners / centre raw {np.round(raw, 3)}, calibrated {np.round(calibrated, 3)}")
        assert raw.min() < 0.88 and np.abs(calibrated - 1).max() < 0.02


def test_the_stack_of_the_lights_has_a_sky_flat_within_its_noise(night):
    """The lights stacked before the background (which would take any vignetting out as sky): raw (less the
    1.5 s dark, the only zero level the night has) the corners are several sigmas of the stack's noise below
    its centre; calibrated, within one."""
    results, _ = night
    dark = fits.getdata(results / "calibrate" / "master_dark_1p5s.fits")
    names = sorted(path.name for path in (results / "ingest").glob("*.fits"))
    raw = np.mean([fits.getdata(results / "ingest" / name).astype(float) - dark for name in names], axis=0)
    calibrated = np.mean([fits.getdata(results / "calibrate" / name) for name in names], axis=0)
    departures = {}
    for label, stack in (("raw", raw), ("calibrated", calibrated)):
        ny, nx = stack.shape
        _, centre, noise = sigma_clipped_stats(stack[ny // 2 - BOX : ny // 2 + BOX, nx // 2 - BOX : nx // 2 + BOX])
        departures[label] = (corner_ratios(stack) - 1) * centre / noise
        print(f"{label} stack: corners / centre {np.round(corner_ratios(stack), 4)}, corner - centre in units of "
              f"the stack's noise ({noise:.2f} ADU): {np.round(departures[label], 2)}")
    assert departures["raw"].max() < -3 and np.abs(departures["calibrated"]).max() < 1


def test_the_read_noise_no_card_gives_is_measured_from_the_flats_darks(night):
    """The night has no bias and no read noise card: its 1.5 s darks measure it. Independently, the plain standard
    deviation of each pair's difference, the pixels their median shows hot left out."""
    results, _ = night
    darks = sorted((shared_set("bsu_sn2022yid") / "Darks" / "1p5s").glob("*.fit"))
    frames = [fits.getdata(path).astype(float) for path in darks]
    median = np.median(frames, axis=0)
    cool = np.abs(median - np.median(median)) < 5 * 1.4826 * np.median(np.abs(median - np.median(median)))
    gain = 2.58  # EGAIN
    independent = np.median([np.std((frames[a] - frames[b])[cool]) / np.sqrt(2) * gain for a, b in ((0, 1), (2, 3))])
    table = pd.read_csv(results / "frames.csv")
    print(f"read noise {table.read_noise[0]:.3f} e-, independently {independent:.3f} e-")
    assert table.read_noise.nunique() == 1 and table.read_noise[0] == pytest.approx(independent, rel=0.02)
    # The calibrated lights' error maps against their measured noise (neighbouring pixels' differences over
    # sqrt(2), clipped and corrected as the measure is): 0.80 with the read noise taken as 0.
    for light in sorted((results / "calibrate").glob("SN2022yid*.fits")):
        with fits.open(light) as hdul:
            data, error, good = hdul[0].data, hdul["ERR"].data, hdul["MASK"].data == 0
        pairs = good[:, 1:] & good[:, :-1]
        noise = sigma_clipped_stats((data[:, 1:] - data[:, :-1])[pairs], maxiters=10)[2] / np.sqrt(2) / CLIPPED_STD
        print(f"{light.stem}: median error {np.median(error[good]):.2f} ADU, measured noise {noise:.2f} ADU")
        assert 0.85 < np.median(error[good]) / noise < 1.05
