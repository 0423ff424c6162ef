"""Surface brightness to flux density, for the tests that compare with catalogs in mJy (Spitzer).

The workflow measures in the image's own units and never converts them, so these live with the tests.
"""

import numpy as np

ARCSEC_PER_RADIAN = 180.0 * 3600.0 / np.pi


def pixel_solid_angle_sr(wcs) -> float:
    """Solid angle of one pixel in steradians, from the WCS's projection-plane pixel area.

    Exact at the projection's reference point; on wide fields the true pixel solid angle varies across
    the image (e.g. as cos(latitude) in a CAR projection).
    """
    from astropy.wcs.utils import proj_plane_pixel_area

    return float(proj_plane_pixel_area(wcs.celestial)) * (np.pi / 180.0) ** 2


def surface_brightness_to_flux_density(values_mjy_sr, pixel_scale_arcsec: float):
    """Convert sums of pixel values in MJy/sr to flux densities in mJy.

    A pixel of 1 MJy/sr holds 1e6 Jy * Omega = 1e9 mJy * Omega, with Omega = (scale / 206264.8")^2 its
    solid angle. Works on scalars, arrays and pandas Series alike (NaN stays NaN).
    """
    return np.multiply(values_mjy_sr, 1e9 * (pixel_scale_arcsec / ARCSEC_PER_RADIAN) ** 2)
