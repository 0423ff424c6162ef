"""Rule make_light_curve: one target's differential light curve, its check star and its plot."""

from stackphot.worker import hand_over

hand_over()  # the job runs in this run's warm worker where one can take it (stackphot.worker)

from typing import TYPE_CHECKING

import pandas as pd
from astropy.io import fits

from stackphot.io import read_table, write_ecsv, write_table
from stackphot.lightcurve import (best_light_curve, comparison_curves, light_curve_columns, read_colours, read_series,
                                  series_units, timed_target, usable_stars)
from stackphot.report.lightcurve_plot import plot_light_curve
from stackphot.scripting import run_script

if TYPE_CHECKING:
    from snakemake.script import snakemake


def main(smk, log):
    options, target = smk.params.lightcurve, smk.params.target
    photometry, meta = read_series(smk.input.photometry)
    catalog = pd.read_csv(smk.input.catalog)
    target_id, frames, meta = timed_target(catalog, fits.getheader(smk.input.stack), read_table(smk.input.times),
                                           meta, target, match_radius=options["match_radius"])
    ids = sorted(photometry["id"].unique())
    variables = set(pd.read_csv(smk.input.variability).query("variable")["id"])
    colour = read_colours(smk.input.colours, catalog, ids) if smk.input.colours else None
    matrices, curve, made = best_light_curve(
        photometry, frames, catalog, columns=light_curve_columns(options, photometry), target=target_id,
        usable=usable_stars(pd.read_csv(smk.input.stack_photometry), ids, catalog),
        variable=[star in variables for star in ids],
        colour=colour, comparisons=options["comparisons"], checks=options["checks"],
        max_comparisons=options["max_comparisons"], detrend_by=options["detrend"])
    made["name"] = target["name"]
    if colour is not None:
        made["colour_index"] = " - ".join(smk.params.colour_bands)
    for key, value in made.items():
        log.info("%s: %s", key, value)
    write_table(smk.output.csv, curve)
    write_ecsv(smk.output.ecsv, curve, units=series_units(curve.columns, meta.get("flux_unit", "adu")),
               meta={**meta, **made})
    check = curve.filter(like="check_").rename(columns=lambda name: name.removeprefix("check_"))
    plot_light_curve(smk.output.plot, curve, check=check if len(check.columns) else None,
                     comparisons=comparison_curves(matrices, made), bin_days=options["bin_minutes"] / 1440,
                     dropped=made["dropped_comparisons"],
                     title=f"{target['name']} (catalog id {target_id}, {made['flux_column']})")


if __name__ == "__main__":
    run_script(main, snakemake)
