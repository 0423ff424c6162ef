"""The catalog figure: the completeness turnover recovered from a known law and completeness, Kron ellipses
where they belong, and PNGs of a segmented field, an empty catalog and a catalog without segmentation."""

import math
import warnings

import numpy as np
import pandas as pd
import pytest
from matplotlib.image import imread

from conftest import gaussian_star
from stackphot.detect.segmentation import detect_segments
from stackphot.report.catalog_plot import auto_magnitude, completeness_limit, kron_ellipses, plot_catalog

M50 = 21.0
DPI = 110  # save_figure's


def power_law(rng, n, *, slope, bright=16.0, faint=23.5):
    """``n`` magnitudes of counts ``log10 N = const + slope m`` on [bright, faint] (inverse of its CDF)."""
    k = slope * math.log(10)
    return np.log(np.exp(k * bright) + rng.uniform(size=n) * (np.exp(k * faint) - np.exp(k * bright))) / k


def turnover_sample(rng, n, *, slope, width):
    """``n`` detected magnitudes: ``power_law`` counts, each source kept with the logistic completeness
    ``1 / (1 + exp((m - M50) / width))``."""
    kept = []
    while sum(map(len, kept)) < n:
        m = power_law(rng, n, slope=slope)
        kept.append(m[rng.uniform(size=n) < 1 / (1 + np.exp((m - M50) / width))])
    return np.concatenate(kept)[:n]


@pytest.mark.parametrize("slope, width", [(0.35, 0.2), (0.6, 0.2)])
def test_completeness_recovers_a_logistic_turnover(slope, width):
    """Ten seeded catalogs of 40000 sources: the 90 % point (M50 - width ln 9) within 0.15 mag, the 50 % point
    within 0.05 mag and the slope within 0.02 of the truth, every time."""
    true90 = M50 - width * math.log(9)
    found = [completeness_limit(turnover_sample(np.random.default_rng(seed), 40000, slope=slope, width=width))
             for seed in range(10)]
    error90 = np.array([c.mag90 for c in found]) - true90
    error50 = np.array([c.mag50 for c in found]) - M50
    slopes = np.array([c.slope for c in found])
    print(f"\nslope {slope}, width {width}: 90 % error mean {error90.mean():+.3f} max |.| {np.abs(error90).max():.3f}; "
          f"50 % error mean {error50.mean():+.3f} max |.| {np.abs(error50).max():.3f}; "
          f"slope {slopes.mean():.3f} ({slopes.min():.3f}..{slopes.max():.3f})")
    assert all(c.reason == "" for c in found)
    assert np.abs(error90).max() < 0.15
    assert np.abs(error50).max() < 0.05
    assert np.abs(slopes - slope).max() < 0.02
    # the law is fitted to the bright part, short of the turnover
    assert all(c.fit_range[1] <= true90 for c in found)


def test_completeness_of_a_sparse_or_flat_histogram():
    rng = np.random.default_rng(3)
    few = completeness_limit(turnover_sample(rng, 39, slope=0.35, width=0.2))
    assert np.isnan(few.mag90) and np.isnan(few.mag50) and np.isnan(few.slope)
    assert few.reason == "only 39 finite magnitudes: at least 40 are needed"
    assert few.counts.sum() == 39
    # 60 sources over 7.5 mag: no bin before the peak holds 10
    spread = completeness_limit(turnover_sample(rng, 60, slope=0.35, width=0.2))
    assert np.isnan(spread.mag50) and spread.reason.endswith("4 are needed")
    # counts falling towards the faint end (slope -0.1), then a spike of spurious faint detections
    falling = np.concatenate([power_law(rng, 5000, slope=-0.1, faint=22.0),
                              rng.normal(22.2, 0.05, 2000)])
    declining = completeness_limit(falling)
    assert -0.12 < declining.slope < -0.08 and np.isnan(declining.mag90)
    assert declining.reason.startswith("the counts do not rise towards the faint end")
    # a catalog cut at 22 mag, before any turnover: the law is fitted, no limit is crossed
    cut = completeness_limit(power_law(rng, 5000, slope=0.35, faint=22.0))
    assert abs(cut.slope - 0.35) < 0.03 and np.isnan(cut.mag90) and np.isnan(cut.mag50)
    assert cut.reason == "the counts do not cross 90% of the law within the histogram"
    empty = completeness_limit([np.nan, np.inf])
    assert empty.edges.size == 0 and empty.counts.size == 0 and np.isnan(empty.mag50)
    with pytest.raises(ValueError):
        completeness_limit([20.0], bin_width=0)


def test_auto_magnitude():
    mag = auto_magnitude([100.0, 1.0, 0.0, -5.0, np.nan], zero_point=25.0)
    np.testing.assert_allclose(mag[:2], [20.0, 25.0])
    assert np.isnan(mag[2:]).all()


