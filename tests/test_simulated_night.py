"""A simulated night with a known detector (stackphot.simulate.detector: bias structure, dark current with hot
pixels, a vignetted flat with dust rings): the lights after calibration against the truth, and before it."""

import numpy as np
import pytest
from astropy.io import fits
from photutils.aperture import CircularAnnulus, CircularAperture

from stackphot.calibrate import calibrate_light, hot_pixels, master_bias, master_dark, master_flat, zero_level
from stackphot.ingest import ingest_frame
from stackphot.io import RawFrame
from stackphot.simulate.detector import bias_frames, dark_frames, detector_signature, expose, flat_frames

SHAPE, EXPTIME, FLAT_EXPTIME, N_CALIBRATION = (192, 192), 60.0, 1.5, 10
SKY, STAR, SIGMA = 400.0, 4.0e5, 1.6  # e- per pixel, e- of the star, px
GRID = np.linspace(24, 168, 6)  # the star's places: 36 lights, corners included


def write(folder, stem, frames):
    paths = []
    for index, frame in enumerate(frames):
        paths.append(folder / f"{stem}{index:02d}.fits")
        fits.PrimaryHDU(frame.astype(np.uint16)).writeto(paths[-1])
    return paths


def star(x, y):
    yy, xx = np.mgrid[: SHAPE[0], : SHAPE[1]]
    return STAR * np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * SIGMA**2)) / (2 * np.pi * SIGMA**2)


@pytest.fixture(scope="module")
def night(tmp_path_factory):
    folder = tmp_path_factory.mktemp("simulated_night")
    camera = detector_signature(SHAPE, seed=7)
    noise = dict(gain=camera.gain, read_noise=camera.read_noise)
    bias = master_bias(write(folder, "bias", bias_frames(camera, N_CALIBRATION, seed=1)), **noise)
    dark = master_dark(write(folder, "dark", dark_frames(camera, N_CALIBRATION, exptime=EXPTIME, seed=2)), EXPTIME,
                       bias=bias, **noise)
    flat_dark = master_dark(write(folder, "flatdark", dark_frames(camera, N_CALIBRATION, exptime=FLAT_EXPTIME,
                                                                  seed=3)), FLAT_EXPTIME, bias=bias, **noise)
    darks = {EXPTIME: dark, FLAT_EXPTIME: flat_dark}
    flat = master_flat(write(folder, "flat", flat_frames(camera, N_CALIBRATION, exptime=FLAT_EXPTIME, seed=4)), "V",
                       zero=zero_level(FLAT_EXPTIME, bias=bias, darks=darks), **noise)
    places = [(x, y) for y in GRID for x in GRID]
    lights = [expose(camera, SKY + star(x, y), exptime=EXPTIME, seed=100 + i) for i, (x, y) in enumerate(places)]
    sky_only = expose(camera, np.full(SHAPE, 20 * SKY), exptime=EXPTIME, seed=99)
    calibrate = dict(zero=zero_level(EXPTIME, bias=bias, darks=darks), flat=flat, hot=hot_pixels(dark, nsigma=5),
                     **noise)
    return camera, places, lights, sky_only, calibrate


def flux_and_error(data, error, mask, x, y):
    """Aperture flux (r = 4 sigma) less the annulus' median sky, and its error from the error map."""
    aperture, annulus = CircularAperture((x, y), 4 * SIGMA), CircularAnnulus((x, y), 12, 20)
    good = (mask == 0) & np.isfinite(data)
    ring = annulus.to_mask(method="center").get_values(np.where(good, data, np.nan))
    ring = ring[np.isfinite(ring)]
    inside = aperture.to_mask(method="exact")
    weights = inside.to_image(SHAPE)
    sky = np.median(ring)
    flux = np.nansum(weights * (data - sky))
    variance = np.nansum(weights**2 * error**2) + (weights.sum() ** 2) * np.pi / 2 * np.var(ring) / ring.size
    return flux, np.sqrt(variance)


def block_rms(image, block=16):
    """RMS of the block medians about their median: the large-scale structure a flat leaves."""
    ny, nx = image.shape
    medians = np.nanmedian(image[: ny // block * block, : nx // block * block]
                           .reshape(ny // block, block, nx // block, block).swapaxes(1, 2).reshape(-1, block**2), axis=1)
    return float(np.std(medians / np.median(medians)))


def test_calibration_leaves_less_than_half_a_per_cent_of_flat_field_error(night):
    camera, _, _, sky_only, calibrate = night
    calibrated = calibrate_light(sky_only, np.zeros(SHAPE, np.uint8), **calibrate)
    uncalibrated = sky_only - camera.bias
    after, before = block_rms(np.where(calibrated.mask == 0, calibrated.data, np.nan)), block_rms(uncalibrated)
    print(f"flat-field structure, RMS of 16 x 16 px block medians: {before:.4f} uncalibrated, {after:.4f} calibrated")
    assert after < 0.005 < before


def test_one_star_anywhere_on_the_detector_has_one_flux_within_its_errors(night):
    camera, places, lights, _, calibrate = night
    calibrated, raw = [], []
    for frame, (x, y) in zip(lights, places):
        result = calibrate_light(frame, np.zeros(SHAPE, np.uint8), **calibrate)
        calibrated.append(flux_and_error(result.data, result.error, result.mask, x, y))
        # Uncalibrated: the frame less the bias level only, its errors as ingest makes them.
        ingested = ingest_frame(RawFrame(frame, fits.Header({"GAIN": camera.gain, "RDNOISE": camera.read_noise}),
                                         "light.fits", 0, 65535.0))
        raw.append(flux_and_error(ingested.data - np.median(camera.bias), ingested.error, ingested.mask, x, y))
    for name, measured in (("calibrated", calibrated), ("uncalibrated", raw)):
        flux, error = np.array(measured).T
        pull = (flux - np.average(flux, weights=error**-2)) / error
        print(f"{name}: flux spread {np.std(flux) / np.mean(flux):.4f}, pull sigma {np.std(pull):.2f}")
        if name == "calibrated":
            assert 0.8 < np.std(pull) < 1.25
        else:
            assert np.std(pull) > 3
