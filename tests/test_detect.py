"""Tests of stackphot.detect: finder passes, their merge, centroids and matching, against known truth.

SNR of a star, wherever it is used here: its flux inside a circular aperture of radius one FWHM over the
noise in that aperture, ``F_ap / sqrt(n_pix * rms**2 + F_ap / gain)`` (no Poisson term for the synthetic
Gaussian-noise images).
"""

import dataclasses
import time

import numpy as np
import pandas as pd
import pytest
from astropy.io import fits
from photutils.psf import MoffatPSF
from photutils.utils.exceptions import NoDetectionsWarning
from scipy.spatial import cKDTree

from conftest import gaussian_star
from stackphot.background import estimate_background
from stackphot.detect import (
    CATALOG_COLUMNS,
    DetectionPass,
    add_residual_sources,
    add_sky_coordinates,
    catalog_units,
    clean_outliers,
    cross_match,
    detect_catalog,
    find_sources,
    gaussian_centroids,
    refine_centroids,
    subtract_sources,
)
from stackphot.numerics import moffat_alpha
from stackphot.simulate import simulate_frame_set

GAUSSIAN_FWHM = 2.0 * np.sqrt(2.0 * np.log(2.0))  # FWHM in units of sigma


def gaussian_snr(flux, *, sigma, noise):
    """SNR in a radius-FWHM aperture of a Gaussian star on Gaussian pixel noise."""
    radius = GAUSSIAN_FWHM * sigma
    inside = flux * (1.0 - np.exp(-(radius**2) / (2.0 * sigma**2)))  # 15/16 of the flux
    return inside / (noise * np.sqrt(np.pi * radius**2))


def nearest_other_distance(x, y):
    xy = np.column_stack([x, y])
    return cKDTree(xy).query(xy, k=2)[0][:, 1]


# --- one pass on Gaussian stars of known position -------------------------------------------------------

SIGMA, NOISE = 1.5, 10.0
FWHM = GAUSSIAN_FWHM * SIGMA  # 3.53 px
# photutils' default kernel (sigma_radius 1.5) is 5 x 5 and zero-sum at this FWHM: its "sky" ring sits in the
# star's wings and it detects at about 0.46 times the aperture SNR (a 10-sigma star is a 4.6-sigma peak).
# sigma_radius 2.5 gives a 7 x 7 kernel that detects every SNR > 10 star at threshold 5, at the price of
# higher sharpness values for stars (up to about 1.2), hence sharphi 1.5.
MATCHED = DetectionPass(fwhm=FWHM, threshold=5, sigma_radius=2.5, sharphi=1.5)


def jittered_grid(rng, start, stop, step, *, jitter):
    """(y, x) of a square grid of star positions, each moved by up to ``jitter`` px, so none are blended."""
    grid_y, grid_x = np.mgrid[start:stop:step, start:stop:step]
    return (grid_y.ravel() + rng.uniform(-jitter, jitter, grid_y.size),
            grid_x.ravel() + rng.uniform(-jitter, jitter, grid_x.size))


@pytest.fixture(scope="module")
def gaussian_field():
    """100 Gaussian stars on a jittered grid (never blended), SNR log-uniform in 5..400, noise 10 ADU."""
    rng = np.random.default_rng(7)
    shape = (256, 256)
    y, x = jittered_grid(rng, 14, 242, 23, jitter=3)
    snr = np.exp(rng.uniform(np.log(5), np.log(400), x.size))
    flux = snr / gaussian_snr(1.0, sigma=SIGMA, noise=NOISE)
    image = rng.normal(0.0, NOISE, shape)
    for yy, xx, f in zip(y, x, flux):
        image += gaussian_star(shape, yy, xx, flux=f, sigma=SIGMA)
    catalog = find_sources(image, passes=[MATCHED], rms=NOISE)
    return image, x, y, snr, catalog


def test_one_dao_pass_finds_every_star_above_snr_10_and_nothing_else(gaussian_field):
    image, x, y, snr, catalog = gaussian_field
    index, distance = cross_match(x, y, catalog.x, catalog.y, radius=1.5)
    found = index >= 0
    print(f"\nSNR > 10: {np.sum(snr > 10)} stars, found {np.sum(found & (snr > 10))}; lowest SNR found "
          f"{snr[found].min():.1f}, highest missed {snr[~found].max():.1f}")
    assert found[snr > 10].all()  # measured: every star down to SNR 6.2 found; highest missed 8.7
    back, _ = cross_match(catalog.x, catalog.y, x, y, radius=1.5)
    assert (back >= 0).all()  # no detection without a star
    assert np.bincount(index[found], minlength=len(catalog)).max() == 1  # no star twice
    assert list(catalog.columns) == list(CATALOG_COLUMNS)
    assert catalog.id.tolist() == list(range(1, len(catalog) + 1))
    assert (np.diff(catalog.flux) <= 0).all()
    assert (catalog["pass"] == 0).all() and (catalog.found_by == "0").all()
    assert (catalog.fwhm == FWHM).all()
    # DAO's own centroid, before any refinement: within 0.06 px for the brightest stars.
    bright = found & (snr > 100)
    assert distance[bright].max() < 0.08

    # The photutils default kernel on the same image: same threshold, a third of the SNR 10..15 stars lost.
    default = find_sources(image, passes=[DetectionPass(fwhm=FWHM, threshold=5)], rms=NOISE)
    default_found = cross_match(x, y, default.x, default.y, radius=1.5)[0] >= 0
    faint = (snr > 10) & (snr < 15)
    print(f"default kernel: {default_found[faint].sum()} of {faint.sum()} stars with SNR 10..15")
    assert default_found[faint].mean() < 0.8
    assert default_found[snr > 20].all()


