"""Stars with an exact truth, for the tests and the benchmarks (bench/psf.py, bench/centroids.py).

Only tests and benchmarks draw stars from a list, so this lives here and not in the package: Moffat stars
drawn through the PSF fit's own model (``stackphot.detect.psf._draw``), so that a fit of these stars with
the true PSF has nothing but noise left to explain, and pixel-integrated Gaussians.
"""

import math

import numpy as np

from stackphot.detect.psf import MoffatShape, _draw


def render_moffat(shape, x, y, flux, psf: MoffatShape, size: int) -> np.ndarray:
    """An image of the given shape holding a Moffat source per position, each drawn over ``size`` x ``size``
    pixels centred on its nearest pixel and cut at the image's edges."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    image = np.zeros(shape[0] * shape[1])
    _draw(image, shape, x, y, np.column_stack([flux, x, y]), psf, size)
    return image.reshape(shape)


def integrated_gaussian(n: int, centre: float, sigma: float) -> np.ndarray:
    """A unit 1D Gaussian integrated over each of ``n`` pixels (pixel ``i`` spans ``i - 0.5`` to ``i + 0.5``).

    The outer product of two is a pixel-integrated circular Gaussian star, exact to the pixel: the truth
    that tests and benchmarks of centroids measure against.
    """
    from scipy.special import erf

    edges = np.arange(n + 1) - 0.5 - centre
    return np.diff(0.5 * erf(edges / (math.sqrt(2.0) * sigma)))
