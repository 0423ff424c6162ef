"""The report's figures and table: the numbers behind them, and PNG files of a sensible size."""

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from conftest import gaussian_star
from stackphot.geometry import Transform
from stackphot.report.background_plot import background_figure, choose_frames
from stackphot.report.display import (
    ZSCALE_BRIGHTNESS,
    asinh_softening,
    asinh_stretch,
    display_limits,
    display_stretch,
    percentile_limits,
    save_figure,
)
from stackphot.report.frame_table import frame_quality_html, frame_quality_table, sky_statistics
from stackphot.report.registration_plot import frame_minutes, registration_figure, rejection_notes
from stackphot.report.stack_plot import catalog_numbers, circles, pick_showcase_source, stack_figure

SHIFTS = pd.DataFrame([{"frame": frame, **Transform.translation(dy, dx).columns(), "correlation": correlation,
                        "xcorr_error": error, "overlap": overlap}
                       for frame, dy, dx, correlation, error, overlap in [("f1", 0.0, 0.0, 1.0, 0.0, 1.0),
                                                                         ("f2", -6.23, -13.54, 0.9955, 0.054, 0.984),
                                                                         ("f3", 1.5, 2.25, 0.42, 0.3, 0.99)]])


def centre(path):
    """Centre of a closed outline (the middle of its bounding box)."""
    return (path.vertices.min(axis=0) + path.vertices.max(axis=0)) / 2


def assert_png(path, *, min_size=(400, 300), max_size=(3000, 2400)):
    with Image.open(path) as image:
        assert image.format == "PNG"
        width, height = image.size
    assert min_size[0] <= width <= max_size[0] and min_size[1] <= height <= max_size[1], (width, height)
    assert not list(path.parent.glob(".*.part"))


@pytest.fixture
def star_field(rng):
    """A 120 x 160 sky of 100 +- 5 with three stars and a corner without data."""
    data = rng.normal(100.0, 5.0, (120, 160))
    x, y = np.array([40.0, 100.3, 130.0]), np.array([60.0, 55.7, 20.0])
    for xi, yi, flux in zip(x, y, (5e4, 2e4, 8e3)):
        data += gaussian_star(data.shape, yi, xi, flux=flux, sigma=1.5)
    data[:5, :7] = np.nan
    return data, x, y


def test_display_limits_bracket_the_sky_and_ignore_nan(star_field):
    data, _, _ = star_field
    black, top, white = display_limits(data)
    assert 80 < black < 100 < top < 140  # zscale: the sky and its noise (sigma 5)
    assert white > 1000  # the star cores are not all one white
    assert display_limits(np.full((4, 4), np.nan)) == (0.0, 1.0, 1.0)
    assert display_limits(np.full((4, 4), 3.0))[:2] == (3.0, 4.0)  # a flat image still has a range


def test_asinh_stretch_maps_black_to_0_and_white_to_1():
    values = np.array([-5.0, 0.0, 1.0, 10.0, 100.0, 1000.0, np.nan])
    stretched = asinh_stretch(values, black=0.0, white=100.0, softening=0.05)
    np.testing.assert_allclose(stretched[:5], [0.0, 0.0, np.arcsinh(0.2) / np.arcsinh(20), np.arcsinh(2) /
                                               np.arcsinh(20), 1.0])
    assert stretched[5] == 1.0 and np.isnan(stretched[6])
    assert np.all(np.diff(stretched[:6]) >= 0)
    with pytest.raises(ValueError):
        asinh_stretch(values, black=1.0, white=1.0, softening=0.1)


def test_asinh_stretch_is_the_formula_to_the_last_bit(star_field):
    # astropy's ManualInterval and AsinhStretch on float64, as the hand-written formula was: the same PNGs
    data = star_field[0].astype(">f4")
    black, white, softening = 90.0, 4000.0, 0.013
    fraction = np.clip((np.asarray(data, dtype=float) - black) / (white - black), 0.0, 1.0)
    expected = np.arcsinh(fraction / softening) / np.arcsinh(1.0 / softening)
    np.testing.assert_array_equal(asinh_stretch(data, black=black, white=white, softening=softening), expected)
    with pytest.raises(ValueError, match="softening"):
        asinh_stretch(data, black=black, white=white, softening=0.0)


