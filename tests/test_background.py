import logging
import runpy
from types import SimpleNamespace

import numpy as np
import pytest
from astropy.io import fits

from conftest import ROOT, gaussian_star
from stackphot.background import estimate_background, subtract_background, subtracted_error
from stackphot.io import clean_card_text, read_image, write_image


def tilted_sky(shape, rng, *, noise=5.0):
    y, x = np.indices(shape)
    sky = 500.0 + 0.05 * x + 0.03 * y  # 4% more sky at one corner than at the other, on 256 px
    return sky, sky + rng.normal(0, noise, shape)


def test_mesh_recovers_a_tilted_sky_and_keeps_the_star(rng):
    shape = (256, 256)
    sky, image = tilted_sky(shape, rng)
    star = gaussian_star(shape, 128.3, 100.7, flux=20000.0, sigma=2.0)
    background = estimate_background(image + star, method="mesh", box_size=32)
    residual = np.abs(background.map - sky)
    assert residual[32:-32, 32:-32].max() < 1.0  # 0.2 sigma of the pixel noise inside the outer boxes
    assert residual.max() < 3.0  # the mesh extrapolates flat beyond the outermost box centres
    assert background.rms_median == pytest.approx(5.0, rel=0.05)
    flux = (image + star - background.map)[118:139, 90:112].sum()
    assert flux == pytest.approx(20000.0, rel=0.02)


def test_constant_is_the_clipped_median_and_cannot_follow_a_gradient(rng):
    sky, image = tilted_sky((128, 128), rng)
    background = estimate_background(image, method="constant")
    assert background.level == pytest.approx(np.median(sky), abs=0.5)
    assert np.ptp(background.map) == 0
    assert np.abs(background.map - sky).max() > 4  # a sigma of the noise off at the corners: why the mesh exists


def test_masked_and_nan_pixels_do_not_bias_the_sky(rng):
    _, image = tilted_sky((128, 128), rng)
    image[10:20, 10:20] = 60000.0
    image[50, :] = np.nan
    mask = np.zeros(image.shape, bool)
    mask[10:20, 10:20] = True
    background = estimate_background(image, method="mesh", box_size=32, mask=mask)
    assert np.all(np.isfinite(background.map))
    assert background.map[15, 15] < 520


def test_unknown_method_is_refused():
    with pytest.raises(ValueError, match="constant, mesh"):
        estimate_background(np.ones((8, 8)), method="spline")


def test_subtracted_error_adds_source_poisson_noise_to_sky_rms(rng):
    _, image = tilted_sky((64, 64), rng)
    background = estimate_background(image, method="constant")
    signal = np.zeros((64, 64))
    signal[0, 0] = 400.0
    error = subtracted_error(signal, background, gain=4.0)
    assert error[1, 1] == pytest.approx(background.rms[1, 1])
    assert error[0, 0] == pytest.approx(np.hypot(background.rms[0, 0], 10.0))


def test_a_field_too_crowded_to_mask_falls_back_to_clipping(rng):
    shape = (128, 128)
    image = 100.0 + rng.normal(0, 2, shape)
    for y, x in rng.uniform(5, 123, (400, 2)):
        image += gaussian_star(shape, y, x, flux=3000.0, sigma=1.2)
    with pytest.warns(UserWarning, match="relying on sigma clipping"):
        background = estimate_background(image, method="mesh", box_size=64)
    assert np.all(np.isfinite(background.map))
    assert background.level == pytest.approx(100.0, abs=15)  # crowded: the unresolved wings lift it


def test_row_banding_is_removed_when_asked(rng):
    shape = (200, 256)
    sky, image = tilted_sky(shape, rng)
    banding = np.repeat(rng.normal(0, 4.0, shape[0])[:, None], shape[1], axis=1)
    star = gaussian_star(shape, 100.0, 128.0, flux=3e4, sigma=2.0)
    plain = estimate_background(image + banding + star, method="mesh", box_size=32)
    striped = estimate_background(image + banding + star, method="mesh", box_size=32, destripe_rows=True)
    inner = (slice(32, -32), slice(32, -32))
    assert np.std((plain.map - sky - banding)[inner]) > 3.0  # the mesh cannot follow rows
    assert np.std((striped.map - sky - banding)[inner]) < 0.5  # a tenth of the pixel noise
    assert "row offsets" in striped.describe() and striped.destripe_rows and not plain.destripe_rows


