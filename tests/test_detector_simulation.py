"""Tests of stackphot.simulate.detector: calibration frames made from it give back its known truth."""

import numpy as np
import pytest

from stackphot.simulate.detector import (DetectorSignature, bias_frames, dark_frames, detector_signature, expose,
                                         flat_frames)

SHAPE = (256, 256)
QUANTISATION = 1 / 12  # ADU**2: variance added by rounding to whole ADU


@pytest.fixture(scope="module")
def signature() -> DetectorSignature:
    return detector_signature(SHAPE, seed=7)


@pytest.fixture(scope="module")
def master_bias(signature):
    return np.mean(bias_frames(signature, 50, seed=1), axis=0)


def read_variance_adu(signature):
    return (signature.read_noise / signature.gain) ** 2 + QUANTISATION


def test_the_signature_has_the_structure_asked_for(signature):
    bias = signature.bias.astype(float) - 1000.0
    columns = bias.mean(axis=0)
    rows = bias.mean(axis=1)
    assert columns.std() == pytest.approx(3.0, rel=1e-3)
    assert rows[-1] - rows[0] == pytest.approx(5.0, rel=1e-3)
    assert abs(bias.mean()) < 1e-3

    hot = signature.hot_pixels
    assert hot.sum() == round(1e-3 * hot.size)
    assert np.all(signature.dark_current[~hot] == np.float32(0.02))
    assert 5.0 <= signature.dark_current[hot].min() and signature.dark_current[hot].max() <= 200.0
    assert not np.any(hot & signature.dead_pixels)

    flat = signature.flat
    assert np.median(flat) == pytest.approx(1.0, abs=1e-4)
    assert 3 <= signature.dead_pixels.sum() and np.all(flat[signature.dead_pixels] < 0.1)
    assert np.all(flat[~signature.dead_pixels] > 0.5)
    assert len(signature.dust) == 4
    for array in (signature.bias, signature.dark_current, signature.flat):
        assert array.dtype == np.float32 and array.shape == SHAPE and not array.flags.writeable


def test_the_mean_of_50_biases_is_the_bias(signature, master_bias):
    residual = master_bias - signature.bias
    sigma = np.sqrt(read_variance_adu(signature) / 50)  # 0.94 ADU
    assert residual.std() == pytest.approx(sigma, rel=0.02)
    assert abs(residual.mean()) < 5 * sigma / np.sqrt(residual.size)
    # The brief's bound is 4 sigma; over 65536 pixels a few pass 4 sigma by chance, none 5.
    assert np.abs(residual).max() < 5 * sigma
    assert np.mean(np.abs(residual) > 4 * sigma) < 5e-4
    # The column pattern (3 ADU rms) is there, to 1/256 of the noise per column.
    assert np.corrcoef(master_bias.mean(axis=0), signature.bias.mean(axis=0))[0, 1] > 0.999


def test_expose_of_no_light_in_no_time_averages_to_the_bias(signature):
    frames = [expose(signature, np.zeros(SHAPE), exptime=0.0, seed=seed) for seed in range(20)]
    residual = np.mean(frames, axis=0) - signature.bias
    assert residual.std() == pytest.approx(np.sqrt(read_variance_adu(signature) / 20), rel=0.02)
    assert abs(residual.mean()) < 0.02


def test_darks_minus_biases_give_the_dark_current(signature, master_bias):
    exptime = 120.0
    master_dark = np.mean(dark_frames(signature, 20, exptime=exptime, seed=2), axis=0)
    rate = (master_dark - master_bias) / exptime * signature.gain
    hot = signature.hot_pixels
    error = rate[hot] / signature.dark_current[hot] - 1
    assert np.sqrt(np.mean(error**2)) < 0.01  # measured 0.43 %
    assert np.abs(error).max() < 0.03  # measured 1.4 %, on a faint hot pixel
    # The 0.02 e-/s base rate, from the mean over the other pixels.
    assert rate[~hot].mean() == pytest.approx(0.02, abs=0.002)


def test_a_warmer_sensor_doubles_the_dark(signature, master_bias):
    hot = signature.hot_pixels
    warm = expose(signature, 0.0, exptime=60.0, seed=3, temperature_scale=2.0)
    cold = expose(signature, 0.0, exptime=60.0, seed=4, temperature_scale=1.0)
    ratio = (warm - master_bias)[hot].sum() / (cold - master_bias)[hot].sum()
    assert ratio == pytest.approx(2.0, rel=0.01)


def master_flat(signature, n):
    flats = np.mean(flat_frames(signature, n, seed=5), axis=0)
    flat_darks = np.mean(dark_frames(signature, n, exptime=1.5, seed=6), axis=0)
    flat = flats - flat_darks
    return flat / np.median(flat)


@pytest.fixture(scope="module")
def measured_flat(signature):
    return master_flat(signature, 16)


def test_flats_minus_flat_darks_give_the_flat(signature, measured_flat):
    n, level, gain = 16, 30000.0, signature.gain
    dark = signature.dark_current.astype(float) * 1.5
    read = signature.read_noise**2 + gain**2 * QUANTISATION
    # Per pixel, in electrons: photon and dark noise of the flats, dark noise of the flat darks, reads of both.
    variance = (level * signature.flat + dark + read) / n + (dark + read) / n
    expected = np.sqrt(np.mean(variance)) / level
    residual = measured_flat - signature.flat
    assert residual.std() == pytest.approx(expected, rel=0.03)  # 0.143 %
    assert residual.std() < 0.005
    assert abs(np.median(residual)) < 2e-4
    # The dark current of the flats is gone: the hot pixels are no brighter than the others.
    assert np.abs(residual[signature.hot_pixels]).max() < 5 * expected
    assert np.all(measured_flat[signature.dead_pixels] < 0.1)


