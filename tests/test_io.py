import gzip
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from stackphot.io import (
    CubeRows,
    FrameError,
    clean_card_text,
    find_frames,
    frame_stem,
    read_image,
    read_raw_frame,
    write_cube,
    write_image,
)


def write_uint16(path, data):
    fits.PrimaryHDU(np.asarray(data, dtype=np.uint16)).writeto(path)


def test_frame_stem_knows_fits_suffixes():
    assert frame_stem("a/M13_0001.fits") == "M13_0001"
    assert frame_stem("b.FIT") == "b"
    assert frame_stem("c.fts.gz") == "c"
    assert frame_stem("notes.txt") is None


def test_find_frames_lists_fits_only_in_name_order(tmp_path):
    for name in ("b.fits", "a.fit", "c.fts"):
        write_uint16(tmp_path / name, np.ones((4, 4)))
    with gzip.open(tmp_path / "d.fits.gz", "wb") as handle:
        fits.PrimaryHDU(np.ones((4, 4), np.float32)).writeto(handle)
    (tmp_path / "README.txt").write_text("not a frame")
    assert list(find_frames(tmp_path)) == ["a", "b", "c", "d"]


def test_find_frames_errors_name_the_folder(tmp_path):
    with pytest.raises(FrameError, match="holds no FITS frame"):
        find_frames(tmp_path)
    with pytest.raises(FileNotFoundError, match="no such folder"):
        find_frames(tmp_path / "missing")
    write_uint16(tmp_path / "a.fits", np.ones((2, 2)))
    write_uint16(tmp_path / "a.fit", np.ones((2, 2)))
    with pytest.raises(FrameError, match="same frame name"):
        find_frames(tmp_path)


def test_uint16_with_bzero_comes_back_as_physical_counts(tmp_path):
    data = np.array([[0, 1000], [40000, 65535]], dtype=np.uint16)
    write_uint16(tmp_path / "f.fits", data)
    assert fits.getheader(tmp_path / "f.fits")["BZERO"] == 32768
    raw = read_raw_frame(tmp_path / "f.fits")
    assert raw.data.dtype == np.float32
    np.testing.assert_array_equal(raw.data, data.astype(np.float32))
    assert raw.integer_max == 65535
    assert "BZERO" not in raw.header


def test_read_raw_frame_is_read_only(tmp_path):
    path = tmp_path / "f.fits"
    write_uint16(path, np.arange(12).reshape(3, 4))
    before = path.read_bytes()
    path.chmod(0o444)
    read_raw_frame(path)
    assert path.read_bytes() == before


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda p: fits.PrimaryHDU(np.ones((2, 3, 4), np.float32)).writeto(p), "3 axes"),
        (lambda p: fits.HDUList([fits.PrimaryHDU(), fits.BinTableHDU.from_columns(
            [fits.Column(name="a", format="E", array=np.ones(3))])]).writeto(p), "holds a table"),
        (lambda p: p.write_text("SIMPLE = definitely not FITS"), "cannot be read as FITS"),
        (lambda p: p.write_bytes(b"x" * 100), "cannot be read as FITS"),
    ],
)
def test_bad_files_get_an_error_naming_file_and_problem(tmp_path, make, message):
    path = tmp_path / "bad.fits"
    make(path)
    with pytest.raises(FrameError, match=message) as error:
        read_raw_frame(path)
    assert str(path) in str(error.value)


def test_truncated_frame_is_reported(tmp_path):
    path = tmp_path / "cut.fits"
    write_uint16(path, np.ones((200, 200)))
    path.write_bytes(path.read_bytes()[:20000])
    with pytest.raises(FrameError, match="truncated"):
        read_raw_frame(path)


def test_card_text_is_printable_and_wrapped():
    pieces = clean_card_text("a\x00b\tc" + "x" * 100)
    assert pieces[0].startswith("a?b?c")
    assert all(len(piece) <= 72 for piece in pieces)
    assert "".join(pieces) == "a?b?c" + "x" * 100
    assert clean_card_text("one two three", width=8) == ["one two", "three"]


