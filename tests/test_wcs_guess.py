"""The frames' WCS as the registration's first guess and its check, on simulated frames whose WCS follow
their true transforms."""

import numpy as np
import pytest
from astropy.io import fits

from stackphot.background import estimate_background
from stackphot.geometry import Transform, rms_distance
from stackphot.ingest import ingest_frame
from stackphot.io import RawFrame
from stackphot.register import prepare_frame, register_frame, spectrum, triangles, wcs_transform
from stackphot.simulate import simulate_frame_set

BASE = dict(shape=(384, 384), n_frames=4, seed=23, n_cluster_stars=0, n_field_stars=500, max_offset=15.0,
            flux_range=(300.0, 1.0e6), flux_slope=0.4, cosmic_rays_per_frame=0.0, pixel_scale=1.2)
REGISTRATION = dict(crop=None, smooth_sigma=2.0, threshold=2.0, upsample_factor=100)


def subtracted(frame_set):
    frames = []
    for data, header in zip(frame_set.frames, frame_set.headers):
        frame = ingest_frame(RawFrame(data.astype(np.float32), header, "sim.fits", 0, 65535.0))
        sky = estimate_background(frame.data, method="mesh", mask=frame.mask > 0)
        frames.append((frame.data - sky.map, frame.mask))
    return frames


def registrar(frames):
    """register_frame against the first of ``frames``, with the reference's images made once."""
    reference, _, reference_stars = prepare_frame(*frames[0], **{k: REGISTRATION[k] for k in
                                                                 ("crop", "smooth_sigma", "threshold")})
    shared = {"reference_spectrum": spectrum(reference), "reference_triangles": triangles(reference_stars[:, :2])}
    return lambda index, **options: register_frame(*frames[index], reference, reference_stars, **REGISTRATION,
                                                   **shared, **options)


@pytest.fixture(scope="module")
def turned():
    frame_set = simulate_frame_set(**BASE, max_rotation=10.0, meridian_flip=3)
    return frame_set, subtracted(frame_set)


def truth(frame_set, index) -> Transform:
    return Transform.from_row(frame_set.transforms.iloc[index])


def test_the_wcs_transform_is_the_true_one(turned):
    frame_set, _ = turned
    shape = frame_set.frames[0].shape
    for index in range(1, frame_set.config.n_frames):
        implied = wcs_transform(frame_set.headers[index], frame_set.headers[0], shape)
        assert rms_distance(implied, truth(frame_set, index), shape) < 1e-6
    assert wcs_transform(fits.Header(), frame_set.headers[0], shape) is None


def test_a_frame_registered_where_its_wcs_says_has_a_small_wcs_offset(turned):
    frame_set, frames = turned
    register, shape = registrar(frames), frame_set.frames[0].shape
    for index in range(1, frame_set.config.n_frames):
        guess = wcs_transform(frame_set.headers[index], frame_set.headers[0], shape)
        row, warning = register(index, wcs_guess=guess)
        assert row["method"] == "stars" and row["wcs_offset"] < 0.05 and warning is None
        assert "WCS" not in row["note"]


def test_a_wrong_wcs_is_reported_in_the_note_and_the_warning(turned):
    frame_set, frames = turned
    header = frame_set.headers[1].copy()
    header["CRPIX1"] += 10.0
    guess = wcs_transform(header, frame_set.headers[0], frame_set.frames[0].shape)
    row, warning = registrar(frames)(1, wcs_guess=guess)
    assert row["wcs_offset"] == pytest.approx(10.0, abs=0.1)
    assert "the frames' WCS puts this frame 10.0 px" in row["note"] and "10.0 px" in warning
    assert rms_distance(Transform.from_row(row), truth(frame_set, 1), frame_set.frames[0].shape) < 0.05


def test_the_wcs_guess_registers_a_flipped_frame_whose_scale_the_patterns_may_not_have():
    # Flipped: the cross-correlation's translation is no start either.
    frame_set = simulate_frame_set(**BASE, scale_change=0.05, meridian_flip=2)
    scales = frame_set.transforms.scale.to_numpy()
    index = int(np.argmax(np.abs(scales - 1)))
    narrow = (0.99, 1.01)
    assert abs(scales[index] - 1) > 0.02  # outside the narrow scale range
    frames, shape = subtracted(frame_set), frame_set.frames[0].shape
    register = registrar(frames)
    unguided, _ = register(index, scale_range=narrow)
    assert unguided["method"] != "stars"
    guided, _ = register(index, scale_range=narrow,
                         wcs_guess=wcs_transform(frame_set.headers[index], frame_set.headers[0], shape))
    assert guided["method"] == "stars" and guided["n_matched"] >= 50
    assert rms_distance(Transform.from_row(guided), truth(frame_set, index), shape) < 0.05
