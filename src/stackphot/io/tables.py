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


def read_ecsv(path):
    """A table as ``write_ecsv`` writes it, as a pandas DataFrame, and its metadata: what astropy's ``Table.read``
    and ``to_pandas`` give, astropy reading the header and pandas the rows. A table with another delimiter
    (astropy's own, written before ``write_ecsv`` wrote commas) is read by astropy."""
    import pandas as pd
    from astropy.table import Table

    header = []
    with open(path) as file:
        for line in file:
            header.append(line)
            if not line.startswith("#"):  # the column names, last line of the header
                break
    if "# delimiter: ','\n" not in header:
        table = Table.read(path, format="ascii.ecsv")
        return table.to_pandas(), dict(table.meta)
    empty = Table.read("".join(header), format="ascii.ecsv")
    kinds = {name: empty[name].dtype.kind for name in empty.colnames}
    # Integers and booleans nullable until it is known that none is missing; pandas 3 parses floats exactly.
    types = {name: str if kind in "OSU" else "Int64" if kind in "iu" else "boolean" if kind == "b"
             else empty[name].dtype for name, kind in kinds.items()}
    try:
        rows = pd.read_csv(path, skiprows=len(header), names=empty.colnames, dtype=types, keep_default_na=False,
                           na_values={name: [""] for name in empty.colnames})
    except ValueError as error:  # pandas' ParserError is one too
        raise ValueError(f"{path}: its rows do not match its ECSV header ({error}); remove it to have it made again")
    for name, kind in kinds.items():  # as astropy gives them
        if kind in "iub" and not rows[name].isna().any():
            rows[name] = rows[name].to_numpy(dtype=empty[name].dtype)
    return rows, dict(empty.meta)
