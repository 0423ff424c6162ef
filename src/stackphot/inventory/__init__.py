"""What each file of a dataset's folder was taken for (``kinds``: a light, a bias, dark or flat) and which
masters the night needs and each light takes (``plan``), from the headers alone: the workflow knows its jobs
before a pixel is read."""

from stackphot.inventory.kinds import KINDS, FrameInfo, describe_frame, kind_of_word
from stackphot.inventory.plan import (LISTED_KINDS, CalibrationPlan, ZeroRecipe, exposure_name, flat_name,
                                      inventory, listed_calibration, plan_calibration, zero_recipe)

__all__ = ["KINDS", "LISTED_KINDS", "CalibrationPlan", "FrameInfo", "describe_frame", "exposure_name", "flat_name", "inventory",
           "kind_of_word", "listed_calibration", "plan_calibration", "ZeroRecipe", "zero_recipe"]
