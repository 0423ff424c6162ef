"""The segmentation pass on a simulated field of Moffat stars and Sersic galaxies with known totals and sizes."""

import math
import warnings

import numpy as np
import pandas as pd
import pytest
from photutils.aperture import CircularAperture, aperture_photometry
from photutils.utils.exceptions import NoDetectionsWarning
from scipy.signal import fftconvolve
from scipy.special import gammainc, gammaincinv

from conftest import gaussian_star
from stars import render_moffat
from stackphot.detect.morphology import BLENDED, SEXTRACTOR_NAMES, TRUNCATED, morphology_units
from stackphot.detect import detect_catalog
from stackphot.detect.psf import MoffatShape
from stackphot.detect.segmentation import SEGMENTATION_PASS, detect_segments, filter_kernel, merge_segments

SHAPE = (480, 480)
PSF = MoffatShape(alpha=3.9, beta=3.5)  # FWHM 3.5 px
SKY, READ_NOISE = 200.0, 5.0  # electrons (gain 1): the sky was subtracted, its Poisson noise stays
RMS = math.sqrt(SKY + READ_NOISE**2)
OVERSAMPLE = 5
TRUNCATION = 10.0  # galaxies are drawn out to this many half-light radii (elliptical)


def sersic_stamp(n, r_eff, q, angle, x0, y0, flux, half):
    """A Sersic galaxy over (2 half + 1) px square centred on the pixel nearest (x0, y0), integrated on an
    OVERSAMPLE-fold grid, cut at TRUNCATION r_eff and scaled to hold exactly the flux of that ellipse
    (``flux`` being the total of the untruncated profile). Returns the stamp and its corner."""
    cx, cy = round(x0), round(y0)
    step = 1.0 / OVERSAMPLE
    offsets = -half - 0.5 + step * (np.arange((2 * half + 1) * OVERSAMPLE) + 0.5)
    gy, gx = np.meshgrid(cy + offsets - y0, cx + offsets - x0, indexing="ij")
    major = gx * math.cos(angle) + gy * math.sin(angle)
    minor = -gx * math.sin(angle) + gy * math.cos(angle)
    radius = np.hypot(major, minor / q) / r_eff
    b_n = gammaincinv(2 * n, 0.5)
    profile = np.where(radius <= TRUNCATION, np.exp(-b_n * (radius ** (1 / n) - 1)), 0.0)
    size = 2 * half + 1
    stamp = profile.reshape(size, OVERSAMPLE, size, OVERSAMPLE).sum(axis=(1, 3))
    stamp *= flux * gammainc(2 * n, b_n * TRUNCATION ** (1 / n)) / stamp.sum()
    return stamp, (cy - half, cx - half)


GROWTH_RADII = np.arange(0.5, 40.0, 0.05)


def growth_curve(image, x, y):
    """The flux of ``image`` in circles of GROWTH_RADII about (x, y) (exact overlaps)."""
    table = aperture_photometry(image, [CircularAperture((x, y), r) for r in GROWTH_RADII], method="exact")
    return np.array([table[f"aperture_sum_{i}"][0] for i in range(len(GROWTH_RADII))])


