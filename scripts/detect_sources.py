"""Rules detect_sources, detect_frame_sources: a merged, multi-pass source catalogue of one image."""

from typing import TYPE_CHECKING

import numpy as np

from stackphot.background import estimate_background
from stackphot.detect import DetectionPass, find_sources, refine_centroids
from stackphot.io import celestial_wcs, read_image, write_ecsv, write_table
from stackphot.scripting import run_script

if TYPE_CHECKING:
    from snakemake.script import snakemake


def main(smk, log):
    options = smk.params.detect
    data, header, ext = read_image(smk.input.image, "ERR")
    invalid = ~np.isfinite(data)
    # The image is already sky-subtracted; this removes what is left of the sky.
    residual = estimate_background(data, method="mesh", box_size=options["box_size"], mask=invalid)
    image = data - residual.map
    # Thresholds scale with each pixel's own error: near a stack's edges fewer frames cover a pixel, and
    # there the noise is higher than the sky's median RMS.
    noise = np.where(np.isfinite(ext["ERR"]), np.fmax(ext["ERR"], residual.rms), residual.rms)
    passes = [DetectionPass.from_mapping(p) for p in options["passes"]]
    catalog = find_sources(image, passes=passes, rms=noise, mask=invalid,
                           match_radius=options["match_radius"], clean=options["clean"])
    # A source with no positive flux above the local sky is noise however it peaked.
    catalog = catalog[catalog.flux > 0].reset_index(drop=True)
    catalog["id"] = np.arange(1, len(catalog) + 1)
    x, y = refine_centroids(image, catalog.x, catalog.y, method=options["centroid"],
                            box_size=options["centroid_box"], mask=invalid)
    catalog = catalog.rename(columns={"x": "x_detect", "y": "y_detect"})
    catalog.insert(1, "x", np.asarray(x, dtype=float))
    catalog.insert(2, "y", np.asarray(y, dtype=float))
    units = {"x": "pix", "y": "pix", "x_detect": "pix", "y_detect": "pix", "fwhm": "pix",
             "peak": header.get("BUNIT", "adu"), "flux": header.get("BUNIT", "adu")}
    wcs = celestial_wcs(header)
    if wcs is not None and len(catalog):
        sky = wcs.pixel_to_world(catalog.x.to_numpy(), catalog.y.to_numpy()).icrs
        catalog["ra"], catalog["dec"] = sky.ra.deg, sky.dec.deg
        units.update(ra="deg", dec="deg")
    found = ", ".join(f"pass {i}: {int((catalog['pass'] == i).sum())}" for i in range(len(passes)))
    log.info("%d sources after merging (%s); centroids by %s", len(catalog), found, options["centroid"])
    write_table(smk.output.csv, catalog)
    write_ecsv(smk.output.ecsv, catalog, units=units,
               meta={"image": str(smk.input.image), "passes": options["passes"], "centroid": options["centroid"]})


if __name__ == "__main__":
    run_script(main, snakemake)
