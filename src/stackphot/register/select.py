"""Which frames go into the stack: each frame's quality figures against the configured limits."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pandas as pd

from stackphot.io import read_table


def read_selection(path) -> pd.DataFrame:
    """The ``frame_selection.csv`` written by the select_frames rule, in frame order: every quality column,
    ``accepted`` as bool and ``reason`` as text ('' for an accepted frame)."""
    selection = read_table(path, "reason", "method", "note", "duplicate_of", "bad_frame")
    for column in ("reason", "note", "duplicate_of", "bad_frame"):
        if column in selection:
            selection[column] = selection[column].fillna("")
    selection["accepted"] = selection["accepted"].astype(bool)
    return selection


class FrameSelectionError(ValueError):
    """The run must stop: a bad frame with ``on_bad_frame: fail``, or too few good frames to stack."""


class Duplicate(NamedTuple):
    """A frame whose raw file is byte for byte another frame's: the frame kept, and why this one is not."""

    kept: str
    reason: str


def duplicate_files(frames: pd.DataFrame, *, reference: str) -> dict[str, Duplicate]:
    """The frames of ``frames`` (frames.csv: ``frame, file, sha256``) whose raw file is byte for byte another
    frame's, each with the one frame of its SHA-256 that is kept: the reference where it is one of them,
    otherwise the first in frame order. A copy under another name must count once in the stack."""
    kept_by_checksum = {}
    for row in sorted(frames.itertuples(), key=lambda row: row.frame != reference):
        if isinstance(row.sha256, str):
            kept_by_checksum.setdefault(row.sha256, row)
    duplicates = {}
    for row in frames.itertuples():
        kept = kept_by_checksum.get(row.sha256) if isinstance(row.sha256, str) else None
        if kept is not None and kept.frame != row.frame:
            duplicates[row.frame] = Duplicate(kept.frame, f"the same file as frame {kept.frame} ({row.file} and "
                                              f"{kept.file} have SHA-256 {row.sha256}): stacked once")
    return duplicates


def judge_frames(quality: pd.DataFrame, *, reference: str, min_correlation: float, min_overlap: float,
                 min_matched_stars: int = 8, min_stars: int | None = None,
                 max_fwhm: float | None = None, duplicates: dict[str, Duplicate] | None = None) -> pd.DataFrame:
    """``quality`` (one row per frame: ``frame, dy, dx, method, n_matched, correlation, overlap``, and
    ``n_stars, fwhm`` when their limits are set) with ``accepted`` and ``reason`` columns; the reason says
    why a frame is rejected, and is empty for accepted frames.

    A frame is rejected when it holds no image: its ``bad_frame``, where the column is there, says why
    (ingest's BADFRAME card, such as ``constant 0 everywhere``; empty or NaN for every other frame). It is
    rejected when it could not be registered (neither a cross-correlation nor a star fit: a closed-dome or
    blank frame), when it was registered by cross-correlation alone (fewer than ``min_matched_stars``
    matched stars) and its correlation with the reference at the found shift is below ``min_correlation``
    (unrelated light: clouds, another field, pure noise), when less than ``min_overlap`` of it lands on the
    reference, or, where the limits are given, when it shows fewer than ``min_stars`` stars or their FWHM
    is above ``max_fwhm`` (or could not be measured). The reference is always accepted. A frame in ``duplicates`` (from duplicate_files) is a copy of another: rejected
    with that reason, and ``duplicate_of`` names the frame kept ('' for every other frame).
    """
    duplicates = duplicates or {}
    reasons = []
    for row in quality.itertuples():
        bad_frame = getattr(row, "bad_frame", "")
        if row.frame == reference:
            reasons.append("")
        elif isinstance(bad_frame, str) and bad_frame:
            reasons.append(f"no image: {bad_frame} (every pixel masked at ingest: a camera or transfer fault?)")
        elif row.frame in duplicates:
            reasons.append(duplicates[row.frame].reason)
        elif not (np.isfinite(row.dy) and np.isfinite(row.dx)):
            reasons.append(f"not registered: nothing above the registration threshold and {row.n_matched} "
                           f"stars matched < {min_matched_stars} (a blank frame?)")
        elif row.method != "stars" and row.n_matched < min_matched_stars and not row.correlation >= min_correlation:
            reasons.append(f"correlation with the reference {row.correlation:.3f} < {min_correlation:g} and "
                           f"{row.n_matched} stars matched < {min_matched_stars}: not the same field "
                           "(another field, clouds, pure noise?)")
        elif not row.overlap >= min_overlap:
            reasons.append(f"overlap with the reference {row.overlap:.1%} < {min_overlap:.0%}")
        elif min_stars is not None and not row.n_stars >= min_stars:
            reasons.append(f"{row.n_stars} stars < {min_stars} (clouds, dome, focus?)")
        elif max_fwhm is not None and not row.fwhm <= max_fwhm:
            reasons.append(f"star FWHM {row.fwhm:.2f} px > {max_fwhm:g} px (seeing, focus, trailing?)")
        else:
            reasons.append("")
    judged = quality.copy()
    judged["accepted"] = [reason == "" for reason in reasons]
    judged["reason"] = reasons
    if duplicates:
        judged["duplicate_of"] = [duplicates[frame].kept if frame in duplicates else "" for frame in judged.frame]
    return judged


def check_selection(judged: pd.DataFrame, *, on_bad_frame: str, min_frames: int, dataset: str) -> None:
    """Raise FrameSelectionError if the run must stop: any rejected frame under ``on_bad_frame: fail``, or
    fewer accepted frames than ``min_frames``. The message names every rejected frame and why. A copy of
    another frame is not a bad frame: it is left out under either setting."""
    rejected = judged[~judged["accepted"]]
    bad = rejected if "duplicate_of" not in judged else rejected[rejected["duplicate_of"] == ""]
    listing = "; ".join(f"{row.frame}: {row.reason}" for row in rejected.itertuples())
    if on_bad_frame == "fail" and len(bad):
        bad_listing = "; ".join(f"{row.frame}: {row.reason}" for row in bad.itertuples())
        raise FrameSelectionError(f"dataset {dataset}: {len(bad)} bad frame(s) ({bad_listing}); remove them, "
                                  "or set on_bad_frame: reject to stack without them")
    accepted = int(judged["accepted"].sum())
    if accepted < min_frames:
        raise FrameSelectionError(f"dataset {dataset}: only {accepted} good frame(s), fewer than min_frames "
                                  f"{min_frames}" + (f" (rejected: {listing})" if listing else ""))