@pytest.fixture(scope="module")
def field():
    """A 480 x 480 field: 36 Moffat stars, 14 exponential and 14 de Vaucouleurs galaxies on a jittered grid of
    60 px cells, Poisson and read noise; with the truth: totals, and galaxies' half-light radii of the
    PSF-convolved noiseless profile and each galaxy's growth curve (``growth``: index -> fluxes within
    GROWTH_RADII of that profile)."""
    rng = np.random.default_rng(20261207)
    kinds = np.array(["star"] * 36 + ["exp"] * 14 + ["dev"] * 14)
    rng.shuffle(kinds)
    cells = [(30 + 60 * i, 30 + 60 * j) for i in range(8) for j in range(8)]
    truth = pd.DataFrame({"kind": kinds,
                          "x": [c[1] + rng.uniform(-8, 8) for c in cells],
                          "y": [c[0] + rng.uniform(-8, 8) for c in cells]})
    truth["flux"] = np.exp(rng.uniform(np.log(3e3), np.log(3e5), len(truth)))
    psf_image = render_moffat((41, 41), [20.0], [20.0], [1.0], PSF, 41)
    stars = truth.kind == "star"
    noiseless = render_moffat(SHAPE, truth.x[stars], truth.y[stars], truth.flux[stars], PSF, 41)
    truth["r50"] = np.nan
    growth = {}
    for i in np.flatnonzero(~stars):
        n = 1.0 if truth.kind[i] == "exp" else 4.0
        r_eff = rng.uniform(1.5, 4.0)
        stamp, (row, column) = sersic_stamp(n, r_eff, rng.uniform(0.5, 1.0), rng.uniform(0, math.pi),
                                            truth.x[i], truth.y[i], truth.flux[i], math.ceil(TRUNCATION * r_eff))
        galaxy = np.zeros(SHAPE)
        top, left = max(row, 0), max(column, 0)
        bottom, right = min(row + stamp.shape[0], SHAPE[0]), min(column + stamp.shape[1], SHAPE[1])
        galaxy[top:bottom, left:right] = stamp[top - row:bottom - row, left - column:right - column]
        galaxy = fftconvolve(galaxy, psf_image, mode="same")
        growth[i] = growth_curve(galaxy, truth.x[i], truth.y[i])
        truth.loc[i, "r50"] = np.interp(0.5 * truth.flux[i], growth[i], GROWTH_RADII)
        noiseless += galaxy
    image = rng.poisson(np.clip(noiseless, 0, None) + SKY) - SKY + rng.normal(0, READ_NOISE, SHAPE)
    return image, truth, growth


@pytest.fixture(scope="module")
def measured(field):
    """The field's segmentation catalog, each true source with the catalog's nearest source within 2 px."""
    image, truth, _ = field
    segments, catalog = detect_segments(image, rms=RMS, fwhm=PSF.fwhm, gain=1.0)
    distance = np.hypot(catalog.x_win.to_numpy()[:, None] - truth.x.to_numpy(),
                        catalog.y_win.to_numpy()[:, None] - truth.y.to_numpy())
    nearest = np.nanargmin(distance, axis=0)
    found = np.nanmin(distance, axis=0) < 2.0
    pairs = truth[found].join(catalog.iloc[nearest[found]].reset_index(drop=True).set_index(truth.index[found]))
    return segments, catalog, pairs


def test_finds_every_source_once(field, measured):
    _, truth, _ = field
    segments, catalog, pairs = measured
    print(f"\n{len(catalog)} segments for {len(truth)} sources, {len(pairs)} matched within 2 px")
    assert len(pairs) == len(truth)
    assert pairs.id.is_unique
    assert segments.max_label == len(catalog)
    assert (catalog["flags"] & TRUNCATED == 0).all()


def test_kron_flux_recovers_the_totals(measured):
    """The issue's bar: the median FLUX_AUTO of the sources with SNR > 30 is 90-100 % of the true total.

    By kind the de Vaucouleurs galaxies fall short (0.88): 2.5 Kron radii of an n = 4 profile hold about 90 %
    of it, and a Kron radius measured within 6 a (SE's and photutils' window) is smaller than the profile's
    own. SE's FLUX_AUTO has the same deficit; stars and exponential discs are asserted on their own."""
    _, _, pairs = measured
    bright = pairs[pairs.snr > 30]
    ratio = bright.flux_auto / bright.flux
    medians = ratio.groupby(bright.kind).median()
    print(f"\nFLUX_AUTO / true total, median (SNR > 30): {medians.round(4).to_dict()}, all {ratio.median():.4f}")
    assert 0.90 <= ratio.median() <= 1.0
    assert 0.90 <= medians["star"] <= 1.0
    assert 0.90 <= medians["exp"] <= 1.0


