"""Rule write_regions: the catalog's sources and the photometry apertures as DS9 region files."""

from typing import TYPE_CHECKING

import pandas as pd

from stackphot.regions import write_aperture_regions, write_catalog_regions
from stackphot.scripting import run_script

if TYPE_CHECKING:
    from snakemake.script import snakemake


def main(smk, log):
    image = f"results/{smk.wildcards.dataset}/stack.fits"
    catalog = pd.read_csv(smk.input.catalog)
    written = write_catalog_regions(smk.output.catalog, catalog, source=smk.input.catalog, image=image)
    log.info("%d source regions of %d catalog rows written to %s", written, len(catalog), smk.output.catalog)
    options = smk.params.photometry
    photometry = pd.read_csv(smk.input.photometry)
    written = write_aperture_regions(smk.output.apertures, photometry, radius=options["radii"][0],
                                     annulus=options["annulus"], source=smk.input.photometry, image=image)
    log.info("apertures of %d sources (%d flagged, in red) written to %s", written,
             int((photometry["flags"] != 0).sum()), smk.output.apertures)


if __name__ == "__main__":
    run_script(main, snakemake)
