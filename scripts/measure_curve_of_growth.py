"""Rule measure_curve_of_growth: encircled energy of the brightest isolated stars, r50, aperture correction."""

from stackphot.worker import hand_over

hand_over()  # the job runs in this run's warm worker where one can take it (stackphot.worker)

from typing import TYPE_CHECKING

import pandas as pd

from stackphot.io import read_image, write_table
from stackphot.photometry import measure_growth_curves, plot_curve_of_growth
from stackphot.scripting import run_script

if TYPE_CHECKING:
    from snakemake.script import snakemake


def main(smk, log):
    options = smk.params.photometry
    data, _, _ = read_image(smk.input.image)
    photometry = pd.read_csv(smk.input.photometry)
    r_default, r_total = options["radii"][0], options["annulus"][0]
    try:
        growth = measure_growth_curves(data, photometry, radius=r_default, total_radius=r_total,
                                       isolation_radius=options["annulus"][1], n_stars=options["growth_stars"])
    except ValueError as error:
        # A sparse or crowded field has no curve of growth; the stack and its photometry stand without it.
        log.warning("%s: %s; the curve of growth is left empty", smk.input.photometry, error)
        columns = ["id", "x", "y", "r50", f"ee_r{r_default:g}", f"correction_r{r_default:g}_to_r{r_total:g}"]
        write_table(smk.output.table, pd.DataFrame(columns=columns))
        plot_curve_of_growth([], smk.output.plot, note=str(error))
        return
    for star_id, reason in growth.left_out.items():
        log.info("star %s left out: %s", star_id, reason)
    log.info("median r50 %.3f px; aperture correction from r=%g to r=%g px: %.4f (median of %d stars)",
             growth.table.r50.median(), r_default, r_total, growth.correction, len(growth.curves))
    write_table(smk.output.table, growth.table)
    plot_curve_of_growth(growth.curves, smk.output.plot)


if __name__ == "__main__":
    run_script(main, snakemake)
