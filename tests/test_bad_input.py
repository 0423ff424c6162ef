"""Each bad input of a real night, through Snakemake: the run stops with a line naming the file and the problem.

One run holds one dataset per bad input (``--keep-going``, so each fails on its own), and one good dataset
with awkward frame names, which costs one Snakemake start instead of nine. A config mistake is caught by the
schema before any job (test_config.py); an empty folder, and a folder with no FITS frame, before any job too
(here).
"""

import re
import shutil

import numpy as np
import pandas as pd
import pytest
from astropy.io import fits

from stackphot.io import read_table
from stackphot.register.select import read_selection
from stackphot.simulate import simulate_frame_set, write_frame_set
from workflow_helpers import run_snakemake

pytestmark = pytest.mark.workflow

BAD = "frame_999.fits"  # last in name order: the dataset's first frame, read to plan the jobs, is good


def truncated(good: bytes, path):
    path.write_bytes(good[: len(good) // 2])


def not_fits(good: bytes, path):
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 20)


def cube(good: bytes, path):
    fits.PrimaryHDU(np.ones((3, 48, 64), np.float32)).writeto(path)


def table(good: bytes, path):
    fits.HDUList([fits.PrimaryHDU(), fits.BinTableHDU.from_columns([fits.Column("x", "E", array=[1.0])])]).writeto(path)


def all_nan(good: bytes, path):
    fits.PrimaryHDU(np.full((48, 64), np.nan, np.float32)).writeto(path)


def unreadable_gain(good: bytes, path):
    path.write_bytes(good)
    with fits.open(path, mode="update") as hdul:
        hdul[0].header["GAIN"] = "high"


# case: (how the bad file is made, what the message must say besides its name)
CASES = {
    "truncated": (truncated, r"cannot be read as FITS .*truncated, corrupt or not FITS"),
    "notfits": (not_fits, r"cannot be read as FITS"),
    "cube": (cube, r"image has 3 axes \(3, 48, 64\); a frame must be one 2D image"),
    "table": (table, r"holds a table, not an image"),
    "nan": (all_nan, r"has no finite pixel"),
    "gain": (unreadable_gain, r"header card GAIN = 'high' is not a number"),
}


@pytest.fixture(scope="module")
def failed_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("bad_input")
    good = root / "good"
    write_frame_set(simulate_frame_set(shape=(48, 64), n_frames=2, n_cluster_stars=20, n_field_stars=10,
                                       cluster_scale_radius=10.0, cluster_max_radius=20.0, max_offset=3.0), good)
    good_bytes = (good / "frame_002.fits").read_bytes()
    for case, (make, _) in CASES.items():
        folder = root / case
        folder.mkdir()
        for frame in good.glob("frame_*.fits"):
            shutil.copy(frame, folder)
        make(good_bytes, folder / BAD)
    # And a good night whose camera numbers its frames (0001.fits, ...): names a table reader takes for numbers.
    numbered = root / "numbered"
    numbered.mkdir()
    for index, frame in enumerate(sorted(good.glob("frame_*.fits")), start=1):
        shutil.copy(frame, numbered / f"{index:04d}.fits")
    # And a night holding one frame twice, the copy under a name with spaces, and a macOS ._ file beside them.
    copied = root / "copied"
    shutil.copytree(good, copied, ignore=shutil.ignore_patterns("*.csv"))
    shutil.copy(copied / "frame_001.fits", copied / "frame_001 copy.fits")
    (copied / "._frame_002.fits").write_bytes(b"\x00\x05\x16\x07 AppleDouble resource fork")
    checksums = {path: path.read_bytes() for path in root.rglob("*.fits")}
    datasets = [*CASES, "numbered", "copied"]
    config = {"datasets": {name: {"path": str(root / name)} for name in datasets}, "run": {"batch_size": 3}}
    targets = [f"results/{case}/stack.fits" for case in CASES] + ["results/numbered/aligned_cube.fits",
                                                                  "results/copied/stack.fits"]
    result = run_snakemake(root / "work", config, "--keep-going", *targets, expect_success=False)
    return {"root": root, "result": result, "checksums": checksums}


@pytest.mark.parametrize("case", CASES)
def test_the_run_stops_naming_the_file_and_the_problem(failed_run, case):
    result, root = failed_run["result"], failed_run["root"]
    assert result.returncode != 0
    pattern = CASES[case][1]
    # The console shows the job's one-line message, which names the file and the problem ...
    lines = [line for line in result.stderr.splitlines() if re.search(pattern, line)]
    assert any(f"{root / case}/" in line for line in lines), result.stderr[-4000:]
    # ... and so does the job's log, with no traceback: the problem is the data, not the code.
    logs = list((root / "work/logs" / case).rglob("*.log"))
    failing = [log for log in logs if re.search(pattern, log.read_text())]
    assert failing, [log.name for log in logs]
    for log in failing:
        text = log.read_text()
        assert "ERROR" in text and "Traceback" not in text
    assert not (root / "work/results" / case / "stack.fits").exists()


def test_frames_named_like_numbers_keep_their_names(failed_run):
    results = failed_run["root"] / "work/results/numbered"
    assert (results / "aligned_cube.fits").exists(), failed_run["result"].stderr[-4000:]
    names = ["0001", "0002"]
    assert pd.read_csv(results / "shifts.csv", dtype=str).frame.tolist() == names
    selection = read_selection(results / "frame_selection.csv")
    assert selection.frame.tolist() == names and selection.accepted.all()
    assert fits.getheader(results / "aligned_cube.fits")["NFRAMES"] == len(names)


def test_a_file_under_two_names_is_stacked_once_with_a_warning_naming_both(failed_run):
    root = failed_run["root"]
    results = root / "work/results/copied"
    assert (results / "stack.fits").exists(), failed_run["result"].stderr[-4000:]
    frames = read_table(results / "frames.csv")
    assert sorted(frames.file) == ["frame_001 copy.fits", "frame_001.fits", "frame_002.fits"]  # ._ file ignored
    selection = read_selection(results / "frame_selection.csv").set_index("frame")
    copies = selection[selection.duplicate_of != ""]
    # The copy that sorts first is the reference, and the reference is the one kept.
    assert selection.accepted.sum() == 2 and copies.index.tolist() == ["frame_001"]
    assert copies.duplicate_of.tolist() == ["frame_001 copy"]
    header = fits.getheader(results / "stack.fits")
    assert header["NCOMBINE"] == 2 and header["TEXPTIME"] == pytest.approx(frames.exptime.iloc[0] * 2)
    log = (root / "work/logs/copied/select_frames.log").read_text()
    assert re.search(r"WARNING.*frame_001: the same file as frame frame_001 copy \(frame_001\.fits and frame_001 copy\.fits have "
                     r"SHA-256 [0-9a-f]{64}\): stacked once", log), log


def test_raw_files_are_never_changed(failed_run):
    for path, content in failed_run["checksums"].items():
        assert path.read_bytes() == content, path


def test_a_folder_without_frames_stops_before_any_job(tmp_path):
    folder = tmp_path / "night"
    folder.mkdir()
    (folder / "notes.txt").write_text("seeing 2 arcsec")
    result = run_snakemake(tmp_path / "work", {"data": str(folder)}, expect_success=False)
    assert result.returncode != 0
    assert f"{folder}: holds no FITS frame" in result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert not (tmp_path / "work/results").exists()
