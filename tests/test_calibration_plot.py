"""The calibration figure: the masters' statistics against numpy, and a figure that shows them and the lights."""

import logging
import runpy
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from stackphot.calibrate import Master, hot_pixels, master_product
from stackphot.io import write_product, write_table
from stackphot.report.calibration_plot import (
    MAX_LIGHTS,
    calibration_figure,
    light_lines,
    master_name,
    master_statistics,
    statistics_lines,
)
from stackphot.report.display import save_figure

ROOT = Path(__file__).resolve().parents[1]
SHAPE = (80, 120)
HOT = [(5, 7), (40, 60), (41, 60), (70, 3), (10, 110), (60, 90), (33, 33)]  # (y, x) of the dark's hot pixels
LOW = [(0, 0), (0, 1), (1, 0), (79, 119), (50, 50)]  # and of the flat's pixels below min_flat
THRESHOLDS = {"hot_nsigma": 5.0, "min_flat": 0.5}


def robust(values):
    """Median and 1.4826 x median absolute deviation, by hand."""
    values = values[np.isfinite(values)].astype(np.float64)
    median = np.median(values)
    return median, 1.4826 * np.median(np.abs(values - median))


def master(kind, data, **options):
    coverage = np.full(SHAPE, 5, np.int16)
    coverage[np.isnan(data)] = 0
    return Master(kind, data.astype(np.float32), np.full(SHAPE, 0.25, np.float32), coverage, 5, **options)


@pytest.fixture
def dark(rng):
    """A 1.5 s dark of 100 +- 3 ADU with seven hot pixels at 400 ADU and three pixels without data."""
    data = rng.normal(100.0, 3.0, SHAPE)
    for y, x in HOT:
        data[y, x] = 400.0
    data[20, 20:23] = np.nan
    return master("dark", data, exptime=1.5, bias_removed=True)


@pytest.fixture
def flat(rng):
    """A flat of 1 +- 0.01 with five pixels at 0.3 (below min_flat) and two without data."""
    data = rng.normal(1.0, 0.01, SHAPE)
    for y, x in LOW:
        data[y, x] = 0.3
    data[30, 30:32] = np.nan
    return master("flat", data, filter="R_bin1x1")


@pytest.fixture
def bias(rng):
    return master("bias", rng.normal(1000.0, 4.0, SHAPE), exptime=0.0)


def test_master_statistics_of_a_dark_count_its_hot_pixels(dark):
    stats = master_statistics(dark, **THRESHOLDS)
    median, sigma = robust(dark.data)
    assert stats["name"] == "master_dark_1p5s" and stats["kind"] == "dark"
    assert (stats["n_frames"], stats["exptime"], stats["n_pixels"]) == (5, 1.5, SHAPE[0] * SHAPE[1])
    assert stats["median"] == pytest.approx(median, rel=1e-6)
    assert stats["sigma"] == pytest.approx(sigma, rel=1e-4)
    assert 2.8 < stats["sigma"] < 3.2  # the noise: the hot pixels and NaN do not widen it
    assert stats["median_error"] == pytest.approx(0.25)
    assert stats["n_nan"] == 3 and stats["n_uncovered"] == 3
    assert stats["n_hot"] == len(HOT) == np.count_nonzero(hot_pixels(dark, nsigma=5.0))
    assert stats["hot_threshold"] == pytest.approx(median + 5.0 * sigma, rel=1e-4)
    assert "min" not in stats and "n_low" not in stats
    assert master_statistics(dark, hot_nsigma=1e6, min_flat=0.5)["n_hot"] == 0


def test_master_statistics_of_a_flat_count_its_low_pixels(flat):
    stats = master_statistics(flat, **THRESHOLDS, name="my_flat")
    median, sigma = robust(flat.data)
    finite = flat.data[np.isfinite(flat.data)]
    assert stats["name"] == "my_flat" and stats["filter"] == "R_bin1x1"
    assert stats["median"] == pytest.approx(median, rel=1e-6)
    assert stats["sigma"] == pytest.approx(sigma, rel=1e-4)
    assert stats["min"] == pytest.approx(0.3) and stats["max"] == pytest.approx(float(finite.max()))
    assert stats["n_low"] == len(LOW) and stats["low_fraction"] == pytest.approx(len(LOW) / flat.data.size)
    assert stats["n_nan"] == 2
    assert master_statistics(flat, hot_nsigma=5.0, min_flat=0.2)["n_low"] == 0
    assert "n_hot" not in stats


