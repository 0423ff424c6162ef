"""Rule assess_registration: measured shifts minus true shifts, for a simulated dataset."""

from typing import TYPE_CHECKING

import pandas as pd

from stackphot.io import write_table
from stackphot.quality import shift_errors
from stackphot.scripting import run_script

if TYPE_CHECKING:
    from snakemake.script import snakemake


def main(smk, log):
    errors = shift_errors(pd.read_csv(smk.input.shifts), pd.read_csv(smk.input.truth))
    rms = (errors.error_dy.pow(2).mean() + errors.error_dx.pow(2).mean()) ** 0.5
    log.info("shift error per axis (measured - true), px:\n%s\nRMS %.4f px", errors.to_string(index=False), rms)
    write_table(smk.output.table, errors)


if __name__ == "__main__":
    run_script(main, snakemake)
