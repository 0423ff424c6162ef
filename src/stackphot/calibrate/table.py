"""The calibration record of a night: every file of the dataset's folder, what it was taken for, and what was
made of it or done to it."""

from __future__ import annotations

import pandas as pd

from stackphot.inventory import CalibrationPlan


def calibration_table(plan: CalibrationPlan, *, max_temperature_difference: float) -> pd.DataFrame:
    """One row per file: ``file, kind, kind_source, exptime, filter, binning, ccd_temp, used_for, warning``. A
    calibration frame is used for its master (a ready master is used as it is); a light is calibrated as
    ``used_for`` says. ``warning``: what a light's or flat's calibration lacks (``CalibrationPlan.warnings_of``)."""
    used, warnings = {}, {}
    for name, frames in plan.groups().items():
        for info in frames:
            used[info.path] = f"used as {name} (a ready master)" if name in plan.ready else name
        if frames[0].kind == "flat" and name not in plan.ready:
            for info in frames:
                warnings[info.path] = plan.warnings_of([info], max_temperature_difference=max_temperature_difference)
    for info in plan.lights.values():
        used[info.path] = plan.calibration_of(info)
        warnings[info.path] = plan.warnings_of([info], max_temperature_difference=max_temperature_difference)
    frames = list(plan.lights.values()) + [info for group in plan.groups().values() for info in group]
    return pd.DataFrame([{"file": str(info.path), "kind": info.kind, "kind_source": info.kind_source,
                          "exptime": info.exptime, "filter": info.filter,
                          "binning": f"{info.binning[0]}x{info.binning[1]}", "ccd_temp": info.temperature,
                          "used_for": used[info.path], "warning": "; ".join(warnings.get(info.path, []))}
                         for info in frames])
