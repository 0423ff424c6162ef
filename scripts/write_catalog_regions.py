"""Rule write_catalog_regions: the catalog's sources as a DS9 region file (a labelled circle per source)."""

from typing import TYPE_CHECKING

import pandas as pd

from stackphot.regions import source_regions, write_regions
from stackphot.scripting import run_script

if TYPE_CHECKING:
    from snakemake.script import snakemake


def main(smk, log):
    catalog = pd.read_csv(smk.input.catalog)
    if "fwhm" not in catalog:
        raise ValueError(f"{smk.input.catalog}: no fwhm column for the circles' radius")
    regions = source_regions(catalog.x, catalog.y, radius=catalog.fwhm, ids=catalog.id)
    write_regions(
        smk.output.regions,
        regions,
        comments=[
            f"stackphot: sources of {smk.input.catalog} (detected on results/{smk.wildcards.dataset}/stack.fits)",
            "circle radius: the FWHM of the detection pass; label: the catalogue id",
            "image coordinates are 1-based (DS9): catalogue x, y plus 1",
        ],
    )
    log.info("%d source regions of %d catalog rows written to %s", len(regions), len(catalog),
             smk.output.regions)


if __name__ == "__main__":
    run_script(main, snakemake)
