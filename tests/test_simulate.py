"""Tests of stackphot.simulate against its own known truth."""

import datetime
import hashlib
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from astropy.io import fits
from photutils.centroids import centroid_2dg, centroid_com
from scipy import integrate

from stackphot import simulate
from stackphot.geometry import COLUMNS, Transform
from stackphot.numerics import moffat_alpha
from stackphot.simulate import SimulationConfig, frame_name, simulate_frame_set, write_frame_set

SMALL = dict(
    shape=(128, 160), n_cluster_stars=60, n_field_stars=20, cluster_scale_radius=15.0, cluster_max_radius=60.0
)
# Only the stars and the bias: every pixel value is known exactly.
CLEAN = dict(
    noise=False, sky=0.0, banding_rms=0.0, hot_pixel_fraction=0.0, dead_pixel_fraction=0.0, cosmic_rays_per_frame=0
)


def isolated_bright_stars(seed):
    """A noiseless set of a few bright stars far apart, with their frames minus bias."""
    frame_set = simulate_frame_set(
        shape=(128, 160),
        n_frames=6,
        n_cluster_stars=0,
        n_field_stars=4,
        flux_range=(1e5, 3e5),
        max_offset=8.0,
        seed=seed,
        **CLEAN,
    )
    stars = frame_set.stars
    distance = np.hypot(*(stars[c].to_numpy()[:, None] - stars[c].to_numpy() for c in ("x", "y")))
    np.fill_diagonal(distance, np.inf)
    return frame_set, stars[distance.min(axis=1) > 50]


# A set that turns, scales and flips (from frame 3 on), with a few bright isolated stars and a WCS.
TURNED = dict(shape=(256, 256), n_frames=4, n_cluster_stars=0, n_field_stars=12, flux_range=(1e5, 3e5),
              max_offset=8.0, max_rotation=10.0, scale_change=0.005, meridian_flip=3, pixel_scale=1.2,
              rotation=25.0, seed=5, **CLEAN)
# SHA-256 of the files of SMALL with n_frames=3, pixel_scale=1.2, rotation=25, written before frames could
# turn: sets that only move must stay byte for byte what they were.
SMALL_SHA256 = {
    "frame_001.fits": "ff12900de408bc15f691c5245cfab287aa217c9862dbeb6772af176f455bdb94",
    "frame_002.fits": "8be3a9b928385e3b8f83fd3c9ebbaf451213aca8a5c6953cd2287d5e5bd3bff4",
    "frame_003.fits": "34f30cc773c2d5aa27658a16f6156b455459b7c03dfd662ae539a6fafb36eb91",
    "truth_shifts.csv": "8cba101e54326348c88799ca114b1a277e31a7d213c3267c4825001acdd3d8af",
    "truth_stars.csv": "cc4edebebb8faad981e013a9705a98f2792fd912a13d4831d936e743e3898e5a",
}


@pytest.fixture(scope="module")
def turned():
    return simulate_frame_set(**TURNED)


def test_same_seed_same_frames_and_other_seed_differs():
    first = simulate_frame_set(n_frames=2, **SMALL)
    again = simulate_frame_set(SimulationConfig(n_frames=2, **SMALL))
    other = simulate_frame_set(n_frames=2, seed=14, **SMALL)
    for a, b in zip(first.frames, again.frames):
        np.testing.assert_array_equal(a, b)
    pd.testing.assert_frame_equal(first.stars, again.stars)
    pd.testing.assert_frame_equal(first.transforms, again.transforms)
    assert not np.array_equal(first.frames[0], other.frames[0])
    assert not np.allclose(first.stars.x.head(10), other.stars.x.head(10))


