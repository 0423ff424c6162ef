"""The calibration record of a night: every file of the dataset's folder, what it was taken for, and what was
made of it or done to it."""

from __future__ import annotations

import pandas as pd

from stackphot.calibrate.masters import Master, temperature_warning, zero_level
from stackphot.inventory import CalibrationPlan


def calibration_table(plan: CalibrationPlan, masters: list[Master], *, max_temperature_difference: float
                      ) -> pd.DataFrame:
    """One row per file: ``file, kind, kind_source, exptime, filter, binning, ccd_temp, used_for, warning``. A
    calibration frame is used for its master (a ready master is used as it is); a light is calibrated as
    ``used_for`` says (the zero level of its exposure, as the masters allow, and its flat). ``warning``: a
    light or flat whose sensor temperature is more than ``max_temperature_difference`` from its dark's."""
    bias = next((master for master in masters if master.kind == "bias"), None)
    darks = {master.exptime: master for master in masters if master.kind == "dark"}
    used, warnings = {}, {}
    for name, frames in plan.groups().items():
        for info in frames:
            used[info.path] = f"used as {name} (a ready master)" if name in plan.ready else name
            if info.kind == "flat" and name not in plan.ready:
                warnings[info.path] = temperature_warning(info.temperature, zero_level(
                    info.exptime, bias=bias, darks=darks), max_temperature_difference)
    for info in plan.lights.values():
        flat = plan.flat_for(info)
        zero = zero_level(info.exptime, bias=bias, darks=darks)
        used[info.path] = f"less {zero.description}; " + (f"divided by master_flat_{flat}" if flat else "no flat")
        warnings[info.path] = temperature_warning(info.temperature, zero, max_temperature_difference)
    frames = list(plan.lights.values()) + [info for group in plan.groups().values() for info in group]
    return pd.DataFrame([{"file": str(info.path), "kind": info.kind, "kind_source": info.kind_source,
                          "exptime": info.exptime, "filter": info.filter,
                          "binning": f"{info.binning[0]}x{info.binning[1]}", "ccd_temp": info.temperature,
                          "used_for": used[info.path], "warning": warnings.get(info.path) or ""}
                         for info in frames])
