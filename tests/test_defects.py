"""Detector defects found from the frames themselves (stackphot.defects, issue 19).

Hot pixels fixed to the detector survive the stack of a set that moves by less than a pixel, as sigma clipping
across frames cannot reject them; the defect map finds them (and no star) and the background stage masks them.
The blank (constant) borders of frames registered elsewhere are masked at ingest, so they no longer pull the
sky towards their value. One small workflow run checks the rules: the map from every frame, its bit in every
frame's MASK, and no map where the settings turn it off.
"""

import gc
import weakref

import numpy as np
import pytest
from astropy.io import fits
from photutils.aperture import CircularAperture, aperture_photometry
from scipy import ndimage

from conftest import gaussian_star
from stackphot.align import align_frame
from stackphot.background import subtract_background
from stackphot.defects import (BLANK, DEFECT, SHARPNESS, blank_border, find_defects, flag_defects, read_defect_map,
                               spikes, with_defects)
from stackphot.geometry import Transform
from stackphot.ingest import SATURATED, ingest_frame
from stackphot.io import read_image, read_raw_frame, write_product
from stackphot.simulate import simulate_frame_set, write_frame_set
from stackphot.stack import combine
from workflow_helpers import run_snakemake

# A cluster field dithered by under a pixel, with 50 hot pixels fixed to the detector.
BARELY_DITHERED = {"shape": (256, 256), "n_frames": 8, "seed": 3, "max_offset": 0.8, "hot_pixel_fraction": 50 / 256**2,
                   "n_cluster_stars": 300, "n_field_stars": 60, "cluster_scale_radius": 40.0,
                   "cluster_max_radius": 120.0, "cosmic_rays_per_frame": 0.0}
APERTURE = 4.0


def ingested(frame_set, folder):
    """The frames of ``frame_set`` as ingest makes them, through their files (the camera's uint16)."""
    return [ingest_frame(read_raw_frame(path)) for path in write_frame_set(frame_set, folder)[:-2]]


def stack(frames, transforms, defects=None):
    """The sigma-clipped stack of ingested ``frames``, as the workflow makes it (its default background, DEFECT
    set at ``defects`` in each subtracted frame's MASK), each frame aligned by its true transform."""
    planes, errors = [], []
    for frame, row in zip(frames, transforms.itertuples()):
        subtracted = subtract_background(frame.data, frame.mask, gain=frame.noise.gain, destripe_rows=True).subtracted
        if defects is not None:
            subtracted = with_defects(subtracted, defects)
        aligned = align_frame(subtracted.data, Transform.from_row(row), error=subtracted.extensions["ERR"],
                              mask=subtracted.extensions["MASK"] > 0, order=3)
        planes.append(aligned.data)
        errors.append(aligned.error)
    return combine(np.array(planes), np.array(errors), method="sigma_clip", sigma=3.0, maxiters=5)


@pytest.fixture(scope="module")
def barely_dithered(tmp_path_factory):
    """The set, its frames ingested, their defect map, and the stacks without and with it (and of the same sky
    without noise, hot pixels or anything else a frame adds to the scene: what the stacks should show)."""
    root = tmp_path_factory.mktemp("barely_dithered")
    truth = simulate_frame_set(**BARELY_DITHERED)
    frames = ingested(truth, root / "frames")
    defects = find_defects((frame.data, frame.error, frame.mask) for frame in frames)
    scene = ingested(simulate_frame_set(**{**BARELY_DITHERED, "noise": False, "hot_pixel_fraction": 0.0}),
                     root / "scene")
    return {"truth": truth, "frames": frames, "defects": defects, "before": stack(frames, truth.transforms),
            "after": stack(frames, truth.transforms, defects.map), "scene": stack(scene, truth.transforms).image}


