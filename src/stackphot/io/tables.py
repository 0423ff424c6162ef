"""Tables in and out: CSV as the rules exchange them, ECSV with units for people and astropy."""

from __future__ import annotations

from pathlib import Path

from stackphot.io.files import atomic_write


def write_table(path, table) -> Path:
    """Write a pandas DataFrame as CSV atomically (a killed job leaves no partial table)."""
    with atomic_write(path) as temporary:
        table.to_csv(temporary, index=False, float_format="%.6f", lineterminator="\n")
    return Path(path)


def read_table(path, *text_columns: str):
    """A CSV table as ``write_table`` writes it, its ``frame`` column (and any ``text_columns``) read as
    text: a frame named 0001 stays 0001, where a bare ``pd.read_csv`` would make it the number 1."""
    import pandas as pd

    return pd.read_csv(path, dtype=dict.fromkeys(("frame", *text_columns), str))


def write_ecsv(path, table, *, units=None, meta=None) -> Path:
    """Write a pandas DataFrame as ECSV (comma-separated) with units and metadata, atomically; astropy's Table
    reads it back, missing values (NaN, None) masked."""
    from astropy.table import Table

    out = Table.from_pandas(table)
    for column, unit in (units or {}).items():
        if column in out.colnames:
            out[column].unit = unit
    out.meta.update(meta or {})
    with atomic_write(path) as temporary:
        # astropy writes the header (types, units, meta), pandas the rows: astropy formats element by element, which
        # made writing a night's long photometry table most of its job's time (bench/tables.py).
        out[:0].write(temporary, format="ascii.ecsv", delimiter=",")
        with open(temporary, "a", newline="") as rows:
            table.to_csv(rows, header=False, index=False, lineterminator="\n")
    return Path(path)
