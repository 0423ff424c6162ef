"""Rule tabulate_frames: a table of the ingested frames, checking that they all have one shape."""

from typing import TYPE_CHECKING

from stackphot.frames import frames_table, header_warnings
from stackphot.io import write_table
from stackphot.scripting import run_script

if TYPE_CHECKING:
    from snakemake.script import snakemake


def main(smk, log):
    table = frames_table(smk.input.frames, smk.params.raw, smk.params.calibration, smk.params.group)
    log.info("%d frames of shape %d x %d%s", len(table), table.ny.iloc[0], table.nx.iloc[0],
             f", group {smk.params.group}" if smk.params.group else "")
    for warning in header_warnings(smk.input.frames):  # once for the dataset: the ingest jobs leave them out
        log.warning("%s", warning)
    write_table(smk.output.table, table)


if __name__ == "__main__":
    run_script(main, snakemake)
