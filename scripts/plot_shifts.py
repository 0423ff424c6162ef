"""Rule plot_shifts: each frame's shift and the registration's quality columns, as a PNG."""

from typing import TYPE_CHECKING

from stackphot.io import read_table
from stackphot.report.display import save_figure
from stackphot.report.shifts_plot import shifts_figure
from stackphot.scripting import run_script

if TYPE_CHECKING:
    from snakemake.script import snakemake


def main(smk, log):
    shifts = read_table(smk.input.shifts)
    figure = shifts_figure(shifts, reference=smk.params.reference,
                           title=f"{smk.wildcards.dataset}: shifts of {len(shifts)} frames onto {smk.params.reference}")
    save_figure(figure, smk.output.plot)
    log.info("%s: shifts of %d frames", smk.output.plot, len(shifts))


if __name__ == "__main__":
    run_script(main, snakemake)
