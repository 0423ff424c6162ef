"""Real nights as observers bring them (issue 19): a GAIN card that is the camera's setting, a frame of zeros
among the lights, and star cores clipped below the integer top; on simulated frames and the real Seestar S50
frames of M94 (../shared/data/seestar_m94)."""

import re
import runpy

import numpy as np
import pandas as pd
import pytest
from astropy.io import fits

from conftest import ROOT, gaussian_star
from stackphot.background import estimate_background
from stackphot.ingest import (BAD_FRAME, SATURATED, find_saturation, ingest_frame, ingest_product, noise_model,
                              pile_up_level)
from stackphot.io import FrameError, RawFrame, read_image, read_raw_frame, read_table
from stackphot.register import prepare_frame, register_frame
from stackphot.register.select import FrameSelectionError, check_selection, judge_frames, read_selection
from stackphot.simulate import simulate_frame_set, write_frame_set
from workflow_helpers import run_snakemake

# The Seestar S50's own cards (its frames' header, abridged).
SEESTAR = {"CREATOR": "ZWO Seestar S50", "PRODUCER": "ZWO", "INSTRUME": "Seestar S50", "GAIN": 80}
# Same-colour pixels of a GRBG mosaic: every other pixel in x and y.
CHANNELS = {"G1": (0, 0), "R": (0, 1), "B": (1, 0), "G2": (1, 1)}


def raw(data, integer_max=65535.0, **cards):
    return RawFrame(np.asarray(data, np.float32), fits.Header(cards), "frame.fits", 0, integer_max)


# 1. GAIN as the camera's gain setting.

def test_egain_is_read_before_gain():
    header = fits.Header({"GAIN": 2.0, "EGAIN": 1.6, "RDNOISE": 9.0})
    model = noise_model(header)
    assert (model.gain, model.gain_source) == (1.6, "header EGAIN")
    # ZWO's cameras through N.I.N.A.: GAIN the setting, EGAIN the e-/ADU.
    model = noise_model(fits.Header({"INSTRUME": "ZWO ASI2600MM Pro", "SWCREATE": "N.I.N.A. 3.1.2.9001",
                                     "GAIN": 100, "EGAIN": 0.78, "RDNOISE": 1.5}))
    assert (model.gain, model.gain_source) == (0.78, "header EGAIN")


@pytest.mark.parametrize("cards, why", [
    (SEESTAR, r"INSTRUME = 'Seestar S50'"),
    ({"INSTRUME": "ZWO ASI294MC Pro", "GAIN": 0}, r"INSTRUME = 'ZWO ASI294MC Pro'"),  # setting 0: its lowest gain
    ({"INSTRUME": "QHY268M", "SWCREATE": "N.I.N.A. 2.1", "GAIN": 26}, r"SWCREATE = 'N.I.N.A. 2.1'"),
    ({"INSTRUME": "QHY600M", "GAIN": 56}, r"a whole number above 10"),
])
def test_a_gain_setting_without_egain_stops_with_what_to_set(cards, why):
    with pytest.raises(FrameError) as error:
        ingest_frame(raw(np.arange(16.0).reshape(4, 4), **cards, RDNOISE=2.0))
    message = str(error.value)
    assert message.startswith("frame.fits: header card GAIN = ")
    assert f"GAIN = {cards['GAIN']} is the camera's gain setting, not e-/ADU" in message
    assert re.search(why, message), message
    assert "set ingest: gain (e-/ADU) in the config" in message and "gain curve" in message
    # The config's gain is the answer.
    assert ingest_frame(raw(np.arange(16.0).reshape(4, 4), **cards, RDNOISE=2.0), gain=0.07).noise.gain == 0.07


@pytest.mark.parametrize("gain", [1.5, 2, 4.1, 10])
def test_a_gain_that_reads_as_electrons_per_adu_is_still_taken(gain):
    model = noise_model(fits.Header({"INSTRUME": "SBIG STXL-6303", "GAIN": gain, "RDNOISE": 9.0}))
    assert (model.gain, model.gain_source) == (gain, "header GAIN")


@pytest.mark.shared
def test_a_seestar_frame_without_a_gain_in_the_config_stops_naming_the_file(shared_data):
    path = min((shared_data / "seestar_m94").glob("*.fit"))
    with pytest.raises(FrameError) as error:
        ingest_frame(read_raw_frame(path))
    assert str(error.value).startswith(f"{path}: header card GAIN = 80 is the camera's gain setting")


