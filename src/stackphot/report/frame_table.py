"""The per-frame table of the report: time, exposure, sky, stars, seeing, shift and its quality, as a CSV
table and a standalone HTML page."""

from __future__ import annotations

import html

import numpy as np
import pandas as pd
from astropy.io import fits

from stackphot.geometry import COLUMNS
from stackphot.io import frame_stem

# What each column means, for the page's readers.
FRAME_TABLE_NOTE = (
    "sky_level, sky_rms: median of the frame's background model and of its RMS map; n_stars: peaks above 5 "
    "sigma of the frame smoothed for registration; fwhm: median FWHM (px) of Gaussians fitted to the cores of "
    "its brightest isolated unsaturated stars; dy, dx: the shift "
    "applied to line the frame up with the reference (px); rotation (deg), scale: of the frame's transform onto "
    "the reference (its full matrix is in shifts.csv); method: xcorr (the cross-correlation translation, checked "
    "by the matched stars where there are enough), stars (a fit to the matched stars) or none; n_matched: stars "
    "paired with the reference's; residual: RMS (px) of those pairs after the transform used; xcorr_residual: "
    "how far (px RMS over the frame) the cross-correlation translation puts it from the star fit; wcs_offset: how far (px "
    "RMS over the frame) the transform used is from the one the frames' WCS imply (blank without a WCS); "
    "correlation: of the "
    "prepared frame with the "
    "reference at that shift (near 1 good, near 0 unrelated); xcorr_error: skimage's translation-invariant "
    "error of the cross-correlation (not a shift uncertainty); overlap: fraction of the frame that lands on "
    "the reference; accepted, reason: whether the frame is stacked, and if not why (quality limits in the config). "
    "The reference frame is highlighted."
)


def sky_statistics(path) -> dict:
    """Median sky and sky RMS of one background model (``<frame>.sky.fits``): from its SKYLEVEL and SKYRMS
    cards, else from its maps (read only then)."""
    with fits.open(path, mode="readonly") as hdul:
        header = hdul[0].header
        level = header.get("SKYLEVEL")
        rms = header.get("SKYRMS")
        if level is None:
            level = float(np.nanmedian(hdul[0].data))
        if rms is None and "RMS" in hdul:
            rms = float(np.nanmedian(hdul["RMS"].data))
    return {"frame": frame_stem(path).removesuffix(".sky"), "sky_level": level, "sky_rms": rms}


QUALITY_COLUMNS = ["frame", "reference", "date_obs", "exptime", "sky_level", "sky_rms", "n_stars", "fwhm", "dy",
                   "dx", "rotation", "scale", "method", "n_matched", "residual", "xcorr_residual", "wcs_offset",
                   "correlation", "xcorr_error", "overlap"]
# The transform's matrix is for programs (shifts.csv); a person reads its rotation and scale.
MATRIX_COLUMNS = [column for column in COLUMNS if column.startswith("m_")]


def frame_quality_table(frames: pd.DataFrame, shifts: pd.DataFrame, sky: pd.DataFrame | None = None, *,
                        reference: str | None = None) -> pd.DataFrame:
    """One row per frame: time and exposure (``frames.csv``), sky level and noise, shift and its quality.

    ``sky`` has columns ``frame, sky_level, sky_rms``. Columns missing from the inputs are left out;
    further columns of ``shifts`` are kept at the end. Rows follow ``frames``.

    Raises
    ------
    ValueError
        If a frame is in one table and not in another.
    """
    table = frames.merge(shifts, on="frame", how="outer", indicator=True, suffixes=("", "_shift"))
    if sky is not None:
        sky_merge = table.drop(columns="_merge").merge(sky, on="frame", how="outer", indicator=True)
        missing = sky_merge[sky_merge["_merge"] != "both"].frame.tolist()
    else:
        missing = []
    missing += table[table["_merge"] != "both"].frame.tolist()
    if missing:
        raise ValueError(f"frames not in every table: {', '.join(sorted(set(map(str, missing))))}")
    table = sky_merge if sky is not None else table
    table = table.drop(columns="_merge")
    table["reference"] = table["frame"] == reference
    order = {name: i for i, name in enumerate(frames["frame"])}
    table = table.sort_values("frame", key=lambda names: names.map(order)).reset_index(drop=True)
    known = [column for column in QUALITY_COLUMNS if column in table]
    extra = [column for column in shifts.columns if column not in known and column not in MATRIX_COLUMNS]
    return table[known + extra]


QUALITY_FORMATS = {"exptime": "{:g}", "sky_level": "{:.1f}", "sky_rms": "{:.2f}", "fwhm": "{:.2f}", "dy": "{:+.3f}",
                   "dx": "{:+.3f}", "rotation": "{:+.4f}", "scale": "{:.6f}", "residual": "{:.3f}",
                   "xcorr_residual": "{:.3f}", "wcs_offset": "{:.2f}", "correlation": "{:.4f}",
                   "xcorr_error": "{:.4f}", "overlap": "{:.3f}"}

# Columns of sentences: wrapped, so that the table keeps to the width of a page.
TEXT_COLUMNS = ("reason", "note", "calibration", "calibration_warning")

_HTML_STYLE = """
body { font-family: system-ui, sans-serif; margin: 1em; color: #222; }
table { border-collapse: collapse; font-size: 0.85em; }
th, td { padding: 0.25em 0.55em; border-bottom: 1px solid #ddd; text-align: right; white-space: nowrap; }
th { background: #f3f3f3; position: sticky; top: 0; }
td:first-child, th:first-child { text-align: left; }
td.text { white-space: normal; min-width: 14em; max-width: 28em; text-align: left; }
div.scroll { overflow-x: auto; }
tr.reference td { background: #eef6ff; font-weight: 600; }
p.note { max-width: 60em; color: #555; font-size: 0.9em; }
"""


def frame_quality_html(table: pd.DataFrame, *, title: str, note: str = "") -> str:
    """A standalone HTML page (no external files) of a ``frame_quality_table``; the reference row marked."""
    # The verdict first: a report's frame narrower than the table still shows which frames were stacked.
    first = [column for column in ("frame", "accepted", "reason") if column in table]
    columns = first + [column for column in table.columns if column not in first and column != "reference"]
    head = "".join(f"<th>{html.escape(str(column))}</th>" for column in columns)
    rows = []
    for record in table.to_dict("records"):
        cells = []
        for column in columns:
            value = record[column]
            if isinstance(value, float) and not np.isfinite(value):
                text = ""
            elif column in QUALITY_FORMATS and isinstance(value, (int, float, np.number)):
                text = QUALITY_FORMATS[column].format(value)
            else:
                text = str(value)
            css = ' class="text"' if column in TEXT_COLUMNS else ""
            cells.append(f"<td{css}>{html.escape(text)}</td>")
        css = ' class="reference"' if record.get("reference") else ""
        rows.append(f"<tr{css}>{''.join(cells)}</tr>")
    note_html = f'<p class="note">{html.escape(note)}</p>' if note else ""
    return (f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            f"<title>{html.escape(title)}</title>\n<style>{_HTML_STYLE}</style>\n</head>\n<body>\n"
            f'<h2>{html.escape(title)}</h2>\n<div class="scroll"><table>\n<thead><tr>{head}</tr></thead>\n<tbody>\n'
            + "\n".join(rows) + f"\n</tbody>\n</table></div>\n{note_html}\n</body>\n</html>\n")