def test_half_light_radii_of_galaxies(field, measured):
    """The issue's bar, FLUX_RADIUS within 10 % of the convolved profile's half-light radius, holds for the
    exponential discs. FLUX_RADIUS holds half of FLUX_AUTO, not of the total: for the de Vaucouleurs
    galaxies, whose FLUX_AUTO misses 12 % of the light, it is the radius of 44 % of the total, 10-20 %
    smaller. Against the true radius of half their FLUX_AUTO they are within 10 % too."""
    _, _, growth = field
    _, _, pairs = measured
    galaxies = pairs[(pairs.kind != "star") & (pairs.snr > 30)]
    error = galaxies.flux_radius / galaxies.r50 - 1
    of_kron = pd.Series([np.interp(0.5 * row.flux_auto, growth[i], GROWTH_RADII) for i, row in galaxies.iterrows()],
                        index=galaxies.index)
    kron_error = galaxies.flux_radius / of_kron - 1
    print(f"\nFLUX_RADIUS / true r50 - 1 of {len(galaxies)} galaxies (SNR > 30): median "
          f"{error.groupby(galaxies.kind).median().round(4).to_dict()}, max |.| "
          f"{error.abs().groupby(galaxies.kind).max().round(4).to_dict()}; against the true radius of half "
          f"FLUX_AUTO: median {kron_error.groupby(galaxies.kind).median().round(4).to_dict()}, max |.| "
          f"{kron_error.abs().groupby(galaxies.kind).max().round(4).to_dict()}")
    assert (error[galaxies.kind == "exp"].abs() < 0.10).all()
    assert (kron_error.abs() < 0.10).all()


def test_stars_and_galaxies_told_apart(measured):
    _, catalog, pairs = measured
    bright = pairs[pairs.snr > 30]
    is_star = bright.kind == "star"
    right = np.where(is_star, bright.compactness < 1.2, bright.compactness >= 1.2)
    print(f"\ncompactness (SNR > 30): stars {bright.compactness[is_star].min():.3f}.."
          f"{bright.compactness[is_star].max():.3f}, galaxies {bright.compactness[~is_star].min():.3f}.."
          f"{bright.compactness[~is_star].max():.3f}; {right.mean():.1%} of {len(bright)} right")
    assert right.mean() >= 0.95


def test_columns_have_units_and_sextractor_names(measured):
    _, catalog, _ = measured
    units = morphology_units(catalog.columns, "electron")
    assert set(SEXTRACTOR_NAMES) == set(catalog.columns)
    assert units["flux_auto"] == units["flux_max"] == "electron" and units["x_win"] == "pix"
    assert units["theta"] == "deg" and "flux_radius" in units and units["flux_radius"] == "pix"
    assert catalog.theta.between(-90, 90).all()
    assert np.allclose(catalog.elongation, catalog.a / catalog.b)


def test_deblending_splits_a_close_pair():
    rng = np.random.default_rng(5)
    # 7 px apart, 2.0 FWHM. At 6 px neither this nor sep (SE's code, same settings) splits the pair: after
    # the filter there is hardly a saddle left.
    truth = [(40.0, 40.0, 20000.0), (40.5, 47.0, 10000.0)]
    image = sum(gaussian_star((80, 80), y, x, flux=flux, sigma=1.5) for x, y, flux in truth)
    image = image + rng.normal(0, 5.0, image.shape)
    _, blended = detect_segments(image, rms=5.0, fwhm=3.5, contrast=1.0)
    _, catalog = detect_segments(image, rms=5.0, fwhm=3.5)
    assert len(blended) == 1
    assert len(catalog) == 2
    catalog = catalog.sort_values("flux_iso", ascending=False)
    for (x, y, _), (_, row) in zip(truth, catalog.iterrows()):
        assert math.hypot(row.x_win - x, row.y_win - y) < 0.3
    assert (catalog["flags"] & BLENDED == BLENDED).all()
    print(f"\ndeblended pair: centroids {catalog[['x_win', 'y_win']].round(3).to_numpy().tolist()}, "
          f"isophotal fluxes {catalog.flux_iso.round(0).tolist()}")


