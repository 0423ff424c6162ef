import numpy as np
import pandas as pd
import pytest
from astropy.io import fits

from stackphot.frames import frames_table, mid_exposure
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
                           "date_obs": ["2024-01-01T00:01:00", "2024-01-01T00:00:30"],
                           "mid_time": ["2024-01-01T00:01:02.500", "2024-01-01T00:00:32.500"], "sha256": ["11", "22"]})
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


@pytest.mark.parametrize("cards, mid_time, source", [
    ({"DATE-OBS": ("2024-05-01T22:00:00", "start of exposure"), "EXPTIME": 30.0},
     "2024-05-01T22:00:15.000", "DATE-OBS + EXPTIME/2"),
    ({"DATE-OBS": "2024-05-01 22:00:00.5", "EXPOSURE": 30.0}, "2024-05-01T22:00:15.500", "DATE-OBS + EXPOSURE/2"),
    ({"DATE-OBS": "2024-05-01T22:00:00", "EXPTIME": "30"}, "2024-05-01T22:00:15.000", "DATE-OBS + EXPTIME/2"),
    ({"DATE-OBS": ("2024-05-01T22:00:30", "UTC at end of exposure"), "EXPTIME": 30.0},
     "2024-05-01T22:00:15.000", "DATE-OBS (end, as its comment says) - EXPTIME/2"),
    ({"DATE-OBS": ("2024-05-01T22:00:15", "mid-exposure time"), "EXPTIME": 30.0},
     "2024-05-01T22:00:15.000", "DATE-OBS (mid, as its comment says)"),
    ({"DATE-OBS": "2024-05-01", "UT-OBS": "22:00:00", "EXPTIME": 30.0},
     "2024-05-01T22:00:15.000", "DATE-OBS + UT-OBS + EXPTIME/2"),
    ({"DATE-OBS": "2024-05-01", "TIME-OBS": "22:00:00.25", "EXPTIME": 30.0},
     "2024-05-01T22:00:15.250", "DATE-OBS + TIME-OBS + EXPTIME/2"),
    ({"DATE-OBS": ("29/11/51", "UT date"), "UT": "12:07:00.00", "EXPOSURE": (50.0, "Exposure time minutes")},
     "1951-11-29T12:32:00.000", "DATE-OBS + UT + EXPOSURE/2 (minutes)"),  # the real m67 plate's cards
    ({"MJD-OBS": 60431.9166666667, "EXPTIME": 30.0}, "2024-05-01T22:00:15.000", "MJD-OBS + EXPTIME/2"),
    ({"JD": (2460432.4166666667, "Julian Date at start of exposure"), "EXPTIME": 30.0},
     "2024-05-01T22:00:15.000", "JD + EXPTIME/2"),
    ({"DATE-END": "2024-05-01T22:00:30", "EXPTIME": 30.0}, "2024-05-01T22:00:15.000", "DATE-END - EXPTIME/2"),
    ({"DATE-OBS": "2024-05-01T22:00:00", "DATE-AVG": "2024-05-01T22:00:16", "EXPTIME": 30.0},
     "2024-05-01T22:00:16.000", "DATE-AVG"),
    ({"MJD-AVG": 60431.9166666667, "EXPTIME": 30.0}, "2024-05-01T22:00:00.000", "MJD-AVG"),
    ({"DATE-OBS": "2024-05-01", "MJD-OBS": 60431.9166666667, "EXPTIME": 30.0},  # a date alone: the MJD's time
     "2024-05-01T22:00:15.000", "MJD-OBS + EXPTIME/2"),
    ({"DATE-OBS": "2024-05-01T22:01:09.184", "TIMESYS": "TT", "EXPTIME": 30.0},  # TT is UTC + 69.184 s in 2024
     "2024-05-01T22:00:15.000", "DATE-OBS + EXPTIME/2 (TIMESYS TT)"),
    ({"DATE-OBS": "2024-05-01T22:00:00"}, None, "DATE-OBS without EXPTIME"),
    ({"DATE-OBS": "2024-05-01", "EXPTIME": 30.0}, None, "no time in the header (DATE-OBS, MJD-OBS, JD, DATE-AVG, ...)"),
    ({"DATE-OBS": "last night", "EXPTIME": 30.0}, None, "no time in the header (DATE-OBS, MJD-OBS, JD, DATE-AVG, ...)"),
])
def test_the_mid_exposure_time_comes_from_whatever_the_header_gives(cards, mid_time, source):
    header = fits.Header([(key, *value) if isinstance(value, tuple) else (key, value) for key, value in cards.items()])
    assert mid_exposure(header) == (mid_time, source)


def test_frames_table_and_stack_date_avg_take_the_mid_times_from_each_header(tmp_path, monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    paths = [ingested(tmp_path / "a.fits", (8, 10), ORIGFILE="a.fits", EXPTIME=30.0, ORIGSHA="1",
                      **{"DATE-OBS": "2024-05-01T22:00:00"}),
             ingested(tmp_path / "b.fits", (8, 10), ORIGFILE="b.fits", EXPTIME=30.0, ORIGSHA="2",
                      **{"MJD-OBS": 60431.9173611111})]  # 22:01:00
    table = frames_table(paths)
    assert list(table.mid_time) == ["2024-05-01T22:00:15.000", "2024-05-01T22:01:15.000"]
    assert list(table.time_source) == ["DATE-OBS + EXPTIME/2", "MJD-OBS + EXPTIME/2"]
    shifts = pd.DataFrame([{"frame": frame, **Transform.translation(0.0, 0.0).columns(), "correlation": 1.0}
                           for frame in "ab"])
    header = stack_header(fits.Header({"BUNIT": "adu"}), table, shifts, method="mean")
    assert header["DATE-AVG"] == "2024-05-01T22:00:45.000"  # b has no DATE-OBS: today's code gave no DATE-AVG
