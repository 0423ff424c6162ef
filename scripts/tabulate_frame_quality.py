"""Rule tabulate_frame_quality: one row per frame (time, sky, stars, FWHM, shift, correlation) as CSV and HTML."""

from typing import TYPE_CHECKING

import pandas as pd

from stackphot.io import read_table, write_table, write_text
from stackphot.report.frame_table import FRAME_TABLE_NOTE, frame_quality_html, frame_quality_table, sky_statistics
from stackphot.scripting import run_script
from stackphot.register.select import read_selection

if TYPE_CHECKING:
    from snakemake.script import snakemake


def main(smk, log):
    frames = read_table(smk.input.frames)
    shifts = read_selection(smk.input.shifts)
    sky = pd.DataFrame([sky_statistics(path) for path in smk.input.skies])
    table = frame_quality_table(frames, shifts, sky, reference=smk.params.reference)
    write_table(smk.output.table, table)
    write_text(smk.output.html, frame_quality_html(
        table, title=f"{smk.wildcards.dataset}: quality of {len(table)} frames", note=FRAME_TABLE_NOTE))
    log.info("frame quality:\n%s", table.to_string(index=False))


if __name__ == "__main__":
    run_script(main, snakemake)