def same_colour_boxes(image, *, box=32):
    """Star-free boxes of a same-colour image: (mean, noise, box slice), the noise from the differences of
    neighbouring pixels (a smooth sky cancels) as half their variance, square-rooted."""
    rows, cols = image.shape[0] // box, image.shape[1] // box
    cells = image[: rows * box, : cols * box].reshape(rows, box, cols, box).swapaxes(1, 2)
    median = np.median(image)
    spread = 1.4826 * np.median(np.abs(image - median))
    star_free = (cells.max(axis=(2, 3)) < median + 5 * spread) & (cells.min(axis=(2, 3)) > median - 5 * spread)
    boxes = cells[star_free]
    noise = np.sqrt(np.var(np.diff(boxes, axis=2), axis=(1, 2)) / 2)
    where = [(slice(i * box, (i + 1) * box), slice(j * box, (j + 1) * box)) for i, j in np.argwhere(star_free)]
    return boxes.mean(axis=(1, 2)), noise, where


@pytest.mark.shared
def test_seestar_error_maps_match_the_measured_noise_with_a_measured_gain(shared_data):
    """Photon transfer across the four colour channels (one gain, one ADC; four sky levels), then ingest with
    that gain: ERR against the noise of star-free sky, channel by channel."""
    frames = [read_raw_frame(path) for path in sorted((shared_data / "seestar_m94").glob("*.fit"))[:3]]
    levels, variances = [], []
    for frame in frames:
        for y, x in CHANNELS.values():
            mean, noise, _ = same_colour_boxes(frame.data[y::2, x::2].astype(np.float64))
            levels.append(mean.mean())
            variances.append(np.mean(noise**2))
    slope, intercept = np.polyfit(levels, variances, 1)
    gain, zero_level = 1 / slope, -intercept / slope
    print(f"photon transfer: gain {gain:.4f} e-/ADU (1/{slope:.2f}), zero-variance level {zero_level:.0f} ADU")
    assert 0.060 < gain < 0.075 and 400 < zero_level < 480
    # The counts above the zero-variance level (the camera's offset less its read noise, which it stands for
    # when it is given as a PEDESTAL with no read noise) are Poisson at that gain.
    for pedestal, low, high in ((-zero_level, 0.8, 1.2), (0.0, 1.4, 2.1)):
        for frame in frames:
            header = frame.header.copy()
            header["PEDESTAL"] = pedestal
            ingested = ingest_frame(RawFrame(frame.data, header, frame.path, 0, frame.integer_max), gain=gain,
                                    read_noise=0.0)
            for name, (y, x) in CHANNELS.items():
                _, noise, where = same_colour_boxes(frame.data[y::2, x::2].astype(np.float64))
                error = ingested.error[y::2, x::2]
                ratio = np.median([np.median(error[box]) for box in where] / noise)
                print(f"PEDESTAL {pedestal:.0f}: {frame.path.name} {name}: ERR / noise {ratio:.3f} ({len(where)} boxes)")
                assert low < ratio < high
    # Today's reading, GAIN = 80 taken as e-/ADU, gave an error map 20 times too small.
    assert np.sqrt(np.median(frames[0].data) / 80) < 0.06 * np.sqrt(np.median(variances))


# 2. A frame of zeros: written, masked whole, and rejected.

def test_a_constant_frame_is_written_masked_whole_with_why():
    product, frame = ingest_product(raw(np.zeros((4, 5)), GAIN=1.5, RDNOISE=10.0), raw_sha256="0" * 64)
    assert frame.bad_frame == "constant 0 everywhere"
    assert (frame.mask & BAD_FRAME).all()
    assert product.cards["BADFRAME"] == ("constant 0 everywhere", "no image: every pixel masked")
    assert "no image (constant 0 everywhere): every pixel masked, MASK bit 128" in product.history
    assert ingest_frame(raw(np.full((3, 3), 1000.0), GAIN=1.5, RDNOISE=1.0)).bad_frame == "constant 1000 everywhere"
    assert ingest_frame(raw(np.arange(9.0).reshape(3, 3), GAIN=1.5, RDNOISE=1.0)).bad_frame == ""


