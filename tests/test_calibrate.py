"""Calibration frames classified (stackphot.inventory), combined into masters and applied to lights: against ccdproc (the
independent reference, used only here) on the same files, and against the truth of simulated frames."""

import warnings

import numpy as np
import pytest
from astropy import units as u
from astropy.io import fits
from astropy.nddata import CCDData

from stackphot.calibrate import (HOT, LOW_RESPONSE, CombineOptions, MeasuredReadNoise, calibrate_light, hot_pixels,
                                 master_bias, master_dark, master_flat, master_product, measure_read_noise,
                                 night_read_noise, read_master, zero_level)
from stackphot.calibrate.noise import frames_noise, read_noise_for
from stackphot.frames import header_warnings
from stackphot.io import write_product
from stackphot.inventory import describe_frame, inventory, kind_of_word, plan_calibration
from stackphot.io import FrameError

SHAPE = (96, 128)
GAIN, READ_NOISE = 1.5, 9.0
MEAN = CombineOptions(method="mean")


@pytest.mark.parametrize("value, kind", [
    ("Light Frame", "light"), ("LIGHT", "light"), ("Light", "light"), ("object", "light"),
    ("Bias Frame", "bias"), ("BIAS", "bias"), ("zero", "bias"), ("Offset", "bias"),
    ("Dark Frame", "dark"), ("DARK", "dark"), ("DARKFLAT", "dark"), ("Flat Dark", "dark"),
    ("Flat Field", "flat"), ("FLAT", "flat"), ("SkyFlat", "flat"), ("flats", "flat"), ("Darks", "dark"),
    ("R", None), ("1p5s", None), ("", None), (None, None),
])
def test_imagetyp_spellings_and_folder_names_give_the_kind(value, kind):
    assert kind_of_word(value) == kind


def write(path, data, **cards):
    """A camera's frame: uint16 stored as int16 with BZERO 32768, and its cards."""
    header = fits.Header()
    for key, value in cards.items():
        header[key.replace("_", "-") if key == "CCD_TEMP" else key] = value
    hdu = fits.PrimaryHDU(np.clip(np.round(data), 0, 65535).astype(np.uint16), header)
    path.parent.mkdir(parents=True, exist_ok=True)
    hdu.writeto(path)
    return path


def test_the_header_says_what_a_frame_is_and_its_folder_where_the_header_is_silent(tmp_path):
    data = np.full(SHAPE, 1000.0)
    flat_among_lights = write(tmp_path / "lights" / "f1.fits", data, IMAGETYP="Flat Field", EXPTIME=1.5,
                              FILTER="R ", XBINNING=2, YBINNING=2, CCD_TEMP=-31.0)
    silent_dark = write(tmp_path / "Darks" / "1p5s" / "d1.fit", data, EXPTIME=1.5)
    plain = write(tmp_path / "frame1.fits", data)
    info = describe_frame(flat_among_lights, tmp_path)
    assert (info.kind, info.filter, info.binning, info.shape, info.exptime, info.temperature) == \
        ("flat", "R", (2, 2), SHAPE, 1.5, -31.0)
    assert info.kind_source == "IMAGETYP 'Flat Field' (its folder 'lights' says light)"
    assert (describe_frame(silent_dark, tmp_path).kind, describe_frame(silent_dark, tmp_path).kind_source) == \
        ("dark", "folder 'Darks'")
    assert describe_frame(plain, tmp_path).kind == "light"


