"""Time-series photometry: every frame measured at the stack's sources on its own pixels (``forced``), the
frames' times, site and target (``times``), the measurements as a time series (``series``), the stars' colours
(``colours``), differential light curves against an ensemble of comparison stars (``ensemble``), the
variability search (``variability``), and what goes into each (``curves``)."""

from stackphot.lightcurve.colours import (COLOUR_MATCH_ARCSEC, band_magnitudes, colour_alike, read_colours,
                                          sky_match, star_colours)
from stackphot.lightcurve.curves import (Matrices, best_light_curve, comparison_curves, comparison_noise,
                                         target_light_curve, variability)
from stackphot.lightcurve.ensemble import (choose_comparisons, detrend, differential_light_curve, ensemble_curve,
                                           ensemble_weights)
from stackphot.lightcurve.forced import COSMIC, forced_photometry, frame_annulus, frame_positions
from stackphot.lightcurve.series import (TargetError, accepted_photometry, aperture_area, catalog_position, crowding,
                                         field_centre, find_target, frame_table, least_crowded, light_curve_column,
                                         light_curve_columns, read_series, series_units, star_crowding, star_matrix,
                                         timed_target, usable_stars)
from stackphot.lightcurve.times import Site, frame_times, observing_site, target_coordinates, target_times
from stackphot.lightcurve.variability import (expected_noise, fit_transit, period_search, scintillation,
                                              variability_table)

__all__ = ["accepted_photometry", "aperture_area", "band_magnitudes", "best_light_curve", "catalog_position",
           "choose_comparisons", "colour_alike", "COLOUR_MATCH_ARCSEC", "comparison_curves", "comparison_noise",
           "COSMIC", "crowding", "detrend", "differential_light_curve", "ensemble_curve", "ensemble_weights",
           "expected_noise", "field_centre", "find_target", "fit_transit", "forced_photometry", "frame_annulus",
           "frame_positions", "frame_table", "frame_times", "least_crowded", "light_curve_column",
           "light_curve_columns", "Matrices", "observing_site", "period_search", "read_colours", "read_series",
           "scintillation", "series_units", "Site", "sky_match", "star_colours", "star_crowding", "star_matrix",
           "target_coordinates", "target_light_curve", "target_times", "TargetError", "timed_target", "usable_stars",
           "variability", "variability_table"]
