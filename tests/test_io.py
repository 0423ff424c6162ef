import gzip
import re
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
    read_arrays,
    read_image,
    read_raw_frame,
    valid_header,
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


def astropy_bytes(path, hdus) -> bytes:
    """The file astropy writes for these HDUs: an independent FITS writer to compare ours with."""
    fits.HDUList(hdus).writeto(path, output_verify="exception")
    return Path(path).read_bytes()


def test_write_image_writes_the_bytes_astropy_writes(tmp_path, rng):
    header = fits.Header([("OBJECT", "M13", "target"), ("EXPTIME", 5.0, "[s]"), ("NOTE", "long " * 30)])
    data = rng.normal(size=(7, 5)).astype(np.float32)
    extensions = [("ERR", rng.random((7, 5)), fits.Header([("BUNIT", "adu")])),
                  ("MASK", (rng.random((7, 5)) > 0.5).astype(np.uint8), None),
                  ("COUNT16", np.arange(-17, 18, dtype=np.int16).reshape(7, 5), None),
                  ("COUNT32", np.arange(35, dtype=np.int32).reshape(7, 5) * 100_000, None),
                  ("COUNT64", np.arange(35, dtype=np.int64).reshape(7, 5), None)]
    ours = write_image(tmp_path / "ours.fits", data, header, extensions=extensions, history=["made here"])
    expected = header.copy()
    expected.add_history("made here")
    # EXTNAME where we write it, after the structural cards (astropy puts it last when given a header)
    hdus = [fits.PrimaryHDU(data, expected), *(fits.ImageHDU(a, fits.Header([("EXTNAME", n, "extension name")]) +
                                                             (h or fits.Header())) for n, a, h in extensions)]
    assert ours.read_bytes() == astropy_bytes(tmp_path / "astropy.fits", hdus)
    with pytest.raises(TypeError, match="cannot write uint16"):
        write_image(tmp_path / "u16.fits", np.ones((2, 2), np.uint16))
    assert not (tmp_path / "u16.fits").exists()


def test_write_cube_streams_planes_as_astropy_writes_the_cube(tmp_path, rng):
    planes = [rng.normal(size=(5, 7)).astype(np.float32) for _ in range(3)]
    coverage = np.full((5, 7), 3, np.int16)
    path = write_cube(tmp_path / "out" / "cube.fits", [lambda p=p: p for p in planes],
                      header=fits.Header({"BUNIT": "adu"}), extensions=[("ERR", [lambda p=p: 2 * p for p in planes])],
                      images=[("COVERAGE", lambda: coverage)])
    hdus = [fits.PrimaryHDU(np.stack(planes), fits.Header({"BUNIT": "adu"})),
            fits.ImageHDU(2 * np.stack(planes), name="ERR"), fits.ImageHDU(coverage, name="COVERAGE")]
    assert path.read_bytes() == astropy_bytes(tmp_path / "astropy.fits", hdus)
    assert [p.name for p in path.parent.iterdir()] == ["cube.fits"]


def test_read_image_and_read_arrays_read_what_astropy_reads(tmp_path, rng):
    # astropy's layout (EXTNAME last, an empty primary HDU first) as well as ours
    data = rng.normal(size=(6, 4)).astype(np.float32)
    mask = np.arange(24, dtype=np.uint8).reshape(6, 4)
    header = fits.Header([("OBJECT", "M13"), ("NOTE", "a/b 'quoted'"), ("LONG", "x" * 90)])
    path = tmp_path / "astropy.fits"
    fits.HDUList([fits.PrimaryHDU(data, header), fits.ImageHDU(2.0 * data, name="ERR"),
                  fits.ImageHDU(mask, name="MASK"), fits.ImageHDU(np.ones((2, 3, 4)), name="CUBE")]).writeto(path)
    read_data, read_header, ext = read_image(path, "ERR", "MASK", "CUBE")
    with fits.open(path) as hdul:
        assert read_header == hdul[0].header
        for array, hdu in zip([read_data, *ext.values()], hdul, strict=True):
            assert array.dtype == hdu.data.dtype and array.shape == hdu.data.shape
            np.testing.assert_array_equal(array, hdu.data)
    read_data += 1  # writable, as astropy's arrays were
    arrays = read_arrays(path, "CUBE", "PRIMARY")
    assert list(arrays) == ["CUBE", "PRIMARY"]
    np.testing.assert_array_equal(arrays["PRIMARY"], data)
    np.testing.assert_array_equal(arrays["CUBE"], np.ones((2, 3, 4)))
    with pytest.raises(FrameError, match="astropy.fits: has no SKY extension"):
        read_arrays(path, "SKY")
    empty = tmp_path / "empty_primary.fits"
    fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(data, name="SCI")]).writeto(empty)
    primary, _, ext = read_image(empty, "SCI")
    assert primary is None
    np.testing.assert_array_equal(ext["SCI"], data)


@pytest.mark.parametrize("damage, message", [
    (lambda good: good[:-2880], "truncated: HDU 1 ends beyond the end of the file"),
    (lambda good: good[:400], "is not FITS or is truncated: no header END card"),
    (lambda good: b"\x89PNG" + bytes(3000), "is not FITS or is truncated"),
])
def test_read_image_names_the_file_of_a_damaged_product(tmp_path, damage, message):
    path = write_image(tmp_path / "product.fits", np.ones((30, 30), np.float32), extensions=[("ERR", np.ones((30, 30)), None)])
    path.write_bytes(damage(path.read_bytes()))
    with pytest.raises(FrameError, match=f"product.fits: {re.escape(message)}"):
        read_image(path, "ERR")
    scaled = tmp_path / "scaled.fits"
    fits.PrimaryHDU(np.arange(4, dtype=np.uint16).reshape(2, 2)).writeto(scaled)
    with pytest.raises(FrameError, match="scaled.fits: HDU 0 is not an unscaled image"):
        read_image(scaled)


def raw_header(tmp_path, cards):
    """The header astropy reads from a file whose cards are exactly ``cards`` (as a camera may write them)."""
    text = "".join(card.ljust(80) for card in ["SIMPLE  =                    T", "BITPIX  =                   16",
                                               "NAXIS   =                    0", *cards, "END"])
    path = tmp_path / "raw.fits"
    path.write_bytes((text + " " * (-len(text) % 2880)).encode("ascii"))
    with fits.open(path) as hdul:
        return hdul[0].header


def test_valid_header_fixes_what_it_can_and_names_the_cards_it_leaves_out(tmp_path):
    header, problems = valid_header(raw_header(tmp_path, ["DATE-OBS= 2020-01-01", "EXP TIME=                  5.0",
                                                          "GAIN    =                  1.5 / e-/ADU"]))
    assert header["DATE-OBS"] == "2020-01-01" and header["GAIN"] == 1.5
    assert "EXP TIME" not in header and "NAXIS" not in header
    assert len(problems) == 1 and "Illegal keyword name 'EXP TIME'" in problems[0]
    path = write_image(tmp_path / "product.fits", np.zeros((2, 2), np.float32), header)
    with fits.open(path) as hdul:
        hdul.verify("exception")


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
