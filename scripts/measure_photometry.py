"""Rules measure_photometry, measure_frame_photometry: aperture photometry of a catalog on an image."""

from stackphot.worker import hand_over

hand_over()  # the job runs in this run's warm worker where one can take it (stackphot.worker)

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from stackphot.background import estimate_background, source_mask
from stackphot.io import read_image, write_ecsv, write_table
from stackphot.photometry import measure_apertures, photometry_units
from stackphot.scripting import run_script

if TYPE_CHECKING:
    from snakemake.script import snakemake


def main(smk, log):
    options = smk.params.photometry
    data, header, ext = read_image(smk.input.image, "ERR")
    catalog = pd.read_csv(smk.input.catalog)
    invalid = ~np.isfinite(data)
    global_sky = (estimate_background(data, method="mesh", box_size=options["background_box"], mask=invalid).map
                  if options["background"] == "global" else None)
    table = measure_apertures(data, catalog.x, catalog.y, ids=catalog.id, radii=options["radii"],
                              annulus=options["annulus"], error=ext["ERR"], mask=invalid,
                              neighbour_radius=options["neighbour_radius"], zero_point=options["zero_point"],
                              sky_mask=source_mask(data, mask=invalid) if options["mask_sources"] else None,
                              min_sky_fraction=options["min_sky_fraction"], global_sky=global_sky)
    for column in ("ra", "dec"):
        if column in catalog:
            table.insert(3, column, catalog[column].to_numpy())
    unit = header.get("BUNIT", "adu")
    log.info("%d sources measured at radii %s px; %d without flags", len(table), options["radii"],
             int((table["flags"] == 0).sum()))
    write_table(smk.output.csv, table)
    write_ecsv(smk.output.ecsv, table, units=photometry_units(table.columns, unit),
               meta={"image": str(smk.input.image), "flux_unit": unit, "zero_point": options["zero_point"],
                     "annulus_px": list(options["annulus"]), "background": options["background"]})


if __name__ == "__main__":
    run_script(main, snakemake)