def test_the_background_of_a_frame_masked_whole_is_its_median_with_a_warning():
    with pytest.warns(UserWarning, match="every pixel is masked"):
        sky = estimate_background(np.zeros((128, 128)), mask=np.ones((128, 128), bool), destripe_rows=True)
    assert sky.level == 0.0 and sky.rms_median == 0.0 and sky.map.shape == (128, 128)


def test_a_bad_frame_gets_register_frames_row_with_nothing_measured():
    unregistered = runpy.run_path(str(ROOT / "scripts/measure_shifts.py"))["unregistered"]
    shape = (96, 96)
    image = sum(gaussian_star(shape, y, x, flux=f) for y, x, f in [(20, 30, 4e4), (60, 70, 3e4), (40, 80, 2e4),
                                                                      (75, 20, 3e4), (50, 45, 5e4)])
    image = image + np.random.default_rng(3).normal(0, 5, shape)
    mask = np.zeros(shape, np.uint8)
    prepared, _, stars = prepare_frame(image, mask, crop=None, smooth_sigma=2.0, threshold=2.0)
    row, _ = register_frame(image, mask, prepared, stars, crop=None, smooth_sigma=2.0, threshold=2.0,
                            upsample_factor=10)
    bad = unregistered("constant 0 everywhere")
    assert list(bad) == [*row, "bad_frame"]
    assert np.isnan(bad["dy"]) and bad["method"] == "none" and bad["n_matched"] == 0


QUALITY = pd.DataFrame({"frame": ["a", "b", "c"], "dy": [0.0, 1.0, 0.5], "dx": [0.0, -1.0, 0.2],
                        "correlation": [1.0, 0.95, 0.97], "overlap": [1.0, 0.99, 0.99],
                        "method": ["xcorr"] * 3, "n_matched": [40, 38, 41]})


def test_the_selection_rejects_a_bad_frame_with_its_reason():
    quality = QUALITY.assign(bad_frame=[np.nan, "constant 0 everywhere", np.nan])  # as shifts.csv reads back
    judged = judge_frames(quality, reference="a", min_correlation=0.3, min_overlap=0.5)
    assert list(judged.accepted) == [True, False, True]
    assert judged.reason[1].startswith("no image: constant 0 everywhere (every pixel masked at ingest")
    check_selection(judged, on_bad_frame="reject", min_frames=2, dataset="night")
    with pytest.raises(FrameSelectionError, match=r"1 bad frame\(s\) \(b: no image: constant 0 everywhere"):
        check_selection(judged, on_bad_frame="fail", min_frames=2, dataset="night")
    # Without the column (no bad frame in the night) nothing changes.
    assert judge_frames(QUALITY, reference="a", min_correlation=0.3, min_overlap=0.5).accepted.all()


def test_the_selection_file_reads_bad_frame_back_as_text(tmp_path):
    from stackphot.io import write_table

    quality = QUALITY.assign(bad_frame=["", "constant 0 everywhere", ""])
    write_table(tmp_path / "frame_selection.csv", judge_frames(quality, reference="a", min_correlation=0.3,
                                                               min_overlap=0.5))
    assert list(read_selection(tmp_path / "frame_selection.csv").bad_frame) == ["", "constant 0 everywhere", ""]


@pytest.mark.workflow
def test_a_night_with_a_frame_of_zeros_is_stacked_without_it(tmp_path):
    """Three simulated frames and one of zeros, through Snakemake: the run succeeds without the zero frame."""
    night = tmp_path / "night"
    write_frame_set(simulate_frame_set(shape=(128, 128), n_frames=3, n_cluster_stars=60, n_field_stars=30,
                                       cluster_scale_radius=20.0, cluster_max_radius=50.0, max_offset=3.0), night)
    header = fits.getheader(night / "frame_003.fits")
    fits.PrimaryHDU(np.zeros((128, 128), np.uint16), header).writeto(night / "frame_004.fits")
    # One job per step: each job's start costs more than its work here.
    run_snakemake(tmp_path / "work", {"datasets": {"zero": {"path": str(night)}}, "run": {"batch_size": 4}},
                  "results/zero/stack.fits", "results/zero/rejected.csv")
    results = tmp_path / "work/results/zero"
    assert fits.getheader(results / "stack.fits")["NCOMBINE"] == 3
    rejected = read_table(results / "rejected.csv")
    assert rejected.frame.tolist() == ["frame_004"]
    assert rejected.reason[0].startswith("no image: constant 0 everywhere")
    _, written, ext = read_image(results / "ingest/frame_004.fits", "MASK")
    assert written["BADFRAME"] == "constant 0 everywhere" and (ext["MASK"] & BAD_FRAME).all()
    log = (tmp_path / "work/logs/zero/ingest_frames/batch_0001.log").read_text()
    assert "frame_004.fits: no image (constant 0 everywhere): written with every pixel masked" in log