def test_a_hot_pixel_is_a_spike_and_a_star_core_is_not(rng):
    shape = (100, 100)
    sky = 500.0
    image = sky + rng.normal(0, 10, shape)
    image += gaussian_star(shape, 60.0, 60.0, flux=2e5, sigma=2.2 / 2.355)  # the sharpest star clean keeps
    image += gaussian_star(shape, 30.3, 70.6, flux=2e5, sigma=3.5 / 2.355)
    image += gaussian_star(shape, 80.0, 80.0, flux=2e6, sigma=3.5 / 2.355)
    mask = np.zeros(shape, np.uint8)
    mask[79:82, 79:82] = SATURATED  # its core: the rim stands above the rest, but no neighbour is masked
    hot = {(20, 20): 300.0, (40, 40): 5000.0, (40, 41): 800.0, (0, 50): 400.0}  # a pair, and one at the edge
    for position, excess in hot.items():
        image[position] += excess
    error = np.sqrt(100.0 + np.clip(image - sky, 0, None) / 1.5)
    found = spikes(image, error, mask=mask, nsigma=5.0)
    assert set(zip(*np.nonzero(found))) == set(hot)
    # A star twice as sharp as the sharpest in the PSF's pixels would be: taken for a hot pixel.
    assert spikes(sky + gaussian_star(shape, 50.0, 50.0, flux=2e5, sigma=0.4), np.full(shape, 10.0))[50, 50]


def test_leaving_pixels_out_moves_only_their_neighbours_steps_as_a_whole_new_step_would(rng):
    from stackphot.defects import _restep, _step

    data = rng.normal(100.0, 5.0, (60, 80)).astype(np.float32)
    data[rng.random(data.shape) < 0.02] = np.nan
    left_out = ~np.isfinite(data) | (rng.random(data.shape) < 0.02)
    step = _step(data, left_out)
    # Pixels left out next, clumped and on the edges too, next to pixels already left out.
    changed = (rng.random(data.shape) < 0.05) & ~left_out
    changed[0, :5] = changed[-1, -5:] = changed[:5, 0] = True
    changed[10, 10:13] = changed[11:13, 11] = True
    _restep(step, data, left_out | changed, changed)
    np.testing.assert_array_equal(step, _step(data, left_out | changed))


def test_neighbour_counts_are_the_cross_correlation(rng):
    from stackphot.defects import _CROSS, _neighbours

    for fraction in (0.0, 0.1, 0.5, 1.0):
        mask = rng.random((37, 52)) < fraction
        np.testing.assert_array_equal(_neighbours(mask),
                                      ndimage.correlate(mask.astype(np.float32), _CROSS, mode="constant"))


def test_the_noise_is_never_below_what_the_frame_shows(rng):
    # An ERR four times too small (a header's wrong gain) would make a spike of every fourth noise peak.
    image = 500.0 + rng.normal(0, 20, (128, 128))
    assert spikes(image, np.full(image.shape, 5.0)).sum() == 0
    image[64, 64] += 300
    assert set(zip(*np.nonzero(spikes(image, np.full(image.shape, 5.0))))) == {(64, 64)}


def test_the_map_holds_every_hot_pixel_and_no_star(barely_dithered):
    truth, defects, frames = barely_dithered["truth"], barely_dithered["defects"], barely_dithered["frames"]
    hot = truth.hot_pixels
    # The saturated hot pixels are masked in every frame already: nothing to find there.
    saturated = np.all([(frame.mask & SATURATED) > 0 for frame in frames], axis=0)
    assert hot.sum() == 50 and (hot & saturated).sum() == 3
    assert np.array_equal(defects.map, hot & ~saturated)
    assert defects.n_frames == 8 and defects.counts[defects.map].min() >= 4
    # No star is taken for a defect, however little the set moves: none within 2 px of a star's position.
    stars = barely_dithered["truth"].stars
    near_star = np.zeros(hot.shape, bool)
    inside = stars[(stars.x > -2) & (stars.x < 257) & (stars.y > -2) & (stars.y < 257)]
    near_star[np.clip(np.round(inside.y).astype(int), 0, 255), np.clip(np.round(inside.x).astype(int), 0, 255)] = True
    near_star = ndimage.binary_dilation(near_star, iterations=2)
    assert not (defects.map & near_star & ~hot).any()


def test_no_hot_pixel_is_left_in_the_stack(barely_dithered):
    """Measured against the stack of the same sky without noise or hot pixels, over 3 x 3 pixels at each hot
    pixel: before, 47 of the 50 stand 55 to 444 sigma above it (the 3 saturated ones are masked already); after,
    no value left is 2.1 sigma above it, and the hot pixels themselves have no data (NaN: every frame covers them
    with the pixel it masks)."""
    hot_y, hot_x = np.nonzero(barely_dithered["truth"].hot_pixels)
    scene = barely_dithered["scene"]

    def deviations(result):
        z = (result.image - scene) / result.error
        return np.array([np.nanmax(z[y - 1:y + 2, x - 1:x + 2], initial=-np.inf) for y, x in zip(hot_y, hot_x)])

    before, after = deviations(barely_dithered["before"]), deviations(barely_dithered["after"])
    assert (before > 5).sum() == 47 and np.sort(before)[3] > 50
    assert (after < 3).all()
    assert np.isnan(barely_dithered["after"].image[hot_y, hot_x]).all()