def test_master_statistics_of_a_master_without_data():
    empty = master("bias", np.full(SHAPE, np.nan))
    stats = master_statistics(empty, **THRESHOLDS)
    assert np.isnan(stats["median"]) and np.isnan(stats["sigma"])
    assert stats["n_nan"] == stats["n_uncovered"] == SHAPE[0] * SHAPE[1]
    assert statistics_lines(stats, **THRESHOLDS)[1] == "5 frames: median nan ADU, sigma nan ADU"


def test_master_names():
    data = np.zeros(SHAPE)
    assert master_name(master("dark", data, exptime=300.0)) == "master_dark_300s"
    assert master_name(master("flat", data, filter="V_bin2x2")) == "master_flat_V_bin2x2"
    assert master_name(master("bias", data)) == "master_bias"


def lights_table(n, *, warned=()):
    rows = [{"file": f"/night/lights/M13_{i:03d}_R_120s.fit", "kind": "light", "exptime": 120.0 if i % 3 else 30.0,
             "filter": "R", "ccd_temp": -20.0, "warning": "sensor 5 C from its dark" if i in warned else "",
             "used_for": "less the 120 s master dark; divided by master_flat_R" if i % 3 else
             "less the master bias and the 120 s master dark scaled to 30 s; divided by master_flat_R"}
            for i in range(n)]
    rows += [{"file": f"/night/darks/dark_{i}.fit", "kind": "dark", "exptime": 120.0, "used_for": "master_dark_120s"}
             for i in range(4)]
    return pd.DataFrame(rows)


def test_light_lines_list_each_light_and_each_calibration_once():
    rows, notes = light_lines(lights_table(MAX_LIGHTS + 5, warned={1, 33}))
    assert rows[0].split() == ["#", "light", "exptime", "filter", "ccd_temp", "calibration"]
    assert len(rows) == 1 + MAX_LIGHTS + 1
    assert rows[1].split() == ["1", "M13_000_R_120s.fit", "30", "s", "R", "-20.0", "C", "[1]"]
    assert rows[2].split()[-2:] == ["[2]", "W1"]  # the second light: the 120 s calibration and a warning
    assert rows[-1] == "... and 5 more (1 with a warning), see calibration.csv"
    assert notes == ["Calibration frames: 4 -> master_dark_120s",
                     "[1] less the master bias and the 120 s master dark scaled to 30 s; divided by master_flat_R",
                     "[2] less the 120 s master dark; divided by master_flat_R", "W1: sensor 5 C from its dark"]
    assert light_lines(lights_table(0)) == (["No light in calibration.csv."], notes[:1])
    bare, _ = light_lines(pd.DataFrame({"file": ["a/b.fits"]}))  # only the file: a light, the rest blank
    assert bare[1].split() == ["1", "b.fits", "[1]"]


def image_axes(figure):
    return [axes for axes in figure.axes if axes.get_images()]


def test_calibration_figure_shows_each_master_and_the_lights(bias, dark, flat, tmp_path):
    masters = [("master_bias", bias), ("master_dark_1p5s", dark), ("master_flat_R", flat)]
    figure = calibration_figure(masters, lights_table(3), **THRESHOLDS, title="night")
    shown = image_axes(figure)
    assert [axes.get_label() for axes in shown] == [f"picture {name}" for name, _ in masters]
    np.testing.assert_array_equal(shown[1].get_images()[0].get_array(), dark.data)
    titles = [axes.get_title(loc="left") for axes in shown]
    stats = {name: master_statistics(m, **THRESHOLDS, name=name) for name, m in masters}
    dark_stats = stats["master_dark_1p5s"]
    assert titles[1].startswith("master_dark_1p5s\n5 frames of 1.5 s: median ")
    assert f"median {dark_stats['median']:.4g} ADU, sigma {dark_stats['sigma']:.3g} ADU" in titles[1]
    assert "7 hot pixels (> 5 sigma" in titles[1] and "3 NaN, 3 uncovered" in titles[1]
    assert "5 pixels (0.05 %) below min_flat 0.5" in titles[2] and "from 0.300 to" in titles[2]
    assert "hot pixels" not in titles[0]
    # the thresholds on the histograms: the dark's about its median, the flat's in relative response
    lines = {axes.get_label(): [line.get_xdata()[0] for line in axes.get_lines()] for axes in figure.axes}
    assert lines["histogram master_dark_1p5s"][0] == pytest.approx(dark_stats["hot_threshold"] - dark_stats["median"])
    assert lines["histogram master_flat_R"][0] == 0.5
    assert lines["histogram master_bias"] == []
    assert shown[2].images[0].colorbar.ax.get_ylabel() == "relative response"
    assert shown[1].images[0].colorbar.ax.get_ylabel() == "ADU"
    # the hot and low pixels marked where they are
    marked = shown[1].collections[0].get_offsets()
    assert sorted(map(tuple, np.asarray(marked)[:, ::-1].astype(int))) == sorted(HOT)
    table = next(axes for axes in figure.axes if axes.get_label() == "lights")
    texts = {text.get_label(): text.get_text() for text in table.texts}
    assert "M13_002_R_120s.fit" in texts["lights"] and "[2] less the 120 s master dark" in texts["notes"]
    path = save_figure(figure, tmp_path / "calibration.png")
    with Image.open(path) as image:
        assert 800 <= image.size[0] <= 3000 and 500 <= image.size[1] <= 2400