@pytest.fixture(scope="module")
def night(tmp_path_factory):
    """Bias, 10 s darks, 2 s flats and a 10 s light on a detector with structure, hot pixels and vignetting."""
    folder = tmp_path_factory.mktemp("night")
    rng = np.random.default_rng(11)
    y, x = np.mgrid[: SHAPE[0], : SHAPE[1]]
    bias = 1000 + 3 * np.sin(x / 5.0) + 0.02 * y
    rate = np.full(SHAPE, 0.5)  # e-/s
    hot = rng.random(SHAPE) < 0.01
    rate[hot] = rng.uniform(50, 500, hot.sum())
    radius = np.hypot((x - SHAPE[1] / 2) / SHAPE[1], (y - SHAPE[0] / 2) / SHAPE[0])
    flat = (1 - 0.6 * radius**2) * rng.normal(1, 0.01, SHAPE)
    flat[5, 7] = 0.02  # a dead pixel

    def expose(electrons, exptime):
        signal = rng.poisson(np.clip(electrons + rate * exptime, 0, None)) + rng.normal(0, READ_NOISE, SHAPE)
        return bias + signal / GAIN

    cards = dict(EXPTIME=0.0, GAIN=GAIN, RDNOISE=READ_NOISE)
    paths = {
        "bias": [write(folder / f"bias{i}.fits", expose(0, 0), IMAGETYP="Bias Frame", **cards) for i in range(5)],
        "dark": [write(folder / f"dark{i}.fits", expose(0, 10), IMAGETYP="Dark Frame", **{**cards, "EXPTIME": 10.0})
                 for i in range(5)],
        "flat": [write(folder / f"flat{i}.fits", expose(flat * level, 2), IMAGETYP="Flat Field", FILTER="R",
                       **{**cards, "EXPTIME": 2.0}) for i, level in enumerate((20000, 22000, 18000, 21000, 19000))],
        "light": write(folder / "light.fits", expose(flat * 3000, 10), IMAGETYP="Light Frame",
                       **{**cards, "EXPTIME": 10.0}),
    }
    return paths, {"bias": bias, "rate": rate, "hot": hot, "flat": flat}


def masters(paths, options=MEAN):
    bias = master_bias(paths["bias"], gain=GAIN, read_noise=READ_NOISE, options=options)
    dark = master_dark(paths["dark"], 10.0, bias=bias, gain=GAIN, read_noise=READ_NOISE, options=options)
    flat = master_flat(paths["flat"], "R", zero=zero_level(2.0, bias=bias, darks={10.0: dark}), gain=GAIN,
                       read_noise=READ_NOISE, options=options)
    return bias, dark, flat