def test_first_frames_do_not_depend_on_n_frames():
    short = simulate_frame_set(n_frames=2, **SMALL)
    long = simulate_frame_set(n_frames=4, **SMALL)
    for a, b in zip(short.frames, long.frames):
        np.testing.assert_array_equal(a, b)
    pd.testing.assert_frame_equal(short.stars, long.stars)
    pd.testing.assert_frame_equal(short.transforms, long.transforms.head(2))
    assert short.fwhm == long.fwhm[:2]
    first_two = long.cosmic_rays[long.cosmic_rays.frame.isin(["frame_001", "frame_002"])]
    pd.testing.assert_frame_equal(short.cosmic_rays, first_two)


def test_frames_shifts_and_headers():
    frame_set = simulate_frame_set(n_frames=4, **SMALL)
    assert [f.dtype for f in frame_set.frames] == [np.uint16] * 4
    assert [f.shape for f in frame_set.frames] == [(128, 160)] * 4
    shifts = frame_set.transforms
    assert list(shifts.columns) == ["frame", *COLUMNS]
    assert (shifts.rotation == 0).all() and (shifts.scale == 1).all()  # the frames only move
    assert list(shifts.frame) == [frame_name(i) for i in range(4)]
    assert list(shifts.frame) == ["frame_001", "frame_002", "frame_003", "frame_004"]
    assert (shifts.dy[0], shifts.dx[0]) == (0.0, 0.0)
    others = shifts[["dy", "dx"]].to_numpy()[1:]
    assert np.all(np.abs(others) <= 30.0) and np.all(others != np.round(others))
    assert all(3.2 <= fwhm <= 3.8 for fwhm in frame_set.fwhm)
    header = frame_set.headers[2]
    assert header["INSTRUME"] == "stackphot simulator" and header["IMAGETYP"] == "Light Frame"
    assert (header["EXPTIME"], header["GAIN"], header["RDNOISE"], header["SATURATE"]) == (5.0, 1.5, 10.0, 65535)
    assert header["DATE-OBS"] == "2024-06-14T22:31:00.000"  # two 30 s cadences after the start
    assert "seed 13" in str(header["COMMENT"])


def test_no_wcs_unless_a_pixel_scale_is_given():
    header = simulate_frame_set(n_frames=1, **SMALL).headers[0]
    assert "CTYPE1" not in header and "CRPIX1" not in header


def test_each_frame_wcs_follows_its_offset_so_a_star_keeps_its_sky_position():
    from astropy.wcs import WCS

    frame_set = simulate_frame_set(n_frames=4, pixel_scale=1.2, rotation=25.0, sky_centre=[250.42, 36.46], **SMALL)
    star = frame_set.stars.iloc[0]
    reference = WCS(frame_set.headers[0])
    ra, dec = reference.pixel_to_world_values(star.x, star.y)
    centre = reference.pixel_to_world_values(159 / 2, 127 / 2)
    np.testing.assert_allclose(centre, (250.42, 36.46), atol=1e-9)
    scale = np.sqrt(abs(np.linalg.det(reference.pixel_scale_matrix))) * 3600
    assert scale == pytest.approx(1.2)
    for header, (dy, dx) in zip(frame_set.headers[1:], frame_set.transforms.iloc[1:][["dy", "dx"]].to_numpy()):
        # The star at (y, x) on the reference is at (y - dy, x - dx) on this frame.
        frame_ra, frame_dec = WCS(header).pixel_to_world_values(star.x - dx, star.y - dy)
        assert abs(frame_ra - ra) * np.cos(np.radians(dec)) * 3600 < 1e-6
        assert abs(frame_dec - dec) * 3600 < 1e-6
        assert abs(dx) > 1  # so a WCS that ignored the offset would be off by arcsec


