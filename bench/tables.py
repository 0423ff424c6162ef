"""A night's long photometry table as ECSV: CPU seconds of stackphot.io.write_ecsv and read_ecsv against
astropy's own ECSV writer and reader (Table.read, to_pandas), on the same table.

    python bench/tables.py [FRAMES] [STARS]

The table is shaped as collect_forced_photometry writes it (default 100 frames x 600 stars, 29 columns, a fifth
of the fluxes missing); each writer runs three times and the medians and their ratio are printed.
"""

import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from astropy.table import Table

from stackphot.io import read_ecsv, write_ecsv


def long_table(frames: int, stars: int, rng) -> pd.DataFrame:
    rows = frames * stars
    table = {"frame": np.repeat([f"o{4197842 + k}.10" for k in range(frames)], stars),
             "id": np.tile(np.arange(1, stars + 1), frames)}
    for name in ("x", "y", "x_ref", "y_ref", "bkg", "bkg_err"):
        table[name] = rng.uniform(0, 500, rows)
    for aperture in ("r4", "r6", "r9", "f1.5", "f2.5"):
        flux = rng.lognormal(8, 2, rows)
        flux[rng.random(rows) < 0.2] = np.nan
        table[f"flux_{aperture}"], table[f"flux_err_{aperture}"] = flux, np.sqrt(flux)
        table[f"flags_{aperture}"] = rng.integers(0, 32, rows)
    table["flags"] = rng.integers(0, 32, rows)
    for name in ("peak", "jd_utc", "bjd_tdb", "airmass", "altitude"):
        table[name] = rng.uniform(0, 2.5e6, rows)
    return pd.DataFrame(table)


def cpu_seconds(write, repeats: int = 3) -> float:
    seconds = []
    for _ in range(repeats):
        start = time.process_time()
        write()
        seconds.append(time.process_time() - start)
    return float(np.median(seconds))


def main(frames: int = 100, stars: int = 600) -> None:
    table = long_table(frames, stars, np.random.default_rng(1))
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "table.ecsv"
        ours = cpu_seconds(lambda: write_ecsv(path, table, meta={"flux_unit": "adu"}))
        ours_read = cpu_seconds(lambda: read_ecsv(path))
        theirs_read = cpu_seconds(lambda: Table.read(path, format="ascii.ecsv").to_pandas())
        theirs = cpu_seconds(lambda: Table.from_pandas(table).write(path, format="ascii.ecsv", overwrite=True))
    print(f"ECSV of {len(table)} rows x {table.shape[1]} columns, CPU seconds:\n"
          f"  write: write_ecsv {ours:.2f}, astropy {theirs:.2f}; ratio {ours / theirs:.3f}\n"
          f"  read:  read_ecsv {ours_read:.2f}, astropy {theirs_read:.2f}; ratio {ours_read / theirs_read:.3f}")


if __name__ == "__main__":
    main(*(int(argument) for argument in sys.argv[1:3]))
