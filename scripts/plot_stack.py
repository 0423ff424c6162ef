"""Rule plot_stack: the stack with the photometry apertures over it and the catalog's figure, as PNGs; the
catalog's sources and the apertures as DS9 region files."""

from stackphot.worker import hand_over

hand_over()  # the job runs in this run's warm worker where one can take it (stackphot.worker)

from typing import TYPE_CHECKING

import pandas as pd
from astropy.io import fits

from stackphot.io import read_image
from stackphot.regions import write_aperture_regions, write_catalog_regions
from stackphot.report.catalog_plot import plot_catalog
from stackphot.report.display import save_figure
from stackphot.report.stack_plot import catalog_numbers, stack_figure
from stackphot.scripting import run_script

if TYPE_CHECKING:
    from snakemake.script import snakemake


def main(smk, log):
    options = smk.params.photometry
    data, header, _ = read_image(smk.input.image)
    photometry = pd.read_csv(smk.input.photometry)
    method = header.get("STACKMTH", "")
    catalog = pd.read_csv(smk.input.catalog)
    numbers = catalog_numbers(photometry, catalog)
    log.info("catalog: %s", numbers)
    title = (f"{smk.wildcards.dataset}: stack of {header.get('NCOMBINE', '?')} frames{f' ({method})' if method else ''}"
             f"\n{numbers}")
    figure = stack_figure(data, photometry.x, photometry.y, radius=options["radii"][0],
                          annulus=options["annulus"], flags=photometry["flags"], flux=photometry["flux"],
                          unit=header.get("BUNIT", "adu"), title=title)
    save_figure(figure, smk.output.plot)
    log.info("%s: %d apertures drawn on the stack", smk.output.plot, len(photometry))
    segmented = catalog[catalog["segment_id"].notna()] if "segment_id" in catalog else catalog.iloc[:0]
    # The finders' sources the segmentation did not measure have no Kron flux or size to draw.
    title = (f"{smk.wildcards.dataset}: catalog, the {len(segmented)} of its {len(catalog)} sources the "
             "segmentation measured")
    plot_catalog(smk.output.catalog_plot, segmented, segments=fits.getdata(smk.input.segments),
                 image=data, zero_point=options["zero_point"], title=title)
    written = write_catalog_regions(smk.output.catalog_regions, catalog, source=smk.input.catalog,
                                    image=smk.input.image)
    log.info("%d source regions of %d catalog rows written to %s", written, len(catalog), smk.output.catalog_regions)
    written = write_aperture_regions(smk.output.aperture_regions, photometry, radius=options["radii"][0],
                                     annulus=options["annulus"], source=smk.input.photometry, image=smk.input.image)
    log.info("apertures of %d sources (%d flagged, in red) written to %s", written,
             int((photometry["flags"] != 0).sum()), smk.output.aperture_regions)


if __name__ == "__main__":
    run_script(main, snakemake)