@pytest.mark.parametrize("seed", [0, 3])
def test_isolated_star_centroid_and_flux_match_truth(seed):
    frame_set, stars = isolated_bright_stars(seed)
    half = 20
    measured = 0
    for frame, (dy, dx) in zip(frame_set.frames, frame_set.transforms[["dy", "dx"]].to_numpy()):
        image = frame.astype(float) - frame_set.config.bias
        for star in stars.itertuples():
            y, x = star.y - dy, star.x - dx
            iy, ix = round(y), round(x)
            if not (half <= iy < 128 - half and half <= ix < 160 - half):
                continue
            cutout = image[iy - half : iy + half + 1, ix - half : ix + half + 1]
            cx, cy = centroid_com(cutout)
            assert abs(ix - half + cx - x) < 0.01
            assert abs(iy - half + cy - y) < 0.01
            assert cutout.sum() == pytest.approx(star.flux, rel=0.01)
            measured += 1
    assert measured >= 6  # at least one star in every frame


def test_pixels_hold_the_integral_of_the_moffat_psf():
    frame_set, stars = isolated_bright_stars(0)
    star = stars.iloc[0]
    for index in (0, 3):
        dy, dx = frame_set.transforms.iloc[index][["dy", "dx"]]
        y, x = star.y - dy, star.x - dx
        alpha = moffat_alpha(frame_set.fwhm[index], 3.0)
        peak = star.flux * 2.0 / (math.pi * alpha**2)
        image = frame_set.frames[index].astype(float) - frame_set.config.bias
        for py, px in [(0, 0), (1, 0), (1, -2), (-3, 2)]:
            py, px = round(y) + py, round(x) + px
            exact, _ = integrate.dblquad(
                lambda v, u: peak * (1 + ((v - y) ** 2 + (u - x) ** 2) / alpha**2) ** -3.0,
                px - 0.5,
                px + 0.5,
                py - 0.5,
                py + 0.5,
            )
            assert image[py, px] == pytest.approx(exact, rel=0.003, abs=0.5)


def test_noise_level_and_fixed_pattern_share_of_variance():
    frame_set = simulate_frame_set(
        shape=(256, 256), n_frames=2, n_cluster_stars=0, n_field_stars=0, sky_gradient=0.0, hot_pixel_fraction=0.0,
        dead_pixel_fraction=0.0, cosmic_rays_per_frame=0,
    )
    config = frame_set.config
    for frame, sky in zip(frame_set.frames, frame_set.sky_levels):
        values = frame.astype(float)
        assert values.mean() == pytest.approx(config.bias + sky, abs=0.5)
        random_part = values - frame_set.fixed_pattern
        expected = math.sqrt(sky * config.gain + config.read_noise**2) / config.gain  # about 19.5 ADU
        assert random_part.std() == pytest.approx(expected, rel=0.03)
        # About a sixth of the pixel-to-pixel variance is fixed to the detector, as on the real camera.
        assert 0.12 < frame_set.fixed_pattern.var() / values.var() < 0.21


def test_fixed_pattern_is_row_banding_identical_in_every_frame():
    no_stars = {"n_cluster_stars": 0, "n_field_stars": 0}
    frame_set = simulate_frame_set(n_frames=3, **{**SMALL, **CLEAN, **no_stars, "banding_rms": 8.5})
    pattern = frame_set.fixed_pattern
    assert pattern.std() == pytest.approx(8.5, rel=1e-6) and abs(pattern.mean()) < 1e-9
    assert np.all(pattern == pattern[:, :1])  # constant along each row
    expected = np.rint(pattern + frame_set.config.bias)
    for frame in frame_set.frames:
        np.testing.assert_array_equal(frame, expected)


def test_hot_and_dead_pixels_are_fixed_to_the_detector():
    frame_set = simulate_frame_set(
        n_frames=3, **{**SMALL, "n_cluster_stars": 0, "n_field_stars": 0, "dead_pixel_fraction": 5e-4}
    )
    hot, dead = frame_set.hot_pixels, frame_set.dead_pixels
    assert hot.sum() == round(5e-4 * 128 * 160) and dead.sum() == round(5e-4 * 128 * 160)
    assert not np.any(hot & dead)
    bias, sky = frame_set.config.bias, frame_set.config.sky
    for frame in frame_set.frames:
        values = frame.astype(float) - frame_set.fixed_pattern
        assert np.all(values[hot] > bias + sky + 1000)
        assert np.all(np.abs(values[dead] - bias) < 5 * 10 / 1.5)  # read noise only, no light