def test_write_image_round_trip_leaves_no_partial_file(tmp_path):
    path = tmp_path / "out" / "img.fits"
    header = fits.Header({"OBJECT": "M13"})
    write_image(path, np.ones((3, 3), np.float32), header, extensions=[("ERR", np.zeros((3, 3)), None)],
                history=["made\nhere"])
    data, read_header, ext = read_image(path, "ERR")
    assert read_header["OBJECT"] == "M13"
    assert "made?here" in str(read_header["HISTORY"])
    assert ext["ERR"].shape == (3, 3)
    assert [p.name for p in path.parent.iterdir()] == ["img.fits"]
    with pytest.raises(FrameError, match="no MASK extension"):
        read_image(path, "MASK")


def test_write_cube_streams_planes(tmp_path, rng):
    planes = [rng.normal(size=(5, 7)).astype(np.float32) for _ in range(3)]
    path = write_cube(tmp_path / "cube.fits", [lambda p=p: p for p in planes],
                      header=fits.Header({"BUNIT": "adu"}), extensions=[("ERR", [lambda p=p: 2 * p for p in planes])],
                      images=[("COVERAGE", lambda: np.full((5, 7), 3, np.int16))])
    with fits.open(path) as hdul:
        np.testing.assert_array_equal(hdul[0].data, np.stack(planes))
        np.testing.assert_array_equal(hdul["ERR"].data, 2 * np.stack(planes))
        assert hdul[0].header["BUNIT"] == "adu"
        assert hdul["COVERAGE"].header["BITPIX"] == 16 and (hdul["COVERAGE"].data == 3).all()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cube.fits"]


def test_cube_rows_reads_the_blocks_of_every_extension(tmp_path, rng):
    planes = rng.normal(size=(4, 13, 7)).astype(np.float32)
    path = write_cube(tmp_path / "cube.fits", [lambda p=p: p for p in planes],
                      extensions=[("ERR", [lambda p=p: 2 * p for p in planes])])
    with CubeRows(path) as data, CubeRows(path, "ERR") as error:
        assert data.shape == (4, 13, 7)
        for rows in (slice(0, 13), slice(3, 5), slice(12, 20), slice(5, 5)):
            np.testing.assert_array_equal(data[:, rows, :], planes[:, rows, :])
            np.testing.assert_array_equal(error[:, rows, :], 2 * planes[:, rows, :])
        with pytest.raises(IndexError, match="whole rows"):
            data[0, 1:2, :]


def test_cube_rows_names_the_file_of_a_bad_or_truncated_cube(tmp_path):
    image = tmp_path / "image.fits"
    fits.PrimaryHDU(np.zeros((5, 5), np.float32)).writeto(image)
    with pytest.raises(FrameError, match="image.fits.*not an unscaled 3D float cube"):
        CubeRows(image)
    cube = tmp_path / "cube.fits"
    fits.PrimaryHDU(np.ones((3, 100, 100), np.float32)).writeto(cube)
    with open(cube, "r+b") as file:
        file.truncate(file.seek(0, 2) - 2880 * 20)
    with CubeRows(cube) as reader, pytest.raises(FrameError, match="cube.fits: truncated: plane 2"):
        reader[:, 0:100, :]


RSS_PROBE = """
import re, sys
from stackphot.combine import combine
from stackphot.io import CubeRows
def peak_mib():  # VmHWM: the peak resident set, file pages included (what cluster memory limits count)
    return int(re.search(r"VmHWM:\\s*(\\d+) kB", open("/proc/self/status").read())[1]) / 1024
before = peak_mib()
with CubeRows(sys.argv[1]) as cube:
    combine(cube, method="median", memory_mb=8)
print(peak_mib() - before)
"""


@pytest.mark.skipif(not Path("/proc/self/status").is_file(), reason="needs Linux's /proc/self/status (VmHWM)")
def test_combining_from_cube_rows_does_not_keep_the_cube_resident(tmp_path, rng):
    # Through a memory map every page read stays in the process: there the peak grew by the whole cube.
    planes = rng.normal(size=(32, 1024, 1024)).astype(np.float32)  # 128 MiB
    path = write_cube(tmp_path / "cube.fits", [lambda p=p: p for p in planes])
    del planes
    probe = subprocess.run([sys.executable, "-c", RSS_PROBE, str(path)], capture_output=True, text=True, check=True)
    assert float(probe.stdout) < 48