def ccd(path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return CCDData.read(path, unit="adu")


def test_masters_and_a_calibrated_light_equal_ccdprocs(night):
    ccdproc = pytest.importorskip("ccdproc")
    paths, _ = night
    bias, dark, flat = masters(paths)
    reference_bias = ccdproc.combine([ccd(p) for p in paths["bias"]], method="average", dtype=np.float64)
    reference_dark = ccdproc.combine([ccdproc.subtract_bias(ccd(p), reference_bias) for p in paths["dark"]],
                                     method="average", dtype=np.float64)
    flats = [ccdproc.subtract_bias(ccd(p), reference_bias) for p in paths["flat"]]
    flats = [ccdproc.subtract_dark(f, reference_dark, exposure_time="EXPTIME", exposure_unit=u.s, scale=True)
             for f in flats]
    reference_flat = ccdproc.combine(flats, method="average", scale=lambda a: 1 / np.median(a), dtype=np.float64)
    reference_flat = reference_flat.divide(np.median(reference_flat.data))
    light = ccdproc.subtract_bias(ccd(paths["light"]), reference_bias)
    light = ccdproc.subtract_dark(light, reference_dark, exposure_time="EXPTIME", exposure_unit=u.s, scale=True)
    reference_light = ccdproc.flat_correct(light, reference_flat, norm_value=1.0)

    ours = calibrate_light(fits.getdata(paths["light"]).astype(np.float32), np.zeros(SHAPE, np.uint8),
                           zero=zero_level(10.0, bias=bias, darks={10.0: dark}), flat=flat, gain=GAIN,
                           read_noise=READ_NOISE)
    for mine, theirs in ((bias.data, reference_bias.data), (dark.data, reference_dark.data),
                         (flat.data, reference_flat.data), (ours.data, reference_light.data)):
        scale = np.max(np.abs(theirs))
        assert np.max(np.abs(mine - theirs)) / scale < 1e-5


def test_the_masters_recover_the_detector(night):
    paths, truth = night
    bias, dark, flat = masters(paths, CombineOptions())
    assert np.sqrt(np.mean((bias.data - truth["bias"]) ** 2)) < 1.5 * READ_NOISE / GAIN / np.sqrt(5)
    assert np.median(np.abs(dark.data[truth["hot"]] * GAIN / 10 / truth["rate"][truth["hot"]] - 1)) < 0.05
    assert np.sqrt(np.mean((flat.data / truth["flat"] / np.median(flat.data / truth["flat"]) - 1) ** 2)) < 0.005
    found = hot_pixels(dark, nsigma=5)
    assert (found == truth["hot"]).mean() > 0.999


def test_the_calibrated_light_is_flat_and_its_errors_are_honest(night):
    paths, truth = night
    bias, dark, flat = masters(paths, CombineOptions())
    raw = fits.getdata(paths["light"]).astype(np.float32)
    result = calibrate_light(raw, np.zeros(SHAPE, np.uint8), zero=zero_level(10.0, bias=bias, darks={10.0: dark}),
                             flat=flat, gain=GAIN, read_noise=READ_NOISE, hot=hot_pixels(dark, nsigma=5))
    good = result.mask == 0
    # The light's electrons as a pixel of the flat's median response sees them.
    expected = 3000 * np.median(truth["flat"]) / GAIN
    pull = (result.data[good] - expected) / result.error[good]
    assert abs(np.median(result.data[good]) / expected - 1) < 0.005
    assert 0.9 < np.std(pull) < 1.1
    assert result.mask[5, 7] & LOW_RESPONSE and (result.mask[truth["hot"]] & HOT).all()
    # Uncalibrated, the vignetting is all there: the corners are 15% darker.
    assert np.median(raw[:5, :5] - truth["bias"][:5, :5]) < 0.9 * np.median(raw[45:50, 60:65] - truth["bias"][45:50, 60:65])


def test_a_plain_folder_of_lights_needs_no_calibration(tmp_path):
    for index in range(3):
        write(tmp_path / f"frame{index}.fits", np.full(SHAPE, 100.0 + index), EXPTIME=10.0)
    frames = inventory(tmp_path)
    assert [info.name for info in frames] == ["frame0", "frame1", "frame2"]
    assert plan_calibration(frames, min_frames=3) is None


def test_the_real_night_in_its_observers_folders_is_planned():
    from conftest import SHARED_DATA

    folder = SHARED_DATA / "bsu_sn2022yid"
    if not folder.is_dir():
        pytest.skip(f"real data not available: {folder} does not exist")
    plan = plan_calibration(inventory(folder), min_frames=3)
    assert len(plan.lights) == 5 and not plan.bias
    assert list(plan.darks) == [1.5] and len(plan.darks[1.5]) == 5
    assert list(plan.flats) == ["R_bin2x2"] and len(plan.flats["R_bin2x2"]) == 5
    assert plan.master_names == ["master_dark_1p5s", "master_flat_R_bin2x2"]
    assert plan.exposures_needed() == [1.5, 120.0]


def test_calibration_that_cannot_be_used_is_refused_naming_the_file_and_the_fix(tmp_path):
    data = np.full(SHAPE, 1000.0)
    light = write(tmp_path / "lights" / "l1.fits", data, IMAGETYP="Light Frame", EXPTIME=60.0, FILTER="V")
    for index in range(3):
        write(tmp_path / "flats" / f"f{index}.fits", data, IMAGETYP="Flat Field", EXPTIME=2.0, FILTER="R")
    with pytest.raises(FrameError, match=r"l1\.fits: a light of filter V and binning 1x1, but the flats are R_bin1x1"):
        plan_calibration(inventory(tmp_path), min_frames=3)
    write(tmp_path / "flats" / "f3.fits", data, IMAGETYP="Flat Field", EXPTIME=2.0, FILTER="V")
    with pytest.raises(FrameError, match=r"f3\.fits: only 1 flat frame\(s\) for master_flat_V_bin1x1, fewer than "
                                         r"calibrate: min_frames"):
        plan_calibration(inventory(tmp_path), min_frames=3)
    small = write(tmp_path / "darks" / "d0.fits", np.full((48, 64), 1000.0), IMAGETYP="Dark Frame", EXPTIME=60.0)
    with pytest.raises(FrameError, match=r"d0\.fits: a dark of 48 x 64 pixels for lights of 96 x 128"):
        plan_calibration(inventory(tmp_path), min_frames=1)
    small.unlink()
    for index in range(3):
        write(tmp_path / "darks" / f"d{index}.fits", data, IMAGETYP="Dark Frame", EXPTIME=300.0)
    (tmp_path / "flats" / "f3.fits").unlink()
    light.unlink()
    write(tmp_path / "lights" / "l1.fits", data, IMAGETYP="Light Frame", EXPTIME=60.0, FILTER="R")
    with pytest.raises(FrameError, match=r"darks of 300 s match no light or flat exposure \(2, 60 s\), and with no "
                                         r"bias frames they cannot be scaled"):
        plan_calibration(inventory(tmp_path), min_frames=3)


def test_a_colour_sensors_flat_is_normalised_colour_by_colour(tmp_path):
    """Twilight flats on a colour sensor: the red pixels see 0.4 of the green's light, the blue 1.3 times it,
    through one vignetting. The master keeps the vignetting and none of the twilight's colour; normalised as
    one, its red pixels would sit under calibrate: min_flat (0.5) everywhere and be masked."""
    y, x = np.indices(SHAPE)
    vignetting = 1 - 0.2 * (((y - 48) / 48) ** 2 + ((x - 64) / 64) ** 2)
    colour = np.ones(SHAPE)
    colour[0::2, 1::2], colour[1::2, 0::2] = 0.4, 1.3  # GRBG
    rng = np.random.default_rng(8)
    paths = [write(tmp_path / f"flat{i}.fits", 20000 * vignetting * colour + rng.normal(0, 5, SHAPE), EXPTIME=1.0)
             for i in range(3)]
    zero = zero_level(1.0, bias=None, darks={})
    per_colour = master_flat(paths, "L", zero=zero, gain=GAIN, read_noise=READ_NOISE, options=MEAN, colour=True)
    as_one = master_flat(paths, "L", zero=zero, gain=GAIN, read_noise=READ_NOISE, options=MEAN)
    for row in (0, 1):
        for column in (0, 1):
            cell = per_colour.data[row::2, column::2]
            assert np.median(cell) == pytest.approx(1.0, abs=1e-6)
            expected = vignetting[row::2, column::2] / np.median(vignetting[row::2, column::2])
            assert np.abs(cell / expected - 1).max() < 0.005
    assert np.median(as_one.data[0::2, 1::2]) < 0.5


def test_the_read_noise_is_measured_from_pairs_of_bias_frames_or_darks(night):
    paths, truth = night
    measured = measure_read_noise(paths["bias"], gain=GAIN)
    # The difference of two frames cancels the bias' pattern; the uint16 rounding adds 1/12 ADU^2 to each frame.
    assert measured.source == "2 pairs of bias frames"
    assert measured.electrons == pytest.approx(np.hypot(READ_NOISE, GAIN / np.sqrt(12)), rel=0.02)
    assert measured.adu == pytest.approx(measured.electrons / GAIN)
    # Darks also hold their dark current's Poisson noise (0.5 e-/s for 10 s); a pixel's hot one flickers, clipped.
    dark = measure_read_noise(paths["dark"], gain=GAIN, what="10 s darks")
    assert dark.source == "2 pairs of 10 s darks"
    assert dark.electrons == pytest.approx(np.sqrt(READ_NOISE**2 + GAIN**2 / 12 + 0.5 * 10), rel=0.03)
    assert measure_read_noise(paths["bias"][:1], gain=GAIN) is None  # no pair


def test_the_measured_read_noise_goes_with_its_master_and_the_bias_wins(night, tmp_path):
    paths, _ = night
    bias = master_bias(paths["bias"], gain=GAIN, read_noise=READ_NOISE, options=MEAN)
    bias.read_noise = MeasuredReadNoise(9.1, 9.1 / GAIN, "2 pairs of bias frames")
    write_product(tmp_path / "master_bias.fits", master_product(bias), fits.Header())
    again = read_master(tmp_path / "master_bias.fits")
    assert again.read_noise == bias.read_noise
    short, long = (master_dark(paths["dark"], exptime, bias=None, gain=GAIN, read_noise=READ_NOISE, options=MEAN)
                   for exptime in (10.0, 30.0))
    short.read_noise = MeasuredReadNoise(9.4, 9.4 / GAIN, "2 pairs of 10 s darks")
    long.read_noise = MeasuredReadNoise(11.0, 11.0 / GAIN, "2 pairs of 30 s darks")
    assert night_read_noise([long, short, None]) is short.read_noise
    assert night_read_noise([long, again, short]) == bias.read_noise
    assert night_read_noise([None]) is None


def test_a_given_read_noise_wins_and_is_checked_against_the_measured_one():
    measured = MeasuredReadNoise(16.7, 6.46, "2 pairs of 1.5 s darks")
    assert read_noise_for(0.0, "assumed", measured) == (16.7, "measured: 2 pairs of 1.5 s darks", None)
    assert read_noise_for(0.0, "assumed", None) == (0.0, "assumed", None)
    assert read_noise_for(15.0, "config", measured) == (15.0, "config", None)  # within 25%
    assert read_noise_for(9.0, "header RDNOISE", measured) == (
        9.0, "header RDNOISE", "read noise 9 e- (header RDNOISE), but 2 pairs of 1.5 s darks measure 16.70 e-")


def test_the_frames_table_warns_of_a_read_noise_far_from_the_measured_one(tmp_path):
    def ingested(name, value, source):
        header = fits.Header([("RDNOISE", value, f"e- ({source})")])
        path = tmp_path / f"{name}.fits"
        fits.PrimaryHDU(np.zeros((2, 2), np.float32), header).writeto(path)
        return path

    measured = MeasuredReadNoise(16.7, 6.46, "2 pairs of 1.5 s darks")
    assumed = [ingested(f"a{i}", 0.0, "assumed") for i in range(2)]
    assert header_warnings(assumed) == ["2 of 2 frames: no read noise in the config or header (RDNOISE, READNOIS, "
                                        "RON): assuming 0; set ingest: read_noise"]
    assert header_warnings(assumed, measured) == []
    given = [ingested("g0", 9.0, "header RDNOISE"), ingested("g1", 16.0, "header RDNOISE")]
    assert header_warnings(given, measured) == [
        "1 of 2 frames: read noise 9 e- (header RDNOISE), but 2 pairs of 1.5 s darks measure 16.70 e-"]


def test_a_masters_frames_take_the_read_noise_they_measure_where_nothing_gives_it(night):
    paths, _ = night
    header = fits.Header({"GAIN": GAIN})  # no read noise card
    bias = frames_noise(header, paths["bias"], kind="bias")
    assert bias.read_noise == pytest.approx(bias.measured.electrons) and bias.warnings == []
    assert bias.read_noise_source == "measured: 2 pairs of bias frames"
    flat = frames_noise(header, paths["flat"], kind="flat", night=bias.measured)
    assert (flat.read_noise, flat.measured) == (bias.read_noise, None)
    assert frames_noise(header, paths["dark"], kind="dark", night=bias.measured).measured is None  # the bias' counts
    alone = frames_noise(header, paths["flat"], kind="flat")
    assert (alone.read_noise, alone.read_noise_source) == (0.0, "assumed")
    assert alone.warnings == ["no read noise in the config or header (RDNOISE, READNOIS, RON): assuming 0; "
                              "set ingest: read_noise"]
    wrong = frames_noise(fits.Header({"GAIN": GAIN, "RDNOISE": 4.0}), paths["bias"], kind="bias")
    assert wrong.read_noise == 4.0 and wrong.warnings[0].startswith("read noise 4 e- (header RDNOISE), but 2 pairs")
