"""PSF photometry of a crowded field: stackphot.detect.psf.fit_psf_photometry against photutils' PSFPhotometry, CPU s.

    python bench/psf.py [N_STARS]

N_STARS (default 1500) Moffat stars (FWHM 3.5 px, beta 3, 1000 to 100000 ADU) at random places in a
1024 x 1024 frame with noise of 10 ADU, so that some are blended; both fit every star's position and flux
with the true PSF from 0.3 px off, in 7 px boxes, photutils with its groups of overlapping boxes (as the
residual pass of detection used it). Prints both CPU times, how far the two fits differ in units of
photutils' errors, the chi-square per pixel their models leave within 3 px of the stars, and how many
fits end more than 0.5 px from the truth.
"""

import math
import sys
import time
import warnings
from pathlib import Path

import numpy as np
from astropy.table import Table
from photutils.psf import MoffatPSF, PSFPhotometry, SourceGrouper

from stackphot.detect.psf import MoffatShape, fit_psf_photometry

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from stars import render_moffat  # noqa: E402  (the tests' star drawing, shared)

FWHM, BETA, NOISE, SIZE = 3.5, 3.0, 10.0, 1024
FIT_SIZE, MODEL_SIZE = 2 * math.floor(FWHM) + 1, 2 * math.ceil(5 * FWHM) + 1


def main(n_stars: int = 1500) -> None:
    rng = np.random.default_rng(8)
    psf = MoffatShape(FWHM / (2.0 * math.sqrt(2.0 ** (1.0 / BETA) - 1.0)), BETA)
    x, y = rng.uniform(10, SIZE - 10, n_stars), rng.uniform(10, SIZE - 10, n_stars)
    flux = np.exp(rng.uniform(np.log(1e3), np.log(1e5), n_stars))
    image = rng.normal(0.0, NOISE, (SIZE, SIZE)) + render_moffat((SIZE, SIZE), x, y, flux, psf, 2 * MODEL_SIZE + 1)
    angle = rng.uniform(0, 2 * np.pi, n_stars)
    start_x, start_y = x + 0.3 * np.cos(angle), y + 0.3 * np.sin(angle)
    error = np.full(image.shape, NOISE)

    photometry = PSFPhotometry(MoffatPSF(alpha=psf.alpha, beta=psf.beta), (FIT_SIZE, FIT_SIZE), aperture_radius=FWHM,
                               grouper=SourceGrouper(FIT_SIZE), group_warning_threshold=10**6)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        start = time.process_time()
        theirs = photometry(image, error=error, init_params=Table({"x": start_x, "y": start_y}))
        their_residual = photometry.make_residual_image(image, psf_shape=(MODEL_SIZE, MODEL_SIZE))
        their_seconds = time.process_time() - start
    start = time.process_time()
    ours = fit_psf_photometry(image, start_x, start_y, psf, invalid=np.zeros(image.shape, bool), error=error,
                              fit_size=FIT_SIZE, model_size=MODEL_SIZE)
    our_seconds = time.process_time() - start

    near = np.zeros(image.shape, bool)
    for xx, yy in zip(np.rint(x).astype(int), np.rint(y).astype(int)):
        near[yy - 3 : yy + 4, xx - 3 : xx + 4] = True
    chi2 = {name: np.mean((residual[near] / NOISE) ** 2)
            for name, residual in (("photutils", their_residual), ("stackphot", image - ours.model))}
    groups = np.bincount(theirs["group_id"])
    their_error = np.hypot(theirs["x_err"], theirs["y_err"])
    position = np.hypot(ours.x - theirs["x_fit"], ours.y - theirs["y_fit"]) / their_error
    flux_difference = np.abs(ours.flux - theirs["flux_fit"]) / theirs["flux_err"]
    print(f"{n_stars} stars ({(groups[groups > 1]).sum()} in {(groups > 1).sum()} groups, the largest of "
          f"{groups.max()}), CPU s: photutils PSFPhotometry {their_seconds:.2f}, stackphot fit_psf_photometry "
          f"{our_seconds:.2f} ({ours.iterations} iterations), ratio {their_seconds / our_seconds:.0f}")
    print(f"stackphot - photutils, in photutils' errors: position median {np.median(position):.1e}, "
          f"max {np.max(position):.1e}; flux median {np.median(flux_difference):.1e}, "
          f"max {np.max(flux_difference):.1e}")
    fits = {"photutils": (theirs["x_fit"], theirs["y_fit"]), "stackphot": (ours.x, ours.y)}
    astray = {name: int((np.hypot(fit_x - x, fit_y - y) > 0.5).sum()) for name, (fit_x, fit_y) in fits.items()}
    print(f"chi-square per pixel within 3 px of the stars: photutils {chi2['photutils']:.3f}, "
          f"stackphot {chi2['stackphot']:.3f}; fits ending over 0.5 px from the truth: photutils "
          f"{astray['photutils']}, stackphot {astray['stackphot']} (dropped: {int((~ours.fitted).sum())})")


if __name__ == "__main__":
    main(*(int(arg) for arg in sys.argv[1:]))