def test_calibration_figure_of_six_masters_and_many_lights(bias, dark, flat, tmp_path):
    masters = [(f"m{i}", m) for i, m in enumerate([bias, dark, flat, dark, flat, bias])]
    figure = calibration_figure(masters, lights_table(100), **THRESHOLDS)
    assert len(image_axes(figure)) == 6
    table = next(axes for axes in figure.axes if axes.get_label() == "lights")
    columns = [text.get_text() for text in table.texts if text.get_label() == "lights"]
    assert len(columns) > 1 and sum(len(column.splitlines()) - 1 for column in columns) == MAX_LIGHTS
    assert "... and 70 more, see calibration.csv" in next(t.get_text() for t in table.texts if t.get_label() == "notes")
    with Image.open(save_figure(figure, tmp_path / "six.png")) as image:
        assert image.size[0] <= 3000 and image.size[1] <= 2400


def test_calibration_figure_without_lights_or_data(tmp_path):
    empty = master("dark", np.full(SHAPE, np.nan), exptime=10.0)
    figure = calibration_figure([("empty", empty)], None, **THRESHOLDS)
    assert len(image_axes(figure)) == 1
    histogram = next(axes for axes in figure.axes if axes.get_label() == "histogram empty")
    assert histogram.texts[0].get_text() == "no finite pixel"
    save_figure(figure, tmp_path / "empty.png")


def test_the_script_plots_the_masters_and_logs_their_statistics(dark, flat, tmp_path, caplog):
    paths = [write_product(tmp_path / f"{name}.fits", master_product(m))
             for name, m in (("master_dark_1p5s", dark), ("master_flat_R_bin1x1", flat))]
    record = write_table(tmp_path / "calibration.csv", lights_table(2))
    main = runpy.run_path(str(ROOT / "scripts/plot_calibration.py"))["main"]
    smk = SimpleNamespace(input=SimpleNamespace(masters=paths, record=record), wildcards=SimpleNamespace(dataset="n"),
                          output=SimpleNamespace(plot=tmp_path / "plots" / "calibration.png"),
                          params=SimpleNamespace(**THRESHOLDS))
    with caplog.at_level(logging.INFO):
        main(smk, logging.getLogger("test"))
    assert "master_dark_1p5s: 5 frames of 1.5 s: median" in caplog.text and "7 hot pixels" in caplog.text
    assert "master_flat_R_bin1x1: 5 frames: median" in caplog.text and "5 pixels (0.05 %) below" in caplog.text
    with Image.open(smk.output.plot) as image:
        assert image.format == "PNG"


def test_the_read_noise_a_master_measured_is_said_under_it(dark):
    from stackphot.ingest import MeasuredReadNoise

    assert not any("read noise" in line for line in statistics_lines(master_statistics(dark, **THRESHOLDS),
                                                                      **THRESHOLDS))
    dark.read_noise = MeasuredReadNoise(16.925, 6.56, "2 pairs of 1.5 s darks")
    lines = statistics_lines(master_statistics(dark, **THRESHOLDS), **THRESHOLDS)
    assert lines[3] == "read noise 16.93 e- (6.56 ADU), from 2 pairs of 1.5 s darks"
