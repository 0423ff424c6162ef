"""Turned, flipped and scaled frame sets through registration, alignment and the stack, against the truth.

Each set: simulated frames whose transforms are known, ingested, background-subtracted, registered against
the first, aligned by the transform found and combined, as the workflow's steps do. Bright isolated stars
of the stack must sit at their true reference positions, and the stack's stars must be as sharp as a set's
that only moved.
"""

import numpy as np
import pytest
from photutils.centroids import centroid_2dg

from stackphot.align import align_frame
from stackphot.background import estimate_background
from stackphot.geometry import Transform
from stackphot.ingest import ingest_frame
from stackphot.io import RawFrame
from stackphot.register import prepare_frame, register_frame, spectrum, triangles
from stackphot.simulate import simulate_frame_set
from stackphot.stack import combine

BASE = dict(shape=(512, 512), n_frames=4, seed=17, n_cluster_stars=0, n_field_stars=1000, max_offset=20.0,
            flux_range=(300.0, 1.0e6), flux_slope=0.4, cosmic_rays_per_frame=2.0)
REGISTRATION = dict(crop=None, smooth_sigma=2.0, threshold=2.0, upsample_factor=100)
SETS = {
    "translation": {},
    "rotation 0.3": {"max_rotation": 0.3},
    "rotation 3": {"max_rotation": 3.0},
    "rotation 10": {"max_rotation": 10.0},
    "rotation 30": {"max_rotation": 30.0},
    "meridian flip": {"max_rotation": 0.3, "meridian_flip": 3},
    "scale 0.5%": {"scale_change": 0.005},
}


def reduce(frame_set):
    """Register, align and stack a frame set as the workflow's defaults do: (registration rows, stack,
    coverage count)."""
    subtracted = []
    for data, header in zip(frame_set.frames, frame_set.headers):
        frame = ingest_frame(RawFrame(data.astype(np.float32), header, "sim.fits", 0, 65535.0))
        sky = estimate_background(frame.data, method="mesh", mask=frame.mask > 0)
        subtracted.append((frame.data - sky.map, frame.mask))
    reference, _, reference_stars = prepare_frame(*subtracted[0], crop=None, smooth_sigma=2.0, threshold=2.0)
    shared = {"reference_spectrum": spectrum(reference), "reference_triangles": triangles(reference_stars[:, :2])}
    rows, planes = [], []
    for data, mask in subtracted:
        row, _ = register_frame(data, mask, reference, reference_stars, **REGISTRATION, **shared)
        rows.append(row)
        planes.append(align_frame(data, Transform.from_row(row), mask=mask > 0).data)
    result = combine(np.stack(planes), method="sigma_clip")
    return rows, result.image, result.coverage


def star_errors(frame_set, stack, coverage):
    """Measured minus true position (px) of the bright isolated stars every frame covers, and their
    distance from the centre."""
    stars = frame_set.stars
    ny, nx = stack.shape
    bright = stars[(stars.flux > 3e4) & (stars.x > 12) & (stars.x < nx - 13) & (stars.y > 12) & (stars.y < ny - 13)]
    errors, radii = [], []
    for star in bright.itertuples():
        near = np.hypot(stars.x - star.x, stars.y - star.y)
        if ((near < 12) & (near > 0) & (stars.flux > 0.01 * star.flux)).any():
            continue
        iy, ix = int(round(star.y)), int(round(star.x))
        box = (slice(iy - 6, iy + 7), slice(ix - 6, ix + 7))
        if (coverage[box] < frame_set.config.n_frames).any():
            continue
        cx, cy = centroid_2dg(stack[box])
        errors.append((cx + ix - 6 - star.x, cy + iy - 6 - star.y))
        radii.append(np.hypot(star.x - (nx - 1) / 2, star.y - (ny - 1) / 2))
    return np.array(errors), np.array(radii)


@pytest.fixture(scope="module")
def reduced():
    results = {}
    for name, changes in SETS.items():
        frame_set = simulate_frame_set(**BASE, **changes)
        results[name] = (frame_set, *reduce(frame_set))
    return results


def stack_fwhm(stack):
    _, figures, _ = prepare_frame(np.nan_to_num(stack), np.zeros(stack.shape, np.uint8), crop=None,
                                  smooth_sigma=2.0, threshold=2.0)
    return figures.fwhm


