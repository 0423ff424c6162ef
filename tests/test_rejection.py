"""Bad frames among good ones: rejected with the reason, or the run stopped, as the config says."""

import shutil

import numpy as np
import pandas as pd
import pytest
from astropy.io import fits

from stackphot.simulate import simulate_frame_set, write_frame_set
from workflow_helpers import run_snakemake

pytestmark = pytest.mark.workflow

SIMULATION = {"shape": [200, 240], "n_frames": 4, "seed": 11, "n_cluster_stars": 200, "n_field_stars": 100,
              "cluster_scale_radius": 40.0, "cluster_max_radius": 120.0, "max_offset": 10.0}
TARGETS = ["results/{}/stack.fits", "results/{}/rejected.csv"]


def targets(*datasets):
    return [target.format(dataset) for dataset in datasets for target in TARGETS]


def bad_frames(good_file, folder, hot_pixels):
    """Beside the good frames: a frame of pure noise (dome closed) and the field moved by 170 of 240 px, both
    from the same camera: its ``hot_pixels`` read in them as in the good frames (the defect map, which counts
    every frame, is then the good frames' alone)."""
    with fits.open(good_file) as hdul:
        header, data = hdul[0].header, hdul[0].data.astype(float)
    rng = np.random.default_rng(0)
    sky = np.median(data)
    noise = rng.normal(sky, np.sqrt(sky), data.shape)
    moved = rng.normal(sky, np.sqrt(sky), data.shape)
    moved[:, 170:] = data[:, :70]
    for image in (noise, moved):
        image[hot_pixels] = data[hot_pixels]
    for name, image in (("frame_005", noise), ("frame_006", moved)):
        fits.PrimaryHDU(np.clip(np.rint(image), 0, 65535).astype(np.uint16), header).writeto(folder / f"{name}.fits")


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    """The good frames alone, and the same with the two bad frames added."""
    good = tmp_path_factory.mktemp("good") / "night"
    frame_set = simulate_frame_set(**SIMULATION)
    write_frame_set(frame_set, good)
    for truth in good.glob("truth_*.csv"):
        truth.unlink()
    mixed = tmp_path_factory.mktemp("mixed") / "night"
    shutil.copytree(good, mixed)
    bad_frames(good / "frame_002.fits", mixed, frame_set.hot_pixels)
    return good, mixed


def test_bad_frames_are_rejected_or_stop_the_run(folders, tmp_path):
    """Rejected with reasons, the stack equal to that of the good frames alone; or the run stops."""
    good, mixed = folders
    # Both folders in one run (one Snakemake start, their jobs side by side).
    run_snakemake(tmp_path, {"datasets": {"good": {"path": str(good)}, "mixed": {"path": str(mixed)}}},
                  *targets("good", "mixed"))
    rejected = pd.read_csv(tmp_path / "results/mixed/rejected.csv")
    print(rejected.to_string())
    assert list(rejected.frame) == ["frame_005", "frame_006"]
    assert "correlation" in rejected.reason[0] or "nothing above" in rejected.reason[0]
    assert "overlap" in rejected.reason[1] or "correlation" in rejected.reason[1]
    assert pd.read_csv(tmp_path / "results/good/rejected.csv").empty
    with fits.open(tmp_path / "results/good/stack.fits") as alone, \
            fits.open(tmp_path / "results/mixed/stack.fits") as among:
        for name in ("PRIMARY", "ERR", "COVERAGE", "NREJECT"):
            np.testing.assert_array_equal(among[name].data, alone[name].data)
        assert among[0].header["NCOMBINE"] == 4
        history = "\n".join(among[0].header["HISTORY"])
        assert "rejected frame_005.fits" in history and "rejected frame_006.fits" in history


    # The same folder under on_bad_frame: fail, then with too few good frames: select_frames alone reruns.
    mixed_alone = {"datasets": {"mixed": {"path": str(mixed)}}}
    failed = run_snakemake(tmp_path, {**mixed_alone, "quality": {"on_bad_frame": "fail"}}, *targets("mixed"),
                           expect_success=False)
    assert failed.returncode != 0
    log = (tmp_path / "logs/mixed/select_frames.log").read_text()
    assert "2 bad frame(s)" in log and "frame_005" in log and "frame_006" in log
    few = run_snakemake(tmp_path, {**mixed_alone, "quality": {"min_frames": 5}}, *targets("mixed"),
                        expect_success=False)
    assert few.returncode != 0
    assert "only 4 good frame(s), fewer than min_frames 5" in (tmp_path / "logs/mixed/select_frames.log").read_text()
