import gzip
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from stackphot.inventory import inventory
from stackphot.io import (
    CubeRows,
    FrameError,
    clean_card_text,
    frame_stem,
    read_arrays,
    read_ecsv,
    read_image,
    read_raw_frame,
    valid_header,
    write_cube,
    write_ecsv,
    write_image,
)


def write_uint16(path, data):
    fits.PrimaryHDU(np.asarray(data, dtype=np.uint16)).writeto(path)


def test_frame_stem_knows_fits_suffixes():
    assert frame_stem("a/M13_0001.fits") == "M13_0001"
    assert frame_stem("b.FIT") == "b"
    assert frame_stem("c.fts.gz") == "c"
    assert frame_stem("notes.txt") is None


def test_the_folder_inventory_lists_fits_only_in_name_order(tmp_path):
    for name in ("b.fits", "a.fit", "c.fts"):
        write_uint16(tmp_path / name, np.ones((4, 4)))
    with gzip.open(tmp_path / "d.fits.gz", "wb") as handle:
        fits.PrimaryHDU(np.ones((4, 4), np.float32)).writeto(handle)
    (tmp_path / "README.txt").write_text("not a frame")
    assert [info.name for info in inventory(tmp_path)] == ["a", "b", "c", "d"]


def test_the_folder_inventory_errors_name_the_folder(tmp_path):
    with pytest.raises(FrameError, match="holds no FITS frame"):
        inventory(tmp_path)
    with pytest.raises(FileNotFoundError, match="no such folder"):
        inventory(tmp_path / "missing")
    write_uint16(tmp_path / "a.fits", np.ones((2, 2)))
    write_uint16(tmp_path / "a.fit", np.ones((2, 2)))
    with pytest.raises(FrameError, match="same frame name"):
        inventory(tmp_path)


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


def test_write_ecsv_and_read_ecsv_give_the_table_astropy_writes_and_reads(tmp_path, rng):
    import pandas as pd
    from astropy.table import Table

    frame = pd.DataFrame({"frame": ["Light_M94 10.0s 20250101-1", 'a "quoted", name', "0007"],
                          "id": [1, 2, 3], "flux": [1.0 / 3, np.nan, 1e-300], "count": pd.array([4, None, 6], "Int64"),
                          "flag": [True, False, True], "note": ["x", None, "y"],
                          "ra": rng.normal(size=3) * 100, "small": np.float32([0.1, 2.5, -3])})
    units, meta = {"flux": "adu", "ra": "deg"}, {"flux_unit": "adu", "nested": {"radii": [4.0, 6.0]}}
    ours = Table.read(write_ecsv(tmp_path / "ours.ecsv", frame, units=units, meta=meta), format="ascii.ecsv")
    expected = Table.from_pandas(frame)
    for column, unit in units.items():
        expected[column].unit = unit
    expected.meta.update(meta)
    expected.write(tmp_path / "astropy.ecsv", format="ascii.ecsv")
    theirs = Table.read(tmp_path / "astropy.ecsv", format="ascii.ecsv")
    assert ours.colnames == theirs.colnames and ours.meta == theirs.meta
    for column in theirs.colnames:
        mine, reference = ours[column], theirs[column]
        assert (mine.dtype, mine.unit) == (reference.dtype, reference.unit), column
        assert np.array_equal(np.ma.getmaskarray(mine), np.ma.getmaskarray(reference)), column
        assert np.ma.allequal(mine, reference), column
    # Read back by pandas as astropy reads it; astropy's own table (space-delimited) by astropy.
    for path in (tmp_path / "ours.ecsv", tmp_path / "astropy.ecsv"):
        rows, read_meta = read_ecsv(path)
        pd.testing.assert_frame_equal(rows, theirs.to_pandas(), check_exact=True)
        assert read_meta == meta


