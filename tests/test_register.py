import numpy as np
import pandas as pd
import pytest

from conftest import gaussian_star
from stackphot.background import estimate_background
from stackphot.ingest import NONFINITE, ingest_frame
from stackphot.io import RawFrame
from stackphot.register import (
    STAR_COLUMNS,
    RegistrationError,
    crop_region,
    subtract_line_medians,
    measure_shift,
    prepare_for_registration,
    read_reference_stars,
    spectrum,
)
from stackphot.simulate import simulate_frame_set


def prepared_frames(frame_set, **options):
    """Each simulated raw frame through ingest and background subtraction, ready to correlate."""
    prepared = []
    for data, header in zip(frame_set.frames, frame_set.headers):
        frame = ingest_frame(RawFrame(data.astype(np.float32), header, "sim.fits", 0, 65535.0))
        sky = estimate_background(frame.data, method="mesh", mask=frame.mask > 0)
        prepared.append(prepare_for_registration(frame.data - sky.map, mask=(frame.mask & NONFINITE) > 0, **options))
    return prepared


@pytest.fixture(scope="module")
def frame_set():
    # Banding, hot and dead pixels fixed to the detector, cosmic rays, subpixel offsets: the defaults.
    return simulate_frame_set(shape=(384, 512), n_frames=8, seed=7, n_cluster_stars=800, n_field_stars=120)


def test_raw_cross_correlation_locks_onto_the_detector(frame_set):
    """Why frames are prepared: on raw frames the fixed pattern wins and the shift comes out as zero."""
    from skimage.registration import phase_cross_correlation

    reference = frame_set.frames[0].astype(np.float32)
    true = frame_set.transforms.iloc[1:][["dy", "dx"]].to_numpy()
    naive = np.array([phase_cross_correlation(reference, f.astype(np.float32), upsample_factor=10)[0]
                      for f in frame_set.frames[1:]])
    assert np.all(np.abs(naive) < 0.5)
    assert np.all(np.hypot(*true.T) > 1)


def test_shifts_recovered_to_a_few_hundredths_of_a_pixel(frame_set):
    prepared = prepared_frames(frame_set)
    reference_spectrum = spectrum(prepared[0])
    measured = np.array([[s.dy, s.dx] for s in
                         (measure_shift(prepared[0], p, reference_spectrum=reference_spectrum) for p in prepared)])
    error = measured - frame_set.transforms[["dy", "dx"]].to_numpy()
    rms = np.sqrt((error**2).sum(axis=1).mean())
    print(f"shift error RMS {rms:.4f} px over {len(error)} frames; worst {np.abs(error).max():.4f}")
    assert rms < 0.05  # the acceptance bound; the aim is 0.02
    assert np.abs(error).max() < 0.1


def test_quality_figures_separate_good_from_unrelated_frames(frame_set, rng):
    prepared = prepared_frames(frame_set)
    good = measure_shift(prepared[0], prepared[1])
    noise = prepare_for_registration(rng.normal(0, 10, prepared[0].shape).astype(np.float32))
    unrelated = measure_shift(prepared[0], noise)
    assert good.correlation > 0.5
    assert unrelated.correlation < 0.2
    assert 0.8 < good.overlap <= 1.0


def test_crop_uses_the_same_detector_region():
    shape = (120, 160)
    reference = gaussian_star(shape, 40.0, 50.0, flux=5e4) + gaussian_star(shape, 90.0, 120.0, flux=5e4)
    moving = gaussian_star(shape, 38.3, 52.6, flux=5e4) + gaussian_star(shape, 88.3, 122.6, flux=5e4)
    crop = [0, 80, 0, 100]
    shift = measure_shift(prepare_for_registration(reference, crop=crop, threshold=None, smooth_sigma=0),
                          prepare_for_registration(moving, crop=crop, threshold=None, smooth_sigma=0))
    assert (shift.dy, shift.dx) == pytest.approx((1.7, -2.6), abs=0.02)
    assert crop_region(shape, crop) == (slice(0, 80), slice(0, 100))
    with pytest.raises(ValueError, match="does not fit"):
        crop_region(shape, [0, 200, 0, 10])


def test_subtract_line_medians_removes_row_and_column_offsets(rng):
    rows = rng.normal(0, 5, (50, 1))
    cols = rng.normal(0, 5, (1, 60))
    noise = rng.normal(0, 1, (50, 60))
    cleaned = subtract_line_medians(noise + rows + cols)
    assert np.std(cleaned) == pytest.approx(np.std(noise), rel=0.1)


def test_a_frame_with_nothing_to_correlate_is_refused():
    reference = gaussian_star((32, 32), 16, 16, flux=1e4)
    with pytest.raises(RegistrationError, match="nothing above the registration threshold"):
        measure_shift(reference, np.zeros((32, 32)))
    with pytest.raises(RegistrationError, match="differs"):
        measure_shift(reference, np.ones((16, 16)))


@pytest.mark.parametrize("crop", [None, [40, 300, 60, 480]])
def test_prepare_frame_gives_the_registration_image_bit_for_bit_with_the_stars(frame_set, crop):
    from stackphot.register import prepare_frame

    frame = ingest_frame(RawFrame(frame_set.frames[1].astype(np.float32), frame_set.headers[1], "sim.fits", 0, 65535.0))
    data = frame.data - estimate_background(frame.data, method="mesh", mask=frame.mask > 0).map
    prepared, figures, stars = prepare_frame(data, frame.mask, crop=crop, smooth_sigma=2.0, threshold=2.0)
    expected = prepare_for_registration(data, mask=(frame.mask & NONFINITE) > 0, crop=crop, smooth_sigma=2.0,
                                        threshold=2.0)
    assert prepared.tobytes() == expected.tobytes()
    assert figures.n_stars > 50
    # The star positions are in the whole frame's pixels, inside the crop when there is one.
    y0, y1, x0, x1 = crop or (0, data.shape[0], 0, data.shape[1])
    assert len(stars) > 50 and (stars[:, 0] >= x0).all() and (stars[:, 0] < x1).all()
    assert (stars[:, 1] >= y0).all() and (stars[:, 1] < y1).all()


def test_the_reference_stars_are_read_back_and_a_table_without_them_names_its_file(tmp_path):
    stars = np.array([[10.5, 20.25, 50.0], [30.0, 5.5, 12.0]])
    good, old = tmp_path / "reference_stars.csv", tmp_path / "old_reference_stars.csv"
    pd.DataFrame(stars, columns=list(STAR_COLUMNS)).to_csv(good, index=False)
    pd.DataFrame(stars[:, :2], columns=["x", "y"]).to_csv(old, index=False)
    assert np.array_equal(read_reference_stars(good), stars)
    with pytest.raises(ValueError, match=r"old_reference_stars\.csv: no column snr"):
        read_reference_stars(old)
