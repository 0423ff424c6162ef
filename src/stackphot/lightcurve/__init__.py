"""Time-series photometry: every frame measured at the stack's sources on its own pixels (``forced``), the
frames' times, site and target (``times``), the measurements as a time series (``series``), differential light
curves against an ensemble of comparison stars (``ensemble``), the variability search (``variability``), and
what goes into each (``curves``)."""

from stackphot.lightcurve.curves import Matrices, comparison_curves, target_light_curve, variability
from stackphot.lightcurve.ensemble import (choose_comparisons, detrend, differential_light_curve, ensemble_curve,
                                           ensemble_weights)
from stackphot.lightcurve.forced import COSMIC, forced_photometry, frame_positions
from stackphot.lightcurve.series import (TargetError, accepted_photometry, aperture_area, crowding,
                                         field_centre, find_target, least_crowded, star_crowding,
                                         frame_annulus, frame_table, light_curve_column, read_series, series_units,
                                         star_matrix, usable_stars)
from stackphot.lightcurve.times import Site, frame_times, observing_site, target_coordinates
from stackphot.lightcurve.variability import (expected_noise, fit_transit, period_search, scintillation,
                                              variability_table)

__all__ = ["COSMIC", "Matrices", "Site", "TargetError", "accepted_photometry", "aperture_area", "choose_comparisons",
           "comparison_curves", "crowding", "detrend", "differential_light_curve", "ensemble_curve", "ensemble_weights",
           "expected_noise", "field_centre", "find_target", "fit_transit", "forced_photometry", "frame_annulus",
           "frame_positions", "frame_table", "frame_times", "least_crowded", "light_curve_column", "observing_site", "period_search",
           "read_series", "scintillation", "series_units", "star_crowding", "star_matrix", "target_coordinates", "target_light_curve", "usable_stars",
           "variability", "variability_table"]
