"""Every file a camera or an archive writes (issue 19): tile-compressed FITS, an image in an extension, a
bad-pixel mask beside the image; read with their numbers, and one night of them stacked through Snakemake."""

import re

import numpy as np
import pytest
from astropy.io import fits

from stackphot.align import align_frame
from stackphot.datasets import frame_pixels
from stackphot.geometry import Transform
from stackphot.ingest import BAD_PIXEL, NONFINITE, SATURATED, ingest_frame, ingest_product
from stackphot.inventory import inventory
from stackphot.io import FITS_SUFFIXES, BadPixels, FrameError, RawFrame, frame_stem, read_image, read_raw_frame
from stackphot.simulate import simulate_frame_set, write_frame_set
from stackphot.stack import combine
from workflow_helpers import run_snakemake

SHAPE = (32, 40)
CARDS = {"EXPTIME": 30.0, "FILTER": "R", "DATE-OBS": "2024-06-14T22:30:00.000", "GAIN": 1.5, "RDNOISE": 10.0}


def counts(rng, shape=SHAPE):
    """A uint16 camera frame: sky of 1000 ADU with noise, and a few pixels near the top of the range."""
    data = rng.normal(1000.0, 30.0, shape).clip(0, 65535).astype(np.uint16)
    data[0, :3] = (0, 65534, 65535)
    return data


def write_compressed(path, data, cards=CARDS, *, extensions=(), **options):
    """A file as fpack writes it: an empty primary HDU, the image as a RICE_1 CompImageHDU in HDU 1."""
    image = fits.CompImageHDU(data, fits.Header(cards), compression_type="RICE_1", **options)
    fits.HDUList([fits.PrimaryHDU(), image, *extensions]).writeto(path)


def test_frame_stem_knows_tile_compressed_suffixes():
    assert [frame_stem(name) for name in ("a.fits.fz", "b.FIT.FZ", "c.fts.fz", "d.fz", "e.fits.gz")] == list("abcde")
    assert frame_stem("M13_0001.fits.fz") == "M13_0001"
    assert frame_stem("notes.fz.txt") is None
    assert {".fits.fz", ".fz"} <= set(FITS_SUFFIXES)


def test_the_inventory_finds_compressed_frames_beside_fits(tmp_path, rng):
    fits.PrimaryHDU(counts(rng)).writeto(tmp_path / "a.fits")
    write_compressed(tmp_path / "b.fits.fz", counts(rng))
    write_compressed(tmp_path / "c.fz", counts(rng))
    frames = inventory(tmp_path)
    assert [(info.name, info.path.name, info.kind) for info in frames] == [
        ("a", "a.fits", "light"), ("b", "b.fits.fz", "light"), ("c", "c.fz", "light")]
    # Their header is the compressed image's (NAXIS 2 as astropy presents it), not the binary table's.
    assert [(info.shape, info.exptime, info.filter) for info in frames] == [
        (SHAPE, None, None), (SHAPE, 30.0, "R"), (SHAPE, 30.0, "R")]
    assert frame_pixels(tmp_path / "c.fz") == SHAPE[0] * SHAPE[1]
    with fits.open(tmp_path / "c.fz") as hdul:
        assert (hdul[1].header["NAXIS"], hdul[1].header["BITPIX"]) == (2, 16)


def test_the_inventory_error_lists_the_compressed_suffixes(tmp_path):
    (tmp_path / "notes.txt").write_text("not a frame")
    with pytest.raises(FrameError, match=r"looked for \.fits, .*\.fits\.fz, .*\.fz, also \.gz"):
        inventory(tmp_path)


def test_a_lossless_uint16_compressed_frame_reads_as_the_original(tmp_path, rng):
    data = counts(rng)
    write_compressed(tmp_path / "f.fits.fz", data)
    with fits.open(tmp_path / "f.fits.fz", disable_image_compression=True) as hdul:  # what fpack writes
        table = hdul[1].header
        assert (table["XTENSION"], table["BITPIX"], table["ZBITPIX"], table["BZERO"]) == ("BINTABLE", 8, 16, 32768)
    raw = read_raw_frame(tmp_path / "f.fits.fz")
    assert raw.hdu_index == 1 and raw.data.dtype == np.float32
    np.testing.assert_array_equal(raw.data, data.astype(np.float32))  # lossless: every count
    assert raw.integer_max == 65535.0  # from ZBITPIX 16 and BZERO 32768, not the table's BITPIX 8
    assert {key: raw.header[key] for key in CARDS} == CARDS
    assert "BZERO" not in raw.header and "BSCALE" not in raw.header and raw.bad_pixels is None
    # Ingest sees the saturated pixel at the top of the stored range, as for an uncompressed frame.
    frame = ingest_frame(raw)
    assert frame.saturation == 65535.0 and frame.mask[0, 2] == SATURATED and frame.mask[0, 1] == 0


