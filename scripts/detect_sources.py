"""Rules detect_sources, detect_frame_sources: a merged, multi-pass source catalog of one image."""

from stackphot.worker import hand_over

hand_over()  # the job runs in this run's warm worker where one can take it (stackphot.worker)

from typing import TYPE_CHECKING

import numpy as np

from stackphot.detect import add_sky_coordinates, catalog_units, detect_catalog
from stackphot.io import celestial_wcs, image_header, read_image, write_ecsv, write_image, write_table
from stackphot.scripting import run_script

if TYPE_CHECKING:
    from snakemake.script import snakemake


def main(smk, log):
    options = smk.params.detect
    data, header, ext = read_image(smk.input.image, "ERR")
    segmentation = options["segmentation"]
    catalog, segments = detect_catalog(
        data, ext["ERR"], passes=options["passes"], box_size=options["box_size"],
        match_radius=options["match_radius"], clean=options["clean"], residual_pass=options["residual_pass"],
        centroid=options["centroid"], centroid_box=options["centroid_box"],
        centroid_max_shift=options["centroid_max_shift"], segmentation=segmentation if segmentation["enabled"] else None)
    catalog = add_sky_coordinates(catalog, celestial_wcs(header))
    found = ", ".join(f"pass {i}: {int((catalog['pass'] == i).sum())}" for i in range(len(options["passes"])))
    log.info("%d sources after merging (%s; %d found after subtracting the others, %d by the segmentation alone); "
             "centroids by %s", len(catalog), found, int(catalog["residual"].sum()),
             int((catalog["pass"] == "segmentation").sum()), options["centroid"])
    # The map of the segmentation's sources (0: sky); all zeros where it is switched off or found nothing.
    labels = np.zeros(data.shape, np.int32) if segments is None else segments.data.astype(np.int32)
    write_image(smk.output.segments, labels, image_header(header),
                comments=["segment_id of catalog.csv at each pixel; 0 is sky"])
    write_table(smk.output.csv, catalog)
    write_ecsv(smk.output.ecsv, catalog, units=catalog_units(catalog.columns, header.get("BUNIT", "adu")),
               meta={"image": str(smk.input.image), "passes": options["passes"], "centroid": options["centroid"]})


if __name__ == "__main__":
    run_script(main, snakemake)