def test_cosmic_rays_are_short_bright_and_different_in_each_frame():
    frame_set = simulate_frame_set(
        n_frames=3, **{**SMALL, **CLEAN, "n_field_stars": 0, "n_cluster_stars": 0, "cosmic_rays_per_frame": 8}
    )
    hits = frame_set.cosmic_rays
    assert list(hits.columns) == ["frame", "y", "x", "adu"]
    pixel_sets = [set(zip(group.y, group.x)) for _, group in hits.groupby("frame")]
    assert len(pixel_sets) == 3 and all(pixel_sets)
    assert pixel_sets[0] != pixel_sets[1] and pixel_sets[1] != pixel_sets[2]
    assert hits.adu.between(2000, 20000).all()
    for index, frame in enumerate(frame_set.frames):
        own = hits[hits.frame == frame_name(index)]
        hit = np.zeros(frame.shape, bool)
        hit[own.y, own.x] = True
        # Only cosmic rays rise above the bias here, and each track is at most 4 pixels long.
        assert np.all(frame[hit] >= 100 + 2000) and np.all(frame[~hit] == 100)
        assert len(own) <= 4 * 8 * 4


def test_star_field_follows_the_configured_distributions():
    frame_set = simulate_frame_set(
        shape=(256, 256), n_frames=1, n_cluster_stars=4000, n_field_stars=0, cluster_scale_radius=20.0,
        cluster_max_radius=100.0, noise=False,
    )
    stars = frame_set.stars
    assert len(stars) == 4000 and list(stars.columns) == ["id", "x", "y", "flux"]
    assert stars.flux.between(300, 3e6).all() and stars.flux.is_monotonic_decreasing
    # N(>F) ~ F**-0.8: a fraction 10**-0.8 = 0.158 of the stars is 10 times brighter than the faintest.
    assert (stars.flux > 3000).mean() == pytest.approx(10**-0.8, abs=0.02)
    # Half of a Plummer cluster (truncated at 5 scale radii) lies within 1.02 scale radii.
    radius = np.hypot(stars.x - stars.x.median(), stars.y - stars.y.median())
    assert radius.median() == pytest.approx(20.0 * 1.02, rel=0.06)


def test_saturation_clips_at_the_16_bit_top():
    frame_set = simulate_frame_set(n_frames=1, hot_pixel_fraction=5e-3, **SMALL)
    frame = frame_set.frames[0]
    assert frame.max() == 65535
    assert np.all(frame[frame_set.hot_pixels] > 2000)


def test_write_frame_set_round_trip_and_byte_identical(tmp_path):
    frame_set = simulate_frame_set(n_frames=3, **SMALL)
    paths = write_frame_set(frame_set, tmp_path / "a")
    names = ["frame_001.fits", "frame_002.fits", "frame_003.fits", "truth_shifts.csv", "truth_stars.csv"]
    assert [p.name for p in paths] == names
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == sorted(p.name for p in paths)  # no temporary left

    for path, frame in zip(paths, frame_set.frames):
        with fits.open(path, do_not_scale_image_data=True) as hdul:
            assert hdul[0].header["BITPIX"] == 16 and hdul[0].header["BZERO"] == 32768
            assert hdul[0].header["BSCALE"] == 1 and "DATE" not in hdul[0].header and "CHECKSUM" not in hdul[0].header
        data, header = fits.getdata(path, header=True)
        assert data.dtype == np.uint16
        np.testing.assert_array_equal(data, frame)
        assert header["OBJECT"] == "M13" and header["GAIN"] == 1.5

    shifts = pd.read_csv(tmp_path / "a" / "truth_shifts.csv")
    stars = pd.read_csv(tmp_path / "a" / "truth_stars.csv")
    assert list(shifts.columns) == ["frame", *COLUMNS] and len(shifts) == 3
    assert list(stars.columns) == ["id", "x", "y", "flux"] and len(stars) == len(frame_set.stars)
    np.testing.assert_array_equal(shifts[["dy", "dx"]], frame_set.transforms[["dy", "dx"]])
    np.testing.assert_allclose(stars[["x", "y", "flux"]], frame_set.stars[["x", "y", "flux"]], rtol=0, atol=5e-7)

    again = write_frame_set(simulate_frame_set(n_frames=3, **SMALL), tmp_path / "b")
    for a, b in zip(paths, again):
        assert a.read_bytes() == b.read_bytes()


