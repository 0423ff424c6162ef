"""Rule tabulate_frames: a table of the ingested frames, checking that they all have one shape."""

from stackphot.worker import hand_over

hand_over()  # the job runs in this run's warm worker where one can take it (stackphot.worker)

from typing import TYPE_CHECKING

from stackphot.calibrate import night_read_noise, read_master
from stackphot.frames import frames_table, header_warnings
from stackphot.io import write_table
from stackphot.scripting import run_script

if TYPE_CHECKING:
    from snakemake.script import snakemake


def main(smk, log):
    read_noise = night_read_noise(map(read_master, smk.input.masters))  # none without bias or dark frames
    table = frames_table(smk.input.frames, smk.params.raw, smk.params.calibration, smk.params.group, read_noise)
    if read_noise is not None:
        log.info("read noise measured from %s: %.3f e- (%.3f ADU)", read_noise.source, read_noise.electrons,
                 read_noise.adu)
    log.info("%d frames of shape %d x %d%s", len(table), table.ny.iloc[0], table.nx.iloc[0],
             f", group {smk.params.group}" if smk.params.group else "")
    # Said once for the dataset: the ingest jobs leave them out.
    for warning in header_warnings(smk.input.frames, read_noise):
        log.warning("%s", warning)
    write_table(smk.output.table, table)


if __name__ == "__main__":
    run_script(main, snakemake)
