"""Rule plot_registration: each frame's transform onto the reference, how it was measured and which frames
were rejected, against time, as a PNG."""

from typing import TYPE_CHECKING

from stackphot.io import read_table
from stackphot.register.select import read_selection
from stackphot.report.display import save_figure
from stackphot.report.registration_plot import registration_figure
from stackphot.scripting import run_script

if TYPE_CHECKING:
    from snakemake.script import snakemake


def main(smk, log):
    selection = read_selection(smk.input.selection)
    frames = read_table(smk.input.frames, "date_obs")
    rejected = int((~selection["accepted"]).sum())
    reference = smk.params.reference
    title = (f"{smk.wildcards.dataset}: registration of {len(selection)} frames onto {reference} "
             f"({rejected} rejected)")
    save_figure(registration_figure(selection, frames, reference=reference, title=title), smk.output.plot)
    log.info("%s: registration of %d frames, %d rejected", smk.output.plot, len(selection), rejected)


if __name__ == "__main__":
    run_script(main, snakemake)
