"""Rule measure_sky_targets: photometry of targets given by sky coordinates, through the stack's WCS."""

from stackphot.worker import hand_over

hand_over()  # the job runs in this run's warm worker where one can take it (stackphot.worker)

from typing import TYPE_CHECKING

import numpy as np
from astropy.table import Table

from stackphot.background import source_mask
from stackphot.io import celestial_wcs, read_image, write_ecsv, write_table
from stackphot.photometry import measure_sky_apertures, photometry_units, sky_targets
from stackphot.scripting import run_script

if TYPE_CHECKING:
    from snakemake.script import snakemake


def main(smk, log):
    options = smk.params.photometry
    sky = options["sky"]
    data, header, ext = read_image(smk.input.image, "ERR")
    wcs = celestial_wcs(header)
    if wcs is None:
        raise ValueError(f"{smk.input.image}: no celestial WCS in the header, so sky targets cannot be placed")
    listed = Table.read(sky["targets_file"]) if sky["targets_file"] else None
    names, coords = sky_targets(sky["targets"], frame=sky["frame"], table=listed, columns=sky["columns"],
                                table_name=sky["targets_file"])
    invalid = ~np.isfinite(data)
    table = measure_sky_apertures(data, wcs, coords, radius_arcsec=sky["radius_arcsec"],
                                  annulus_arcsec=sky["annulus_arcsec"], error=ext["ERR"], mask=invalid,
                                  sky_mask=source_mask(data, mask=invalid) if options["mask_sources"] else None,
                                  min_sky_fraction=options["min_sky_fraction"])
    table.insert(0, "name", names)
    log.info("%d sky targets measured, %d without flags", len(table), int((table["flags"] == 0).sum()))
    write_table(smk.output.csv, table)
    write_ecsv(smk.output.ecsv, table, units=photometry_units(table.columns, header.get("BUNIT", "adu")),
               meta={"radius_arcsec": sky["radius_arcsec"], "annulus_arcsec": list(sky["annulus_arcsec"]),
                     "frame": sky["frame"]})


if __name__ == "__main__":
    run_script(main, snakemake)