def test_no_star_s_flux_in_the_stack_changes_by_more_than_its_error(barely_dithered):
    """Of 345 stars, the 298 with their aperture (4 px) clear of the hot pixels keep their flux within 0.11 of its
    error (99% of them within 0.013). Of the 47 others, 21 have a masked pixel's hole in their aperture (a NaN flux:
    photometry flags it NONFINITE); the rest lose up to 3.8 errors, the hot pixel's light.

    The largest change of a clear star is the row destriping's noise: a hot pixel is a source of the sky's mask
    before (masked 5 px around) and a defect after (masked alone), so the rows around it have their offsets from
    other pixels; in this crowded field (half of each frame masked) a row's offset moves by up to 2 ADU."""
    truth, before, after = barely_dithered["truth"], barely_dithered["before"], barely_dithered["after"]
    stars = truth.stars[(truth.stars.x > 6) & (truth.stars.x < 249) & (truth.stars.y > 6) & (truth.stars.y < 249)]
    apertures = CircularAperture(np.column_stack([stars.x, stars.y]), r=APERTURE)
    flux_before = aperture_photometry(before.image, apertures, error=before.error)
    flux_after = aperture_photometry(after.image, apertures, error=after.error)
    change = np.asarray(flux_after["aperture_sum"] - flux_before["aperture_sum"]) / flux_before["aperture_sum_err"]
    hot_y, hot_x = np.nonzero(truth.hot_pixels)
    distance = np.hypot(stars.y.to_numpy()[:, None] - hot_y, stars.x.to_numpy()[:, None] - hot_x).min(axis=1)
    clear = distance > APERTURE + 4  # the aperture's pixels reach 0.7 px further, a masked pixel's hole 3 px
    assert clear.sum() == 298 and np.isfinite(change[clear]).all()
    assert np.abs(change[clear]).max() < 0.2 and np.percentile(np.abs(change[clear]), 99) < 0.02
    assert np.isnan(change[~clear]).sum() == 21 and np.nanmax(change[~clear]) < 1 and np.nanmin(change[~clear]) < -3


def test_the_map_is_found_one_frame_at_a_time():
    """Memory stays flat in the number of frames: no frame is kept once the next one is read."""
    rng = np.random.default_rng(5)
    alive = []

    def frames():
        for _ in range(6):
            gc.collect()
            assert sum(ref() is not None for ref in alive) <= 1  # the loop still holds the one before
            data = 500.0 + rng.normal(0, 10, (64, 64))
            data[10, 10] += 500
            alive.append(weakref.ref(data))
            yield data, np.full(data.shape, 10.0), np.zeros(data.shape, np.uint8)

    defects = find_defects(frames(), nsigma=5.0, min_fraction=0.5)
    assert defects.n_frames == 6 and set(zip(*np.nonzero(defects.map))) == {(10, 10)}


def test_the_map_as_written_says_how_it_was_found(barely_dithered, tmp_path):
    defects = barely_dithered["defects"]
    path = write_product(tmp_path / "defects.fits", defects.product())
    data, header, ext = read_image(path, "COUNTS")
    assert data.dtype == np.uint8 and np.array_equal(read_defect_map(path), defects.map)
    assert (header["NDEFECT"], header["NFRAMES"], header["DEFNSIG"], header["DEFFRAC"]) == (47, 8, 5.0, 0.75)
    assert header["DEFSHARP"] == SHARPNESS and "47 hot pixels" in str(header["HISTORY"])
    assert np.array_equal(ext["COUNTS"], defects.counts)
    mask = np.full(defects.map.shape, SATURATED, np.uint8)
    flagged = flag_defects(mask, defects.map)
    assert np.array_equal(flagged, np.where(defects.map, SATURATED | DEFECT, SATURATED))
    assert (mask == SATURATED).all()  # a new mask, the input unchanged
    with pytest.raises(ValueError, match="shape"):
        flag_defects(mask[:10], defects.map)


