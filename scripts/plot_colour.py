"""Rule plot_colour: the colour stack as a picture, with a bright star's core close up in each colour."""

from stackphot.worker import hand_over

hand_over()  # the job runs in this run's warm worker where one can take it (stackphot.worker)

from typing import TYPE_CHECKING

import pandas as pd

from stackphot.io import read_image
from stackphot.report.colour_plot import plot_colour
from stackphot.scripting import run_script

if TYPE_CHECKING:
    from snakemake.script import snakemake


def main(smk, log):
    planes, header, ext = read_image(smk.input.stack, "ERR")
    catalog = pd.read_csv(smk.input.catalog)
    red, green, blue = planes
    title = f"{smk.wildcards.dataset}: colour stack ({header.get('NCOMBINE', '?')} frames)"
    plot_colour(smk.output.plot, red, green, blue, x=catalog.x.to_numpy(), y=catalog.y.to_numpy(),
                errors=ext["ERR"], title=title)
    log.info("colour picture of %d x %d pixels written", *green.shape)


if __name__ == "__main__":
    run_script(main, snakemake)