def test_merge_adds_no_duplicates(field, measured):
    image, truth, _ = field
    _, catalog, _ = measured
    stars = truth[truth.kind == "star"]
    found = pd.DataFrame({"id": np.arange(1, len(stars) + 1), "x": stars.x.to_numpy() + 0.2,
                          "y": stars.y.to_numpy() - 0.2, "pass": 0, "found_by": "0"})
    merged = merge_segments(found, catalog, match_radius=1.75)
    assert len(merged) == len(catalog)
    assert merged.segment_id.notna().all() and merged.segment_id.is_unique
    assert (merged["pass"].iloc[:len(stars)] == 0).all()
    assert (merged["pass"].iloc[len(stars):] == SEGMENTATION_PASS).all()
    assert (merged.found_by.iloc[:len(stars)] == "0,segmentation").all()
    np.testing.assert_allclose(merged.x.iloc[:len(stars)], found.x)  # the finders' positions are kept
    assert list(merged.id) == list(range(1, len(merged) + 1))
    # Every true source is in the merged catalog exactly once.
    distance = np.hypot(merged.x.to_numpy()[:, None] - truth.x.to_numpy(),
                        merged.y.to_numpy()[:, None] - truth.y.to_numpy())
    assert ((distance < 2.0).sum(axis=0) == 1).all()


def test_a_segment_holding_finders_sources_it_matches_none_of_is_their_blend_and_faint_or_cut_ones_are_left_out():
    labels = np.zeros((40, 40), int)
    labels[5:15, 5:20] = 1  # two stars the finders found, 8 px apart: one segment, centroid between them
    labels[25:30, 25:30] = 2  # a faint galaxy
    labels[30:38, 5:15] = 3  # a bright galaxy
    labels[30:40, 30:40] = 4  # a galaxy cut by the edge
    segmented = pd.DataFrame({"id": [1, 2, 3, 4], "x_win": [12.0, 27.0, 9.5, 36.0], "y_win": [10.0, 27.0, 34.0, 36.0],
                              "x_iso": [12.0, 27.0, 9.5, 36.0], "y_iso": [10.0, 27.0, 34.0, 36.0],
                              "snr": [300.0, 6.0, 40.0, 50.0], "flags": [0, 0, 0, TRUNCATED]})
    found = pd.DataFrame({"id": [1, 2], "x": [8.0, 16.0], "y": [10.0, 10.0], "pass": [0, 0]})
    merged = merge_segments(found, segmented, match_radius=1.75, labels=labels, min_snr=10.0)
    assert list(merged["pass"]) == [0, 0, SEGMENTATION_PASS] and list(merged.segment_id.iloc[2:]) == [3]
    everything = merge_segments(found, segmented, match_radius=1.75)
    assert list(everything.segment_id.iloc[2:]) == [1, 2, 3]


def test_merge_of_empty_catalogs():
    _, empty = _empty_segmentation()
    found = pd.DataFrame({"id": [1], "x": [10.0], "y": [10.0], "pass": [0]})
    merged = merge_segments(found, empty, match_radius=2.0)
    assert len(merged) == 1 and merged["pass"].iloc[0] == 0
    assert len(merge_segments(found.iloc[:0], empty, match_radius=2.0)) == 0
    with pytest.raises(ValueError, match="match_radius"):
        merge_segments(found, empty, match_radius=0.0)


def _empty_segmentation():
    with pytest.warns(NoDetectionsWarning, match="no sources found by the segmentation pass"):
        return detect_segments(np.random.default_rng(1).normal(0, 1.0, (64, 64)), rms=1.0, fwhm=3.0,
                               threshold=10.0)


def test_empty_and_all_nan_images_warn():
    segments, catalog = _empty_segmentation()
    assert segments is None and len(catalog) == 0 and "flux_auto" in catalog
    with pytest.warns(NoDetectionsWarning):
        assert len(detect_segments(np.full((32, 32), np.nan), rms=1.0, fwhm=3.0)[1]) == 0


def test_nan_pixels_are_masked():
    rng = np.random.default_rng(9)
    image = gaussian_star((80, 80), 40.0, 40.0, flux=20000.0, sigma=1.5) + rng.normal(0, 5.0, (80, 80))
    clean = detect_segments(image, rms=5.0, fwhm=3.5)[1]
    image[20:30, 60:70] = np.nan  # a hole away from the star
    image[41, 44] = np.nan  # a dead pixel in its Kron aperture
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no NaN warnings from the measurements
        segments, holed = detect_segments(image, rms=5.0, fwhm=3.5)
    assert len(holed) == 1
    assert (segments.data[20:30, 60:70] == 0).all()
    assert holed["flags"].iloc[0] & 16  # APERTURE_INCOMPLETE: the dead pixel
    assert holed.flux_auto.iloc[0] == pytest.approx(clean.flux_auto.iloc[0], rel=0.02)
    assert np.isfinite(holed[["x_win", "y_win", "flux_iso", "flux_radius"]].to_numpy()).all()