def test_percentile_limits_of_finite_pixels():
    image = np.append(np.arange(101.0), [np.nan, np.inf])
    assert percentile_limits(image) == (1.0, 99.0)
    assert percentile_limits(image, 10, 90) == (10.0, 90.0)
    assert percentile_limits(np.full(5, 7.0)) == (6.5, 7.5)  # a flat map still has a range
    assert percentile_limits(np.full(5, np.nan)) == (0.0, 1.0)


def test_softening_puts_a_value_at_the_wanted_grey():
    softening = asinh_softening(0.02, 0.3)
    assert np.arcsinh(0.02 / softening) / np.arcsinh(1 / softening) == pytest.approx(0.3, abs=1e-8)
    assert asinh_softening(0.5, 0.3) == 1e6  # brighter than asked already when linear: stay linear


def test_display_stretch_shows_the_zscale_top_at_its_grey(star_field):
    data, _, _ = star_field
    stretched, (black, top, white) = display_stretch(data)
    assert np.isnan(stretched[0, 0]) and np.nanmin(stretched) == 0.0 and np.nanmax(stretched) == 1.0
    at_top = display_stretch(np.append(data.ravel(), top))[0][-1]
    assert at_top == pytest.approx(ZSCALE_BRIGHTNESS, abs=0.02)


def test_circles_are_centred_on_their_pixels():
    collection = circles([10.0, 20.5], [5.0, 7.25], [3.0, 6.0])
    for path, (x, y, r) in zip(collection.get_paths(), [(10.0, 5.0, 3.0), (20.5, 7.25, 6.0)]):
        vertices = path.vertices
        np.testing.assert_allclose(vertices.min(axis=0) + r, [x, y], atol=1e-6)
        np.testing.assert_allclose(vertices.max(axis=0) - r, [x, y], atol=1e-6)


def test_the_showcase_star_is_the_brightest_clean_one_with_room():
    x, y = np.array([5.0, 50.0, 60.0, 70.0]), np.array([5.0, 50.0, 50.0, 50.0])
    flux = np.array([1e6, 10.0, 100.0, 1e5])
    flags = np.array([0, 0, 0, 8])
    # the brightest is too close to the edge, the next is flagged
    assert pick_showcase_source(x, y, flux=flux, flags=flags, shape=(100, 100), half_size=20) == 2
    assert pick_showcase_source(x, y, flux=flux, flags=np.full(4, 8), shape=(100, 100), half_size=20) == 3
    assert pick_showcase_source(x, y, flux=flux, flags=flags, shape=(30, 30), half_size=20) is None


def test_stack_figure_draws_the_apertures_on_their_stars(star_field, tmp_path):
    data, x, y = star_field
    flags = np.array([0, 8, 0])
    figure = stack_figure(data, x, y, radius=4.0, annulus=(6.0, 9.0), flags=flags,
                          flux=np.array([5e4, 2e4, 8e3]), title="test")
    full, close = figure.axes[:2]
    image = full.get_images()[0]
    assert image.origin == "lower"
    np.testing.assert_allclose(image.get_extent(), [-0.5, 159.5, -0.5, 119.5])  # pixel (x, y) drawn at (x, y)
    clean, crowded, flagged = full.collections[:3]
    centres = [centre(path) for path in clean.get_paths()]
    np.testing.assert_allclose(centres, [[40.0, 60.0], [130.0, 20.0]], atol=1e-9)
    assert len(crowded.get_paths()) == 1 and len(flagged.get_paths()) == 0
    np.testing.assert_allclose(centre(crowded.get_paths()[0]), [100.3, 55.7], atol=1e-9)
    assert not np.allclose(crowded.get_edgecolor()[0], clean.get_edgecolor()[0])
    # the close-up is on the brightest clean star, with its annulus
    assert np.mean(close.get_xlim()) == pytest.approx(40.0) and np.mean(close.get_ylim()) == pytest.approx(60.0)
    annulus = close.collections[-1].get_paths()
    radii = [np.ptp(path.vertices[:, 0]) / 2 for path in annulus]
    np.testing.assert_allclose(radii, [6.0, 9.0], rtol=1e-6)
    assert_png(save_figure(figure, tmp_path / "plots" / "stack.png"))


def test_a_close_neighbour_is_told_apart_from_a_bad_measurement(star_field):
    data, x, y = star_field
    figure = stack_figure(data, x, y, radius=4.0, annulus=(6.0, 9.0), flags=np.array([16 | 8, 8 | 4, 1]))
    clean, crowded, flagged = figure.axes[0].collections[:3]
    assert [len(group.get_paths()) for group in (clean, crowded, flagged)] == [0, 1, 2]
    assert "1 with a close neighbour (violet), 2 flagged (red)" in figure.axes[0].get_title()


