"""The colour channels' alignment check: a known shift of one channel plane is recovered."""

import warnings

import numpy as np
import pytest

from conftest import gaussian_star
from stackphot.colour.check import channel_offsets, summarise_offsets

SHIFT_B = (0.13, -0.07)  # (dx, dy) px of the blue plane against the others


@pytest.fixture
def channel_planes(rng):
    """Three 160 x 160 planes (sky 100, 200, 80 with Gaussian noise) of 30 stars of sigma 1.2 px at random
    subpixel positions, with colours of their own; blue drawn SHIFT_B px off, green and red together."""
    shape = (160, 160)
    n = 30
    x, y = rng.uniform(12, 148, n), rng.uniform(12, 148, n)
    flux = 10 ** rng.uniform(3.5, 4.7, n)
    colours = {"R": rng.uniform(0.5, 1.5, n), "G": np.ones(n), "B": rng.uniform(0.4, 1.2, n)}
    planes, noise = {}, {"R": 4.0, "G": 6.0, "B": 3.0}
    for (name, colour), sky in zip(colours.items(), (100.0, 200.0, 80.0)):
        dx, dy = SHIFT_B if name == "B" else (0.0, 0.0)
        plane = rng.normal(sky, noise[name], shape)
        for xi, yi, fi, ci in zip(x, y, flux, colour):
            plane += gaussian_star(shape, yi + dy, xi + dx, flux=fi * ci, sigma=1.2)
        planes[name] = plane
    # the catalog's positions (luminance), a few tenths of a pixel off the truth, and the truth
    return planes, noise, x + rng.normal(0, 0.2, n), y + rng.normal(0, 0.2, n), (x, y)


def test_a_known_shift_of_one_channel_is_recovered(channel_planes):
    planes, _, x, y, (x_true, y_true) = channel_planes
    table = channel_offsets(planes, x, y)
    summary = summarise_offsets(table)
    assert set(summary) == {"R", "B"}
    assert summary["B"]["dx"] == pytest.approx(SHIFT_B[0], abs=0.01)
    assert summary["B"]["dy"] == pytest.approx(SHIFT_B[1], abs=0.01)
    assert summary["R"]["dx"] == pytest.approx(0.0, abs=0.01)
    assert summary["R"]["dy"] == pytest.approx(0.0, abs=0.01)
    assert summary["B"]["n"] >= 20 and summary["R"]["n"] >= 20  # not the faintest, nor close pairs
    # the scatter is that of one star's offset: a few hundredths of a pixel at these SNR
    assert 0 < summary["B"]["dx_scatter"] < 0.05 and 0 < summary["R"]["dy_scatter"] < 0.05
    # each channel's centroid lies on the star, and the offsets are the differences of the centroids
    miss = np.hypot(table.x_G - x_true[table.source], table.y_G - y_true[table.source])
    assert np.median(miss) < 0.01
    assert np.all(np.hypot(table.x_G - x[table.source], table.y_G - y[table.source]) <= 1.5)  # max_shift
    assert np.allclose(table.dx_B, table.x_B - table.x_G, equal_nan=True)
    assert np.allclose(table.dy_R, table.y_R - table.y_G, equal_nan=True)


def test_error_planes_weight_the_fit_and_set_the_snr(channel_planes):
    planes, noise, x, y, _ = channel_planes
    errors = {name: np.full(plane.shape, noise[name]) for name, plane in planes.items()}
    weighted = channel_offsets(planes, x, y, errors=errors)
    plain = channel_offsets(planes, x, y)
    assert summarise_offsets(weighted)["B"]["dx"] == pytest.approx(SHIFT_B[0], abs=0.01)
    # the SNR from a known noise agrees with the one from the plane's scatter
    both = weighted.merge(plain, on="source", suffixes=("", "_plane"))
    assert np.median(both.snr_G / both.snr_G_plane) == pytest.approx(1.0, abs=0.05)
    # an error plane ten times larger makes the faintest sources too faint for min_snr
    loud = {name: 10 * error for name, error in errors.items()}
    assert len(channel_offsets(planes, x, y, errors=loud)) < len(weighted)


def test_sources_without_a_usable_box_are_dropped(channel_planes):
    planes, _, x, y, _ = channel_planes
    first, second = channel_offsets(planes, x, y).dropna().sort_values("snr_B").source.iloc[-2:]  # bright in B
    planes = {name: plane.copy() for name, plane in planes.items()}
    planes["G"][int(np.rint(y[first])) + 1, int(np.rint(x[first]))] = np.nan  # in the reference's box: it goes
    planes["R"][int(np.rint(y[second])), int(np.rint(x[second]))] = np.nan  # in red only: blue still measured
    # the grid point farthest from every star: sky only, too faint
    grid_x, grid_y = (g.ravel() for g in np.meshgrid(np.arange(20.0, 141.0), np.arange(20.0, 141.0)))
    far = np.argmax(np.hypot(grid_x[:, None] - x, grid_y[:, None] - y).min(axis=1))
    table = channel_offsets(planes, np.r_[x, grid_x[far], 2.0, np.nan], np.r_[y, grid_y[far], 2.0, 5.0])
    assert first not in set(table.source) and len(x) not in set(table.source)
    assert {len(x) + 1, len(x) + 2}.isdisjoint(table.source)  # the box runs off the plane; no position
    row = table.set_index("source").loc[second]
    assert np.isnan(row.dx_R) and np.isfinite(row.dx_B)
    assert summarise_offsets(table)["R"]["n"] == table.dx_R.notna().sum()


def test_nothing_to_centroid_is_a_warning_and_an_empty_table(channel_planes):
    planes, *_ = channel_planes
    with pytest.warns(UserWarning, match="no source"):
        table = channel_offsets(planes, [2.0], [3.0])
    assert table.empty and {"dx_R", "dy_B", "x_G", "snr_B"} <= set(table.columns)
    summary = summarise_offsets(table)
    assert summary["B"]["n"] == 0 and np.isnan(summary["B"]["dx"])


@pytest.mark.parametrize("kwargs, message", [({"reference": "L"}, "reference"), ({"box_size": 6}, "odd"),
                                             ({"box_size": 1}, "odd")])
def test_bad_options_are_refused(channel_planes, kwargs, message):
    planes, _, x, y, _ = channel_planes
    with pytest.raises(ValueError, match=message):
        channel_offsets(planes, x, y, **kwargs)


def test_planes_of_different_shapes_are_refused(channel_planes):
    planes, _, x, y, _ = channel_planes
    with pytest.raises(ValueError, match="one shape"):
        channel_offsets({**planes, "B": planes["B"][:-1]}, x, y)
    with pytest.raises(ValueError, match="same length"):
        channel_offsets(planes, x, y[:-1])


def test_a_centroid_far_from_the_given_position_is_refused(channel_planes):
    planes, _, _, _, (x_true, y_true) = channel_planes
    x, y = x_true + 2.0, y_true  # every box still holds its star, 2 px from the box centre
    assert len(channel_offsets(planes, x, y, max_shift=2.5)) >= 20
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # none kept
        near = channel_offsets(planes, x, y, max_shift=1.5)
    assert len(near) <= 2  # only where another star lies near the given position
    assert np.all(np.hypot(near.x_G - near.x, near.y_G - near.y) <= 1.5)