def test_pure_noise_gives_no_detection_at_threshold_5():
    noise = np.random.default_rng(99).normal(0.0, NOISE, (512, 512))
    for detection_pass in (MATCHED, DetectionPass(fwhm=FWHM, threshold=5)):
        with pytest.warns(NoDetectionsWarning, match="no sources found"):
            catalog = find_sources(noise, passes=[detection_pass], rms=NOISE)
        assert catalog.empty and list(catalog.columns) == list(CATALOG_COLUMNS)
    # The threshold is what protects: at 3 rms the same image gives 132 noise peaks (8 at 4 rms).
    assert len(find_sources(noise, passes=[DetectionPass(fwhm=FWHM, threshold=3, sigma_radius=2.5)], rms=NOISE)) > 50


# Per method, measured on the gaussian_field stars (box 11), with margin:
# - "bright": largest position error of the stars with SNR > 100. 1dg and 2dg are unbiased (noiseless error
#   < 1e-4 px) and noise-limited (0.035, 0.046 px measured); com and quadratic carry a systematic error, see
#   test_centroid_bias_without_noise (0.095 and 0.104 px measured).
# - "rms": rms error per axis of all SNR > 10 stars in units of the Cramer-Rao limit for a Gaussian star on
#   flat noise, sqrt(8 pi) sigma**2 noise / flux (0.17 px per axis at SNR 10): 2dg reaches it (0.95
#   measured), 1dg nearly (1.36); com adds the noise of the whole box (2.9), quadratic its bias (3.6).
CENTROID_TOLERANCE = {
    "com": {"bright": 0.13, "rms": 3.5},
    "quadratic": {"bright": 0.13, "rms": 4.5},
    "1dg": {"bright": 0.07, "rms": 1.6},
    "2dg": {"bright": 0.05, "rms": 1.2},
}


@pytest.mark.parametrize("method", sorted(CENTROID_TOLERANCE))
def test_refined_centroids_reach_their_measured_accuracy(gaussian_field, method):
    image, x, y, snr, catalog = gaussian_field
    index, _ = cross_match(x, y, catalog.x, catalog.y, radius=1.5)
    use = (index >= 0) & (snr > 10)
    start = time.perf_counter()
    new_x, new_y = refine_centroids(image, catalog.x, catalog.y, method=method, box_size=11)
    seconds = time.perf_counter() - start
    error_x, error_y = new_x[index[use]] - x[use], new_y[index[use]] - y[use]
    error = np.hypot(error_x, error_y)
    limit = np.sqrt(8 * np.pi) * SIGMA**2 * NOISE / (snr[use] / gaussian_snr(1.0, sigma=SIGMA, noise=NOISE))
    rms = np.sqrt(np.mean(np.concatenate([error_x / limit, error_y / limit]) ** 2))
    bright = snr[use] > 100
    print(f"\n{method}: SNR > 100 max error {error[bright].max():.3f} px; SNR > 10 rms error {rms:.2f} x the "
          f"Cramer-Rao limit; median error {np.median(error):.3f} px; {len(catalog)} stars in {seconds:.2f} s")
    assert error[bright].max() < CENTROID_TOLERANCE[method]["bright"]
    assert rms < CENTROID_TOLERANCE[method]["rms"]
    if method in ("1dg", "2dg"):
        assert error[bright].max() < 0.1


@pytest.mark.parametrize("method, tolerance", [("com", 0.01), ("quadratic", 0.08), ("1dg", 1e-3), ("2dg", 1e-3)])
def test_centroid_bias_without_noise(method, tolerance):
    # Noiseless stars at subpixel phases 0..0.5 in both axes. com in an 11 px box is truncated by 0.004 px
    # at most (0.12 px in a 7 px box); the 5 x 5 quadratic fit is off by up to 0.077 px on a Gaussian.
    errors = []
    for phase_x in np.linspace(0, 0.5, 6):
        for phase_y in np.linspace(0, 0.5, 6):
            image = gaussian_star((64, 64), 32 + phase_y, 32 + phase_x, flux=1e4, sigma=SIGMA)
            new_x, new_y = refine_centroids(image, [32.3 + phase_x], [31.7 + phase_y], method=method)
            errors.append(np.hypot(new_x[0] - 32 - phase_x, new_y[0] - 32 - phase_y))
    assert max(errors) < tolerance