# The set that only moves is registered by cross-correlation (its stars confirm it within 0.05 px), whose
# accuracy is its own (README, "Measured accuracy"); it is here as the sharpness the others must keep.
@pytest.mark.parametrize("name", [name for name in SETS if name != "translation"])
def test_every_turned_flipped_or_scaled_frame_is_registered_and_its_stars_land_true(reduced, name):
    frame_set, rows, stack, coverage = reduced[name]
    truth = [Transform.from_row(row) for row in frame_set.transforms.to_dict("records")]
    for row, true in zip(rows[1:], truth[1:]):
        # A frame turned or scaled so little that its translation is right to 0.05 px keeps the cross-correlation.
        assert row["n_matched"] >= 100, row["note"]
        assert row["method"] == "stars" or row["xcorr_residual"] <= 0.05, row["note"]
        assert row["rotation"] == pytest.approx(true.rotation, abs=0.01)
        assert row["scale"] == pytest.approx(true.scale, abs=1e-4)
    errors, radii = star_errors(frame_set, stack, coverage)
    assert len(errors) >= 10
    rms = np.sqrt(np.mean(np.sum(errors**2, axis=1)))
    outer = radii > (2 / 3) * np.max(radii)
    outer_rms = np.sqrt(np.mean(np.sum(errors[outer] ** 2, axis=1)))
    figures = f"{name}: {len(errors)} stars {rms:.4f} px RMS, outer third {outer_rms:.4f} px"
    print(figures)
    assert rms < 0.02 and outer_rms < 0.04, figures


@pytest.mark.parametrize("name", [name for name in SETS if name != "translation"])
def test_the_stack_of_a_turned_set_is_as_sharp_as_one_that_only_moved(reduced, name):
    moved, turned = stack_fwhm(reduced["translation"][2]), stack_fwhm(reduced[name][2])
    print(f"{name}: stack FWHM {turned:.3f} px, the set that only moved {moved:.3f} px")
    assert turned == pytest.approx(moved, rel=0.05)


@pytest.fixture(scope="module")
def reference_of_the_turned_sets():
    frame_set = simulate_frame_set(**{**BASE, "n_frames": 1})
    frame = ingest_frame(RawFrame(frame_set.frames[0].astype(np.float32), frame_set.headers[0], "sim.fits", 0,
                                  65535.0))
    data = frame.data - estimate_background(frame.data, method="mesh", mask=frame.mask > 0).map
    reference, _, stars = prepare_frame(data, frame.mask, crop=None, smooth_sigma=2.0, threshold=2.0)
    return reference, stars, {"reference_spectrum": spectrum(reference), "reference_triangles": triangles(stars[:, :2])}


def judged(row):
    from stackphot.register.select import judge_frames
    import pandas as pd

    return judge_frames(pd.DataFrame([{"frame": "frame", **row}]), reference="reference", min_correlation=0.3,
                        min_overlap=0.5).iloc[0]


@pytest.mark.parametrize("kind", ["another field", "noise"])
def test_a_frame_of_another_field_or_of_noise_is_rejected_as_such(reference_of_the_turned_sets, kind):
    reference, stars, shared = reference_of_the_turned_sets
    if kind == "another field":
        other = simulate_frame_set(**{**BASE, "seed": 99, "n_frames": 1})
        frame = ingest_frame(RawFrame(other.frames[0].astype(np.float32), other.headers[0], "other.fits", 0, 65535.0))
        data = frame.data - estimate_background(frame.data, method="mesh", mask=frame.mask > 0).map
        mask = frame.mask
    else:
        data = np.random.default_rng(5).normal(0.0, 20.0, BASE["shape"]).astype(np.float32)
        mask = np.zeros(BASE["shape"], np.uint8)
    row, _ = register_frame(data, mask, reference, stars, **REGISTRATION, **shared)
    assert row["method"] == "xcorr" and row["n_matched"] < 8
    verdict = judged(row)
    assert not verdict.accepted and "not the same field" in verdict.reason, verdict.reason


def test_a_frame_with_five_stars_in_common_is_registered_by_cross_correlation_and_says_so():
    from conftest import gaussian_star

    rng = np.random.default_rng(8)
    positions = rng.uniform(40, 216, (5, 2))
    shape, (dy, dx) = (256, 256), (3.3, -7.2)
    reference = sum(gaussian_star(shape, y, x, flux=2e4, sigma=1.5) for x, y in positions)
    frame = sum(gaussian_star(shape, y - dy, x - dx, flux=2e4, sigma=1.5) for x, y in positions)
    noise = np.random.default_rng(9)
    reference, frame = (image + noise.normal(0, 1.0, shape) for image in (reference, frame))
    mask = np.zeros(shape, np.uint8)
    prepared, _, stars = prepare_frame(reference, mask, crop=None, smooth_sigma=2.0, threshold=2.0)
    row, _ = register_frame(frame, mask, prepared, stars, **REGISTRATION, reference_triangles=triangles(stars[:, :2]))
    assert row["method"] == "xcorr" and row["n_matched"] == 5
    assert "5 stars matched, fewer than 8: the cross-correlation is kept, unchecked" in row["note"]
    assert (row["dy"], row["dx"]) == pytest.approx((dy, dx), abs=0.05)
    assert judged(row).accepted
