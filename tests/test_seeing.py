"""Stars per frame and their FWHM against the simulator's truth."""

import numpy as np
import pytest
from astropy.stats import mad_std

from stackphot.register import clean_for_registration, smooth, star_figures
from stackphot.simulate import simulate_frame_set


def figures(frame_set, index=0, **kwargs):
    image = frame_set.frames[index].astype(float) - frame_set.config.bias - frame_set.sky_levels[index]
    cleaned = clean_for_registration(image)
    smoothed = smooth(cleaned, 2.0)
    return star_figures(cleaned, smoothed, noise=mad_std(smoothed), **kwargs)


@pytest.mark.parametrize("fwhm", [2.5, 3.5, 5.0])
def test_fwhm_is_within_10_percent_of_the_true_moffat_fwhm(fwhm):
    frame_set = simulate_frame_set(n_frames=1, shape=(400, 400), fwhm_range=(fwhm, fwhm), n_cluster_stars=300,
                                   n_field_stars=200, seed=3)
    measured = figures(frame_set).fwhm
    print(f"true FWHM {fwhm}, measured {measured:.3f}")
    assert measured == pytest.approx(fwhm, rel=0.1)


def test_a_frame_with_worse_seeing_has_a_larger_fwhm_and_fewer_stars():
    sharp, blurred = (simulate_frame_set(n_frames=1, shape=(300, 300), fwhm_range=(f, f), seed=4)
                      for f in (3.0, 4.5))
    sharp_figures, blurred_figures = figures(sharp), figures(blurred)
    assert blurred_figures.fwhm > 1.3 * sharp_figures.fwhm
    assert blurred_figures.n_stars < sharp_figures.n_stars


def test_stars_are_counted_and_a_blank_frame_has_none():
    # Eight bright stars far apart, on a noisy sky.
    frame_set = simulate_frame_set(n_frames=1, shape=(200, 200), n_cluster_stars=0, n_field_stars=0, seed=2,
                                   hot_pixel_fraction=0, cosmic_rays_per_frame=0)
    blank = figures(frame_set)
    assert blank.n_stars == 0 and np.isnan(blank.fwhm)
    from stackphot.simulate import _render_stars

    image = frame_set.frames[0].astype(float)
    ys, xs = np.meshgrid([40.3, 100.6, 160.2], [30.4, 90.7, 150.1], indexing="ij")
    ys, xs = ys.ravel()[:8], xs.ravel()[:8]
    _render_stars(image, ys, xs, np.full(8, 5e4), fwhm=3.5, beta=3.0, oversample=5)
    frame_set.frames[0] = image
    found = figures(frame_set)
    assert found.n_stars == 8
    assert found.fwhm == pytest.approx(3.5, rel=0.1)


def test_saturated_stars_are_left_out_of_the_fwhm():
    frame_set = simulate_frame_set(n_frames=1, shape=(300, 300), fwhm_range=(3.5, 3.5), seed=4)
    image = frame_set.frames[0].astype(float) - frame_set.config.bias - frame_set.sky_levels[0]
    # Flatten the tops of every star above 2000 ADU, as a saturating camera does, and mark them bad.
    bad = image > 2000
    clipped = np.minimum(image, 2000)
    cleaned = clean_for_registration(clipped)
    smoothed = smooth(cleaned, 2.0)
    kept = star_figures(cleaned, smoothed, noise=mad_std(smoothed), bad=bad)
    assert kept.fwhm == pytest.approx(3.5, rel=0.1)
    unmasked = star_figures(cleaned, smoothed, noise=mad_std(smoothed))
    assert unmasked.fwhm > kept.fwhm


def test_defocused_rings_and_faint_bumps_give_no_width_rather_than_a_wrong_one():
    rng = np.random.default_rng(5)
    yy, xx = np.mgrid[:200, :200]
    rings = rng.normal(0.0, 10.0, (200, 200))
    for y, x in [(40, 40), (40, 150), (100, 95), (160, 40), (160, 150)]:
        radius = np.hypot(yy - y - 0.3, xx - x + 0.2)
        rings += 2000.0 * np.exp(-0.5 * ((radius - 4.0) / 1.0) ** 2)  # a donut of radius 4 px
    cleaned = clean_for_registration(rings)
    smoothed = smooth(cleaned, 2.0)
    figures = star_figures(cleaned, smoothed, noise=mad_std(smoothed))
    assert figures.n_stars >= 5 and np.isnan(figures.fwhm)
    # The same stars, compact but faint (peak 10 times the noise): counted, too faint to measure.
    faint = rng.normal(0.0, 10.0, (200, 200))
    for y, x in [(40, 40), (40, 150), (100, 95), (160, 40), (160, 150)]:
        faint += 100.0 * np.exp(-0.5 * ((yy - y) ** 2 + (xx - x) ** 2) / 1.5**2)
    cleaned = clean_for_registration(faint)
    smoothed = smooth(cleaned, 2.0)
    figures = star_figures(cleaned, smoothed, noise=mad_std(smoothed))
    assert figures.n_stars == 5 and np.isnan(figures.fwhm)
    # It is the peak's signal-to-noise that leaves them out: fitted anyway, the noise widens them by 23%.
    assert star_figures(cleaned, smoothed, noise=mad_std(smoothed), min_peak_snr=5).fwhm > 1.15 * 2.3548 * 1.5