def test_read_ecsv_names_the_file_of_a_damaged_table(tmp_path):
    import pandas as pd

    path = write_ecsv(tmp_path / "photometry.ecsv", pd.DataFrame({"frame": ["a", "b"], "flux": [1.5, 2.5]}))
    written = path.read_text()
    for damage in (("2.5", "2.5,7,8"), ("1.5", "one")):  # a row too long; text in a float column
        path.write_text(written.replace(*damage))
        with pytest.raises(ValueError, match="photometry.ecsv: its rows do not match its ECSV header"):
            read_ecsv(path)


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


def handmade(path, hdus):
    """A FITS file of exactly these ``(cards, array)`` HDUs, cards as a camera or another program may write them."""
    with open(path, "wb") as file:
        for cards, array in hdus:
            text = "".join(card.ljust(80) for card in [*cards, "END"])
            data = b"" if array is None else np.asarray(array).astype(array.dtype.newbyteorder(">")).tobytes()
            file.write((text + " " * (-len(text) % 2880)).encode("ascii") + data + bytes(-len(data) % 2880))
    return path


def structural(bitpix, shape, extension=None):
    first = "XTENSION= 'IMAGE   '" if extension else "SIMPLE  =                    T"
    cards = [first, f"BITPIX  = {bitpix:20d}", f"NAXIS   = {len(shape):20d}"]
    cards += [f"NAXIS{axis}  = {n:20d}" for axis, n in enumerate(reversed(shape), start=1)]
    return cards + (["PCOUNT  =                    0", "GCOUNT  =                    1",
                     f"EXTNAME = '{extension}'"] if extension else ["EXTEND  =                    T"])


def scaled_file(path):
    counts = np.arange(-6, 6, dtype=np.int16).reshape(3, 4)
    cube = np.arange(24, dtype=np.int16).reshape(2, 3, 4)
    return handmade(path, [
        (structural(16, (3, 4)) + ["BSCALE  =                  0.5", "BZERO   =                100.0",
                                   "BLANK   =                   -6", "OBJECT  = 'M13 / blue'"], counts),
        (structural(16, (3, 4), "RAW") + ["BZERO   =                32768"], counts),
        (structural(16, (3, 4), "BLANKED") + ["BLANK   =                    5"], counts),
        (structural(16, (2, 3, 4), "CUBE") + ["BSCALE  =                  2.0"], cube)])


def lower_case_scaling_file(path):  # astropy reads 'bzero' as BZERO: the old reader returned the stored counts
    counts = np.arange(12, dtype=np.int16).reshape(3, 4)
    return handmade(path, [(structural(16, (3, 4)) + ["bzero   =                   10"], counts),
                           (structural(16, (2, 3, 2), "CUBE") + ["bscale  =                    3"], counts)])


def slash_file(path, rng):  # '/' inside quoted values, EXTNAME too: parsed exactly
    data = rng.normal(size=(2, 3, 2)).astype(np.float32)
    return handmade(path, [(structural(-32, (3, 2)) + ["OBJECT  = 'M13 / blue' / target / name"], data[0]),
                           (structural(-32, (2, 3, 2), "ERR / v2") + ["NOTE    = 'a/b' / c"], data)])


def continued_file(path, rng):  # long strings on CONTINUE cards, an EXTNAME among them
    data = rng.normal(size=(2, 3, 2)).astype(np.float32)
    note = fits.Card("NOTE", "it's a long note / " * 8).image
    return handmade(path, [(structural(-32, (3, 2)) + [note[i:i + 80] for i in range(0, len(note), 80)], data[0]),
                           (structural(-32, (2, 3, 2), "X" * 60 + "&") + ["CONTINUE  'CUBE' / name"], data)])


def quoted_file(path, rng):  # a doubled quote inside a name
    data = rng.normal(size=(2, 3, 2)).astype(np.float32)
    return handmade(path, [(structural(-32, (3, 2)), data[0]), (structural(-32, (2, 3, 2), "O''BRIEN"), data)])