def test_stack_figure_without_sources(star_field, tmp_path):
    data, _, _ = star_field
    figure = stack_figure(data, [], [], radius=4.0, annulus=(12.0, 18.0))
    assert "no source" in figure.axes[1].texts[0].get_text()
    assert_png(save_figure(figure, tmp_path / "empty.png"))


def registration_table():
    """Five frames: the reference, a small xcorr shift, a frame turned by 3 degrees fitted on its stars, a
    frame that could not be registered (rejected, no time) and one rejected for its correlation."""
    rows = [("f1", Transform.translation(0.0, 0.0), "xcorr", 60, 0.0, 0.0, 1.0, 1.0, True, ""),
            ("f2", Transform.translation(-6.23, -13.54), "xcorr", 55, 0.08, 0.08, 0.9955, 0.984, True, ""),
            ("f3", Transform.about((500.0, 400.0), rotation=3.0, scale=1.001, dy=2.5, dx=-4.0), "stars", 40, 0.12,
             14.0, 0.71, 0.95, True, ""),
            ("f4", Transform.unknown(), "none", 0, np.nan, np.nan, 0.05, np.nan, False,
             "no shift measured: nothing above the registration threshold (a blank frame?)"),
            ("f5", Transform.translation(1.5, 2.25), "xcorr", 30, 0.2, 0.2, 0.42, 0.99, False,
             "correlation with the reference 0.420 < 0.5: not the same field")]
    return pd.DataFrame([{"frame": frame, **transform.columns(), "method": method, "n_matched": matched,
                          "residual": residual, "xcorr_residual": xcorr, "correlation": correlation,
                          "xcorr_error": 0.05, "overlap": overlap, "n_stars": 80, "fwhm": 3.1, "note": "",
                          "accepted": accepted, "reason": reason}
                         for frame, transform, method, matched, residual, xcorr, correlation, overlap, accepted,
                         reason in rows])


# Mid-exposures 0, 2, 4.5 and 8 minutes after the first; f4 has no DATE-OBS.
FRAME_TIMES = pd.DataFrame({"frame": ["f1", "f2", "f3", "f4", "f5"],
                            "exptime": [60.0, 60.0, 120.0, 60.0, np.nan],
                            "date_obs": ["2024-05-01T22:00:00", "2024-05-01T22:02:00.000", "2024-05-01T22:04:00",
                                         np.nan, "2024-05-01T22:08:30"]})


def axes_named(figure, label):
    return next(axes for axes in figure.axes if axes.get_label() == label)


def test_frame_minutes_are_mid_exposures_after_the_first():
    table = registration_table()
    minutes, first = frame_minutes(table, FRAME_TIMES)
    np.testing.assert_allclose(minutes, [0.0, 2.0, 4.5, np.nan, 8.0])  # f5: no exptime, its start
    assert first == pd.Timestamp("2024-05-01T22:00:30", tz="UTC")
    untimed = FRAME_TIMES.assign(date_obs=FRAME_TIMES.date_obs.where(FRAME_TIMES.frame != "f2", ""))
    assert frame_minutes(table, untimed) is None  # an accepted frame without a time: by frame index
    assert frame_minutes(table, FRAME_TIMES.drop(columns="date_obs")) is None
    assert frame_minutes(table, None) is None


