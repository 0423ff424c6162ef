"""Rule make_light_curve: one target's differential light curve, its check star and its plot."""

from typing import TYPE_CHECKING

import pandas as pd
from astropy.io import fits

from stackphot.io import celestial_wcs, read_table, write_ecsv, write_table
from stackphot.lightcurve import (Matrices, comparison_curves, find_target, light_curve_column,
                                  read_series, series_units, star_crowding, target_light_curve, usable_stars)
from stackphot.report.lightcurve_plot import plot_light_curve
from stackphot.scripting import run_script

if TYPE_CHECKING:
    from snakemake.script import snakemake


def main(smk, log):
    options, target = smk.params.lightcurve, smk.params.target
    photometry, meta = read_series(smk.input.photometry)
    frames = read_table(smk.input.times)
    wcs = celestial_wcs(fits.getheader(smk.input.stack))
    catalog = pd.read_csv(smk.input.catalog)
    target_id = find_target(catalog, target, match_radius=options["match_radius"], wcs=wcs)
    column = light_curve_column(options, photometry)
    matrices = Matrices.of(photometry, column, frames["frame"])
    variables = set(pd.read_csv(smk.input.variability).query("variable")["id"])
    curve, made = target_light_curve(matrices, frames, target=target_id,
                                     usable=usable_stars(pd.read_csv(smk.input.stack_photometry), matrices.ids),
                                     crowding=star_crowding(catalog, matrices.ids, column=column, frames=frames),
                                     variable=[star in variables for star in matrices.ids],
                                     comparisons=options["comparisons"], checks=options["checks"],
                                     max_comparisons=options["max_comparisons"], detrend_by=options["detrend"])
    made.update(target=target["name"], flux_column=column)
    for key, value in made.items():
        log.info("%s: %s", key, value)
    write_table(smk.output.csv, curve)
    write_ecsv(smk.output.ecsv, curve, units=series_units(curve.columns, meta.get("flux_unit", "adu")),
               meta={**meta, **made})
    check = curve.filter(like="check_").rename(columns=lambda name: name.removeprefix("check_"))
    plot_light_curve(smk.output.plot, curve, check=check if len(check.columns) else None,
                     comparisons=comparison_curves(matrices, made), bin_days=options["bin_minutes"] / 1440,
                     title=f"{target['name']} (catalog id {target_id}) against {len(made['comparison_ids'])} stars")


if __name__ == "__main__":
    run_script(main, snakemake)