def test_a_scaled_compressed_frame_keeps_its_bscale_and_stored_range(tmp_path):
    physical = np.arange(SHAPE[0] * SHAPE[1], dtype=np.float64).reshape(SHAPE) * 2.0 + 100.0
    image = fits.CompImageHDU(physical.copy(), fits.Header(CARDS), compression_type="RICE_1")  # scaled in place
    image.scale("int16", bscale=2.0, bzero=100.0)
    fits.HDUList([fits.PrimaryHDU(), image]).writeto(tmp_path / "s.fz")
    raw = read_raw_frame(tmp_path / "s.fz")
    np.testing.assert_array_equal(raw.data, physical.astype(np.float32))
    # 100 + 2 * 32767; astropy turns a scaled image's BITPIX to -32 once its data are read.
    assert raw.integer_max == 65634.0


def test_a_quantized_float_frame_reads_within_its_quantization_step(tmp_path, rng):
    data = rng.normal(1000.0, 10.0, SHAPE).astype(np.float32)
    write_compressed(tmp_path / "q.fits.fz", data, quantize_level=16.0)
    with fits.open(tmp_path / "q.fits.fz", disable_image_compression=True) as hdul:
        assert hdul[1].header["ZBITPIX"] == -32
        step = np.asarray(hdul[1].data["ZSCALE"])  # one tile per row: each row's quantization step
    raw = read_raw_frame(tmp_path / "q.fits.fz")
    assert raw.integer_max is None  # floats: no stored integer range to saturate at
    difference = np.abs(raw.data - data)
    # noise / 16 is about 0.6 ADU; dithered quantization is within half a step of the original.
    assert step.shape == (SHAPE[0],) and 0.3 < np.median(step) < 1.0
    assert (difference <= step[:, None] / 2 * (1 + 1e-4)).all()
    assert 0 < difference.max() and {key: raw.header[key] for key in CARDS} == CARDS


def test_an_image_in_the_first_extension_inherits_the_primary_cards(tmp_path, rng):
    data = counts(rng)
    primary = fits.Header({"EXPTIME": 30.0, "DATE-OBS": "2024-06-14T22:30:00.000", "FILTER": "V"})
    primary.add_history("from the primary")
    image = fits.ImageHDU(data, fits.Header({"FILTER": "R", "GAIN": 1.5}), name="SCI")
    fits.HDUList([fits.PrimaryHDU(header=primary), image]).writeto(tmp_path / "x.fits")
    raw = read_raw_frame(tmp_path / "x.fits")
    assert raw.hdu_index == 1 and raw.integer_max == 65535.0
    np.testing.assert_array_equal(raw.data, data)
    # The primary's EXPTIME and DATE-OBS come with it; the extension's own FILTER wins; no HISTORY is copied.
    assert (raw.header["EXPTIME"], raw.header["DATE-OBS"], raw.header["FILTER"], raw.header["GAIN"]) == (
        30.0, "2024-06-14T22:30:00.000", "R", 1.5)
    assert "HISTORY" not in raw.header and raw.header["NAXIS1"] == SHAPE[1]
    # INHERIT = F: the extension's header alone.
    image.header["INHERIT"] = False
    fits.HDUList([fits.PrimaryHDU(header=primary), image]).writeto(tmp_path / "y.fits")
    assert "EXPTIME" not in read_raw_frame(tmp_path / "y.fits").header


BAD = [(3, 4), (10, 11), (31, 39)]


def bpm(shape=SHAPE, dtype=np.uint8):
    mask = np.zeros(shape, dtype)
    for (y, x), value in zip(BAD, (1, 7, 255), strict=True):
        mask[y, x] = value
    return mask