def test_sets_that_only_move_are_byte_identical_to_before_frames_could_turn(tmp_path):
    frame_set = simulate_frame_set(n_frames=3, pixel_scale=1.2, rotation=25.0, **SMALL)
    paths = write_frame_set(frame_set, tmp_path)
    assert {path.name: hashlib.sha256(path.read_bytes()).hexdigest() for path in paths} == SMALL_SHA256
    assert all(Transform.from_row(row).is_translation for row in frame_set.transforms.itertuples())


def test_frames_turn_scale_and_flip_within_their_bounds(turned):
    transforms = [Transform.from_row(row) for row in turned.transforms.itertuples()]
    assert transforms[0] == Transform() and transforms[0].is_translation
    rotations = np.array([t.rotation for t in transforms[1:]])
    scales = np.array([t.scale for t in transforms[1:]])
    assert abs(rotations[0]) <= 10 and abs(rotations[0]) > 0.1  # frame 2: turned, not flipped
    assert np.all(np.abs(rotations[1:]) > 170) and np.all(180 - np.abs(rotations[1:]) <= 10)  # flipped
    assert np.all(np.abs(scales - 1) <= 0.005) and np.all(scales != 1)
    assert all(t.determinant > 0 for t in transforms)  # a flip turns, it does not mirror
    # The truth table holds the drawn angle and scale exactly (rounded like the offsets).
    assert np.all(np.abs(np.round(rotations, 6) - rotations) < 1e-9)
    assert np.all(np.abs(np.round(scales, 6) - scales) < 1e-9)


def test_turning_frames_keep_the_offsets_psf_and_sky_of_frames_that_only_move(turned):
    moving = simulate_frame_set(**{**TURNED, "max_rotation": 0.0, "scale_change": 0.0, "meridian_flip": None})
    for turned_row, moving_row in zip(turned.transforms.itertuples(), moving.transforms.itertuples()):
        transform = Transform.from_row(turned_row)
        # The turn is about the centre, after which the frame takes the pointing offset of the set that only moves.
        same_offset = Transform.about((127.5, 127.5), rotation=transform.rotation, scale=transform.scale,
                                      dy=moving_row.dy, dx=moving_row.dx)
        np.testing.assert_allclose(list(transform.columns().values()), list(same_offset.columns().values()),
                                   rtol=0, atol=1e-9)
    assert turned.fwhm == moving.fwhm and turned.sky_levels == moving.sky_levels


def _turned_stars_on_frames(frame_set, half):
    """(frame index, star, its frame position x, y) of the stars well inside each frame, away from others."""
    stars = frame_set.stars
    distance = np.hypot(*(stars[c].to_numpy()[:, None] - stars[c].to_numpy() for c in ("x", "y")))
    np.fill_diagonal(distance, np.inf)
    isolated = stars[distance.min(axis=1) > 40]
    ny, nx = frame_set.config.shape
    for index, row in enumerate(frame_set.transforms.itertuples()):
        inverse = Transform.from_row(row).inverse()
        for star in isolated.itertuples():
            x, y = inverse.apply(star.x, star.y)
            if half <= x < nx - 1 - half and half <= y < ny - 1 - half:
                yield index, star, x, y


