"""Calibration: the night's bias, dark and flat frames found (``kinds``), combined into masters (``masters``)
and applied to the lights before anything else (``apply``)."""

from stackphot.calibrate.apply import HOT, LOW_RESPONSE, CalibratedLight, calibrate_light, hot_pixels
from stackphot.calibrate.kinds import KINDS, FrameInfo, describe_frame, kind_of_word
from stackphot.calibrate.masters import (CombineOptions, FrameRows, Master, ZeroLevel, master_bias, master_dark,
                                         master_flat, zero_level)

__all__ = ["HOT", "KINDS", "LOW_RESPONSE", "CalibratedLight", "CombineOptions", "FrameInfo", "FrameRows", "Master",
           "ZeroLevel", "calibrate_light", "describe_frame", "hot_pixels", "kind_of_word", "master_bias",
           "master_dark", "master_flat", "zero_level"]
