"""The registration against a known truth (simulated datasets): measured minus true transform per frame."""

from __future__ import annotations

import pandas as pd


def shift_errors(measured: pd.DataFrame, truth: pd.DataFrame) -> pd.DataFrame:
    """Measured minus true shift per frame and axis (tables with columns frame, dy, dx), and of the rotation
    (degrees) and scale where both tables have them.

    Raises
    ------
    ValueError
        If a frame is missing from either table.
    """
    compared = [column for column in ("dy", "dx", "rotation", "scale")
                if column in measured.columns and column in truth.columns]
    merged = measured[["frame", *compared]].merge(
        truth[["frame", *compared]], on="frame", how="outer", suffixes=("", "_true"), indicator=True
    )
    unmatched = merged[merged["_merge"] != "both"].frame.tolist()
    if unmatched:
        raise ValueError(f"frames not in both the measured and the true shifts: {', '.join(unmatched)}")
    errors = {"frame": merged.frame, "dy": merged.dy, "dx": merged.dx, "dy_true": merged.dy_true,
              "dx_true": merged.dx_true}
    errors.update({f"error_{column}": merged[column] - merged[f"{column}_true"] for column in compared})
    return pd.DataFrame(errors)
