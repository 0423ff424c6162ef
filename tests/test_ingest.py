import numpy as np
import pytest
from astropy.io import fits

from stackphot.ingest import NONFINITE, SATURATED, error_map, ingest_frame, noise_model
from stackphot.io import FrameError, RawFrame


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


@pytest.mark.parametrize("data, message", [(np.full((3, 3), np.nan), "no finite pixel"),
                                           (np.full((3, 3), 7.0), "is constant")])
def test_unusable_frames_are_refused_by_name(data, message):
    with pytest.raises(FrameError, match=message) as error:
        ingest_frame(raw(data, GAIN=1.0, RDNOISE=1.0))
    assert "frame.fits" in str(error.value)


def test_an_unreadable_noise_card_is_refused_by_name():
    with pytest.raises(FrameError, match=r"frame.fits.*header card GAIN = 'high' is not a number"):
        ingest_frame(raw(np.arange(9.0).reshape(3, 3), GAIN="high", RDNOISE=1.0))
    # The config's value makes the card irrelevant.
    assert ingest_frame(raw(np.arange(9.0).reshape(3, 3), GAIN="high", RDNOISE=1.0), gain=2.0).noise.gain == 2.0


def test_ingest_keeps_a_frame_whose_header_has_an_illegal_card_and_says_which(tmp_path, caplog):
    import logging

    from stackphot.io import read_image
    from stackphot.steps import ingest

    raw_path = tmp_path / "raw.fits"
    header = fits.Header([("GAIN", 2.0), ("RDNOISE", 8.0), ("EXPTIME2", 5.0), ("OBJECT", "M13")])
    fits.PrimaryHDU(np.arange(1000, 1064, dtype=np.uint16).reshape(8, 8), header).writeto(raw_path)
    raw_path.write_bytes(raw_path.read_bytes().replace(b"EXPTIME2", b"EXP TIME"))  # as a camera might write it
    before = raw_path.read_bytes()
    with caplog.at_level(logging.WARNING):
        ingest(raw_path, tmp_path / "frame.fits", gain=None, read_noise=None, saturation=None,
               log=logging.getLogger("test"))
    data, written, _ = read_image(tmp_path / "frame.fits")
    assert written["OBJECT"] == "M13" and "EXP TIME" not in written and data[0, 0] == 1000
    assert f"{raw_path}: a header card left out, not valid FITS" in caplog.text and "EXP TIME" in caplog.text
    assert raw_path.read_bytes() == before