def test_registration_figure_draws_the_table_against_time(tmp_path):
    table = registration_table()
    figure = registration_figure(table, FRAME_TIMES, reference="f1", title="test")
    timed = np.array([0.0, 2.0, 4.5, 8.0])  # f4 has no time: not in the time panels
    shown = table.frame != "f4"
    lines = {line.get_label(): line for line in axes_named(figure, "translation").get_lines()}
    np.testing.assert_allclose(lines["dx"].get_xdata(), timed)
    np.testing.assert_array_equal(lines["dx"].get_ydata(), table.dx[shown])
    rotation = {line.get_label(): line for line in axes_named(figure, "rotation").get_lines()}["rotation"]
    np.testing.assert_allclose(rotation.get_xdata(), timed)
    np.testing.assert_array_equal(rotation.get_ydata(), table.rotation[shown])
    assert rotation.get_ydata()[2] == pytest.approx(3.0)
    scale = axes_named(figure, "scale").get_lines()[0]
    assert scale.get_label() == "scale - 1 (per mille)"
    np.testing.assert_allclose(scale.get_ydata(), (table.scale[shown] - 1) * 1e3)
    # matched stars by method: the star fit's frame on its own
    matched = {line.get_label(): line for line in axes_named(figure, "matched").get_lines()}
    np.testing.assert_array_equal(matched["stars: star-pattern fit"].get_xdata(), [4.5])
    np.testing.assert_array_equal(matched["xcorr: cross-correlation kept"].get_ydata(), [60, 55, 30])
    # the rejected frame with a time is marked in every time panel at its time, and on the path
    for name in ("translation", "rotation", "matched", "residual", "quality"):
        marks = [c for c in axes_named(figure, name).collections if c.get_label() == "rejected"]
        assert len(marks) == 1, name
        np.testing.assert_allclose([segment[0, 0] for segment in marks[0].get_segments()], [8.0])
    path = {line.get_label(): line for line in axes_named(figure, "path").get_lines()}
    np.testing.assert_array_equal(path["rejected"].get_xydata(), [[2.25, 1.5]])  # f4 has no translation
    np.testing.assert_array_equal(path["reference"].get_xydata(), [[0.0, 0.0]])
    notes = axes_named(figure, "notes").texts[0].get_text()
    assert "2 of 5 frames rejected" in notes and "#4 f4, no DATE-OBS" in notes
    assert "#5 f5, 8.0 min: correlation with the reference 0.420" in notes
    assert "minutes since" in axes_named(figure, "quality").get_xlabel()
    assert_png(save_figure(figure, tmp_path / "registration.png"))


def test_registration_figure_by_frame_without_times(tmp_path):
    table = registration_table()
    figure = registration_figure(table, FRAME_TIMES.assign(date_obs=np.nan), reference="f1")
    rotation = axes_named(figure, "rotation").get_lines()[0]
    np.testing.assert_array_equal(rotation.get_xdata(), np.arange(5))
    marks = [c for c in axes_named(figure, "translation").collections if c.get_label() == "rejected"][0]
    np.testing.assert_array_equal([segment[0, 0] for segment in marks.get_segments()], [3, 4])
    assert axes_named(figure, "quality").get_xlabel() == "frame"
    assert "#4 f4: no shift measured" in axes_named(figure, "notes").texts[0].get_text()
    assert_png(save_figure(figure, tmp_path / "by_frame.png"))


def test_registration_figure_of_one_frame_and_of_only_the_needed_columns(tmp_path):
    one = registration_figure(registration_table().iloc[:1], FRAME_TIMES, reference="f1")
    assert axes_named(one, "notes").texts[0].get_text() == "No frame rejected: all 1 stacked."
    assert_png(save_figure(one, tmp_path / "one.png"))
    bare = registration_table()[["frame", "dy", "dx", "accepted", "reason"]]
    figure = registration_figure(bare, reference="f1")
    texts = [text.get_text() for axes in figure.axes for text in axes.texts]
    assert "rotation, scale: not in the table" in texts and "n_matched: not in the table" in texts
    assert_png(save_figure(figure, tmp_path / "bare.png"))
    assert_png(save_figure(registration_figure(bare[["frame", "dy", "dx"]]), tmp_path / "minimal.png"))


def test_registration_figure_of_500_frames(tmp_path, rng):
    n = 500
    turn = np.linspace(0.0, 0.02, n)
    table = pd.DataFrame({"frame": [f"frame_{i:04d}" for i in range(n)], "dy": np.sin(np.arange(n) / 30),
                          "dx": np.cos(np.arange(n) / 30), "rotation": turn, "scale": 1 + turn * 1e-3,
                          "method": np.where(np.arange(n) % 7 == 0, "stars", "xcorr"),
                          "n_matched": rng.integers(20, 80, n), "residual": rng.uniform(0.03, 0.2, n),
                          "xcorr_residual": rng.uniform(0.03, 0.5, n), "correlation": rng.uniform(0.9, 1.0, n),
                          "overlap": rng.uniform(0.95, 1.0, n), "accepted": np.arange(n) % 25 != 3,
                          "reason": np.where(np.arange(n) % 25 != 3, "", "clouds")})
    starts = pd.Timestamp("2024-05-01T20:00:00") + pd.to_timedelta(np.arange(n) * 30.0, unit="s")
    frames = pd.DataFrame({"frame": table.frame, "exptime": 20.0, "date_obs": starts.strftime("%Y-%m-%dT%H:%M:%S")})
    figure = registration_figure(table, frames, reference="frame_0000", title="many")
    scale = axes_named(figure, "scale").get_lines()[0]
    assert scale.get_label() == "scale - 1 (ppm)"  # 20 ppm at most
    assert axes_named(figure, "notes").texts[0].get_text().startswith("20 of 500 frames rejected")
    assert not axes_named(figure, "path").texts  # no numbers beyond 40 frames
    assert_png(save_figure(figure, tmp_path / "many.png"))
    assert rejection_notes(table.iloc[:30]) [0] == "2 of 30 frames rejected (red lines):"