def test_a_turned_frames_star_is_where_the_inverse_transform_puts_it(turned):
    half = 10
    errors = []
    for index, star, x, y in _turned_stars_on_frames(turned, half):
        image = turned.frames[index].astype(float) - turned.config.bias
        iy, ix = round(y), round(x)
        cutout = image[iy - half : iy + half + 1, ix - half : ix + half + 1]
        cx, cy = centroid_2dg(cutout)
        errors.append(math.hypot(ix - half + cx - x, iy - half + cy - y))
        # Seeing does not scale: the star keeps its flux (and FWHM) in frame pixels.
        assert image[iy - 20 : iy + 21, ix - 20 : ix + 21].sum() == pytest.approx(star.flux, rel=0.01)
    assert len(errors) >= 8 and {index for index, *_ in _turned_stars_on_frames(turned, half)} == {0, 1, 2, 3}
    assert max(errors) < 0.02


def test_a_turned_frames_wcs_gives_its_stars_their_reference_sky_position(turned):
    from astropy.wcs import WCS

    reference = WCS(turned.headers[0])
    checked = 0
    for index, star, x, y in _turned_stars_on_frames(turned, 0):
        ra, dec = reference.pixel_to_world_values(star.x, star.y)
        frame_ra, frame_dec = WCS(turned.headers[index]).pixel_to_world_values(x, y)
        assert abs(frame_ra - ra) * np.cos(np.radians(dec)) * 3600 < 1e-3
        assert abs(frame_dec - dec) * 3600 < 1e-3
        checked += index > 0
    assert checked >= 6
    # A scaled frame's pixel covers scale reference pixels; a flipped frame's x axis points the other way on the sky.
    for header, row in zip(turned.headers, turned.transforms.itertuples()):
        cd = WCS(header).pixel_scale_matrix
        assert math.sqrt(abs(np.linalg.det(cd))) * 3600 == pytest.approx(1.2 * row.scale, rel=1e-9)
        assert (cd[:, 0] @ reference.pixel_scale_matrix[:, 0] < 0) == (abs(row.rotation) > 90)


def test_turned_frames_see_stars_everywhere_at_the_same_density():
    wide = dict(shape=(64, 256), n_frames=4, n_cluster_stars=0, n_field_stars=6000, max_offset=4.0,
                max_rotation=90.0, scale_change=0.05, flux_range=(1e4, 1e4), seed=2, **CLEAN)
    frame_set = simulate_frame_set(**wide)
    truth = frame_set.stars
    # A frame turned by up to 90 degrees sees reference pixels up to its half-diagonal from the centre.
    assert truth.y.min() < -80 and truth.y.max() > 63 + 80
    densities = []
    for row in frame_set.transforms.itertuples():
        x, y = Transform.from_row(row).inverse().apply(truth.x.to_numpy(), truth.y.to_numpy())
        on = (x > -0.5) & (x < 255.5) & (y > -0.5) & (y < 63.5)
        densities.append(on.sum() / row.scale**2)  # per reference pixel area
    assert max(abs(frame_set.transforms.rotation)) > 45  # a frame turned far out of the reference's box
    # About 900 stars a frame: a field cut short of a turned frame's ends would leave it 40% emptier.
    np.testing.assert_allclose(densities, densities[0], rtol=0.12)


@pytest.mark.parametrize(
    "key, value",
    [("max_rotation", -1.0), ("max_rotation", 181.0), ("scale_change", 0.2), ("scale_change", -0.01),
     ("meridian_flip", 1), ("meridian_flip", 5)],
)
def test_bad_turn_scale_or_flip_is_refused_by_name(key, value):
    with pytest.raises(ValueError, match=key):
        SimulationConfig(n_frames=4, **{key: value})


