"""Rule measure_curve_of_growth: encircled energy of the brightest isolated stars, r50, aperture correction."""

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from stackphot.io import read_image, write_table
from stackphot.photometry import aperture_correction, curve_of_growth, isolated_stars, plot_curve_of_growth
from stackphot.scripting import run_script

if TYPE_CHECKING:
    from snakemake.script import snakemake


def main(smk, log):
    options = smk.params.photometry
    data, _, _ = read_image(smk.input.image)
    photometry = pd.read_csv(smk.input.photometry)
    r_default, r_total = options["radii"][0], options["annulus"][0]
    radii = np.arange(0.5, r_total + 1e-9, 0.5)
    isolated = isolated_stars(photometry, radius=options["annulus"][1])
    clean = photometry[isolated].sort_values("flux", ascending=False)
    profiles = []
    for star in clean.head(options["growth_stars"]).itertuples():
        try:
            profiles.append((star.id, curve_of_growth(data - star.bkg, star.x, star.y, radii=radii)))
        except ValueError as error:  # missing pixels inside the largest aperture
            log.info("star %s left out: %s", star.id, error)
    if not profiles:
        raise ValueError(f"{smk.input.photometry}: no isolated, unflagged star for a curve of growth")
    curves = [curve for _, curve in profiles]
    correction = aperture_correction(curves, r_default, r_total)
    table = pd.DataFrame(
        {
            "id": [star_id for star_id, _ in profiles],
            "x": [curve.x for curve in curves],
            "y": [curve.y for curve in curves],
            "r50": [curve.r50 for curve in curves],
            f"ee_r{r_default:g}": [float(curve.ee_at(r_default)) for curve in curves],
            f"correction_r{r_default:g}_to_r{r_total:g}": [1 / float(curve.ee_at(r_default)) for curve in curves],
        }
    )
    log.info("median r50 %.3f px; aperture correction from r=%g to r=%g px: %.4f (median of %d stars)",
             table.r50.median(), r_default, r_total, correction, len(curves))
    write_table(smk.output.table, table)
    plot_curve_of_growth(curves, smk.output.plot)


if __name__ == "__main__":
    run_script(main, snakemake)