# 3. Saturation where the top values pile up.

def star_field(rng, peaks, *, sky=1000.0, gain=1.5, shape=(200, 200)):
    """A sky with stars of the given peak heights above it (FWHM 3.5 px), Poisson noise at ``gain``."""
    sigma = 3.5 / 2.355
    image = np.full(shape, sky)
    positions = rng.uniform(15, shape[0] - 15, (len(peaks), 2))
    for (y, x), peak in zip(positions, peaks):
        image += gaussian_star(shape, y, x, flux=peak * 2 * np.pi * sigma**2, sigma=sigma)
    return rng.poisson(image * gain) / gain


def test_clipped_star_cores_are_flagged_where_they_pile_up(rng):
    truth = star_field(rng, [4e5, 2e5, 1.5e5, 9e4, 3e4, 1e4, 5e3])
    # The camera clips at 65500, each clipped pixel a few ADU off it (its processing after the ADC).
    clipped = truth >= 65500
    data = np.where(clipped, 65500 + rng.normal(0, 3, truth.shape), truth)
    frame = raw(np.rint(data), GAIN=1.5, RDNOISE=5.0)
    level, source = find_saturation(frame)
    print(f"{clipped.sum()} clipped pixels; saturation {level:.0f} ADU ({source})")
    assert source == "pile-up" and 65300 < level < 65490
    saturated = (ingest_frame(frame).mask & SATURATED) > 0
    assert saturated[clipped].all()
    assert not saturated[truth < 65000].any()  # the nearly full wings just under the pile at most
    product, _ = ingest_product(frame, raw_sha256="0" * 64)
    assert product.cards["SATURATE"] == (level, "ADU, where the top values pile up")
    # A SATURATE card or the config's level comes first.
    assert find_saturation(raw(data, SATURATE=60000.0)) == (60000.0, "header SATURATE")
    assert find_saturation(frame, saturation=50000) == (50000.0, "config")


def test_the_brightest_star_of_an_unsaturated_frame_is_not_flagged(rng):
    data = star_field(rng, [6.3e4, 5.8e4, 4e4, 4e4, 2.5e4, 1e4, 5e3])
    # And a defocused star: a flat disk of 80 pixels at 40000 ADU, its top only noise.
    yy, xx = np.mgrid[:200, :200]
    data = data + np.where((yy - 100) ** 2 + (xx - 100) ** 2 < 25, rng.normal(4e4, 160, data.shape), 0)
    frame = raw(np.rint(data), GAIN=1.5, RDNOISE=5.0)
    assert pile_up_level(frame.data) is None
    assert find_saturation(frame) == (65535.0, "integer range")
    assert not (ingest_frame(frame).mask & SATURATED).any()
    # Clipped at the integer top itself, the top flags the saturated pixels, as before.
    at_top = raw(np.minimum(star_field(rng, [2e5, 1e5, 3e4]), 65535), GAIN=1.5, RDNOISE=5.0)
    assert find_saturation(at_top) == (65535.0, "integer range")
    # A float frame has no integer top to pile below.
    assert find_saturation(raw(data, integer_max=None)) == (None, "none")


@pytest.mark.shared
def test_the_seestar_frames_have_no_pile_up(shared_data):
    """The six frames' brightest pixels (34465-62174 ADU) are the single peaks of unsaturated stars."""
    for path in sorted((shared_data / "seestar_m94").glob("*.fit")):
        frame = read_raw_frame(path)
        level, source = find_saturation(frame)
        print(f"{path.name}: max {frame.data.max():.0f} ADU, saturation {level:.0f} ({source}), "
              f"{np.count_nonzero(frame.data >= level)} pixels flagged")
        assert (level, source) == (65535.0, "integer range") and frame.data.max() < level
