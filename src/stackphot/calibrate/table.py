"""The calibration record of a night: every file of the dataset's folder, what it was taken for, and what was
made of it or done to it."""

from __future__ import annotations

import pandas as pd

from stackphot.calibrate.masters import Master, zero_level
from stackphot.inventory import CalibrationPlan, exposure_name


def calibration_table(plan: CalibrationPlan, masters: list[Master]) -> pd.DataFrame:
    """One row per file: ``file, kind, kind_source, exptime, filter, binning, ccd_temp, used_for``. A
    calibration frame is used for its master; a light is calibrated as ``used_for`` says (the zero level of
    its exposure, as the masters allow, and its flat)."""
    bias = next((master for master in masters if master.kind == "bias"), None)
    darks = {master.exptime: master for master in masters if master.kind == "dark"}
    used = {}
    for info in plan.bias:
        used[info.path] = "master_bias"
    for exptime, frames in plan.darks.items():
        for info in frames:
            used[info.path] = f"master_dark_{exposure_name(exptime)}"
    for name, frames in plan.flats.items():
        for info in frames:
            used[info.path] = f"master_flat_{name}"
    for info in plan.lights.values():
        flat = plan.flat_for(info)
        used[info.path] = (f"less {zero_level(info.exptime, bias=bias, darks=darks).description}; "
                           + (f"divided by master_flat_{flat}" if flat else "no flat"))
    frames = list(plan.lights.values()) + plan.bias + [f for group in plan.darks.values() for f in group] + \
        [f for group in plan.flats.values() for f in group]
    return pd.DataFrame([{"file": str(info.path), "kind": info.kind, "kind_source": info.kind_source,
                          "exptime": info.exptime, "filter": info.filter,
                          "binning": f"{info.binning[0]}x{info.binning[1]}", "ccd_temp": info.temperature,
                          "used_for": used[info.path]} for info in frames])
