"""Calibration through the workflow on small simulated nights: the masters of one night reused by another from
the config (`calibrate: bias, darks, flats`), the sensor temperature checked, the read noise no card gives measured
from the bias frames, and calibration that cannot be used refused before any job runs."""

import re

import numpy as np
import pandas as pd
import pytest
from astropy.io import fits

from stackphot.datasets import resolve_datasets
from stackphot.inventory import inventory, listed_calibration, plan_calibration
from stackphot.io import FrameError
from stackphot.simulate.detector import bias_frames, dark_frames, detector_signature, expose, flat_frames
from workflow_helpers import run_snakemake

pytestmark = pytest.mark.workflow
SHAPE, EXPTIME, FLAT_EXPTIME = (64, 80), 30.0, 2.0
LIGHT_TEMPERATURES = {"light_0": -10.4, "light_1": -5.0}  # the darks are at -10: the second is 5 C warmer


def write(path, data, **cards):
    path.parent.mkdir(parents=True, exist_ok=True)
    header = fits.Header({key.replace("_", "-"): value for key, value in cards.items()})
    fits.PrimaryHDU(np.clip(data, 0, 65535).astype(np.uint16), header).writeto(path)
    return path


@pytest.fixture(scope="module")
def camera():
    return detector_signature(SHAPE, seed=3)


def write_lights(folder, camera):
    sky = np.full(SHAPE, 300.0)
    for index, (name, temperature) in enumerate(LIGHT_TEMPERATURES.items()):
        write(folder / f"{name}.fits", expose(camera, sky, exptime=EXPTIME, seed=50 + index), IMAGETYP="Light Frame",
              EXPTIME=EXPTIME, FILTER="V", CCD_TEMP=temperature, GAIN=camera.gain)


@pytest.fixture(scope="module")
def nights(tmp_path_factory, camera):
    """Night A with its bias, darks and flats beside its lights; night B, the same lights alone, calibrated
    with A's master bias and master dark (ready masters, from the config) and A's flats folder. No frame has a
    read noise card."""
    root = tmp_path_factory.mktemp("calibration_workflow")
    night_a = root / "night_a"
    cards = dict(GAIN=camera.gain, CCD_TEMP=-10.0)
    for index, frame in enumerate(bias_frames(camera, 3, seed=1)):
        write(night_a / "bias" / f"bias_{index}.fits", frame, EXPTIME=0.0, **cards)
    for index, frame in enumerate(dark_frames(camera, 3, exptime=EXPTIME, seed=2)):
        write(night_a / "darks" / f"dark_{index}.fits", frame, EXPTIME=EXPTIME, **cards)
    for index, frame in enumerate(flat_frames(camera, 3, exptime=FLAT_EXPTIME, seed=4)):
        write(night_a / "flats" / f"flat_{index}.fits", frame, EXPTIME=FLAT_EXPTIME, FILTER="V", **cards)
    write_lights(night_a / "lights", camera)
    run_a = run_snakemake(root / "work_a", {"data": str(night_a)}, "ingest", "calibrate")
    masters = root / "work_a" / "results" / "night_a" / "calibrate"
    night_b = root / "night_b"
    write_lights(night_b, camera)
    listed = {"bias": str(masters / "master_bias.fits"), "darks": [str(masters / "master_dark_30s.fits")],
              "flats": str(night_a / "flats")}
    run_b = run_snakemake(root / "work_b", {"data": str(night_b), "calibrate": listed}, "ingest", "calibrate")
    return root, run_a, run_b


def test_a_night_reuses_another_nights_masters_from_the_config(nights):
    root, _, run_b = nights
    made_a = root / "work_a" / "results" / "night_a" / "calibrate"
    made_b = root / "work_b" / "results" / "night_b" / "calibrate"
    # Only the flat is combined again (its frames are listed); the ready masters have no job.
    assert sorted(path.name for path in made_b.glob("master_*.fits")) == ["master_flat_V_bin1x1.fits"]
    assert re.findall(r"rule (master_\w+):", run_b.stderr) == ["master_flat_night_b_V_bin1x1"]
    for name in LIGHT_TEMPERATURES:
        with fits.open(made_a / f"{name}.fits") as a, fits.open(made_b / f"{name}.fits") as b:
            for extension in ("PRIMARY", "ERR", "MASK"):
                np.testing.assert_array_equal(a[extension].data, b[extension].data)
    table = pd.read_csv(root / "work_b" / "results" / "night_b" / "calibration.csv", keep_default_na=False)
    used = dict(zip(table.file.map(lambda path: path.rsplit("/", 1)[-1]), table.used_for))
    assert used["master_bias.fits"] == "used as master_bias (a ready master)"
    assert used["master_dark_30s.fits"] == "used as master_dark_30s (a ready master)"
    assert used["flat_0.fits"] == "master_flat_V_bin1x1"
    assert (table[table.file.str.endswith("flat_0.fits")].kind_source == "listed in calibrate: flats").all()
    assert (table[table.file.str.endswith("master_bias.fits")].kind_source ==
            "IMAGETYP 'Master Bias', listed in calibrate: bias").all()


