"""Rule combine_colour: the three colour stacks -> the colour stack, and how well their stars coincide."""

from stackphot.worker import hand_over

hand_over()  # the job runs in this run's warm worker where one can take it (stackphot.worker)

from typing import TYPE_CHECKING

import pandas as pd

from stackphot.colour import CHANNELS, channel_offsets, colour_stack, summarise_offsets
from stackphot.io import read_image, write_product, write_table
from stackphot.scripting import run_script

if TYPE_CHECKING:
    from snakemake.script import snakemake

BRIGHTEST = 300


def main(smk, log):
    stacks, headers = {}, {}
    for name, path in zip(CHANNELS, smk.input.stacks, strict=True):
        data, headers[name], ext = read_image(path, "ERR", "COVERAGE")
        stacks[name] = (data, ext["ERR"], ext["COVERAGE"])
    # The brightest sources say all there is to say, at 3 ms a source and colour.
    catalog = pd.read_csv(smk.input.catalog).nlargest(BRIGHTEST, "flux")
    table = channel_offsets({name: stack[0] for name, stack in stacks.items()}, catalog.x, catalog.y,
                            errors={name: stack[1] for name, stack in stacks.items()})
    offsets = summarise_offsets(table)
    for name, entry in offsets.items():
        log.info("%s from G: dx %+.4f, dy %+.4f px (median of %d stars; scatter %.4f, %.4f px)", name,
                 entry["dx"], entry["dy"], entry["n"], entry["dx_scatter"], entry["dy_scatter"])
    write_product(smk.output.stack, colour_stack(stacks, offsets), headers["G"])
    write_table(smk.output.offsets, table)


if __name__ == "__main__":
    run_script(main, snakemake)
