"""Compare two results trees product by product: the check that a refactoring changed no result.

    python tests/compare_results.py BEFORE/results AFTER/results

FITS files must hold the same bytes in every data unit and the same header cards, apart from what names a
software version or the time a product was made. Tables must agree byte for byte in the columns both have
(a change may add columns, never alter one); every other file byte for byte. Exits 1 on any difference.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pandas as pd
from astropy.io import fits

# What legitimately differs between two runs of the same code: the time a product was made and the versions
# of the software that made it.
VOLATILE_CARDS = ("DATE", "CHECKSUM", "DATASUM")
TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?")
TABLE_SUFFIXES = (".csv",)


def _card_text(card) -> str | None:
    if card.keyword in VOLATILE_CARDS:
        return None
    text = str(card)
    if card.keyword in ("HISTORY", "COMMENT") and text.split(None, 1)[-1].startswith("software:"):
        return None
    return TIMESTAMP.sub("<time>", text)


def _header_lines(header) -> list[str]:
    return [text for card in header.cards if (text := _card_text(card)) is not None]


def fits_differences(before: Path, after: Path) -> list[str]:
    problems = []
    with fits.open(before) as old, fits.open(after) as new:
        if len(old) != len(new):
            return [f"{len(old)} HDUs before, {len(new)} after"]
        for index, (a, b) in enumerate(zip(old, new)):
            if _header_lines(a.header) != _header_lines(b.header):
                lost = set(_header_lines(a.header)) - set(_header_lines(b.header))
                gained = set(_header_lines(b.header)) - set(_header_lines(a.header))
                problems.append(f"HDU {index} header: lost {sorted(lost)[:3]}, gained {sorted(gained)[:3]}")
            old_bytes = None if a.data is None else a.data.tobytes()
            new_bytes = None if b.data is None else b.data.tobytes()
            if old_bytes != new_bytes:
                problems.append(f"HDU {index} data differ")
    return problems


def table_differences(before: Path, after: Path) -> list[str]:
    old, new = pd.read_csv(before, dtype=str), pd.read_csv(after, dtype=str)
    missing = [column for column in old.columns if column not in new.columns]
    if missing:
        return [f"columns missing: {missing}"]
    if len(old) != len(new):
        return [f"{len(old)} rows before, {len(new)} after"]
    changed = [column for column in old.columns if not old[column].fillna("").equals(new[column].fillna(""))]
    return [f"columns differ: {changed}"] if changed else []


def differences(before: Path, after: Path) -> dict[str, list[str]]:
    found = {}
    for old in sorted(path for path in before.rglob("*") if path.is_file()):
        relative = old.relative_to(before)
        new = after / relative
        if not new.is_file():
            found[str(relative)] = ["missing"]
            continue
        if old.suffix in (".fits", ".fit", ".fts"):
            problems = fits_differences(old, new)
        elif old.suffix in TABLE_SUFFIXES:
            problems = table_differences(old, new)
        else:
            problems = [] if old.read_bytes() == new.read_bytes() else ["bytes differ"]
        if problems:
            found[str(relative)] = problems
    return found


def main(argv) -> int:
    before, after = (Path(argument) for argument in argv)
    found = differences(before, after)
    n_files = sum(1 for path in before.rglob("*") if path.is_file())
    for relative, problems in found.items():
        print(f"{relative}: {'; '.join(problems)}")
    print(f"{n_files - len(found)} of {n_files} products identical")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