def hierarch_file(path, rng):
    data = rng.normal(size=(3, 2)).astype(np.float32)
    card = fits.Card("HIERARCH ESO DET CHIP NAME", "a / b").image
    return handmade(path, [(structural(-32, (3, 2)) + [card], data), (structural(-32, (3, 2), "ERR"), 2 * data)])


def free_format_file(path, rng):  # values where astropy finds them, not in the fixed columns: parsed exactly
    data = rng.normal(size=(2, 3, 2)).astype(np.float32)
    return handmade(path, [(structural(-32, (3, 2)), data[0]),
                           (["XTENSION= 'IMAGE'", "BITPIX  = -32", "NAXIS   = 3", "NAXIS1  = +2", "NAXIS2  = 3 / rows",
                             "NAXIS3  = 2", "PCOUNT  = 0", "GCOUNT  = 1", "EXTNAME = 'FREE'"], data)])


def misplaced_file(path, rng):  # a card whose '=' is not in column 9: astropy then sees no NAXIS, hence no data
    data = rng.normal(size=(3, 2)).astype(np.float32)
    return handmade(path, [(structural(-32, (3, 2)), data), (["XTENSION= 'IMAGE'", "BITPIX  = -32", "NAXIS = 2",
                                                             "NAXIS1  = 2", "NAXIS2  = 3", "EXTNAME = 'ODD'"], data)])


def compressed_file(path, rng):
    data = rng.integers(0, 1000, (3, 4)).astype(np.int32)
    fits.HDUList([fits.PrimaryHDU(), fits.CompImageHDU(data, name="SCI"),
                  fits.CompImageHDU(np.stack([data, 2 * data]), name="CUBE")]).writeto(path)
    return path


def repeated_names_file(path, rng):  # astropy takes the first of two HDUs named alike; a primary EXTNAME names it
    data = rng.normal(size=(2, 3, 2)).astype(np.float32)
    primary = fits.PrimaryHDU(data[0], fits.Header([("EXTNAME", "FIRST")]))
    fits.HDUList([primary, fits.ImageHDU(data, name="CUBE", ver=1), fits.ImageHDU(2 * data, name="CUBE", ver=2),
                  fits.BinTableHDU.from_columns([fits.Column(name="a", format="E", array=np.ones(2))])]).writeto(path)
    return path


def gzipped_file(path, rng):
    data = rng.normal(size=(2, 3, 4)).astype(np.float32)
    with gzip.open(path, "wb") as handle:
        fits.HDUList([fits.PrimaryHDU(data[0]), fits.ImageHDU(data, name="CUBE")]).writeto(handle)
    return path


def trailing_bytes_file(path, rng):  # a product with a block of zeros after its last HDU
    data = rng.normal(size=(2, 3, 2)).astype(np.float32)
    write_image(path, data[0], extensions=[("CUBE", data, None)])
    with open(path, "ab") as file:
        file.write(bytes(2880))
    return path


# name: (how it is made, the extensions read, whether astropy reads it)
ODD_FILES = {
    "scaled.fits": (lambda path, rng: scaled_file(path), ["RAW", "BLANKED", "CUBE"], True),
    "lower.fits": (lambda path, rng: lower_case_scaling_file(path), ["CUBE"], True),
    "slash.fits": (slash_file, ["ERR / V2", "err / v2 "], False),
    "continued.fits": (continued_file, ["X" * 60 + "CUBE"], True),
    "quoted.fits": (quoted_file, ["O'BRIEN"], True),
    "hierarch.fits": (hierarch_file, ["ERR"], True),
    "free.fits": (free_format_file, ["FREE"], False),
    "misplaced.fits": (misplaced_file, ["ODD"], True),
    "compressed.fits": (compressed_file, ["SCI", "CUBE"], True),
    "repeated.fits": (repeated_names_file, ["FIRST", "CUBE"], True),
    "gzipped.fits.gz": (gzipped_file, ["CUBE"], True),
    "trailing.fits": (trailing_bytes_file, ["CUBE"], True),
}


