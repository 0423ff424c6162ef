import logging
import runpy
import warnings
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from astropy.io import fits

from conftest import ROOT, gaussian_star
from stackphot.frames import header_warnings
from stackphot.ingest import (NONFINITE, SATURATED, NoiseAssumedWarning, error_map, ingest_frame, ingest_product,
                              noise_model)
from stackphot.io import FrameError, RawFrame, read_image, read_raw_frame, valid_header, write_product
from stackphot.provenance import sha256
from workflow_helpers import run_snakemake


def raw(data, **cards):
    return RawFrame(np.asarray(data, np.float32), fits.Header(cards), "frame.fits", 0, 65535.0)


def test_error_map_is_poisson_plus_read_noise_in_adu():
    # 100 ADU at 2 e-/ADU is 200 e-: variance 200 + 10^2 e-^2, i.e. (200 + 100) / 4 ADU^2.
    assert error_map([[100.0]], gain=2.0, read_noise=10.0)[0, 0] == pytest.approx(np.sqrt(75.0))
    assert error_map([[-50.0]], gain=2.0, read_noise=10.0)[0, 0] == pytest.approx(5.0)


def test_noise_model_prefers_config_then_header_then_warns():
    header = fits.Header({"EGAIN": 1.6, "RDNOISE": 9.0})
    model = noise_model(header)
    assert (model.gain, model.gain_source, model.read_noise) == (1.6, "header EGAIN", 9.0)
    assert noise_model(header, gain=2.5).gain_source == "config"
    with pytest.warns(UserWarning, match="assuming 1 e-/ADU"):
        assumed = noise_model(fits.Header(), read_noise=5.0)
    assert assumed.assumed and assumed.gain == 1.0


def test_without_gain_the_error_is_sqrt_counts():
    with pytest.warns(UserWarning):
        frame = ingest_frame(raw([[100.0, 400.0], [9.0, 0.0]]))
    np.testing.assert_allclose(frame.error, [[10.0, 20.0], [3.0, 0.0]])


def test_pedestal_is_honoured_for_the_poisson_term():
    frame = ingest_frame(raw([[600.0, 500.0]], GAIN=1.0, RDNOISE=0.0, PEDESTAL=-500))
    np.testing.assert_allclose(frame.error, [[10.0, 0.0]])
    np.testing.assert_array_equal(frame.data, [[600.0, 500.0]])  # data keep the stored values


def test_mask_flags_nonfinite_and_saturated_pixels():
    frame = ingest_frame(raw([[1.0, np.nan], [65535.0, 5.0]], GAIN=1.0, RDNOISE=1.0))
    assert frame.mask.tolist() == [[0, NONFINITE], [SATURATED, 0]]
    assert np.isnan(frame.error[0, 1])


# A constant frame is no reason to stop a night: it is masked whole and rejected (test_ingest_cameras.py).
@pytest.mark.parametrize("data, message", [(np.full((3, 3), np.nan), "no finite pixel")])
def test_unusable_frames_are_refused_by_name(data, message):
    with pytest.raises(FrameError, match=message) as error:
        ingest_frame(raw(data, GAIN=1.0, RDNOISE=1.0))
    assert "frame.fits" in str(error.value)


def test_an_unreadable_noise_card_is_refused_by_name():
    with pytest.raises(FrameError, match=r"frame.fits.*header card GAIN = 'high' is not a number"):
        ingest_frame(raw(np.arange(9.0).reshape(3, 3), GAIN="high", RDNOISE=1.0))
    # The config's value makes the card irrelevant.
    assert ingest_frame(raw(np.arange(9.0).reshape(3, 3), GAIN="high", RDNOISE=1.0), gain=2.0).noise.gain == 2.0