def test_subtract_background_gives_both_products_with_their_cards_and_history(rng):
    shape = (128, 128)
    sky, image = tilted_sky(shape, rng)
    star = gaussian_star(shape, 64.0, 64.0, flux=2e4, sigma=2.0)
    data = (image + star).astype(np.float32)
    mask = np.zeros(shape, np.uint8)
    mask[5:9, 5:9] = 2  # saturated, say: kept out of the sky, carried over as it is
    before = data.copy()
    subtracted, sky_product, background = subtract_background(data, mask, gain=2.0, method="mesh", box_size=32)
    np.testing.assert_array_equal(data, before)
    expected = estimate_background(data, method="mesh", mask=mask > 0, box_size=32)
    np.testing.assert_array_equal(background.map, expected.map)
    np.testing.assert_array_equal(subtracted.data, data - expected.map)
    assert np.abs(background.map - sky)[32:-32, 32:-32].max() < 1.0
    # ERR against the truth: the sky's RMS, and under the star its Poisson noise too (2 e-/ADU).
    err = subtracted.extensions["ERR"]
    counts = np.clip(data - expected.map, 0, None)
    np.testing.assert_allclose(err, np.sqrt(expected.rms.astype(np.float64) ** 2 + counts / 2.0), rtol=1e-6)
    assert err[64, 64] == pytest.approx(np.hypot(expected.rms[64, 64], np.sqrt(star[64, 64] / 2.0)), rel=0.02)
    assert list(subtracted.extensions) == ["ERR", "MASK"] and subtracted.extensions["MASK"] is mask
    assert list(sky_product.extensions) == ["RMS"]
    np.testing.assert_array_equal(sky_product.data, expected.map)
    np.testing.assert_array_equal(sky_product.extensions["RMS"], expected.rms)
    cards = [("SKYLEVEL", (expected.level, "median subtracted sky (ADU)")),
             ("SKYRMS", (expected.rms_median, "median sky rms (ADU)"))]
    assert list(subtracted.cards.items()) == list(sky_product.cards.items()) == cards
    assert cards[0][1][0] == pytest.approx(np.median(sky), abs=0.5) and cards[1][1][0] == pytest.approx(5.0, rel=0.05)
    history = [f"stackphot background: Background2D mesh, box 32 px; median sky {expected.level:.3f}, "
               f"median rms {expected.rms_median:.3f}", "ERR: sky rms and the sources' Poisson noise"]
    assert subtracted.history == sky_product.history == history


def test_subtract_background_says_when_rows_are_destriped(rng):
    _, image = tilted_sky((64, 64), rng)
    result = subtract_background(image.astype(np.float32), np.zeros((64, 64), np.uint8), gain=1.0,
                                 method="constant", destripe_rows=True)
    assert result.background.destripe_rows
    assert result.subtracted.history[0].startswith("stackphot background: sigma-clipped median, plus row offsets;")


def test_the_script_writes_both_products_over_the_ingested_header(tmp_path, rng, caplog):
    _, image = tilted_sky((64, 64), rng)
    header = fits.Header([("GAIN", 2.0), ("OBJECT", "M13")])
    frame = write_image(tmp_path / "f1.fits", image.astype(np.float32), header,
                        extensions=[("ERR", np.ones((64, 64), np.float32), None),
                                    ("MASK", np.zeros((64, 64), np.uint8), None)])
    main = runpy.run_path(str(ROOT / "scripts/subtract_backgrounds.py"))["main"]
    smk = SimpleNamespace(input=SimpleNamespace(frames=[frame]),
                          output=SimpleNamespace(frames=[tmp_path / "f1.sub.fits"], skies=[tmp_path / "f1.sky.fits"]),
                          params=SimpleNamespace(method="constant", box_size=64, filter_size=3, sigma=3.0,
                                                 destripe=False))
    with caplog.at_level(logging.INFO):
        main(smk, logging.getLogger("test"))
    expected = subtract_background(image.astype(np.float32), np.zeros((64, 64), np.uint8), gain=2.0,
                                   method="constant", box_size=64)
    assert f"f1: {expected.background.describe()}" in caplog.text
    for path, product in ((tmp_path / "f1.sub.fits", expected.subtracted), (tmp_path / "f1.sky.fits", expected.sky)):
        data, written, ext = read_image(path, *product.extensions)
        np.testing.assert_array_equal(data, product.data)
        for name, array in product.extensions.items():
            np.testing.assert_array_equal(ext[name], array)
        assert written["OBJECT"] == "M13" and written["GAIN"] == 2.0
        assert written["SKYLEVEL"] == pytest.approx(expected.background.level)
        assert list(written["HISTORY"]) == [piece for line in product.history for piece in clean_card_text(line)]