def test_choose_frames_puts_the_reference_first_and_spreads_the_others():
    names = [f"f{i:02d}" for i in range(10)]
    assert choose_frames(names, "f05", n=4) == ["f05", "f00", "f04", "f09"]
    assert choose_frames(names[:3], "f01", n=4) == ["f01", "f00", "f02"]
    assert choose_frames(names, None, n=2) == ["f00", "f09"]
    assert choose_frames(names, "f03", n=1) == ["f03"]


def test_background_figure_shows_each_map(rng, tmp_path):
    yy, xx = np.mgrid[:60:1.0, :80:1.0]
    sky = [600 + 0.5 * xx + rng.normal(0, 0.1, xx.shape), 580 + 0.2 * yy]
    rms = [np.full(xx.shape, 20.0), None]
    figure = background_figure([("a", sky[0], rms[0]), ("b", sky[1], rms[1])], reference="a", title="test")
    shown = [axes.get_images()[0].get_array() for axes in figure.axes if axes.get_images()]
    assert len(shown) == 3  # two skies and one RMS map (b has none)
    np.testing.assert_array_equal(shown[0], sky[0])
    assert "a (reference): sky" in figure.axes[0].get_title()
    assert_png(save_figure(figure, tmp_path / "background.png"), min_size=(300, 200))


def test_frame_quality_table_joins_frames_sky_and_shifts():
    frames = pd.DataFrame({"frame": ["f1", "f2", "f3"], "file": ["f1.fits", "f2.fits", "f3.fits"],
                           "exptime": [5.0, 5.0, 10.0], "date_obs": ["t1", "t2", "t3"], "sha256": ["x"] * 3})
    sky = pd.DataFrame({"frame": ["f3", "f1", "f2"], "sky_level": [630.0, 600.0, 610.0],
                        "sky_rms": [25.0, 20.0, 21.0]})
    table = frame_quality_table(frames, SHIFTS.iloc[::-1], sky, reference="f2")
    assert list(table.frame) == ["f1", "f2", "f3"]  # the order of frames.csv
    assert list(table.columns) == ["frame", "reference", "date_obs", "exptime", "sky_level", "sky_rms", "dy", "dx",
                                   "rotation", "scale", "correlation", "xcorr_error", "overlap"]  # not the matrix
    assert list(table.reference) == [False, True, False]
    assert list(table.sky_level) == [600.0, 610.0, 630.0]
    assert table.set_index("frame").loc["f2", "dx"] == -13.54
    with pytest.raises(ValueError, match="f3"):
        frame_quality_table(frames, SHIFTS.iloc[:2], sky, reference="f1")


def test_frame_quality_html_is_a_standalone_table():
    frames = pd.DataFrame({"frame": ["f1", "f2", "f3"], "exptime": [5.0, 5.0, 5.0], "date_obs": ["a", "b", "c"]})
    table = frame_quality_table(frames, SHIFTS, reference="f1")
    page = frame_quality_html(table, title="m13 <test>", note="notes & more")
    assert page.startswith("<!DOCTYPE html>") and "<link" not in page and "<script" not in page
    assert page.count("<tr") == 4 and page.count('class="reference"') == 1
    assert "m13 &lt;test&gt;" in page and "notes &amp; more" in page
    assert "<td>-13.540</td>" in page and "<td>0.9955</td>" in page


def test_the_frame_table_shows_the_verdict_first_and_wraps_the_reasons():
    frames = pd.DataFrame({"frame": ["f1", "f2", "f3"], "exptime": [5.0, 5.0, 5.0], "date_obs": ["a", "b", "c"]})
    shifts = SHIFTS.assign(accepted=[True, True, False], reason=["", "", "correlation 0.03 below min_correlation 0.3"])
    page = frame_quality_html(frame_quality_table(frames, shifts, reference="f1"), title="t")
    header = page.split("<thead>")[1].split("</thead>")[0]
    assert header.startswith("<tr><th>frame</th><th>accepted</th><th>reason</th>")
    assert '<td class="text">correlation 0.03 below min_correlation 0.3</td>' in page
    assert '<div class="scroll">' in page


