"""The frames table: what each frame is, read from the ingested headers."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from astropy.io import fits

from stackphot.io import FrameError, frame_stem


def frames_table(paths) -> pd.DataFrame:
    """One row per ingested frame: name, raw file, shape, EXPTIME, DATE-OBS, gain, read noise, checksum.

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
                "exptime": header.get("EXPTIME", header.get("EXPOSURE")),
                "date_obs": header.get("DATE-OBS"),
                "gain": header.get("GAIN"),
                "read_noise": header.get("RDNOISE"),
                "sha256": header.get("ORIGSHA"),
            }
        )
    table = pd.DataFrame(rows)
    first = table.iloc[0]
    odd = table[(table.ny != first.ny) | (table.nx != first.nx)]
    if len(odd):
        listing = ", ".join(f"{row.file} ({row.ny} x {row.nx})" for row in odd.itertuples())
        raise FrameError(odd.iloc[0].file, f"frames differ in shape from {first.file} ({first.ny} x {first.nx}): {listing}")
    return table