def test_ingest_product_carries_the_noise_model_the_raw_file_and_the_saturation():
    frame = raw([[100.0, 65535.0], [np.nan, 4.0]], EGAIN=2.0, RDNOISE=10.0)
    frame.path, frame.hdu_index = Path("/night/m13_001.fits"), 1
    product, ingested = ingest_product(frame, raw_sha256="ab" * 32)
    assert list(product.cards.items()) == [
        ("GAIN", (2.0, "e-/ADU (header EGAIN)")),
        ("RDNOISE", (10.0, "e- (header RDNOISE)")),
        ("BUNIT", ("adu", "physical units of the data")),
        ("ORIGFILE", ("m13_001.fits", "raw file")),
        ("ORIGSHA", "ab" * 32),
        ("SATURATE", (65535.0, "ADU")),
    ]
    assert product.history == ["stackphot ingest: m13_001.fits HDU 1, BZERO/BSCALE applied, float32"]
    assert product.comments == [] and product.removed == ()
    assert product.data is frame.data and list(product.extensions) == ["ERR", "MASK"]
    # 100 ADU at 2 e-/ADU with 10 e- read noise: (200 + 100) e-^2 = 75 ADU^2; 4 ADU: (8 + 100) / 4 = 27 ADU^2.
    np.testing.assert_allclose(product.extensions["ERR"], [[np.sqrt(75.0), np.sqrt((131070 + 100) / 4)],
                                                           [np.nan, np.sqrt(27.0)]], rtol=1e-6)
    assert product.extensions["MASK"].tolist() == [[0, SATURATED], [NONFINITE, 0]]
    assert ingested.describe() == "shape (2, 2), gain 2.000 (header EGAIN), read noise 10.000 (header RDNOISE)"


def test_an_assumed_noise_model_is_said_in_the_history_and_no_saturation_no_card():
    frame = RawFrame(np.array([[100.0, 400.0]], np.float32), fits.Header(), "float.fits", 0, None)
    with pytest.warns(UserWarning):
        product, ingested = ingest_product(frame, raw_sha256="0" * 64)
    assert product.cards["GAIN"] == (1.0, "e-/ADU (assumed)") and product.cards["RDNOISE"] == (0.0, "e- (assumed)")
    assert "SATURATE" not in product.cards  # a float frame with no card has no known saturation
    assert product.history == ["stackphot ingest: float.fits HDU 0, BZERO/BSCALE applied, float32",
                               "error map assumes gain 1 and no read noise: sqrt(counts)"]
    np.testing.assert_allclose(product.extensions["ERR"], [[10.0, 20.0]])
    assert ingested.describe() == "shape (1, 2), gain 1.000 (assumed), read noise 0.000 (assumed)"


def test_the_config_overrides_the_header_in_the_cards():
    product, _ = ingest_product(raw([[1.0, 2.0]], GAIN=2.0, RDNOISE=5.0, SATURATE=60000), gain=1.5, read_noise=7.0,
                                saturation=50000, raw_sha256="f" * 64)
    assert product.cards["GAIN"] == (1.5, "e-/ADU (config)") and product.cards["RDNOISE"] == (7.0, "e- (config)")
    assert product.cards["SATURATE"] == (50000.0, "ADU")


def ingest_script(tmp_path, raw_path, **params):
    """Run scripts/ingest_frames.py's main on one raw frame, as its rule would; the written frame's path."""
    main = runpy.run_path(str(ROOT / "scripts/ingest_frames.py"))["main"]
    output = tmp_path / "frame.fits"
    smk = SimpleNamespace(input=SimpleNamespace(raw=[raw_path]), output=SimpleNamespace(frames=[output]),
                          params=SimpleNamespace(**{"gain": None, "read_noise": None, "saturation": None, "offset": None, **params}))
    main(smk, logging.getLogger("test"))
    return output


def test_ingest_keeps_a_frame_whose_header_has_an_illegal_card_and_says_which(tmp_path, caplog):
    raw_path = tmp_path / "raw.fits"
    header = fits.Header([("GAIN", 2.0), ("RDNOISE", 8.0), ("EXPTIME2", 5.0), ("OBJECT", "M13")])
    fits.PrimaryHDU(np.arange(1000, 1064, dtype=np.uint16).reshape(8, 8), header).writeto(raw_path)
    raw_path.write_bytes(raw_path.read_bytes().replace(b"EXPTIME2", b"EXP TIME"))  # as a camera might write it
    before = raw_path.read_bytes()
    with caplog.at_level(logging.INFO):
        output = ingest_script(tmp_path, raw_path)
    data, written, ext = read_image(output, "ERR", "MASK")
    assert written["OBJECT"] == "M13" and "EXP TIME" not in written and data[0, 0] == 1000
    assert f"{raw_path}: a header card left out, not valid FITS" in caplog.text and "EXP TIME" in caplog.text
    assert f"{raw_path}: shape (8, 8), gain 2.000 (header GAIN), read noise 8.000 (header RDNOISE)" in caplog.text
    assert raw_path.read_bytes() == before
    # The product's cards, in their order after the raw header's, and its HISTORY.
    keys = [key for key in written if key not in ("SIMPLE", "BITPIX", "NAXIS", "NAXIS1", "NAXIS2", "EXTEND")]
    assert keys == ["GAIN", "RDNOISE", "OBJECT", "BUNIT", "ORIGFILE", "ORIGSHA", "SATURATE", "BADCARDS", "HISTORY"]
    assert written["BADCARDS"] == "Illegal keyword name 'EXP TIME'"  # for tabulate_frames to say once
    assert written["ORIGSHA"] == sha256(raw_path) and written["ORIGFILE"] == "raw.fits"
    assert written["SATURATE"] == 65535.0 and written.comments["GAIN"] == "e-/ADU (header GAIN)"
    assert list(written["HISTORY"]) == ["stackphot ingest: raw.fits HDU 0, BZERO/BSCALE applied, float32"]
    np.testing.assert_allclose(ext["ERR"], np.sqrt(np.arange(1000, 1064).reshape(8, 8) / 2.0 + 16.0), rtol=1e-6)
    assert not ext["MASK"].any()


