"""Calibration: the night's bias, dark and flat frames (found by ``stackphot.inventory``) combined into masters
(``masters``) and applied to the lights before anything else (``apply``).

The masters are combined by the stack's own combine, so this package imports ``stackphot.stack`` although it
runs before the background."""

from stackphot.calibrate.apply import HOT, LOW_RESPONSE, CalibratedLight, calibrate_light, hot_in_any, hot_pixels
from stackphot.calibrate.masters import (CombineOptions, FrameRows, Master, ZeroLevel, master_bias, master_dark,
                                         master_flat, master_product, night_read_noise, read_master, zero_level)
from stackphot.calibrate.noise import measure_read_noise
from stackphot.ingest import MeasuredReadNoise
from stackphot.calibrate.table import calibration_table

__all__ = ["HOT", "LOW_RESPONSE", "CalibratedLight", "CombineOptions", "FrameRows", "Master", "MeasuredReadNoise",
           "ZeroLevel", "calibrate_light", "calibration_table", "hot_in_any", "hot_pixels", "master_bias",
           "master_dark", "master_flat", "master_product", "measure_read_noise", "night_read_noise", "read_master",
           "zero_level"]
