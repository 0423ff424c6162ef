"""The stacked image's header: the reference frame's, extended with how the stack was made."""

from __future__ import annotations

import pandas as pd
from astropy.io import fits

from stackphot.geometry import Transform
from stackphot.io import add_cards, image_header
from stackphot.provenance import processing_date, versions_line


def _mid_time(frames: pd.DataFrame) -> str | None:
    """Mean of the frames' mid-exposure times (the frames table's ``mid_time``, from whatever each header
    gives: ``frames.mid_exposure``), ISO in UTC; None unless every frame has one (or in a frames table
    written before that column)."""
    from astropy.time import Time

    if frames.empty or "mid_time" not in frames or frames.mid_time.isna().any():
        return None
    return Time(list(frames.mid_time.astype(str)), format="isot", scale="utc").mean().isot


def stack_header(reference_header: fits.Header, frames: pd.DataFrame, shifts: pd.DataFrame, *, method: str,
                 options: str = "", rejected: pd.DataFrame | None = None, weights=None,
                 weighting: str = "none") -> fits.Header:
    """Header for a stack of ``frames`` (the frames table) aligned by ``shifts`` (the registration table: frame and the transform's columns); the
    ``rejected`` frames (frames-table rows with a ``reason``) are named in HISTORY with why. ``weights``, each frame's
    relative weight (``frame_weights``) where the frames were weighted by ``weighting``, are in HISTORY, and
    the card WEIGHTS names the weighting.

    EXPTIME is in the image's own terms: the total for ``sum``, one frame's mean exposure for the others
    (whose pixel values are per-frame averages); TEXPTIME is always the total.
    """
    header = image_header(reference_header)
    for key in ("SHIFTY", "SHIFTX", "SKYLEVEL", "SKYRMS", "ORIGFILE", "ORIGSHA"):
        header.remove(key, ignore_missing=True)
    exptimes = pd.to_numeric(frames.exptime, errors="coerce")
    total = float(exptimes.sum()) if exptimes.notna().all() else None
    header["NCOMBINE"] = (len(frames), "number of frames combined")
    header["STACKMTH"] = (method, "combination method")
    header["WEIGHTS"] = (weighting if weights is not None else "none", "frame weights (HISTORY: each frame's)")
    if total is not None:
        header["TEXPTIME"] = (total, "total exposure of the combined frames (s)")
        header["EXPTIME"] = (total if method == "sum" else total / len(frames), "exposure the pixel values represent (s)")
    dates = frames.date_obs.dropna().astype(str).sort_values()
    if len(dates):
        header["DATE-OBS"] = (dates.iloc[0], "start of the first frame")
    middle = _mid_time(frames)
    if middle is not None:
        header["DATE-AVG"] = (middle, "mean of the frames' mid-exposure times")
    header["BUNIT"] = (reference_header.get("BUNIT", "adu"), "units of the pixel values")
    header["DATE"] = (processing_date(), "UTC date the stack was made")
    add_cards(header, "COMMENT", [
        f"Stack of {len(frames)} frames made by stackphot ({method}{', ' + options if options else ''}).",
        "Background-subtracted, aligned by cross-correlation to the reference frame.",
        "Extensions: ERR (one-sigma error), COVERAGE (frames per pixel), NREJECT (values clipped).",
    ])
    merged = frames.merge(shifts, on="frame", how="left")
    history = [f"stackphot {processing_date()}: {method} of {len(frames)} frames {options}".rstrip()]
    for row in merged.itertuples():
        history += [f"input {row.file}", f"  sha256 {row.sha256}"]
    history += [f"shift {row.file}: {Transform.from_row(row)} (correlation {row.correlation:.3f})"
                for row in merged.itertuples()]
    if weights is not None:
        history += [f"weight {row.file}: {weight:.4f}" for row, weight in zip(merged.itertuples(), weights)]
    if rejected is not None:
        history += [f"rejected {row.file}: {row.reason}" for row in rejected.itertuples()]
    history.append(versions_line())
    add_cards(header, "HISTORY", history)
    return header