def test_kron_ellipses_are_where_and_as_large_as_measured():
    catalog = pd.DataFrame({"x_win": [10.0, np.nan, 50.0], "y_win": [20.0, 5.0, np.nan],
                            "x_iso": [9.0, 30.0, 49.0], "y_iso": [19.0, 6.0, 60.0],
                            "kron_radius": [2.5, 2.5, np.nan], "a": [2.0, 3.0, 1.0], "b": [1.0, 1.5, 1.0],
                            "theta": [0.0, 90.0, 0.0]})
    paths = kron_ellipses(catalog).get_paths()
    assert len(paths) == 2  # the third has no Kron radius
    boxes = [(p.vertices.min(axis=0), p.vertices.max(axis=0)) for p in paths]
    np.testing.assert_allclose(boxes[0], [[5.0, 17.5], [15.0, 22.5]], atol=1e-6)
    # the second at its barycentre, its windowed x being NaN; major axis along y
    np.testing.assert_allclose(boxes[1], [[30 - 3.75, 5 - 7.5], [30 + 3.75, 5 + 7.5]], atol=1e-6)


@pytest.fixture(scope="module")
def segmented():
    """A 256 x 256 field of 20 Gaussian stars (sigma 1.5 px) and 12 elliptical Gaussian galaxies (sigma 3-5 px
    along the major axis), noise 5, segmented."""
    rng = np.random.default_rng(21)
    shape = (256, 256)
    image = rng.normal(0.0, 5.0, shape)
    y, x = np.mgrid[:shape[0], :shape[1]]
    for _ in range(20):
        image += gaussian_star(shape, *rng.uniform(12, 244, 2), flux=np.exp(rng.uniform(np.log(2e3), np.log(1e5))))
    for _ in range(12):
        y0, x0 = rng.uniform(16, 240, 2)
        major, minor, angle = rng.uniform(3, 5), rng.uniform(1.8, 3), rng.uniform(0, np.pi)
        u = (x - x0) * np.cos(angle) + (y - y0) * np.sin(angle)
        v = -(x - x0) * np.sin(angle) + (y - y0) * np.cos(angle)
        flux = np.exp(rng.uniform(np.log(5e3), np.log(1e5)))
        image += flux / (2 * np.pi * major * minor) * np.exp(-0.5 * ((u / major) ** 2 + (v / minor) ** 2))
    segments, catalog = detect_segments(image, rms=5.0, fwhm=3.5)
    return image, segments, catalog


def test_plot_of_a_segmented_field(segmented, tmp_path):
    image, segments, catalog = segmented
    stars = int((catalog.compactness < 1.2).sum())
    print(f"\n{len(catalog)} segments: {stars} stars, {int((catalog.compactness >= 1.2).sum())} galaxies")
    assert stars >= 15 and (catalog.compactness >= 1.2).sum() >= 10
    path = plot_catalog(tmp_path / "report" / "catalog.png", catalog, segments=segments, image=image,
                        zero_point=30.0, title="simulated field")
    assert path == tmp_path / "report" / "catalog.png"
    # 13 in wide; 4.6 in of plots above two square 6.5 in images and their titles
    assert imread(path).shape == (round((4.6 + 6.5 + 0.7) * DPI), 13 * DPI, 4)
    assert [p.name for p in path.parent.iterdir()] == ["catalog.png"]  # no temporary file left


def test_plot_without_segmentation_and_with_nan_columns(tmp_path):
    """A large catalog, with fluxes NaN or negative and no compactness (no stellar locus) for some sources."""
    rng = np.random.default_rng(8)
    mag = turnover_sample(rng, 5000, slope=0.35, width=0.2)
    catalog = pd.DataFrame({"flux_auto": 10 ** (-0.4 * (mag - 30.0)),
                            "flux_radius": np.where(rng.uniform(size=mag.size) < 0.6, 1.8,
                                                    rng.uniform(2.3, 6.0, mag.size)) * rng.normal(1, 0.05, mag.size)})
    catalog["compactness"] = catalog.flux_radius / 1.8
    catalog.loc[:99, "flux_auto"] = np.nan
    catalog.loc[100:149, "flux_auto"] = -20.0
    catalog.loc[150:399, "compactness"] = np.nan
    path = plot_catalog(tmp_path / "catalog.png", catalog, zero_point=30.0)
    assert imread(path).shape == (round((4.6 + 0.8) * DPI), 13 * DPI, 4)


@pytest.mark.parametrize("columns", [False, True])
def test_plot_of_an_empty_catalog(tmp_path, columns):
    catalog = pd.DataFrame({"flux_auto": [], "flux_radius": [], "compactness": []}) if columns else pd.DataFrame()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no empty-slice or log-of-zero warnings either
        path = plot_catalog(tmp_path / "empty.png", catalog)
    assert imread(path).shape == (round((4.6 + 0.8) * DPI), 13 * DPI, 4)


def test_plot_refuses_a_catalog_without_its_columns(segmented, tmp_path):
    image, segments, catalog = segmented
    with pytest.raises(ValueError, match="compactness"):
        plot_catalog(tmp_path / "x.png", catalog.drop(columns="compactness"))
    with pytest.raises(ValueError, match="shape"):
        plot_catalog(tmp_path / "x.png", catalog, segments=segments, image=image[:100])
    assert not (tmp_path / "x.png").exists()
