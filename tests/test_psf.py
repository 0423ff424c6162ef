"""Tests of stackphot.detect.psf: Moffat PSF photometry of every source at once, against the truth and photutils."""

import math
import warnings

import numpy as np
import pytest
from astropy.table import Table
from astropy.utils.exceptions import AstropyUserWarning
from photutils.psf import MoffatPSF, PSFPhotometry, SourceGrouper

from stackphot.detect.psf import MoffatShape, PSFFitError, fit_moffat_shape, fit_psf_photometry
from stars import render_moffat

NOISE, FWHM, BETA = 10.0, 3.5, 3.0
ALPHA = FWHM / (2.0 * math.sqrt(2.0 ** (1.0 / BETA) - 1.0))
SHAPE = (240, 240)


def moffat_image(x, y, flux, rng):
    """Moffat stars drawn by photutils' own MoffatPSF (the model fitted here), on Gaussian noise."""
    grid_y, grid_x = np.mgrid[: SHAPE[0], : SHAPE[1]]
    image = rng.normal(0.0, NOISE, SHAPE)
    for xx, yy, ff in zip(x, y, flux):
        image += MoffatPSF(flux=ff, x_0=xx, y_0=yy, alpha=ALPHA, beta=BETA)(grid_x, grid_y)
    return image


@pytest.fixture(scope="module")
def field():
    """36 isolated stars on a jittered grid and, between them, 25 pairs 2.5 to 4 px apart (flux ratio 1 to
    5): every star's truth, brightest first."""
    rng = np.random.default_rng(11)
    grid_y, grid_x = np.mgrid[20:240:40, 20:240:40]
    single_x = grid_x.ravel() + rng.uniform(-3, 3, grid_x.size)
    single_y = grid_y.ravel() + rng.uniform(-3, 3, grid_y.size)
    centre_y, centre_x = np.mgrid[40:240:40, 40:240:40]
    angle = rng.uniform(0, 2 * np.pi, centre_x.size)
    half = rng.uniform(1.25, 2.0, centre_x.size)
    pair_x = np.r_[centre_x.ravel() + half * np.cos(angle), centre_x.ravel() - half * np.cos(angle)]
    pair_y = np.r_[centre_y.ravel() + half * np.sin(angle), centre_y.ravel() - half * np.sin(angle)]
    single_flux = np.exp(rng.uniform(np.log(3e3), np.log(2e5), single_x.size))
    primary = np.exp(rng.uniform(np.log(1e4), np.log(1e5), centre_x.size))
    pair_flux = np.r_[primary, primary / rng.uniform(1, 5, centre_x.size)]
    x, y = np.r_[single_x, pair_x], np.r_[single_y, pair_y]
    flux = np.r_[single_flux, pair_flux]
    image = moffat_image(x, y, flux, rng)
    isolated = np.r_[np.ones(single_x.size, bool), np.zeros(pair_x.size, bool)]
    order = np.argsort(-flux)
    # Start positions as a finder's: 0.3 px off.
    start_angle = rng.uniform(0, 2 * np.pi, x.size)
    start_x, start_y = x + 0.3 * np.cos(start_angle), y + 0.3 * np.sin(start_angle)
    return {"image": image, "x": x[order], "y": y[order], "flux": flux[order], "isolated": isolated[order],
            "start_x": start_x[order], "start_y": start_y[order]}


def fit(field, **options):
    """stackphot's fit of the listed stars, from 0.3 px off."""
    psf = MoffatShape(ALPHA, BETA)
    return fit_psf_photometry(field["image"], field["start_x"], field["start_y"], psf,
                              invalid=np.zeros(SHAPE, bool), error=np.full(SHAPE, NOISE),
                              fit_size=2 * math.floor(FWHM) + 1, model_size=2 * math.ceil(5 * FWHM) + 1, **options)


def test_the_shape_of_the_bright_stars_is_recovered(field):
    bright = np.flatnonzero(field["isolated"])[:20]
    shape = fit_moffat_shape(field["image"], field["start_x"][bright], field["start_y"][bright],
                             invalid=np.zeros(SHAPE, bool), error=np.full(SHAPE, NOISE))
    print(f"alpha {shape.alpha:.4f} (true {ALPHA:.4f}), beta {shape.beta:.4f} (true {BETA}), "
          f"FWHM {shape.fwhm:.4f} (true {FWHM})")
    assert shape.alpha == pytest.approx(ALPHA, rel=0.02)
    assert shape.beta == pytest.approx(BETA, rel=0.02)
    assert shape.fwhm == pytest.approx(FWHM, rel=0.005)


def test_no_shape_from_an_empty_image():
    with pytest.raises(PSFFitError, match="no Moffat PSF fits the 3 brightest sources"):
        fit_moffat_shape(np.zeros((60, 60)), [10.0, 30.0, 50.0], [10.0, 30.0, 50.0], invalid=np.zeros((60, 60), bool))


def photutils_fit(field, rows, **options):
    """photutils PSFPhotometry with the same PSF, boxes and weights, from the same starting positions."""
    fit_size = 2 * math.floor(FWHM) + 1
    photometry = PSFPhotometry(MoffatPSF(alpha=ALPHA, beta=BETA), (fit_size, fit_size), aperture_radius=FWHM,
                               **options)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", AstropyUserWarning)
        return photometry(field["image"], error=np.full(SHAPE, NOISE),
                          init_params=Table({"x": field["start_x"][rows], "y": field["start_y"][rows]}))