def test_sky_statistics_from_the_cards_else_from_the_maps(tmp_path):
    from astropy.io import fits

    from stackphot.io import write_image

    sky, rms = np.full((4, 5), 600.0, np.float32), np.full((4, 5), 20.0, np.float32)
    sky[0, 0] = np.nan
    carded = write_image(tmp_path / "a.sky.fits", sky, fits.Header({"SKYLEVEL": 601.5, "SKYRMS": 19.5}),
                         extensions=[("RMS", rms, None)])
    assert sky_statistics(carded) == {"frame": "a", "sky_level": 601.5, "sky_rms": 19.5}
    mapped = write_image(tmp_path / "b.sky.fits", sky, extensions=[("RMS", rms, None)])
    assert sky_statistics(mapped) == {"frame": "b", "sky_level": 600.0, "sky_rms": 20.0}
    assert sky_statistics(write_image(tmp_path / "c.sky.fits", sky))["sky_rms"] is None


def test_the_catalog_numbers_give_the_magnitude_where_the_snr_is_five():
    # Sources on a sky-limited SNR law: SNR = 5 at mag 21.0, ten times more per 2.5 mag.
    mag = np.linspace(15.0, 22.0, 40)
    snr = 5 * 10 ** ((21.0 - mag) / 2.5)
    flux = 10 ** (-0.4 * (mag - 25.0))
    photometry = pd.DataFrame({"flux": flux, "flux_err": flux / snr, "mag": mag, "flags": [0] * 38 + [4, 4]})
    catalog = pd.DataFrame({"fwhm": [3.0] * 20 + [3.4] * 20})
    assert catalog_numbers(photometry, catalog) == ("40 sources (38 unflagged), median FWHM 3.20 px, "
                                                    "5-sigma limit mag 21.00")
    assert catalog_numbers(photometry.head(2)) == "2 sources (2 unflagged)"


@pytest.mark.parametrize("with_crowding", [True, False])
def test_variability_figure_of_stars_and_blends(tmp_path, with_crowding):
    from stackphot.report.lightcurve_plot import plot_variability

    rng = np.random.default_rng(3)
    mag = np.sort(rng.uniform(-14, -6, 80))
    expected = 1e-3 * 10 ** (0.2 * (mag + 14))
    table = pd.DataFrame({"id": np.arange(1, 81), "mag": mag, "expected": expected,
                          "rms": expected * rng.uniform(0.8, 1.2, 80), "variable": np.arange(80) == 5})
    if with_crowding:
        table["crowding"] = np.where(np.arange(80) % 3 == 0, 0.05, 0.0)  # every third a blend
        table.loc[table["crowding"] > 0, "expected"] = np.hypot(table["expected"], table["crowding"])
    path = plot_variability(tmp_path / "variability.png", table, title="80 stars")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_light_curve_figure_greys_the_dropped_comparisons_and_spans_the_kept_ones(tmp_path, monkeypatch, rng):
    from stackphot.report import lightcurve_plot

    figures = []
    monkeypatch.setattr(lightcurve_plot, "save_figure", lambda figure, path: figures.append(figure) or
                        save_figure(figure, path))
    t = np.linspace(2460000.1, 2460003.2, 60)
    curve = pd.DataFrame({"bjd_tdb": t, "rel_flux": 1 + 0.01 * np.sin(t), "rel_flux_err": 0.002})
    comparisons = {star: 1000 * (1 + rng.normal(0, 0.003, t.size)) for star in (3, 7, 9)}
    comparisons[9][10] *= 2.5  # the jump for which the ensemble dropped it
    assert_png(lightcurve_plot.plot_light_curve(tmp_path / "curve.png", curve, check=None, comparisons=comparisons,
                                                bin_days=0.01, title="test", dropped=[9]))
    assert figures[0].axes[0].get_title() == "test against 2 stars (1 dropped)"
    panel = figures[0].axes[2]
    lines = panel.get_lines()
    assert [line.get_label() for line in lines] == ["3", "7", "9 (dropped)"]
    kept = np.concatenate([line.get_ydata() for line in lines[:2]])
    low, high = panel.get_ylim()
    assert low < kept.min() and kept.max() < high < lines[2].get_ydata().max()
    # The legend beside the panel, not over its curves.
    assert panel.get_legend().get_window_extent().x0 > panel.get_window_extent().x1
