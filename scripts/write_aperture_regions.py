"""Rule write_aperture_regions: the photometry apertures and sky annuli as a DS9 region file."""

from typing import TYPE_CHECKING

import pandas as pd

from stackphot.regions import aperture_regions, write_regions
from stackphot.scripting import run_script

if TYPE_CHECKING:
    from snakemake.script import snakemake


def main(smk, log):
    options = smk.params.photometry
    radius, annulus = options["radii"][0], options["annulus"]
    photometry = pd.read_csv(smk.input.photometry)
    regions = aperture_regions(photometry.x, photometry.y, radius=radius, annulus=annulus,
                               flags=photometry["flags"])
    flagged = int((photometry["flags"] != 0).sum())
    write_regions(
        smk.output.regions,
        regions,
        comments=[
            f"stackphot: apertures of {smk.input.photometry} (measured on results/{smk.wildcards.dataset}/stack.fits)",
            f"circle: aperture of radius {radius:g} px (flux, mag); annulus {annulus[0]:g}-{annulus[1]:g} px: "
            "local sky (DS9 background region)",
            "red: a photometry flag is set (see the flags column); image coordinates are 1-based: x, y plus 1",
        ],
    )
    log.info("apertures of %d sources (%d flagged, in red) written to %s", len(photometry), flagged,
             smk.output.regions)


if __name__ == "__main__":
    run_script(main, snakemake)