@pytest.fixture(scope="module")
def bordered(tmp_path_factory):
    """A frame registered elsewhere: 20 px of zeros along its top and its right side, as Siril writes them."""
    truth = simulate_frame_set(shape=(256, 256), n_frames=1, seed=3, n_cluster_stars=300, n_field_stars=60,
                               cluster_scale_radius=40.0, cluster_max_radius=120.0)
    clean = ingested(truth, tmp_path_factory.mktemp("clean"))[0]
    border = np.zeros(truth.frames[0].shape, bool)
    border[:20, :] = border[:, -20:] = True
    truth.frames[0] = np.where(border, 0, truth.frames[0]).astype(np.uint16)
    return ingested(truth, tmp_path_factory.mktemp("bordered"))[0], border, clean


def test_a_blank_border_is_masked_at_ingest_and_nothing_else(bordered):
    frame, border, clean = bordered
    assert np.array_equal((frame.mask & BLANK) > 0, border)
    assert not (clean.mask & BLANK).any()  # the sky's own integer ADU never repeat 16 times in a row
    assert not blank_border(np.where(border, np.nan, frame.data)).any()  # NaN is NONFINITE already
    # Any one value, and any region touching the edge: a wedge of 65535 at one corner.
    wedge = np.add.outer(np.arange(256), np.arange(256)) < 40
    assert np.array_equal(blank_border(np.where(wedge, 65535.0, clean.data)), wedge)


def test_a_masked_border_no_longer_pulls_the_sky_towards_zero(bordered):
    """The sky model over the 20 px next to the border, against the same frame's without a border (the
    workflow's background, destriped): 54 ADU lower (median; up to 147) when the border is taken for data, as
    today, 0.2 ADU (up to 6) once it is masked; the sky's noise is 21 ADU."""
    frame, border, clean = bordered
    next_to = ndimage.binary_dilation(border, iterations=20) & ~border
    sky = subtract_background(clean.data, clean.mask, gain=clean.noise.gain, destripe_rows=True).sky.data
    pulled = {}
    for name, mask in [("as data", frame.mask & ~np.uint8(BLANK)), ("masked", frame.mask)]:
        result = subtract_background(frame.data, mask, gain=frame.noise.gain, destripe_rows=True)
        pulled[name] = (result.sky.data - sky)[next_to]
    assert np.median(pulled["as data"]) < -40 and pulled["as data"].min() < -100
    assert abs(np.median(pulled["masked"])) < 1 and np.abs(pulled["masked"]).max() < 10


@pytest.mark.workflow
def test_the_workflow_maps_the_defects_and_masks_them_in_every_frame(tmp_path):
    """One run, two datasets of the same six frames to the background stage: one with defects found (the
    default), one with `background: defects: false`."""
    frame_set = simulate_frame_set(**{**BARELY_DITHERED, "shape": (128, 128), "n_frames": 6,
                                      "hot_pixel_fraction": 20 / 128**2, "n_cluster_stars": 80, "n_field_stars": 20,
                                      "cluster_scale_radius": 20.0, "cluster_max_radius": 60.0})
    paths = write_frame_set(frame_set, tmp_path / "frames")[:-2]
    config = {"datasets": {"masked": {"path": str(tmp_path / "frames")},
                           "kept": {"path": str(tmp_path / "frames"), "settings": {"background": {"defects": False}}}},
              "run": {"batch_size": 6}}
    targets = [f"results/{name}/background/frame_00{i}.sub.fits" for name in ("masked", "kept") for i in range(1, 7)]
    run_snakemake(tmp_path / "work", config, *targets)
    results = tmp_path / "work/results"
    expected = find_defects((frame.data, frame.error, frame.mask) for frame in map(ingest_frame, map(read_raw_frame, paths)))
    assert expected.n_defects >= 15
    header = fits.getheader(results / "masked/defects.fits")
    assert (header["NDEFECT"], header["NFRAMES"], header["DEFNSIG"], header["DEFFRAC"]) == (expected.n_defects, 6, 5.0, 0.75)
    assert np.array_equal(read_defect_map(results / "masked/defects.fits"), expected.map)
    for index in range(1, 7):
        masked = fits.getdata(results / f"masked/background/frame_00{index}.sub.fits", "MASK")
        kept = fits.getdata(results / f"kept/background/frame_00{index}.sub.fits", "MASK")
        assert np.array_equal((masked & DEFECT) > 0, expected.map)
        assert np.array_equal(masked & ~np.uint8(DEFECT), kept) and not (kept & DEFECT).any()
    assert not (results / "kept/defects.fits").exists()
    log = (tmp_path / "work/logs/masked/find_defects.log").read_text()
    assert "frame_006: " in log and f"{expected.n_defects} hot pixels" in log