def assert_same_array(ours, theirs):
    if theirs is None:
        assert ours is None
        return
    assert ours.dtype == theirs.dtype and ours.shape == theirs.shape
    np.testing.assert_array_equal(ours, theirs)


@pytest.mark.parametrize("name", list(ODD_FILES))
def test_files_the_fast_path_does_not_recognise_are_read_as_astropy_reads_them(tmp_path, rng, monkeypatch, name):
    from stackphot.io import fits_read

    make, extensions, by_astropy = ODD_FILES[name]
    path = make(tmp_path / name, rng)
    astropy_read, calls = fits_read._astropy_read, []
    monkeypatch.setattr(fits_read, "_astropy_read", lambda *args, **kw: calls.append(args) or astropy_read(*args, **kw))
    data, header, found = read_image(path, *extensions)
    arrays = read_arrays(path, "PRIMARY", *extensions)
    assert len(calls) == (2 if by_astropy else 0)
    with fits.open(path) as hdul:
        assert_same_array(data, hdul[0].data)
        assert_same_array(arrays["PRIMARY"], hdul[0].data)
        assert str(header) == str(hdul[0].header)
        assert [tuple(card) for card in header.cards] == [tuple(card) for card in hdul[0].header.cards]
        assert list(found) == extensions and list(arrays) == ["PRIMARY", *extensions]
        for extension in extensions:
            assert_same_array(found[extension], hdul[extension].data)
            assert_same_array(arrays[extension], hdul[extension].data)
            if np.ndim(hdul[extension].data) == 3:  # CubeRows: a product's bytes as stored, else astropy's section
                with CubeRows(path, extension) as cube:
                    assert cube.shape == hdul[extension].data.shape
                    for rows in (slice(0, None), slice(1, 2), slice(2, 9), slice(1, 1)):
                        block, expected = cube[:, rows, :], hdul[extension].section[:, rows, :]
                        assert block.dtype.newbyteorder("=") == expected.dtype.newbyteorder("=")
                        assert_same_array(block.astype(expected.dtype), expected)


def test_products_are_read_without_astropy(tmp_path, rng, monkeypatch):
    from stackphot.io import fits_read

    data = rng.normal(size=(3, 4, 5)).astype(np.float32)
    image = write_image(tmp_path / "image.fits", data[0], fits.Header({"OBJECT": "M13 / blue"}),
                        extensions=[("ERR / v2", data[1], None)])
    cube = write_cube(tmp_path / "cube.fits", [lambda p=p: p for p in data], extensions=[("ERR", [lambda: data[0]] * 3)])
    monkeypatch.setattr(fits_read.fits, "open", None)  # the fast path alone
    read_data, header, ext = read_image(image, "err / V2")
    np.testing.assert_array_equal(read_data, data[0])
    np.testing.assert_array_equal(ext["err / V2"], data[1])
    assert header["OBJECT"] == "M13 / blue"
    np.testing.assert_array_equal(read_arrays(cube, "PRIMARY")["PRIMARY"], data)
    with CubeRows(cube, "ERR") as error:
        np.testing.assert_array_equal(error[:, 1:3, :], np.stack([data[0]] * 3)[:, 1:3, :])


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
    with pytest.raises(FrameError, match=f"product.fits: {re.escape(message)}"):
        read_arrays(path, "ERR")


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
    with pytest.raises(FrameError, match=r"image.fits: extension 0 is not a 3D cube \(shape \(5, 5\)\)"):
        CubeRows(image)
    with pytest.raises(FrameError, match="image.fits: has no ERR extension"):
        CubeRows(image, "ERR")
    cube = tmp_path / "cube.fits"
    fits.PrimaryHDU(np.ones((3, 100, 100), np.float32)).writeto(cube)
    with open(cube, "r+b") as file:
        file.truncate(file.seek(0, 2) - 2880 * 20)
    with CubeRows(cube) as reader, pytest.raises(FrameError, match="cube.fits: truncated: plane 2"):
        reader[:, 0:100, :]


RSS_PROBE = """
import re, sys
from stackphot.stack import combine
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