def camera_frame(path, seed, **cards):
    """A raw uint16 frame of sky and one star, written with ``cards`` and an illegal 'EXP TIME' card."""
    rng = np.random.default_rng(seed)
    data = rng.poisson(500.0 + gaussian_star((64, 64), 30.0 + seed, 32.0, flux=2e4)).astype(np.uint16)
    fits.PrimaryHDU(data, fits.Header([("EXPTIME2", 5.0), *cards.items()])).writeto(path)
    path.write_bytes(path.read_bytes().replace(b"EXPTIME2", b"EXP TIME"))  # as a camera might write it
    return path


def test_the_header_notes_of_a_dataset_are_counted_once(tmp_path):
    paths = []
    for index, cards in enumerate([{}, {}, {"GAIN": 2.0, "RDNOISE": 8.0}]):
        raw = read_raw_frame(camera_frame(tmp_path / f"raw{index}.fits", index, **cards))
        header, problems = valid_header(raw.header)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NoiseAssumedWarning)
            product, _ = ingest_product(raw, raw_sha256="0" * 64, left_out=problems)
        paths.append(write_product(tmp_path / f"frame{index}.fits", product, header))
    assert header_warnings(paths) == [
        "2 of 3 frames: no gain in the config or header (GAIN, EGAIN, CCDGAIN): assuming 1 e-/ADU; set ingest: gain",
        "2 of 3 frames: no read noise in the config or header (RDNOISE, READNOIS, RON): assuming 0; set ingest: "
        "read_noise",
        "3 of 3 frames: header cards left out, not valid FITS: Illegal keyword name 'EXP TIME'"]


@pytest.mark.workflow
def test_a_header_warning_is_given_once_for_the_dataset_not_once_per_frame(tmp_path):
    """Three frames of a camera without GAIN and RDNOISE that writes an illegal card, ingested by three jobs:
    before, each job's log warned of all three (multi-line warnings of the gain and read noise included)."""
    night = tmp_path / "night"
    night.mkdir()
    for index in range(3):
        camera_frame(night / f"frame_{index}.fits", index, **{"DATE-OBS": f"2024-05-01T22:0{index}:00"})
    run_snakemake(tmp_path / "work", {"datasets": {"cam": {"path": str(night)}}, "run": {"batch_size": 1}},
                  "results/cam/frames.csv")
    logs = tmp_path / "work/logs/cam"
    ingest_logs = sorted((logs / "ingest_frames").glob("*.log"))
    assert len(ingest_logs) == 3
    assert not [line for log in ingest_logs for line in log.read_text().splitlines() if " WARNING " in line]
    warned = [line.split(" WARNING ", 1)[1] for line in (logs / "tabulate_frames.log").read_text().splitlines()
              if " WARNING " in line]
    assert warned == [
        "3 of 3 frames: no gain in the config or header (GAIN, EGAIN, CCDGAIN): assuming 1 e-/ADU; set ingest: gain",
        "3 of 3 frames: no read noise in the config or header (RDNOISE, READNOIS, RON): assuming 0; set ingest: "
        "read_noise",
        "3 of 3 frames: header cards left out, not valid FITS: Illegal keyword name 'EXP TIME'"]
