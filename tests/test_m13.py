"""The real M13 frames (../shared/data/m13): shifts that the detector's fixed pattern would hide."""

import hashlib

import numpy as np
import pandas as pd
import pytest
from astropy.io import fits

from stackphot.background import estimate_background
from stackphot.ingest import ingest_frame
from stackphot.io import read_raw_frame
from star_matching import star_shift_network
from stackphot.numerics import replace_outliers
from stackphot.register import subtract_line_medians
from workflow_helpers import run_snakemake

pytestmark = [pytest.mark.workflow, pytest.mark.shared]


def checksums(data_root):
    """The published SHA-256 of every file under m13/, and what the files hash to now."""
    published = {}
    for line in (data_root / "SHA256SUMS").read_text().splitlines():
        digest, name = line.split(maxsplit=1)
        name = name.lstrip("*").removeprefix("./")
        if name.startswith("m13/"):
            published[name] = digest
    actual = {name: hashlib.sha256((data_root / name).read_bytes()).hexdigest() for name in published}
    return published, actual


@pytest.fixture(scope="module")
def m13_run(tmp_path_factory):
    from conftest import SHARED_DATA

    if not (SHARED_DATA / "m13").is_dir():
        pytest.skip(f"real data not available: {SHARED_DATA / 'm13'} does not exist")
    work = tmp_path_factory.mktemp("m13")
    run_snakemake(work, {"data": str(SHARED_DATA / "m13")})
    return SHARED_DATA, work / "results" / "m13"


def test_raw_cross_correlation_would_report_zero(m13_run):
    from skimage.registration import phase_cross_correlation

    data_root, _ = m13_run
    frames = [fits.getdata(path).astype(np.float32) for path in sorted((data_root / "m13").glob("*.fits"))]
    naive = [phase_cross_correlation(frames[0], frame, upsample_factor=10)[0] for frame in frames[1:]]
    assert np.abs(naive).max() < 0.5


def test_workflow_shifts_agree_with_matched_stars(m13_run):
    data_root, results = m13_run
    shifts = pd.read_csv(results / "shifts.csv")
    assert list(shifts.frame) == [f"M13_blue_000{i}" for i in range(1, 6)]
    assert (shifts.dx.iloc[1:].abs() > 10).all()  # the cluster drifts by tens of pixels
    # The check reads the raw frames itself, with its own minimal cleaning (one sky level, row and column
    # medians, isolated outliers), so it depends on no stage of the workflow.
    cleaned = []
    for path in sorted((data_root / "m13").glob("*.fits")):
        frame = ingest_frame(read_raw_frame(path))
        sky = estimate_background(frame.data, method="constant", mask=frame.mask > 0)
        cleaned.append(replace_outliers(np.nan_to_num(subtract_line_medians(frame.data - sky.map, mask=frame.mask > 0))))
    stars = star_shift_network(cleaned, fwhm=7.0)  # defocused rings of radius ~3 px
    difference = shifts[["dy", "dx"]].to_numpy() - stars[["dy", "dx"]].to_numpy()
    print("workflow shifts:\n", shifts[["frame", "dy", "dx", "correlation"]].round(3).to_string(index=False))
    print("matched-star network:\n", stars.round(3).to_string(index=False))
    print("difference (px):\n", np.round(difference, 3))
    assert np.abs(difference).max() < 0.5


def test_raw_frames_are_never_changed(m13_run):
    data_root, _ = m13_run
    published, actual = checksums(data_root)
    assert len(published) == 5
    assert actual == published
