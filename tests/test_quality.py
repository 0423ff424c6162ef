import numpy as np
import pandas as pd
import pytest

from stackphot.background import estimate_background
from stackphot.ingest import ingest_frame
from stackphot.io import RawFrame
from stackphot.register.assess import shift_errors
from star_matching import star_shift_network, star_shifts, vote_offset
from stackphot.numerics import replace_outliers
from stackphot.register import subtract_line_medians
from stackphot.simulate import simulate_frame_set


def test_vote_offset_finds_the_shift_without_a_guess(rng):
    stars = rng.uniform(0, 500, (300, 2))
    moved = stars[:200] - [12.3, -31.7] + rng.normal(0, 0.2, (200, 2))
    noise = rng.uniform(0, 500, (150, 2))  # spurious detections in the frame
    dy, dx = vote_offset(stars, np.vstack([moved, noise]), max_shift=60)
    assert (dy, dx) == pytest.approx((12.3, -31.7), abs=0.1)


def test_shift_errors_are_measured_minus_true():
    measured = pd.DataFrame({"frame": ["a", "b"], "dy": [0.0, 1.25], "dx": [0.0, -2.0]})
    truth = pd.DataFrame({"frame": ["b", "a"], "dy": [1.2, 0.0], "dx": [-2.1, 0.0]})
    errors = shift_errors(measured, truth).set_index("frame")
    assert errors.loc["b", "error_dy"] == pytest.approx(0.05) and errors.loc["b", "error_dx"] == pytest.approx(0.1)
    with pytest.raises(ValueError, match="c"):
        shift_errors(pd.concat([measured, pd.DataFrame({"frame": ["c"], "dy": [0.0], "dx": [0.0]})]), truth)


@pytest.fixture(scope="module")
def faint_frames():
    """Frames where the stars, not the cluster's glow, carry the signal; cleaned as for registration."""
    frame_set = simulate_frame_set(shape=(320, 400), n_frames=3, seed=11, n_cluster_stars=150, n_field_stars=200,
                                   flux_range=(3e3, 1e5), cluster_scale_radius=60.0, max_offset=20.0)
    cleaned = []
    for data, header in zip(frame_set.frames, frame_set.headers):
        frame = ingest_frame(RawFrame(data.astype(np.float32), header, "sim.fits", 0, 65535.0))
        sky = estimate_background(frame.data, mask=frame.mask > 0)
        cleaned.append(replace_outliers(np.nan_to_num(subtract_line_medians(frame.data - sky.map, mask=frame.mask > 0))))
    return frame_set, cleaned


def test_star_shifts_recover_the_truth_without_correlation(faint_frames):
    frame_set, cleaned = faint_frames
    shifts = star_shifts(cleaned, fwhm=3.5, max_shift=40)
    error = shifts[["dy", "dx"]].to_numpy() - frame_set.transforms[["dy", "dx"]].to_numpy()
    assert np.abs(error).max() < 0.1
    assert (shifts.n_stars[1:] > 20).all()


def test_star_network_agrees_with_the_truth(faint_frames):
    frame_set, cleaned = faint_frames
    network = star_shift_network(cleaned, fwhm=3.5, max_shift=40)
    error = network[["dy", "dx"]].to_numpy() - frame_set.transforms[["dy", "dx"]].to_numpy()
    assert np.abs(error).max() < 0.1
    assert network.residual_dy.iloc[0] < 0.1
