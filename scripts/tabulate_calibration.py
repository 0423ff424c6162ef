"""Rule tabulate_calibration: every file of the dataset's folder, what it was taken for and what it was used for."""

from stackphot.worker import hand_over

hand_over()  # the job runs in this run's warm worker where one can take it (stackphot.worker)

from typing import TYPE_CHECKING

from stackphot.calibrate import calibration_table
from stackphot.io import write_table
from stackphot.scripting import run_script

if TYPE_CHECKING:
    from snakemake.script import snakemake


def main(smk, log):
    table = calibration_table(smk.params.plan, max_temperature_difference=smk.params.max_temperature_difference)
    for kind, count in table.kind.value_counts().items():
        log.info("%d %s frame(s)", count, kind)
    for row in table[table.kind == "light"].itertuples():
        log.info("%s: %s", row.file, row.used_for)
    for row in table[table.warning != ""].itertuples():
        log.warning("%s: %s", row.file, row.warning)
    write_table(smk.output.table, table)


if __name__ == "__main__":
    run_script(main, snakemake)
