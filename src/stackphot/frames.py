"""The frames table: what each frame is, read from the ingested headers, and when it was taken."""

from __future__ import annotations

import re
import warnings
from collections import Counter
from pathlib import Path
from typing import NamedTuple

import pandas as pd
from astropy.io import fits

from stackphot.ingest import READ_NOISE_ASSUMED, assumed, frame_read_noise, header_notes, mismatch, noise_source
from stackphot.io import FrameError, frame_stem


def frames_table(paths, raw_paths=None, calibration=None, group=None, read_noise=None) -> pd.DataFrame:
    """One row per ingested frame (``paths``): name, raw file, shape, FILTER, EXPTIME, DATE-OBS, the
    mid-exposure time and what it was found from (``mid_exposure``), gain, read noise, checksum. ``raw_paths``, the raw files in the same order, give the column ``path`` (and errors the
    full path of each file). ``group``, the name of the frames' group where their night has several
    (inventory.groups), gives the column ``group``.
    ``calibration``, by frame name, ``(what is done to it, what that lacks)`` in words, for a night with
    calibration frames: the columns ``calibration`` and ``calibration_warning``. ``read_noise``, what the night's
    bias or dark frames measure (``calibrate.night_read_noise``), stands in where a frame's read noise was assumed.

    Raises
    ------
    FrameError
        Naming the frames whose shape differs from the first frame's.
    """
    rows = []
    for path in paths:
        header = fits.getheader(path)
        rows.append(
            {
                "frame": frame_stem(path),
                "file": header.get("ORIGFILE", Path(path).name),
                "ny": header["NAXIS2"],
                "nx": header["NAXIS1"],
                "filter": header.get("FILTER"),
                "exptime": header.get("EXPTIME", header.get("EXPOSURE")),
                "date_obs": header.get("DATE-OBS"),
                **mid_exposure(header)._asdict(),
                "gain": header.get("GAIN"),
                "read_noise": frame_read_noise(header, read_noise)[0],
                "sha256": header.get("ORIGSHA"),
            }
        )
    table = pd.DataFrame(rows)
    if raw_paths is not None:
        table.insert(2, "path", [str(path) for path in raw_paths])
    if group:
        table.insert(1, "group", group)
    if calibration is not None:
        table["calibration"] = [calibration[name][0] for name in table.frame]
        table["calibration_warning"] = [calibration[name][1] for name in table.frame]
    where = table.file if raw_paths is None else pd.Series([str(path) for path in raw_paths])
    first = table.iloc[0]
    odd = (table.ny != first.ny) | (table.nx != first.nx)
    if odd.any():
        listing = ", ".join(f"{where[i]} ({row.ny} x {row.nx})" for i, row in table[odd].iterrows())
        raise FrameError(where[odd.idxmax()],
                         f"frames differ in shape from {where[0]} ({first.ny} x {first.nx}): {listing}")
    return table


def header_warnings(paths, read_noise=None) -> list[str]:
    """What ingest noted of the headers of the ingested frames ``paths`` (``ingest.header_notes``: an assumed
    gain or read noise, cards left out as not valid FITS), each once with how many frames it holds for
    (``5 of 5 frames: ...``): said once for the dataset, not once per frame in every ingest job's log. With the
    night's measured ``read_noise`` (as ``frames_table``'s), no read noise is assumed, and a given one that the
    frames of no light measure far from is (``ingest.mismatch``)."""
    def notes(header):
        found = header_notes(header)
        if read_noise is None or "RDNOISE" not in header:
            return found
        if assumed(header, "RDNOISE"):
            return [note for note in found if note != READ_NOISE_ASSUMED]
        warning = mismatch(header["RDNOISE"], noise_source(header, "RDNOISE"), read_noise)
        return found + [warning] if warning else found

    counts = Counter(note for path in paths for note in dict.fromkeys(notes(fits.getheader(path))))
    return [f"{count} of {len(paths)} frames: {note}" for note, count in counts.items()]


class MidTime(NamedTuple):
    """A frame's mid-exposure time, ISO 8601 in UTC (None when the header does not tell it), and the cards
    it came from in words (``DATE-OBS + EXPTIME/2``) or why there is none."""

    mid_time: str | None
    time_source: str


# Cards that give an instant and the moment of the exposure they mark by convention (FITS 4.0: DATE-OBS,
# MJD-OBS and DATE-BEG the start, DATE-AVG and MJD-AVG the middle, DATE-END the end; JD as MaxIm DL and
# most capture programs write it, the start), in the order they are trusted within one moment.
_INSTANTS = {"DATE-AVG": "mid", "MJD-AVG": "mid", "DATE-OBS": "start", "DATE-BEG": "start", "MJD-OBS": "start",
             "MJD-BEG": "start", "JD": "start", "DATE-END": "end", "MJD-END": "end"}
# The time of day beside a DATE-OBS that holds only the date (older cameras and pre-2000 FITS).
_TIMES_OF_DAY = ("UT-OBS", "TIME-OBS", "UTSTART", "UT-START", "UT")
# A card's comment that says which moment it marks, where a camera departs from the convention.
_MOMENT_WORDS = [("start", re.compile(r"\b(start|begin)", re.I)), ("end", re.compile(r"\bend\b", re.I)),
                 ("mid", re.compile(r"\b(mid|middle|cent(er|re))", re.I))]