def test_the_workflow_catalog_adds_the_galaxies_the_finders_miss(field):
    """``detect_catalog`` with the workflow's default passes and the segmentation pass: every source of the
    field once, the galaxies the star finders reject added by the segmentation, nothing false."""
    image, truth, _ = field
    passes = [{"finder": "iraf", "fwhm": 3.5, "threshold": 5.0, "min_separation": 3.0},
              {"finder": "dao", "fwhm": 3.5, "threshold": 5.0, "sigma_radius": 2.5, "sharphi": 1.5,
               "min_separation": 5.0}]
    options = dict(passes=passes, box_size=64, clean=True, residual_pass=False, centroid="2dg", centroid_box=5,
                   centroid_max_shift=1.0)
    found, _ = detect_catalog(image, np.full(SHAPE, RMS), **options)
    catalog, segments = detect_catalog(image, np.full(SHAPE, RMS), segmentation={
        "fwhm": None, "threshold": 1.5, "npixels": 5, "nlevels": 32, "contrast": 0.005, "add_sources": True,
        "min_snr": 10.0}, **options)

    def matched(table):
        distance = np.hypot(table.x.to_numpy()[:, None] - truth.x.to_numpy(),
                            table.y.to_numpy()[:, None] - truth.y.to_numpy())
        return (distance < 2.0).sum(axis=0), (distance < 3.0).any(axis=1)

    by_finders, _ = matched(found)
    per_source, real = matched(catalog)
    galaxies = (truth.kind != "star").to_numpy()
    print(f"finders alone: {int((by_finders[galaxies] > 0).sum())} of {galaxies.sum()} galaxies, "
          f"{int((by_finders[~galaxies] > 0).sum())} of {(~galaxies).sum()} stars; with the segmentation: "
          f"{int((per_source[galaxies] > 0).sum())} galaxies, {int((per_source[~galaxies] > 0).sum())} stars, "
          f"{int((catalog['pass'] == SEGMENTATION_PASS).sum())} added; {int((~real).sum())} false, all the finders'")
    # The finders' few faint false detections (on the galaxies' wings) stay theirs: none is the segmentation's.
    added = (catalog["pass"] == SEGMENTATION_PASS).to_numpy()
    assert (per_source == 1).all() and real[added].all() and (~real).sum() == (~matched(found)[1]).sum()
    assert (by_finders[galaxies] > 0).sum() < galaxies.sum()  # the finders alone miss galaxies
    assert segments.n_labels >= len(truth) and catalog["segment_id"].notna().sum() == len(truth)