def test_alone_in_its_box_a_star_is_fitted_as_photutils_fits_it(field):
    """With only the isolated stars listed, each is alone in its problem: the minimum is photutils'."""
    rows = np.flatnonzero(field["isolated"])
    ours = fit({key: value[rows] if key != "image" else value for key, value in field.items()})
    theirs = photutils_fit(field, rows)
    position = np.hypot(ours.x - theirs["x_fit"], ours.y - theirs["y_fit"])
    flux = np.abs(ours.flux / theirs["flux_fit"] - 1)
    print(f"{rows.size} isolated stars against photutils: position max {position.max():.1e} px, "
          f"flux max {flux.max():.1e}; {ours.iterations} iterations")
    assert ours.fitted.all()
    assert position.max() < 1e-4 and flux.max() < 1e-6


def test_blends_are_measured_as_well_as_photutils_groups_them(field):
    """Against the truth, in units of the errors of photutils' grouped fit (pairs fitted together)."""
    fit_size = 2 * math.floor(FWHM) + 1
    theirs = photutils_fit(field, np.arange(field["x"].size), grouper=SourceGrouper(fit_size))
    ours = fit(field)
    assert ours.fitted.all()
    errors = np.column_stack([theirs["x_err"], theirs["y_err"], theirs["flux_err"]])
    truth = np.column_stack([field["x"], field["y"], field["flux"]])
    pulls = {"stackphot": (np.column_stack([ours.x, ours.y, ours.flux]) - truth) / errors,
             "photutils": (np.column_stack([theirs["x_fit"], theirs["y_fit"], theirs["flux_fit"]]) - truth) / errors}
    for name, pull in pulls.items():
        for rows, kind in ((~field["isolated"], "pairs"), (field["isolated"], "isolated")):
            print(f"{name} {kind}: pull rms x, y, flux {np.round(np.std(pull[rows], axis=0), 2)}, "
                  f"max |pull| {np.abs(pull[rows]).max():.2f}")
    pairs = ~field["isolated"]
    np.testing.assert_allclose(np.std(pulls["stackphot"][pairs], axis=0), np.std(pulls["photutils"][pairs], axis=0),
                               rtol=0.1)
    assert np.abs(pulls["stackphot"]).max() < 5
    assert (np.abs(np.std(pulls["stackphot"][~pairs], axis=0) - 1) < 0.3).all()


def test_the_model_leaves_noise_only(field):
    ours = fit(field)
    residual = (field["image"] - ours.model) / NOISE
    near = np.zeros(SHAPE, bool)
    for xx, yy in zip(field["x"].astype(int), field["y"].astype(int)):
        near[yy - 3 : yy + 4, xx - 3 : xx + 4] = True
    chi2 = np.mean(residual[near] ** 2)
    print(f"residual chi-square per pixel within 3 px of a star {chi2:.3f}, "
          f"elsewhere {np.mean(residual[~near] ** 2):.3f}")
    assert chi2 < 1.1


def test_a_source_on_empty_sky_is_dropped(field):
    """A listed position with no star (a finder's false detection) ends with no flux, not with a neighbour's."""
    rng = np.random.default_rng(5)
    image = rng.normal(0.0, NOISE, (60, 60))
    psf = MoffatShape(ALPHA, BETA)
    image += render_moffat(image.shape, [30.0], [30.0], [5e4], psf, 41)
    result = fit_psf_photometry(image, [30.2, 45.0], [29.8, 45.0], psf, invalid=np.zeros(image.shape, bool),
                                fit_size=7, model_size=41)
    assert result.fitted[0] and result.flux[0] == pytest.approx(5e4, rel=0.01)
    assert result.flux[1] < 5 * NOISE * 7  # nothing, or a noise bump: never the star 21 px away


def test_render_moffat_holds_the_flux_of_its_stamp():
    psf = MoffatShape(ALPHA, BETA)
    image = render_moffat((101, 101), [50.3, 0.0], [49.6, 0.0], [1000.0, 1000.0], psf, 101)
    grid_y, grid_x = np.mgrid[:101, :101]
    expected = MoffatPSF(flux=1000.0, x_0=50.3, y_0=49.6, alpha=ALPHA, beta=BETA)(grid_x, grid_y)
    corner = MoffatPSF(flux=1000.0, x_0=0.0, y_0=0.0, alpha=ALPHA, beta=BETA)(grid_x, grid_y)
    corner[51:, :] = corner[:, 51:] = 0  # its stamp is centred on pixel (0, 0): the image's edges cut it
    np.testing.assert_allclose(image, expected + corner, rtol=1e-12, atol=1e-12)


def test_a_moffat_profile_holds_the_asked_fraction_of_its_light_within_its_radius():
    from scipy import integrate

    for alpha, beta in ((2.0, 2.5), (3.4, 2.93), (246.5, 1063.6)):
        shape = MoffatShape(alpha, beta)
        radius = shape.radius(0.999)
        # The profile's light within r, by quadrature of 2 pi r I(r) (I normalised to unit total light).
        light, _ = integrate.quad(lambda r: 2 * np.pi * r * (beta - 1) / (np.pi * alpha**2)
                                  * (1 + r**2 / alpha**2) ** -beta, 0, radius, limit=200)
        assert light == pytest.approx(0.999, abs=1e-6)
    assert MoffatShape(2.0, 1.0).radius(0.5) == np.inf