def near_rings(signature, rings, margin=2.0):
    """Pixels within ``margin`` px of any of ``rings``' annuli."""
    rows, cols = np.indices(SHAPE)
    near = np.zeros(SHAPE, bool)
    for ring in rings:
        near |= np.abs(np.hypot(rows - ring.y, cols - ring.x) - ring.radius) < ring.width / 2 + margin
    return near


def test_the_corners_see_70_percent_of_the_centre(signature, measured_flat):
    ny, nx = SHAPE
    rows, cols = np.indices(SHAPE)
    # Off the dust rings: one of them crosses the centre of this signature.
    clear = ~near_rings(signature, signature.dust)
    centre = clear & (np.hypot(rows - (ny - 1) / 2, cols - (nx - 1) / 2) < 8)
    for flat in (signature.flat, measured_flat):
        corners = [np.median(flat[y : y + 3, x : x + 3]) for y in (0, ny - 3) for x in (0, nx - 3)]
        # The 3 x 3 boxes' centres are a pixel in from the corners: 0.703 rather than 0.700 (measured 0.702-0.708).
        assert np.allclose(np.array(corners) / np.median(flat[centre]), 0.703, atol=0.01)


def ring_dips(signature, flat):
    """Each ring's depth as measured in ``flat``: 1 - median on the annulus / median of bands just in- and outside
    it, leaving out the pixels near the other rings."""
    rows, cols = np.indices(SHAPE)
    dips = []
    for ring in signature.dust:
        clear = ~near_rings(signature, [other for other in signature.dust if other is not ring])
        offset = np.abs(np.hypot(rows - ring.y, cols - ring.x) - ring.radius)
        inside = clear & (offset < ring.width / 2 - 0.5)
        around = clear & (offset > ring.width / 2 + 1.5) & (offset < ring.width / 2 + 3.5)
        assert inside.sum() > 30 and around.sum() > 100
        dips.append((ring.depth, 1 - np.median(flat[inside]) / np.median(flat[around])))
    return np.array(dips)


def test_the_dust_rings_are_there(signature, measured_flat):
    for flat in (signature.flat, measured_flat):
        dips = ring_dips(signature, flat)
        assert len(dips) == 4
        depth, measured = dips.T
        assert np.all((0.03 <= depth) & (depth <= 0.08))
        assert np.allclose(measured, depth, atol=0.006)  # measured within 0.0024


def test_two_flats_give_the_gain(signature):
    """Photon transfer: half the variance of a difference of two flats is signal / gain plus the read noise."""
    first, second = (frame.astype(float) - signature.bias for frame in flat_frames(signature, 2, seed=8))
    good = ~signature.dead_pixels & ~signature.hot_pixels
    signal = (first + second)[good].mean() / 2
    shot_variance = np.var((first - second)[good]) / 2 - read_variance_adu(signature)
    assert signal / shot_variance == pytest.approx(signature.gain, rel=0.02)  # 1.485; 0.45 % rms over seeds


def test_frames_are_whole_adu_and_saturate_at_65535(signature):
    frame = expose(signature, 2e5, exptime=1.0, seed=9)
    assert frame.dtype == np.float32
    assert np.all(frame == np.rint(frame))
    assert frame.max() == 65535 and np.mean(frame == 65535) > 0.5
    assert np.all(expose(signature, 0.0, exptime=0.0, seed=9) >= 0)


def test_the_same_seed_gives_the_same_arrays_and_another_seed_others(signature):
    again = detector_signature(SHAPE, seed=7)
    other = detector_signature(SHAPE, seed=8)
    for name in ("bias", "dark_current", "flat", "hot_pixels", "dead_pixels"):
        assert np.array_equal(getattr(again, name), getattr(signature, name)), name
        assert not np.array_equal(getattr(other, name), getattr(signature, name)), name
    assert again.dust == signature.dust != other.dust

    electrons = np.full(SHAPE, 500.0)
    assert np.array_equal(expose(signature, electrons, exptime=10, seed=1), expose(signature, electrons, exptime=10,
                                                                                   seed=1))
    assert not np.array_equal(expose(signature, electrons, exptime=10, seed=1),
                              expose(signature, electrons, exptime=10, seed=2))
    assert np.all(electrons == 500.0)
    for make, options in ((bias_frames, {}), (dark_frames, {"exptime": 30.0}), (flat_frames, {})):
        three = make(signature, 3, seed=4, **options)
        assert all(np.array_equal(a, b) for a, b in zip(three, make(signature, 5, seed=4, **options)))
        assert not np.array_equal(three[0], make(signature, 1, seed=5, **options)[0])


def test_kinds_of_frames_drawn_with_one_seed_have_independent_noise(signature):
    bias_noise = bias_frames(signature, 1, seed=3)[0] - signature.bias
    dark_noise = dark_frames(signature, 1, exptime=1.0, seed=3)[0] - signature.bias
    assert abs(np.corrcoef(bias_noise.ravel(), dark_noise.ravel())[0, 1]) < 0.02


@pytest.mark.parametrize(
    "options", [{"shape": (32, 256)}, {"gain": 0.0}, {"vignetting": 1.0}, {"hot_fraction": -0.1}, {"n_dust": -1}]
)
def test_bad_parameters_are_refused(options):
    options = {"shape": SHAPE, **options}
    with pytest.raises(ValueError, match="detector signature"):
        detector_signature(options.pop("shape"), seed=1, **options)


@pytest.mark.parametrize("electrons, exptime", [(-1.0, 1.0), (np.nan, 1.0), (0.0, -1.0)])
def test_expose_refuses_negative_light_and_time(signature, electrons, exptime):
    with pytest.raises(ValueError):
        expose(signature, electrons, exptime=exptime, seed=1)
