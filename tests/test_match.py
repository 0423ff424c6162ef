"""Star matching: pairs found and transforms recovered from star lists with a known transform."""

import numpy as np
import pytest

from stackphot.geometry import Transform
from stackphot.register.match import fit_transform, match_stars, triangles


def star_lists(truth: Transform, *, n_stars=300, size=1000.0, noise=0.05, spurious=0.1, seed=1):
    """A reference list and a frame list of the same field under ``truth`` (frame -> reference), both in
    brightness order with some scatter of it, the frame's positions noisy and cut to the frame, plus stars
    only one list has (noise peaks, cosmic rays)."""
    rng = np.random.default_rng(seed)
    reference = rng.uniform(0, size, (n_stars, 2))
    flux = rng.pareto(1.0, n_stars) + 1
    x, y = truth.inverse().apply(reference[:, 0], reference[:, 1])
    frame = np.column_stack([x, y]) + rng.normal(0, noise, (n_stars, 2))
    frame_flux = flux * np.exp(rng.normal(0, 0.1, n_stars))
    on_frame = ((frame >= 0) & (frame < size)).all(axis=1)
    frame, frame_flux, truth_index = frame[on_frame], frame_flux[on_frame], np.flatnonzero(on_frame)
    extra = int(spurious * n_stars)
    frame = np.vstack([frame, rng.uniform(0, size, (extra, 2))])
    frame_flux = np.concatenate([frame_flux, rng.uniform(1, 3, extra)])
    truth_index = np.concatenate([truth_index, np.full(extra, -1)])
    frame_order, reference_order = np.argsort(-frame_flux), np.argsort(-flux)
    rank = np.argsort(reference_order)  # reference star i is at rank[i] of the sorted list
    truth_index = np.where(truth_index[frame_order] >= 0, rank[truth_index[frame_order]], -1)
    return frame[frame_order], reference[reference_order], truth_index


@pytest.mark.parametrize("rotation, scale", [(0.0, 1.0), (0.3, 1.0), (3.0, 1.005), (30.0, 0.995),
                                             (180.0, 1.0), (-97.0, 1.02)])
def test_any_rotation_and_a_small_scale_are_recovered(rotation, scale):
    truth = Transform.about((500.0, 500.0), rotation=rotation, scale=scale, dy=13.2, dx=-40.7)
    frame, reference, truth_index = star_lists(truth)
    match = match_stars(frame, reference, scale_range=(0.9, 1.1))
    assert match is not None
    # Every pair is right, and nearly every star both lists hold is paired.
    assert (truth_index[match.frame_index] == match.reference_index).all()
    assert match.n_matched >= 0.97 * (truth_index >= 0).sum()
    # 0.05 px of noise per axis on 250 stars: the transform is right to about 0.01 px across the field.
    corners = np.array([[0, 0], [999, 0], [0, 999], [999, 999]], float)
    found = np.column_stack(match.transform.apply(*corners.T))
    expected = np.column_stack(truth.apply(*corners.T))
    assert np.abs(found - expected).max() < 0.02
    assert match.residual == pytest.approx(0.05 * np.sqrt(2), rel=0.15)  # the frame's noise, both axes


def test_a_scale_outside_the_range_is_not_matched_by_the_patterns():
    truth = Transform.about((500.0, 500.0), rotation=10.0, scale=1.3, dy=0.0, dx=0.0)
    frame, reference, _ = star_lists(truth)
    chance = match_stars(frame, reference, scale_range=(0.9, 1.1))
    assert chance is None or chance.n_matched < 8
    assert match_stars(frame, reference, scale_range=(0.9, 1.4)).transform.scale == pytest.approx(1.3, abs=1e-4)


def test_another_field_pairs_no_more_than_chance():
    frame, _, _ = star_lists(Transform.translation(0, 0), seed=2)
    _, reference, _ = star_lists(Transform.translation(0, 0), seed=3)
    match = match_stars(frame, reference)
    assert match is None or match.n_matched < 8


def test_a_guess_pairs_a_frame_with_too_few_stars_for_patterns():
    truth = Transform.translation(-3.3, 24.5)
    frame, reference, truth_index = star_lists(truth, n_stars=6, spurious=0.0, seed=4)
    assert match_stars(frame[:2], reference[:2]) is None  # two stars make no triangle
    guessed = match_stars(frame, reference, model="translation", guesses=[Transform.translation(-3.0, 24.0)])
    assert guessed is not None and (truth_index[guessed.frame_index] == guessed.reference_index).all()
    assert (guessed.transform.dy, guessed.transform.dx) == pytest.approx((-3.3, 24.5), abs=0.1)


def test_the_models_fit_exactly_what_they_can_describe():
    rng = np.random.default_rng(5)
    source = rng.uniform(0, 100, (20, 2))
    affine = Transform(((1.01, 0.02), (-0.015, 0.99)), 3.0, -2.0)
    target = np.column_stack(affine.apply(*source.T))
    fitted = fit_transform(source, target, "affine")
    assert np.allclose(fitted.linear, affine.linear) and (fitted.dy, fitted.dx) == pytest.approx((3.0, -2.0))
    similarity = Transform.similarity(rotation=12.0, scale=0.98, dy=1.0, dx=2.0)
    fitted = fit_transform(source, np.column_stack(similarity.apply(*source.T)), "similarity")
    assert (fitted.rotation, fitted.scale, fitted.dy, fitted.dx) == pytest.approx((12.0, 0.98, 1.0, 2.0))
    shifted = fit_transform(source, source + [2.5, -1.5], "translation")
    assert shifted.is_translation and (shifted.dy, shifted.dx) == (-1.5, 2.5)
    with pytest.raises(ValueError, match="unknown registration model 'projective'"):
        fit_transform(source, source, "projective")


def test_triangles_are_made_of_the_brightest_stars_only():
    rng = np.random.default_rng(6)
    found = triangles(rng.uniform(0, 1000, (1000, 2)))
    assert found.vertices.max() < 80 and len(found.vertices) > 300
    assert ((found.invariants > 0) & (found.invariants <= 1)).all()
    assert triangles(np.zeros((2, 2))).tree is None