def test_the_read_noise_no_card_gives_is_measured_from_the_bias_frames(nights, camera):
    root, _, _ = nights
    measured = {}
    for night in ("night_a", "night_b"):  # B's from A's master bias, a ready master that carries it
        results = root / f"work_{night[-1]}" / "results" / night
        frames = pd.read_csv(results / "frames.csv")
        measured[night] = frames.read_noise.unique().tolist()
        log = (root / f"work_{night[-1]}" / "logs" / night / "tabulate_frames.log").read_text()
        assert "read noise measured from 1 pair of bias frames" in log and "assuming 0" not in log
        header = fits.getheader(results / "calibrate" / "light_0.fits")
        assert header.comments["RDNOISE"] == "e- (measured: 1 pair of bias frames)"
        assert header["RDNOISE"] == pytest.approx(frames.read_noise[0], rel=1e-6)  # the table's 7 digits
    # One pair of 64 x 80 frames: 1% of the camera's 10 e-, and the uint16 rounding's 1/12 ADU^2.
    assert len(measured["night_a"]) == 1 and measured["night_a"] == measured["night_b"]
    assert measured["night_a"][0] == pytest.approx(np.hypot(camera.read_noise, camera.gain / np.sqrt(12)), rel=0.04)
    master = fits.getheader(root / "work_a" / "results" / "night_a" / "calibrate" / "master_bias.fits")
    assert master["RNSOURCE"] == "1 pair of bias frames"
    assert master["RNMEAS"] == pytest.approx(measured["night_a"][0], rel=1e-6)


def test_a_light_warmer_than_its_dark_is_warned_about(nights):
    root, run_a, _ = nights
    table = pd.read_csv(root / "work_a" / "results" / "night_a" / "calibration.csv", keep_default_na=False)
    warnings = dict(zip(table.file.map(lambda path: path.rsplit("/", 1)[-1]), table.warning))
    assert warnings["light_0.fits"] == ""
    assert warnings["light_1.fits"].startswith("sensor at -5.0 C, its dark at -10.0 C: 5.0 C apart, more than "
                                               "calibrate: max_temperature_difference (2 C)")
    frames = pd.read_csv(root / "work_a" / "results" / "night_a" / "frames.csv", keep_default_na=False)
    assert (frames.calibration == "less the 30 s master dark and the master bias; divided by "
                                  "master_flat_V_bin1x1").all()
    assert list(frames.calibration_warning.str[:15]) == ["", "sensor at -5.0 "]
    logs = (root / "work_a" / "logs" / "night_a" / "calibrate_frames").glob("*.log")
    assert "light_1: sensor at -5.0 C" in "".join(path.read_text() for path in logs)
    assert fits.getheader(root / "work_a" / "results" / "night_a" / "calibrate" / "master_dark_30s.fits")[
        "CCD-TEMP"] == -10.0


def test_calibration_that_cannot_be_used_is_refused_before_any_job(tmp_path, camera, nights):
    root, _, _ = nights
    masters = root / "work_a" / "results" / "night_a" / "calibrate"
    lights = tmp_path / "lights"
    write_lights(lights, camera)
    other_camera = tmp_path / "master_dark_30s.fits"
    with fits.open(masters / "master_dark_30s.fits") as hdul:
        for hdu in hdul:
            hdu.data = hdu.data[:32]
        hdul.writeto(other_camera)
    config = {"datasets": {"night": {"path": str(lights)}}, "calibrate": {"darks": str(other_camera)}}
    with pytest.raises(FrameError, match=r"master_dark_30s\.fits: a master dark of 32 x 80 pixels for lights of "
                                         r"64 x 80 .*another camera or binning; take it out of calibrate: darks"):
        resolve_datasets(config)
    foreign = write(tmp_path / "siril" / "master_dark.fits", np.full(SHAPE, 100.0), IMAGETYP="Master Dark",
                    EXPTIME=EXPTIME)
    with pytest.raises(FrameError, match=r"master_dark\.fits: a master made by another program"):
        listed_calibration({"darks": [str(foreign.parent)]})
    with pytest.raises(FileNotFoundError, match=r"nowhere: no such file or folder \(calibrate: flats in the config\)"):
        listed_calibration({"flats": str(tmp_path / "nowhere")})
    with pytest.raises(FrameError, match=r"light_0\.fits: a light .* among the calibrate: bias frames"):
        listed_calibration({"bias": str(lights)})
    # A ready master dark beside dark frames of the same exposure: which one is meant?
    night_a = root / "night_a"
    both = inventory(night_a) + listed_calibration({"darks": str(masters / "master_dark_30s.fits")})
    with pytest.raises(FrameError, match=r"master_dark_30s\.fits: a ready master_dark_30s beside other frames for "
                                         r"it .*dark_0\.fits.*: keep the master or the frames"):
        plan_calibration(both, min_frames=3)
    # A master dark made less a bias, without that bias: its zero level cannot be rebuilt.
    alone = inventory(lights) + listed_calibration({"darks": str(masters / "master_dark_30s.fits")})
    with pytest.raises(FrameError, match=r"a ready master dark made less a master bias, and the night has no bias"):
        plan_calibration(alone, min_frames=3)
