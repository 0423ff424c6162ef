import numpy as np
import pytest

from conftest import gaussian_star
from stackphot.background import estimate_background, subtracted_error


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
    assert "row offsets" in striped.describe()