def test_write_frame_set_refuses_to_overwrite_unless_asked(tmp_path):
    frame_set = simulate_frame_set(n_frames=1, **SMALL)
    (first, *_) = write_frame_set(frame_set, tmp_path)
    before = first.read_bytes()
    with pytest.raises(FileExistsError, match="frame_001.fits"):
        write_frame_set(frame_set, tmp_path)
    write_frame_set(frame_set, tmp_path, overwrite=True)
    assert first.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["frame_001.fits", "truth_shifts.csv", "truth_stars.csv"]


def test_interrupted_write_leaves_no_file_under_a_final_name(tmp_path, monkeypatch):
    frame_set = simulate_frame_set(n_frames=2, **SMALL)
    real_writeto = fits.PrimaryHDU.writeto
    calls = []

    def write_half_then_die(hdu, target, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            Path(target).write_bytes(b"SIMPLE  =                    T")
            raise KeyboardInterrupt
        real_writeto(hdu, target, **kwargs)

    monkeypatch.setattr(fits.PrimaryHDU, "writeto", write_half_then_die)
    with pytest.raises(KeyboardInterrupt):
        write_frame_set(frame_set, tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["frame_001.fits"]


def test_from_mapping():
    config = SimulationConfig.from_mapping({"shape": [64, 80], "fwhm_range": [3, 4], "n_frames": 2})
    assert config.shape == (64, 80) and config.fwhm_range == (3.0, 4.0) and config.n_frames == 2
    assert SimulationConfig.from_mapping({}) == SimulationConfig()
    unquoted_yaml_time = SimulationConfig.from_mapping({"start_time": datetime.datetime(2024, 7, 1, 23, 0)})
    assert unquoted_yaml_time.start_time == "2024-07-01T23:00:00"
    with pytest.raises(ValueError, match="bogus"):
        SimulationConfig.from_mapping({"bogus": 1, "seed": 1})
    with pytest.raises(ValueError, match="fwhm_range"):
        SimulationConfig.from_mapping({"fwhm_range": [4, 3]})
    with pytest.raises(ValueError, match="nosuch"):
        simulate_frame_set(nosuch=3)


def test_module_does_not_import_snakemake():
    assert "snakemake" not in Path(simulate.__file__).read_text()


def test_turned_scaled_and_flipped_frames_carry_their_truth_and_a_wcs_that_follows():
    from astropy.wcs import WCS

    from stackphot.geometry import Transform

    frame_set = simulate_frame_set(shape=(128, 160), n_frames=4, n_cluster_stars=0, n_field_stars=30, noise=False,
                                   max_rotation=10.0, scale_change=0.005, meridian_flip=3, pixel_scale=1.2)
    truth = [Transform.from_row(row) for row in frame_set.transforms.to_dict("records")]
    assert truth[0].is_translation and (truth[0].dy, truth[0].dx) == (0.0, 0.0)
    assert all(abs(t.rotation) <= 10.0 for t in truth[1:2]) and all(abs(t.rotation) > 170 for t in truth[2:])
    assert all(abs(t.scale - 1) <= 0.005 for t in truth) and len({t.rotation for t in truth}) == 4
    # A star has the same sky position in every frame: the frame's WCS at the star's frame pixel gives the
    # reference WCS at its reference pixel.
    x, y = frame_set.stars.x.to_numpy()[:5], frame_set.stars.y.to_numpy()[:5]
    sky = WCS(frame_set.headers[0]).pixel_to_world_values(x, y)
    for header, transform in zip(frame_set.headers[1:], truth[1:]):
        fx, fy = transform.inverse().apply(x, y)
        ra, dec = WCS(header).pixel_to_world_values(fx, fy)
        assert np.max(np.hypot((ra - sky[0]) * np.cos(np.radians(dec)), dec - sky[1])) * 3600 < 1e-3


@pytest.mark.parametrize("key, value", [("max_rotation", -1.0), ("scale_change", 0.2), ("meridian_flip", 1),
                                        ("meridian_flip", 9)])
def test_bad_turning_options_are_refused_by_name(key, value):
    with pytest.raises(ValueError, match=key):
        SimulationConfig(n_frames=4, **{key: value})
