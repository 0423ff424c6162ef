"""Aperture photometry: local annulus sky, pixel and sky apertures, curves of growth, aperture corrections.

The stage's modules:

``annulus``
    The local sky: the sigma-clipped median of an annulus around each position, all annuli at once.
``apertures``
    ``measure_apertures``: fluxes in circular apertures at pixel positions, their errors and flags.
``sky``
    ``measure_sky_apertures``: the same at sky positions, radii in arcsec; ``sky_targets``.
``growth``
    Curves of growth of bright isolated stars, their half-light radius and the aperture correction.

No data is ever counted as zero: an aperture that holds a NaN, masked or off-image pixel yields a NaN flux
at that radius (and a flag: ``EDGE``, ``NONFINITE``, ``SATURATED``, ``NEIGHBOUR``, ``CROWDED_SKY``, see
``stackphot.photometry.apertures``), rather than a sum that silently lacks part of the star.
"""

from stackphot.photometry.apertures import (
    CROWDED_SKY,
    EDGE,
    NEIGHBOUR,
    NONFINITE,
    SATURATED,
    measure_apertures,
    photometry_units,
)
from stackphot.photometry.growth import (
    GrowthCurve,
    GrowthSummary,
    aperture_correction,
    curve_of_growth,
    isolated_stars,
    measure_growth_curves,
    plot_curve_of_growth,
)
from stackphot.photometry.sky import measure_sky_apertures, sky_targets

__all__ = [
    "EDGE",
    "NONFINITE",
    "SATURATED",
    "NEIGHBOUR",
    "CROWDED_SKY",
    "measure_apertures",
    "measure_sky_apertures",
    "sky_targets",
    "photometry_units",
    "GrowthCurve",
    "GrowthSummary",
    "curve_of_growth",
    "isolated_stars",
    "aperture_correction",
    "measure_growth_curves",
    "plot_curve_of_growth",
]