@pytest.mark.parametrize("box_size", [5, 7])
def test_gaussian_centroids_find_the_fit_photutils_centroid_2dg_finds(gaussian_field, box_size):
    """The batched fit against photutils' centroid_2dg box by box, with masked pixels and boxes cut by the
    image's edges."""
    import warnings

    from photutils.centroids import centroid_2dg, centroid_sources

    image, _, _, _, catalog = gaussian_field
    edge_x, edge_y = np.array([0.3, 1.4, 254.8, 128.2, 254.6]), np.array([0.6, 100.3, 3.2, 255.0, 253.9])
    image = image + sum(gaussian_star(image.shape, yy, xx, flux=5e3, sigma=SIGMA) for xx, yy in zip(edge_x, edge_y))
    mask = np.zeros(image.shape, bool)
    for row in catalog.iloc[::7].itertuples():  # a pixel next to the core of every 7th star
        mask[int(round(row.y)), int(round(row.x)) + 1] = True
    x = np.concatenate([catalog.x, np.fmin(np.round(edge_x), 255)])
    y = np.concatenate([catalog.y, np.fmin(np.round(edge_y), 255)])
    ours = np.column_stack(gaussian_centroids(image, x, y, box_size=box_size, mask=mask))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = np.column_stack(centroid_sources(image, x, y, box_size=box_size, mask=mask,
                                                  centroid_func=centroid_2dg))
    start = np.column_stack([x, y])
    moved = {"ours": np.hypot(*(ours - start).T), "theirs": np.hypot(*(theirs - start).T)}
    difference = np.hypot(*(ours - theirs).T)
    worst = np.argmax(difference)
    print(f"\nbox {box_size}: {len(x)} stars, difference median {np.median(difference):.1e} px, max "
          f"{difference[worst]:.1e} px (star {worst}, flux {catalog.flux.get(worst, 5e3):.0f}); edge stars "
          f"{np.round(difference[-5:], 6)}")
    assert np.isfinite(ours).all()
    assert difference.max() < 1e-3
    # The centroids refine_centroids keeps (a move under 1 px) are the same ones, at the same places.
    kept = moved["theirs"] < 1
    assert np.array_equal(moved["ours"] < 1, kept)
    assert difference[kept].max() < 1e-3


# --- two passes: sharp and bloated stars -----------------------------------------------------------------


