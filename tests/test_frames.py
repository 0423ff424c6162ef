import numpy as np
import pandas as pd
import pytest
from astropy.io import fits

from stackphot.frames import frames_table
from stackphot.io import FrameError
from stackphot.geometry import Transform
from stackphot.stack import stack_header


def ingested(path, shape, **cards):
    fits.PrimaryHDU(np.zeros(shape, np.float32), header=fits.Header(cards)).writeto(path)
    return path


def test_frames_table_reads_the_ingested_headers(tmp_path):
    paths = [ingested(tmp_path / f"f{i}.fits", (8, 10), ORIGFILE=f"raw{i}.fits", EXPTIME=5.0,
                      **{"DATE-OBS": f"2024-01-01T00:0{i}:00"}, GAIN=1.5, RDNOISE=9.0, ORIGSHA="ab") for i in range(3)]
    table = frames_table(paths)
    assert list(table.frame) == ["f0", "f1", "f2"] and list(table.file) == ["raw0.fits", "raw1.fits", "raw2.fits"]
    assert (table.ny == 8).all() and (table.nx == 10).all() and (table.exptime == 5.0).all()


def test_frames_of_another_shape_are_named(tmp_path):
    paths = [ingested(tmp_path / "a.fits", (8, 10), ORIGFILE="a.fits"),
             ingested(tmp_path / "b.fits", (8, 12), ORIGFILE="b.fits")]
    with pytest.raises(FrameError, match=r"b.fits \(8 x 12\)"):
        frames_table(paths)
    with pytest.raises(FrameError, match=r"^/night/b.fits: frames differ in shape from /night/a.fits \(8 x 10\)"):
        frames_table(paths, ["/night/a.fits", "/night/b.fits"])


def test_stack_header_records_exposure_inputs_and_dates(monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    frames = pd.DataFrame({"frame": ["a", "b"], "file": ["a.fits", "b.fits"], "exptime": [5.0, 5.0],
                           "date_obs": ["2024-01-01T00:01:00", "2024-01-01T00:00:30"], "sha256": ["11", "22"]})
    transforms = [Transform.translation(0.0, 0.0), Transform.translation(1.5, -2.25)]
    shifts = pd.DataFrame([{"frame": frame, **transform.columns(), "correlation": correlation}
                           for frame, transform, correlation in zip("ab", transforms, (1.0, 0.9))])
    reference = fits.Header({"OBJECT": "M13", "SHIFTX": 1.0, "BUNIT": "adu"})
    mean = stack_header(reference, frames, shifts, method="mean")
    assert mean["NCOMBINE"] == 2 and mean["TEXPTIME"] == 10.0 and mean["EXPTIME"] == 5.0
    assert mean["DATE-OBS"] == "2024-01-01T00:00:30" and mean["DATE"] == "2023-11-14T22:13:20"
    assert mean["DATE-AVG"] == "2024-01-01T00:00:47.500"  # mid-exposures 00:00:32.5 and 00:01:02.5
    assert mean["OBJECT"] == "M13" and "SHIFTX" not in mean
    history = list(mean["HISTORY"])
    assert "input b.fits" in history and "  sha256 22" in history
    assert "shift b.fits: dy +1.500 dx -2.250 px (correlation 0.900)" in history
    assert stack_header(reference, frames, shifts, method="sum")["EXPTIME"] == 10.0