@pytest.mark.parametrize("name", ["BPM", "BADPIX", "MASK", "DQ", "bpm"])
def test_a_bad_pixel_mask_extension_is_read_and_masked(tmp_path, rng, name):
    data = counts(rng)
    fits.HDUList([fits.PrimaryHDU(data, fits.Header(CARDS)), fits.ImageHDU(bpm(), name=name)]).writeto(
        tmp_path / "f.fits")
    raw = read_raw_frame(tmp_path / "f.fits")
    assert raw.hdu_index == 0 and raw.bad_pixels.extensions == (name.upper(),) and raw.bad_pixels.count == 3
    assert sorted(map(tuple, np.argwhere(raw.bad_pixels.mask))) == BAD
    ingested = ingest_product(raw, raw_sha256="0" * 64)
    mask = ingested.frame.mask
    assert sorted(map(tuple, np.argwhere(mask & BAD_PIXEL))) == BAD
    assert np.count_nonzero(mask) == 4 and mask[0, 2] == SATURATED  # and nothing else is marked
    assert f"bad-pixel mask extension {name.upper()} applied: 3 pixels, MASK bit 64" in ingested.product.history
    # The data are left as they are: only the mask says the pixels are bad.
    np.testing.assert_array_equal(ingested.frame.data, data)


def test_bad_pixels_have_a_mask_bit_of_their_own():
    from stackphot import defects, ingest
    from stackphot.calibrate import HOT, LOW_RESPONSE

    others = [NONFINITE, SATURATED, HOT, LOW_RESPONSE, defects.DEFECT, defects.BLANK, getattr(ingest, "BAD_FRAME", 0)]
    bits = [bit for bit in others if bit] + [BAD_PIXEL]
    assert len(set(bits)) == len(bits) and all(bit & (bit - 1) == 0 for bit in bits) and sum(bits) < 256


def test_a_compressed_mask_before_the_image_is_the_mask_not_the_frame(tmp_path, rng):
    data = counts(rng)
    mask = fits.CompImageHDU(bpm(dtype=np.int16), compression_type="RICE_1", name="DQ")
    image = fits.CompImageHDU(data, fits.Header(CARDS), compression_type="RICE_1", name="SCI")
    other = fits.ImageHDU(np.ones(SHAPE, np.uint8), name="DQ", ver=2)  # another detector's: not this image's
    fits.HDUList([fits.PrimaryHDU(), mask, image, other]).writeto(tmp_path / "m.fits.fz")
    raw = read_raw_frame(tmp_path / "m.fits.fz")
    assert raw.hdu_index == 2 and raw.bad_pixels.extensions == ("DQ",) and raw.bad_pixels.count == 3
    np.testing.assert_array_equal(raw.data, data)


def test_masks_add_up_and_an_empty_one_marks_nothing(tmp_path, rng):
    second = np.zeros(SHAPE, np.float32)
    second[5, 5] = np.nan  # not a good pixel either
    extensions = [fits.ImageHDU(bpm(), name="BPM"), fits.ImageHDU(name="MASK"), fits.ImageHDU(second, name="DQ")]
    fits.HDUList([fits.PrimaryHDU(counts(rng)), *extensions]).writeto(tmp_path / "f.fits")
    bad = read_raw_frame(tmp_path / "f.fits").bad_pixels
    assert bad.extensions == ("BPM", "DQ") and sorted(map(tuple, np.argwhere(bad.mask))) == sorted(BAD + [(5, 5)])
    assert bad.describe() == "bad-pixel mask extensions BPM, DQ applied: 4 pixels"


def test_a_mask_of_another_shape_names_the_file_the_extension_and_both_shapes(tmp_path, rng):
    path = tmp_path / "odd.fits.fz"
    write_compressed(path, counts(rng), extensions=[fits.ImageHDU(np.zeros((16, 20), np.uint8), name="BADPIX")])
    with pytest.raises(FrameError) as error:
        read_raw_frame(path)
    message = str(error.value)
    assert message.startswith(f"{path}: ") and error.value.path == path
    assert re.search(r"BADPIX \(HDU 2\) has shape \(16, 20\), but the image \(HDU 1\) has shape \(32, 40\)", message)


