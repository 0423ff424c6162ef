"""Rule find_variables: every star's scatter against the noise expected of it, and the stars that vary."""

from stackphot.worker import hand_over

hand_over()  # the job runs in this run's warm worker where one can take it (stackphot.worker)

from typing import TYPE_CHECKING

import pandas as pd

from stackphot.io import read_table, write_table
from stackphot.lightcurve import Matrices, light_curve_column, read_series, star_crowding, variability
from stackphot.lightcurve.series import MAX_CROWDING
from stackphot.report.lightcurve_plot import plot_variability
from stackphot.scripting import run_script

if TYPE_CHECKING:
    from snakemake.script import snakemake


def main(smk, log):
    options = smk.params.lightcurve
    photometry, meta = read_series(smk.input.photometry)
    frames = read_table(smk.input.times)
    column = light_curve_column(options, photometry)
    matrices = Matrices.of(photometry, column, frames["frame"])
    crowding = star_crowding(pd.read_csv(smk.input.catalog), matrices.ids, column=column, frames=frames)
    table = variability(matrices, frames, nsigma=options["variable_nsigma"], diameter=smk.params.diameter,
                        altitude=(meta.get("site") or {}).get("elevation"), crowding=crowding)
    variables = table[table["variable"]]
    log.info("%s: %d stars (%d of them blends), %d vary beyond their expected noise: ids %s", column, len(table),
             int((crowding > MAX_CROWDING).sum()), len(variables), ", ".join(map(str, variables["id"])) or "none")
    write_table(smk.output.table, table)
    plot_variability(smk.output.plot, table, title=f"{smk.wildcards.dataset}: {len(table)} stars over "
                                                   f"{len(frames)} frames ({column}), {len(variables)} variable")


if __name__ == "__main__":
    run_script(main, snakemake)
