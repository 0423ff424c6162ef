"""The frames table: what each frame is, read from the ingested headers."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from astropy.io import fits

from stackphot.io import FrameError, frame_stem


def frames_table(paths, raw_paths=None, calibration=None, group=None) -> pd.DataFrame:
    """One row per ingested frame (``paths``): name, raw file, shape, FILTER, EXPTIME, DATE-OBS, gain, read
    noise, checksum. ``raw_paths``, the raw files in the same order, give the column ``path`` (and errors the
    full path of each file). ``group``, the name of the frames' group where their night has several
    (inventory.groups), gives the column ``group``.
    ``calibration``, by frame name, ``(what is done to it, what that lacks)`` in words, for a night with
    calibration frames: the columns ``calibration`` and ``calibration_warning``.

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
                "gain": header.get("GAIN"),
                "read_noise": header.get("RDNOISE"),
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