@pytest.fixture(scope="module")
def sharp_and_bloated():
    """25 sharp (FWHM 3) and 24 bloated (FWHM 12) Gaussian stars alternating on a 40 px grid, noise 10 ADU."""
    rng = np.random.default_rng(11)
    shape = (320, 320)
    y, x = jittered_grid(rng, 20, 300, 40, jitter=4)
    cell = np.arange(x.size)
    bloated = (cell + cell // 8) % 2 == 1
    fwhm = np.where(bloated, 12.0, 3.0)
    flux = np.where(
        bloated,
        np.exp(rng.uniform(np.log(2e4), np.log(3e5), x.size)),
        np.exp(rng.uniform(np.log(1.5e3), np.log(1e5), x.size)),
    )
    image = rng.normal(0.0, NOISE, shape)
    for yy, xx, f, w in zip(y, x, flux, fwhm):
        image += gaussian_star(shape, yy, xx, flux=f, sigma=w / GAUSSIAN_FWHM)
    return image, x, y, bloated


def test_two_passes_merge_into_one_entry_per_star(sharp_and_bloated):
    image, x, y, bloated = sharp_and_bloated
    passes = [
        DetectionPass(fwhm=3, threshold=5, sigma_radius=2.5, sharphi=1.5),
        DetectionPass(fwhm=12, threshold=5),
    ]
    merged = find_sources(image, passes=passes, rms=NOISE)
    singles = [find_sources(image, passes=[p], rms=NOISE) for p in passes]
    print(f"\npass 0 found {len(singles[0])}, pass 1 {len(singles[1])}, merged {len(merged)}: "
          f"{merged.found_by.value_counts().to_dict()}")

    # Each true star exactly once, and nothing else.
    entries_near_star = (np.hypot(merged.x.to_numpy()[:, None] - x, merged.y.to_numpy()[:, None] - y) < 4).sum(0)
    assert (entries_near_star == 1).all()
    assert len(merged) == x.size
    assert nearest_other_distance(merged.x, merged.y).min() > 3

    # found_by lists exactly the passes that detected the star on their own (within the default match
    # radius, half the larger FWHM: 6 px), and the kept row is the most significant of their detections.
    index, _ = cross_match(x, y, merged.x, merged.y, radius=4)
    both = 0
    for star, row in enumerate(index):
        kept = merged.iloc[row]
        detections = {}
        for number, single in enumerate(singles):
            hit, _ = cross_match([kept.x], [kept.y], single.x, single.y, radius=6)
            if hit[0] >= 0:
                detections[number] = single.iloc[hit[0]]
        assert kept.found_by == ",".join(map(str, sorted(detections)))
        best = max(detections, key=lambda number: detections[number].significance)
        assert kept["pass"] == best
        assert kept.significance == detections[best].significance
        assert (kept.x, kept.y) == (detections[best].x, detections[best].y)
        assert kept.fwhm == passes[best].fwhm
        both += len(detections) == 2
    assert both >= 15  # measured 21: most bloated stars are also found by the sharp pass

    # Bloated stars found by both passes keep the broad kernel's measurement, the better one.
    rows = merged.iloc[index[bloated]]
    by_both = (rows.found_by == "0,1").to_numpy()
    assert (rows["pass"].to_numpy()[by_both] == 1).all()
    error = np.hypot(rows.x.to_numpy() - x[bloated], rows.y.to_numpy() - y[bloated])
    sharp_pass = singles[0]
    hit, sharp_error = cross_match(x[bloated], y[bloated], sharp_pass.x, sharp_pass.y, radius=6)
    print(f"bloated stars found by both: median error {np.median(error[by_both]):.3f} px kept (pass 1), "
          f"{np.median(sharp_error[by_both]):.3f} px from pass 0")
    assert np.median(error[by_both]) < 0.5 * np.median(sharp_error[by_both])
    assert error[by_both].max() < 0.2


def test_identical_passes_give_one_catalog_found_by_both(gaussian_field):
    image, _, _, _, single = gaussian_field
    twice = find_sources(image, passes=[MATCHED, MATCHED], rms=NOISE)
    assert len(twice) == len(single)
    assert (twice.found_by == "0,1").all()
    assert (twice["pass"] == 0).all()  # a tie goes to the earlier pass
    pd.testing.assert_frame_equal(twice.drop(columns="found_by"), single.drop(columns="found_by"))


def test_match_radius_overrides_the_fwhm_default(sharp_and_bloated):
    image, *_ = sharp_and_bloated
    passes = [DetectionPass(fwhm=3, threshold=5, sigma_radius=2.5, sharphi=1.5), DetectionPass(fwhm=12, threshold=5)]
    default = find_sources(image, passes=passes, rms=NOISE)
    tiny = find_sources(image, passes=passes, rms=NOISE, match_radius=1e-3)
    # Hardly any two passes' centroids coincide to 0.001 px: the merge no longer joins them.
    assert len(tiny) > len(default) + 15


# --- a simulated raw frame ---------------------------------------------------------------------------------


def test_simulated_frame_completeness_and_false_detections():
    frame_set = simulate_frame_set(
        shape=(256, 320), n_frames=1, seed=1, n_cluster_stars=250, n_field_stars=150,
        cluster_scale_radius=80.0, cluster_max_radius=200.0, max_offset=0.0,
    )
    raw = frame_set.frames[0].astype(float)
    start = time.perf_counter()
    background = estimate_background(raw, destripe_rows=True)
    data = raw - background.map
    seconds_background = time.perf_counter() - start

    fwhm, gain, rms = frame_set.fwhm[0], frame_set.config.gain, background.rms_median
    stars = frame_set.stars  # reference-frame positions; frame 0 is the reference (shift 0, 0)
    x, y, flux = stars.x.to_numpy(), stars.y.to_numpy(), stars.flux.to_numpy()
    beta = frame_set.config.moffat_beta
    inside = flux * (1 - (1 + (fwhm / moffat_alpha(fwhm, beta)) ** 2) ** (1 - beta))  # 76% within 1 FWHM
    snr = inside / np.sqrt(np.pi * fwhm**2 * rms**2 + inside / gain)
    ny, nx = raw.shape
    target = (snr > 10) & (x >= 5) & (x <= nx - 6) & (y >= 5) & (y <= ny - 6)
    # A single finder pass cannot split blends: "isolated" stars have no neighbour brighter than a quarter of
    # their flux within 2.5 FWHM.
    tree = cKDTree(np.column_stack([x, y]))
    crowded = np.array([
        any(j != i and flux[j] > 0.25 * flux[i] for j in tree.query_ball_point([x[i], y[i]], 2.5 * fwhm))
        for i in range(x.size)
    ])
    isolated = target & ~crowded
    defects_x = np.concatenate([np.nonzero(frame_set.hot_pixels)[1], frame_set.cosmic_rays.x])
    defects_y = np.concatenate([np.nonzero(frame_set.hot_pixels)[0], frame_set.cosmic_rays.y])

    def run(detection_pass, *, clean):
        start = time.perf_counter()
        catalog = find_sources(data, passes=[detection_pass], rms=background.rms, clean=clean)
        seconds = time.perf_counter() - start
        found = cross_match(x, y, catalog.x, catalog.y, radius=1.5)[0] >= 0
        false = cross_match(catalog.x, catalog.y, x, y, radius=1.5)[0] < 0
        on_defect = cross_match(catalog.x, catalog.y, defects_x, defects_y, radius=1.5)[0] >= 0
        result = {
            "n": len(catalog), "complete": found[target].mean(), "complete_isolated": found[isolated].mean(),
            "false": false.mean(), "false_on_defects": int((false & on_defect).sum()), "seconds": seconds,
        }
        print(f"  clean={clean} {detection_pass}: " + ", ".join(
            f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}" for k, v in result.items()))
        return result

    print(f"\n{target.sum()} true stars with SNR > 10 ({isolated.sum()} isolated), {frame_set.hot_pixels.sum()} hot "
          f"pixels, {len(frame_set.cosmic_rays)} cosmic-ray pixels; background {seconds_background:.2f} s")
    limits = dict(fwhm=fwhm, threshold=5, sigma_radius=2.5, sharplo=0.2, sharphi=1.5, min_separation=1.5 * fwhm)
    sharp = run(DetectionPass(**limits), clean=False)
    loose = run(DetectionPass(**{**limits, "sharplo": 0.0, "sharphi": 100.0, "roundlo": -100.0, "roundhi": 100.0}),
                clean=False)
    cleaned = run(DetectionPass(**limits), clean=True)

    # The sharpness limits reject the hot pixels and cosmic rays: without them they are a third of the
    # detections (measured 42 of 122), with them none (0 of 78).
    assert loose["false_on_defects"] >= 30
    assert sharp["false_on_defects"] <= 2
    assert sharp["false"] <= 0.05
    # But before being rejected, each outlier suppresses the fainter peaks around it: cleaning them first
    # recovers those stars (measured, isolated: 0.825 without cleaning, 0.965 with; all: 0.756, 0.919).
    assert cleaned["complete_isolated"] >= 0.9
    assert cleaned["complete"] >= 0.9
    assert cleaned["false"] <= 0.05
    assert cleaned["complete"] > sharp["complete"] + 0.1


def test_clean_outliers_replaces_hot_pixels_but_not_star_cores():
    rng = np.random.default_rng(5)
    sigma = 2.2 / GAUSSIAN_FWHM  # the sharpest stars it is safe for, here at the worst subpixel phase
    image = rng.normal(0, NOISE, (64, 64)) + gaussian_star((64, 64), 30.5, 30.5, flux=1e5, sigma=sigma)
    image[10, 12] += 3000.0
    image[50, 40:43] += 2000.0  # a short cosmic-ray track
    cleaned, outliers = clean_outliers(image, NOISE)
    assert outliers[10, 12] and outliers[50, 40:43].all()
    assert not outliers[25:36, 25:36].any()  # the star's core, even this sharp, is kept
    assert abs(cleaned[10, 12]) < 5 * NOISE
    assert outliers.sum() == 4


# --- the real HorseHead plate ---------------------------------------------------------------------------------


def test_horsehead_two_passes_without_duplicates(shared_data):
    path = shared_data / "horsehead" / "HorseHead.fits"
    if not path.is_file():
        pytest.skip(f"{path} is missing")
    data = fits.getdata(path).astype(float)  # int16 DSS plate, 891 x 893
    start = time.perf_counter()
    background = estimate_background(data, method="mesh", box_size=64)
    subtracted = data - background.map
    seconds_background = time.perf_counter() - start
    # Faint stars are about 6 px wide on this plate, bright ones bloated to 15 px and more.
    passes = [DetectionPass(fwhm=6, threshold=5), DetectionPass(fwhm=15, threshold=10)]
    start = time.perf_counter()
    merged = find_sources(subtracted, passes=passes, rms=background.rms)
    seconds = time.perf_counter() - start
    singles = [find_sources(subtracted, passes=[p], rms=background.rms) for p in passes]
    counts = merged.found_by.value_counts().to_dict()
    print(f"\nHorseHead: pass 0 (FWHM 6, 5 rms) found {len(singles[0])}, pass 1 (FWHM 15, 10 rms) "
          f"{len(singles[1])}; merged {len(merged)} {counts}; background {seconds_background:.2f} s, "
          f"passes and merge {seconds:.2f} s")
    assert nearest_other_distance(merged.x, merged.y).min() > 3
    assert len(merged) <= len(singles[0]) + len(singles[1])
    assert len(merged) >= max(len(singles[0]), len(singles[1]))
    assert counts.get("0,1", 0) > 0  # the bright stars are found by both passes ...
    assert counts.get("1", 0) > 0  # ... and some only by the broad one
    # Measured: 520 and 38 detections, 527 sources (31 found by both passes, 7 by the broad one only).
    assert 400 < len(merged) < 700


# --- edge cases ---------------------------------------------------------------------------------------------


def test_empty_image_gives_an_empty_table_and_a_warning():
    with pytest.warns(NoDetectionsWarning, match="no sources found by 2 detection pass"):
        catalog = find_sources(np.zeros((64, 64)), passes=[MATCHED, {"fwhm": 8, "threshold": 5}], rms=1.0)
    assert catalog.empty
    assert list(catalog.columns) == list(CATALOG_COLUMNS)
    assert catalog["id"].dtype == np.int64 and catalog["x"].dtype == np.float64
    with pytest.warns(NoDetectionsWarning):
        assert find_sources(np.full((32, 32), np.nan), passes=[MATCHED], rms=1.0).empty


def test_nan_pixels_are_masked_not_fatal():
    rng = np.random.default_rng(3)
    image = rng.normal(0, NOISE, (96, 96)) + gaussian_star((96, 96), 60.3, 40.6, flux=2e4, sigma=SIGMA)
    image[10:20, :] = np.nan  # a dead band
    image[60, 41] = np.nan  # a pixel of the star's core
    rms = np.where(np.isnan(image), np.nan, NOISE)
    catalog = find_sources(image, passes=[MATCHED, {"fwhm": 8, "threshold": 5, "finder": "iraf"}], rms=rms)
    assert len(catalog) == 1
    assert np.isfinite(catalog[["x", "y", "flux", "significance"]].to_numpy()).all()
    new_x, new_y = refine_centroids(image, catalog.x, catalog.y, method="2dg")
    assert np.hypot(new_x[0] - 40.6, new_y[0] - 60.3) < 0.1


def test_bad_passes_raise_clear_errors():
    with pytest.raises(ValueError, match="unknown finder 'sextractor'; choose one of dao, iraf"):
        DetectionPass(fwhm=3, threshold=5, finder="sextractor")
    with pytest.raises(ValueError, match="unknown finder"):
        find_sources(np.zeros((32, 32)), passes=[{"fwhm": 3, "threshold": 5, "finder": "DAO"}], rms=1.0)
    with pytest.raises(ValueError, match=r"unknown detection pass option\(s\): brightest, sharp \(known: "):
        DetectionPass.from_mapping({"fwhm": 3, "threshold": 5, "sharp": 1.0, "brightest": 10})
    with pytest.raises(ValueError, match=r"missing required option\(s\): threshold"):
        DetectionPass.from_mapping({"fwhm": 3})
    with pytest.raises(ValueError, match="fwhm must be positive; sharplo must be <= sharphi"):
        DetectionPass(fwhm=0, threshold=5, sharplo=1.0, sharphi=0.5)
    with pytest.raises(ValueError, match="at least one detection pass"):
        find_sources(np.zeros((32, 32)), passes=[], rms=1.0)
    with pytest.raises(ValueError, match="rms must be positive"):
        find_sources(np.zeros((32, 32)), passes=[MATCHED], rms=0.0)
    with pytest.raises(ValueError, match="rms map has shape"):
        find_sources(np.zeros((32, 32)), passes=[MATCHED], rms=np.ones((16, 16)))


def test_pass_from_yaml_like_mapping():
    detection_pass = DetectionPass.from_mapping({"finder": "iraf", "fwhm": 6, "threshold": 10, "sharphi": 3})
    assert detection_pass == DetectionPass(finder="iraf", fwhm=6.0, threshold=10.0, sharphi=3.0)
    assert isinstance(detection_pass.fwhm, float)
    finder = detection_pass.make_finder(50.0)
    assert finder.sharpness_range == (0.5, 3.0)  # the unset lower bound keeps the IRAF default
    assert finder.roundness_range == (0.0, 0.2)


def test_refine_centroids_keeps_the_start_where_it_cannot_do_better():
    image = gaussian_star((64, 64), 30.0, 30.0, flux=1e4, sigma=SIGMA)
    # Start 5 px off in both axes (inside an 11 px box): the centroid would move 7 px > 5.5, so it is refused.
    # Off-image and NaN starts are returned unchanged.
    new_x, new_y = refine_centroids(image, [35.0, 31.0, -3.0, np.nan], [35.0, 29.0, 10.0, 5.0], method="com")
    np.testing.assert_allclose(new_x[[0, 2]], [35.0, -3.0])
    np.testing.assert_allclose(new_y[[0, 2, 3]], [35.0, 10.0, 5.0])
    assert np.isnan(new_x[3])
    assert np.hypot(new_x[1] - 30.0, new_y[1] - 30.0) < 0.01
    # A fit on an all-masked box fails (NaN): the start is kept.
    masked = np.zeros(image.shape, bool)
    masked[20:41, 20:41] = True
    fit_x, fit_y = refine_centroids(image, [31.0], [29.0], method="2dg", mask=masked)
    assert (fit_x[0], fit_y[0]) == (31.0, 29.0)
    empty = refine_centroids(image, [], [], method="1dg")
    assert empty[0].size == 0 and empty[1].size == 0
    with pytest.raises(ValueError, match="unknown centroid method 'peak'; choose one of com, quadratic, 1dg, 2dg"):
        refine_centroids(image, [30.0], [30.0], method="peak")
    with pytest.raises(ValueError, match="box_size must be an odd integer"):
        refine_centroids(image, [30.0], [30.0], box_size=10)


def test_refine_centroids_refuses_a_move_beyond_max_shift():
    image = gaussian_star((64, 64), 30.0, 30.0, flux=1e4, sigma=SIGMA)
    x, y = refine_centroids(image, [31.5, 30.5], [30.0, 30.0], method="2dg", box_size=7, max_shift=1.0)
    np.testing.assert_allclose(x, [31.5, 30.0], atol=0.01)  # 1.5 px: refused; 0.5 px: accepted
    np.testing.assert_allclose(y, [30.0, 30.0], atol=0.01)


@pytest.fixture(scope="module")
def faint_companions():
    """16 bright Moffat stars, each with a companion (SNR > 10) 30 to 60 times fainter 5 to 7 px away."""
    rng = np.random.default_rng(3)
    shape, fwhm, beta = (200, 250), 3.5, 3.0
    y, x = jittered_grid(rng, 25, 185, 40, jitter=2)
    angle = rng.uniform(0, 2 * np.pi, x.size)
    separation = rng.uniform(5.0, 7.0, x.size)
    bright = np.exp(rng.uniform(np.log(6e4), np.log(2e5), x.size))
    stars = pd.DataFrame({"x": np.r_[x, x + separation * np.cos(angle)],
                          "y": np.r_[y, y + separation * np.sin(angle)],
                          "flux": np.r_[bright, bright / rng.uniform(30, 60, x.size)]})
    grid_y, grid_x = np.mgrid[: shape[0], : shape[1]]
    image = rng.normal(0.0, NOISE, shape)
    for star in stars.itertuples():
        image += MoffatPSF(flux=star.flux, x_0=star.x, y_0=star.y, alpha=moffat_alpha(fwhm, beta), beta=beta)(grid_x, grid_y)
    passes = [DetectionPass(fwhm=fwhm, threshold=5.0, sigma_radius=2.5, sharphi=1.5, min_separation=5.0)]
    return image, stars, passes


def test_residual_pass_finds_faint_stars_on_bright_wings(faint_companions):
    image, stars, passes = faint_companions
    companions = stars.iloc[len(stars) // 2 :]
    first = find_sources(image, passes=passes, rms=NOISE)
    found_first = (cross_match(companions.x, companions.y, first.x, first.y, radius=1.5)[0] >= 0).mean()
    deeper, _ = add_residual_sources(image, first, passes=passes, rms=NOISE)
    index, _ = cross_match(companions.x, companions.y, deeper.x, deeper.y, radius=1.5)
    false, _ = cross_match(deeper.x, deeper.y, stars.x, stars.y, radius=1.5)
    print(f"companions found: {found_first:.0%} in the image, {(index >= 0).mean():.0%} with the residual pass; "
          f"{int(deeper.residual.sum())} added, {int((false < 0).sum())} false")
    assert found_first < 0.5
    assert (index >= 0).mean() >= 0.9
    assert (false < 0).sum() == 0
    assert deeper.residual.iloc[index[index >= 0]].mean() > 0.5  # found by the residual pass, not before
    assert list(deeper.id) == list(range(1, len(deeper) + 1))


def test_subtracting_the_sources_removes_their_light(faint_companions):
    image, stars, _ = faint_companions
    residual = subtract_sources(image, stars.x, stars.y, error=np.full(image.shape, NOISE), n_psf_stars=16)
    left = []
    for star in stars.iloc[: len(stars) // 2].itertuples():  # the bright ones
        box = np.s_[int(star.y) - 3 : int(star.y) + 4, int(star.x) - 3 : int(star.x) + 4]
        left.append(np.abs(residual[box]).sum() / image[box].sum())
    print(f"light left within 3 px of the bright stars: median {np.median(left):.1%}, max {np.max(left):.1%}")
    assert np.max(left) < 0.05


def test_cross_match_nearest_within_radius():
    index, distance = cross_match(
        [0.0, 10.0, 20.0, np.nan, 30.0], [0.0, 0.0, 0.0, 0.0, 0.0],
        [10.5, 0.3, 0.9, np.nan, 31.0], [0.0, 0.0, 0.0, 0.0, 0.0], radius=1.0,
    )
    np.testing.assert_array_equal(index, [1, 0, -1, -1, 4])  # 31 is exactly 1 px away: the radius is inclusive
    np.testing.assert_allclose(distance, [0.3, 0.5, np.nan, np.nan, 1.0])
    index, distance = cross_match([1.0, 2.0], [1.0, 2.0], [], [], radius=5.0)
    np.testing.assert_array_equal(index, [-1, -1])
    assert np.isnan(distance).all()
    assert cross_match([], [], [1.0], [1.0], radius=1.0)[0].size == 0
    with pytest.raises(ValueError, match="radius must be positive"):
        cross_match([1.0], [1.0], [1.0], [1.0], radius=0.0)
    with pytest.raises(ValueError, match="same length"):
        cross_match([1.0, 2.0], [1.0], [1.0], [1.0], radius=1.0)


def test_residual_pass_without_a_psf_keeps_the_catalog(faint_companions, monkeypatch):
    import stackphot.detect.residual

    def no_psf(*args, **kwargs):
        raise stackphot.detect.PSFFitError("no Moffat PSF fits the 1 brightest sources")

    image, _, passes = faint_companions
    first = find_sources(image, passes=passes, rms=NOISE)
    monkeypatch.setattr(stackphot.detect.residual, "fit_moffat_shape", no_psf)
    with pytest.warns(UserWarning, match="no residual pass: no Moffat PSF fits"):
        kept, residual = add_residual_sources(image, first, passes=passes, rms=NOISE)
    pd.testing.assert_frame_equal(kept, first)
    np.testing.assert_array_equal(residual, image)


def test_detect_catalog_finds_every_star_on_a_leftover_sky(faint_companions):
    """The workflow's catalog: a tilted leftover sky removed, both passes and the residual pass, 2dg
    centroids; every star and companion found once, nothing else, each where it is."""
    image, stars, passes = faint_companions
    rows, columns = np.indices(image.shape)
    data = image + 20.0 + 0.05 * columns - 0.03 * rows
    data[:, :3] = np.nan  # an uncovered strip
    error = np.full(image.shape, NOISE)
    error[100, 100] = np.nan  # takes the leftover sky's RMS
    catalog, _ = detect_catalog(data, error, passes=passes, box_size=32, residual_pass=True, centroid="2dg",
                                centroid_box=5, centroid_max_shift=1.0)
    assert list(catalog.columns[:3]) == ["id", "x", "y"] and {"x_detect", "y_detect"} <= set(catalog.columns)
    assert catalog.id.tolist() == list(range(1, len(catalog) + 1)) and (catalog.flux > 0).all()
    index, distance = cross_match(stars.x, stars.y, catalog.x, catalog.y, radius=1.5)
    false = cross_match(catalog.x, catalog.y, stars.x, stars.y, radius=1.5)[0] < 0
    finder = np.hypot(catalog.x_detect[index] - stars.x.to_numpy(), catalog.y_detect[index] - stars.y.to_numpy())
    bright = np.arange(len(stars)) < len(stars) // 2
    print(f"{len(catalog)} sources ({int(catalog.residual.sum())} from the residual pass), {int(false.sum())} "
          f"false; centroid error median {np.median(distance):.3f} px (finder {np.median(finder):.3f}), "
          f"bright stars max {distance[bright].max():.3f} px, companions max {distance[~bright].max():.3f} px")
    assert (index >= 0).all() and not false.any() and len(catalog) == len(stars)
    assert catalog.residual.sum() >= len(stars) // 4
    assert distance[bright].max() < 0.05 and distance[~bright].max() < 0.5
    assert np.median(distance[~bright]) < 0.2


# The config's defaults, but for adding the sources only the segmentation finds.
SEGMENTATION = {"fwhm": None, "threshold": 1.5, "npixels": 5, "nlevels": 32, "contrast": 0.005, "add_sources": True,
                "min_snr": 10.0}


def test_the_segmentation_pass_adds_no_false_source_to_a_star_field(faint_companions):
    """Source Extractor's defaults on stars with faint companions: the finders' catalog unchanged in its sources
    and positions, each now measured by the segmentation too."""
    image, stars, passes = faint_companions
    error = np.full(image.shape, NOISE)
    kwargs = dict(passes=passes, box_size=32, residual_pass=True, centroid="2dg", centroid_box=5,
                  centroid_max_shift=1.0)
    found, _ = detect_catalog(image, error, **kwargs)
    catalog, segments = detect_catalog(image, error, segmentation=SEGMENTATION, **kwargs)
    false = cross_match(catalog.x, catalog.y, stars.x, stars.y, radius=1.5)[0] < 0
    added = catalog["pass"] == "segmentation"
    measured = catalog["segment_id"].notna()
    print(f"{len(found)} sources by the finders, {len(catalog)} with the segmentation ({int(added.sum())} added, "
          f"{int(false.sum())} false); {int(measured.sum())} measured by it, {segments.n_labels} segments")
    assert not false.any() and len(catalog) == len(stars)
    np.testing.assert_array_equal(catalog[["x", "y"]].to_numpy()[: len(found)], found[["x", "y"]].to_numpy())
    bright = np.arange(len(stars)) < len(stars) // 2
    assert catalog["segment_id"].notna()[cross_match(stars.x, stars.y, catalog.x, catalog.y, radius=1.5)[0][bright]].all()


def test_detect_catalog_without_the_residual_pass_is_the_finders_catalog(faint_companions):
    image, _, passes = faint_companions
    catalog, segments = detect_catalog(image, np.full(image.shape, NOISE), passes=[dataclasses.asdict(passes[0])],
                                       box_size=50)
    assert not catalog.residual.any() and segments is None
    assert list(catalog.columns) == ["id", "x", "y", "x_detect", "y_detect", *CATALOG_COLUMNS[3:]]
    # com centroids in the default 11 px box: within 0.2 px of the finder's on these isolated bright stars.
    bright = catalog.flux > 1e4
    assert bright.sum() >= 16
    assert np.hypot(catalog.x - catalog.x_detect, catalog.y - catalog.y_detect)[bright].max() < 0.2


def test_sky_coordinates_and_units_of_a_catalog():
    from astropy.wcs import WCS

    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs.wcs.crval = [250.4235, 36.4613]
    wcs.wcs.crpix = [51.0, 41.0]  # 1-based: the 0-based pixel (50, 40)
    wcs.wcs.cdelt = [-0.5 / 3600, 0.5 / 3600]
    catalog = pd.DataFrame({"id": [1, 2], "x": [50.0, 50.0], "y": [40.0, 60.0], "flux": [1.0, 2.0]})
    with_sky = add_sky_coordinates(catalog, wcs)
    assert list(with_sky.columns) == ["id", "x", "y", "flux", "ra", "dec"] and "ra" not in catalog
    assert with_sky.ra[0] == pytest.approx(250.4235, abs=1e-12) and with_sky.dec[0] == pytest.approx(36.4613, abs=1e-12)
    assert (with_sky.dec[1] - 36.4613) * 3600 == pytest.approx(10.0, rel=1e-6)  # 20 px of 0.5" north
    assert list(add_sky_coordinates(catalog, None).columns) == list(catalog.columns)
    assert "ra" not in add_sky_coordinates(catalog.iloc[:0], wcs)
    assert catalog_units(with_sky.columns, "e-/s") == {"x": "pix", "y": "pix", "flux": "e-/s", "ra": "deg",
                                                      "dec": "deg"}