def test_a_masked_pixel_is_left_out_of_the_stack(rng):
    """What the workflow does with a frame's MASK (scripts/align_frames.py: any nonzero bit is bad): the
    aligned frame is NaN there, and the stack takes the pixel from the other frames alone."""
    frames = [rng.normal(0.0, 1.0, SHAPE).astype(np.float32) + level for level in (10.0, 20.0, 30.0)]
    bad = np.zeros(SHAPE, bool)
    bad[BAD[0]] = True
    raw = [RawFrame(data, fits.Header(), "frame.fits", 0, None) for data in frames]
    raw[2].bad_pixels = BadPixels(bad, ("BPM",))
    masks = [ingest_frame(frame, gain=1.0, read_noise=1.0).mask for frame in raw]
    assert masks[2][BAD[0]] == BAD_PIXEL
    aligned = [align_frame(data, Transform.translation(0.0, 0.0), mask=mask > 0).data
               for data, mask in zip(frames, masks, strict=True)]
    result = combine(np.stack(aligned), method="mean")
    y, x = BAD[0]
    assert np.isnan(aligned[2][y, x]) and result.coverage[y, x] == 2 and result.coverage[20, 20] == 3
    assert result.image[y, x] == pytest.approx((frames[0][y, x] + frames[1][y, x]) / 2, rel=1e-6)


@pytest.mark.workflow
def test_a_night_with_a_compressed_frame_and_its_bad_pixel_mask_is_stacked(tmp_path):
    """Three simulated frames, the reference written as fpack writes it (lossless, uint16) with a BPM."""
    night = tmp_path / "night"
    frame_set = simulate_frame_set(shape=(128, 128), n_frames=3, n_cluster_stars=30, n_field_stars=15,
                                   cluster_scale_radius=15.0, cluster_max_radius=40.0, max_offset=4.0)
    write_frame_set(frame_set, night)
    data = frame_set.frames[0]
    assert data.dtype == np.uint16
    mask = np.zeros(data.shape, np.uint8)
    mask[64, 40:43] = 1  # three pixels of a bad column, in the reference frame (which is not moved)
    (night / "frame_001.fits").unlink()
    write_compressed(night / "frame_001.fits.fz", data, frame_set.headers[0],
                     extensions=[fits.CompImageHDU(mask, compression_type="RICE_1", name="BPM")])
    work = tmp_path / "work"
    config = {"datasets": {"night": {"path": str(night)}}, "run": {"batch_size": 3}}  # one job per stage
    run_snakemake(work, config, "results/night/stack.fits")

    ingested, ingested_header, ext = read_image(work / "results/night/ingest/frame_001.fits", "MASK")
    np.testing.assert_array_equal(ingested, data.astype(np.float32))
    assert ingested_header["ORIGFILE"] == "frame_001.fits.fz" and ingested_header["EXPTIME"] == 5.0
    assert (ext["MASK"][64, 40:43] & BAD_PIXEL == BAD_PIXEL).all() and np.count_nonzero(ext["MASK"] & BAD_PIXEL) == 3
    assert any("bad-pixel mask extension BPM applied: 3 pixels" in line for line in ingested_header["HISTORY"])
    with fits.open(work / "results/night/stack.fits") as stack:
        assert stack[0].header["NCOMBINE"] == 3
        coverage = stack["COVERAGE"].data
    # The bad pixels come from the two other frames alone; the frame's other pixels from all three.
    assert (coverage[64, 40:43] == 2).all() and coverage[64, 46] == 3 and np.median(coverage) == 3


def test_the_inventory_reads_the_kind_and_exposure_from_the_primary_of_an_extension_image(tmp_path, rng):
    primary = fits.PrimaryHDU(header=fits.Header({"IMAGETYP": "Dark Frame", "EXPTIME": 60.0}))
    mask = fits.ImageHDU(np.zeros((20, 30), np.uint8), name="DQ")
    image = fits.ImageHDU(rng.normal(100, 5, (20, 30)).astype(np.float32), name="SCI")
    fits.HDUList([primary, mask, image]).writeto(tmp_path / "dark_1.fits")
    (info,) = inventory(tmp_path, default_kind="dark")
    assert (info.kind, info.exptime, info.shape) == ("dark", 60.0, (20, 30))
    assert info.kind_source.startswith("IMAGETYP 'Dark Frame'")
