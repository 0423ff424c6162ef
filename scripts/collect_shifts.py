"""Rule collect_shifts: the shift tables of the batches in one table."""

from typing import TYPE_CHECKING

import pandas as pd

from stackphot.io import read_table, write_table
from stackphot.scripting import run_script

if TYPE_CHECKING:
    from snakemake.script import snakemake


def main(smk, log):
    table = pd.concat([read_table(path) for path in smk.input.shifts], ignore_index=True)
    log.info("shifts of %d frames:\n%s", len(table), table.to_string(index=False))
    write_table(smk.output.table, table)


if __name__ == "__main__":
    run_script(main, snakemake)