_SCALES = {"tai", "tt", "tdb", "tcg", "tcb"}  # TIMESYS other than UTC that astropy converts without tables


def mid_exposure(header: fits.Header) -> MidTime:
    """The middle of a frame's exposure from whatever its header gives.

    A middle (``DATE-AVG``, ``MJD-AVG``) is taken as it is; else a start (``DATE-OBS``, ``DATE-BEG``,
    ``MJD-OBS``, ``JD``) plus half the exposure (``EXPTIME``, else ``EXPOSURE``; in minutes where its comment
    says so); else an end (``DATE-END``, ``MJD-END``) less half of it. A ``DATE-OBS`` of a date alone
    (``2024-05-01`` or the pre-2000 ``01/05/94``) takes its time from ``UT-OBS``, ``TIME-OBS``, ``UTSTART``
    or ``UT``. A card whose comment says it marks the start, end or middle is taken so (some cameras write
    the end in ``DATE-OBS``). Times in a ``TIMESYS`` of TAI, TT, TDB, TCG or TCB are converted to UTC; any
    other is taken as UTC. An unreadable value is passed over for the next card.

    Returns
    -------
    MidTime
        ``(None, why)`` when no card gives a time, or only a start or end with no exposure time.
    """
    from astropy.time import Time, TimeDelta

    scale = str(header.get("TIMESYS", "UTC")).strip().lower()
    scale = scale if scale in _SCALES else "utc"
    found = {}
    with warnings.catch_warnings():  # UTC before 1960 (old plates) is "dubious" to ERFA, and fine to seconds
        warnings.filterwarnings("ignore", message='ERFA function .* "dubious year')
        for key, moment in _INSTANTS.items():
            instant = _instant(header, key, scale, Time)
            if instant is not None:
                time, clock, stated = instant
                source = key if stated in (None, moment) else f"{key} ({stated}, as its comment says)"
                found.setdefault(stated or moment, (source if clock is None else f"{source} + {clock}", time))
        return _middle(found, *_exposure_seconds(header), scale=scale, delta=TimeDelta)


def _middle(found, exposure, exposure_key, *, scale, delta) -> MidTime:
    """The middle from the instants ``found`` by moment and the exposure (s) with its card's name."""
    system = "" if scale == "utc" else f" (TIMESYS {scale.upper()})"
    if "mid" in found:
        source, time = found["mid"]
    elif found and exposure is None:
        return MidTime(None, f"{next(iter(found.values()))[0]} without EXPTIME")
    elif "start" in found:
        source, start = found["start"]
        source, time = f"{source} + {exposure_key}", start + delta(exposure / 2, format="sec")
    elif "end" in found:
        source, end = found["end"]
        source, time = f"{source} - {exposure_key}", end - delta(exposure / 2, format="sec")
    else:
        return MidTime(None, "no time in the header (DATE-OBS, MJD-OBS, JD, DATE-AVG, ...)")
    return MidTime(time.utc.isot, source + system)


def _instant(header, key, scale, time_class):
    """``(Time, time-of-day card or None, moment its comments state or None)`` of one card, None if it
    holds no instant."""
    value = header.get(key)
    if value is None or isinstance(value, bool):
        return None
    comments = header.comments[key]
    clock = None
    try:
        if key.startswith(("MJD", "JD")):
            instant = time_class(float(value), format="jd" if key == "JD" else "mjd", scale=scale)
        else:
            text = str(value).strip()
            old = re.fullmatch(r"(\d\d)/(\d\d)/(\d\d)", text)  # DD/MM/YY, the FITS date before 2000
            text = f"19{old[3]}-{old[2]}-{old[1]}" if old else text
            if re.fullmatch(r"\d{4}-\d\d-\d\d", text):  # a date alone is no instant without its time of day
                clock = next((card for card in _TIMES_OF_DAY if header.get(card)), None) if key == "DATE-OBS" else None
                if clock is None:
                    return None
                text, comments = f"{text}T{str(header[clock]).strip()}", f"{comments} {header.comments[clock]}"
            instant = time_class(text, scale=scale)  # ISO 8601, with T or a space
    except (ValueError, TypeError):  # not a date nor a number (TypeError: a card without a value)
        return None
    stated = next((moment for moment, words in _MOMENT_WORDS if words.search(comments)), None)
    return instant, clock, stated


def _exposure_seconds(header) -> tuple[float | None, str | None]:
    """The exposure time in seconds and half its card's name (``EXPTIME/2``); in minutes where the card's
    comment says so (old plates)."""
    for key in ("EXPTIME", "EXPOSURE"):
        value = header.get(key)
        try:
            seconds = float(value)  # a number, or one written as text
        except (TypeError, ValueError):
            continue
        if not isinstance(value, bool) and seconds >= 0:
            minutes = re.search(r"\bmin(ute)?s?\b", header.comments[key], re.I)
            return seconds * (60 if minutes else 1), f"{key}/2" + (" (minutes)" if minutes else "")
    return None, None
