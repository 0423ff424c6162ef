"""Rule assess_registration: measured shifts minus true shifts, for a simulated dataset."""

from stackphot.worker import hand_over

hand_over()  # the job runs in this run's warm worker where one can take it (stackphot.worker)

from typing import TYPE_CHECKING

from stackphot.io import read_table, write_table
from stackphot.register.assess import shift_errors
from stackphot.scripting import run_script

if TYPE_CHECKING:
    from snakemake.script import snakemake


def main(smk, log):
    errors = shift_errors(read_table(smk.input.shifts), read_table(smk.input.truth))
    rms = (errors.error_dy.pow(2).mean() + errors.error_dx.pow(2).mean()) ** 0.5
    log.info("shift error per axis (measured - true), px:\n%s\nRMS %.4f px", errors.to_string(index=False), rms)
    write_table(smk.output.table, errors)


if __name__ == "__main__":
    run_script(main, snakemake)