def test_on_simulated_galaxies_kron_fluxes_and_radii_fall_short_of_the_truth_as_sep_s_do(field):
    """The simulated field through both this and sep (Source Extractor's own code; tests/test_sep_reference.py
    compares them on a real frame): where FLUX_AUTO misses light (2.5 Kron radii of an n = 4 profile) and FLUX_RADIUS, half of FLUX_AUTO,
    is smaller than the half-light radius of the total, sep's fall short alike."""
    sep = pytest.importorskip("sep")  # Source Extractor's own code, for the tests only (requirements-dev.txt)
    image, truth, _ = field
    rms = np.full(image.shape, RMS)
    objects = sep.extract(image, 1.5, err=rms, minarea=5, filter_kernel=filter_kernel(PSF.fwhm), filter_type="conv",
                          deblend_nthresh=32, deblend_cont=0.005, clean=False)
    x, y, a, b, theta = (objects[k] for k in ("x", "y", "a", "b", "theta"))
    kron_radius, _ = sep.kron_radius(image, x, y, a, b, theta, 6.0)
    kron, _, _ = sep.sum_ellipse(image, x, y, a, b, theta, np.fmax(2.5 * kron_radius, 3.5), subpix=0)
    half, _ = sep.flux_radius(image, x, y, 6.0 * a, 0.5, normflux=kron, subpix=5)
    _, ours = detect_segments(image, rms=rms, fwhm=PSF.fwhm, neighbours="none")
    table = {}
    for name, (px, py, flux, radius) in {"sep": (x, y, kron, half),
                                          "ours": (ours.x_win, ours.y_win, ours.flux_auto, ours.flux_radius)}.items():
        distance = np.hypot(np.asarray(px)[:, None] - truth.x.to_numpy(), np.asarray(py)[:, None] - truth.y.to_numpy())
        nearest = np.argmin(np.where(np.isfinite(distance), distance, np.inf), axis=0)
        kron_ratio = np.asarray(flux)[nearest] / truth.flux.to_numpy()
        radius_ratio = np.asarray(radius)[nearest] / truth.r50.to_numpy()
        table[name] = pd.DataFrame({"kind": truth.kind, "kron": kron_ratio, "radius": radius_ratio}).groupby(
            "kind").median()
    print(f"\nFLUX_AUTO / true total, median by kind: ours {table['ours'].kron.round(4).to_dict()}, sep "
          f"{table['sep'].kron.round(4).to_dict()}\nFLUX_RADIUS / true half-light radius: ours "
          f"{table['ours'].radius.dropna().round(4).to_dict()}, sep {table['sep'].radius.dropna().round(4).to_dict()}")
    np.testing.assert_allclose(table["ours"].kron, table["sep"].kron, rtol=0.02)
    galaxies = ["dev", "exp"]
    np.testing.assert_allclose(table["ours"].radius[galaxies], table["sep"].radius[galaxies], rtol=0.05)


def synthetic_catalog(rng, *, n_stars=300, n_galaxies=150, growth=0.0):
    """A catalog's columns for stars of half-light radius 1.8 px (times ``(flux / 1e4) ** growth``: bright stars
    wider, as on a plate) and galaxies 1.5 to 4 times wider at every flux, with a 3% measurement scatter."""
    star_flux = 10 ** rng.uniform(3.5, 6.5, n_stars)
    galaxy_flux = 10 ** rng.uniform(3.5, 6.0, n_galaxies)
    star_radius = 1.8 * (star_flux / 1e4) ** growth
    galaxy_radius = 1.8 * (galaxy_flux / 1e4) ** growth * rng.uniform(1.5, 4.0, n_galaxies)
    radius = np.concatenate([star_radius, galaxy_radius]) * rng.normal(1, 0.03, n_stars + n_galaxies)
    flux = np.concatenate([star_flux, galaxy_flux])
    return radius, flux, np.sqrt(flux), np.zeros(flux.size, int), np.arange(flux.size) < n_stars


def test_the_stellar_locus_follows_stars_that_widen_with_brightness():
    """Stars that widen by a factor 2.8 over 7.5 magnitudes (a plate's): each source's point-source radius is the
    stellar locus at its flux, so stars and galaxies are told apart at every flux; with the catalog's one locus
    the bright stars are galaxies and the faint galaxies stars, short of 95% right."""
    from stackphot.detect.morphology import _point_source_radius, _stellar_locus

    radius, flux, snr, flags, is_star = synthetic_catalog(np.random.default_rng(3), growth=0.15)
    right = lambda compactness: np.where(is_star, compactness < 1.2, compactness >= 1.2).mean()  # noqa: E731
    along = right(radius / _stellar_locus(radius, flux, snr, flags))
    single = right(radius / _point_source_radius(radius, snr, flags))
    print(f"\nright: {along:.1%} along the magnitudes, {single:.1%} with the catalog's one locus")
    assert along >= 0.98 and single < 0.95


def test_the_stellar_locus_of_one_psf_is_the_catalog_s_one():
    """Where stars are all of one size, the locus along the magnitudes is the catalog's one within 3%, galaxies
    among them at every flux."""
    from stackphot.detect.morphology import _point_source_radius, _stellar_locus

    radius, flux, snr, flags, is_star = synthetic_catalog(np.random.default_rng(4))
    locus = _stellar_locus(radius, flux, snr, flags)
    assert np.abs(locus / _point_source_radius(radius, snr, flags) - 1).max() < 0.03
    assert np.where(is_star, radius / locus < 1.2, radius / locus >= 1.2).mean() >= 0.98
