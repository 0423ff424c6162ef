"""Rules detect_sources, detect_frame_sources: a merged, multi-pass source catalogue of one image."""

from typing import TYPE_CHECKING

import numpy as np

from stackphot.background import estimate_background
from stackphot.detect import DetectionPass, add_residual_sources, find_sources, refine_centroids
from stackphot.io import celestial_wcs, read_image, write_ecsv, write_table
from stackphot.scripting import run_script

if TYPE_CHECKING:
    from snakemake.script import snakemake


def main(smk, log):
    options = smk.params.detect
    data, header, ext = read_image(smk.input.image, "ERR")
    invalid = ~np.isfinite(data)
    # The image is already sky-subtracted; this removes what is left of the sky.
    leftover_sky = estimate_background(data, method="mesh", box_size=options["box_size"], mask=invalid)
    image = data - leftover_sky.map
    # Thresholds scale with each pixel's own error: near a stack's edges fewer frames cover a pixel, and
    # there the noise is higher than the sky's median RMS.
    noise = np.where(np.isfinite(ext["ERR"]), np.fmax(ext["ERR"], leftover_sky.rms), leftover_sky.rms)
    passes = [DetectionPass.from_mapping(p) for p in options["passes"]]
    catalog = find_sources(image, passes=passes, rms=noise, mask=invalid,
                           match_radius=options["match_radius"], clean=options["clean"])
    residual = image
    if options["residual_pass"] and len(catalog):
        catalog, residual = add_residual_sources(image, catalog, passes=passes, rms=noise, mask=invalid,
                                                 error=noise, match_radius=options["match_radius"],
                                                 clean=options["clean"])
    # A source with no positive flux above the local sky is noise however it peaked.
    catalog = catalog[catalog.flux > 0].reset_index(drop=True)
    catalog["id"] = np.arange(1, len(catalog) + 1)
    # A source found once the others were subtracted is centroided without their light as well.
    x, y = np.empty(len(catalog)), np.empty(len(catalog))
    for found_in_residual, picture in ((False, image), (True, residual)):
        rows = (catalog["residual"] == found_in_residual).to_numpy()
        x[rows], y[rows] = refine_centroids(picture, catalog.x[rows], catalog.y[rows], method=options["centroid"],
                                            box_size=options["centroid_box"], mask=invalid,
                                            max_shift=options["centroid_max_shift"])
    catalog = catalog.rename(columns={"x": "x_detect", "y": "y_detect"})
    catalog.insert(1, "x", x)
    catalog.insert(2, "y", y)
    units = {"x": "pix", "y": "pix", "x_detect": "pix", "y_detect": "pix", "fwhm": "pix",
             "peak": header.get("BUNIT", "adu"), "flux": header.get("BUNIT", "adu")}
    wcs = celestial_wcs(header)
    if wcs is not None and len(catalog):
        sky = wcs.pixel_to_world(catalog.x.to_numpy(), catalog.y.to_numpy()).icrs
        catalog["ra"], catalog["dec"] = sky.ra.deg, sky.dec.deg
        units.update(ra="deg", dec="deg")
    found = ", ".join(f"pass {i}: {int((catalog['pass'] == i).sum())}" for i in range(len(passes)))
    log.info("%d sources after merging (%s; %d found after subtracting the others); centroids by %s",
             len(catalog), found, int(catalog["residual"].sum()), options["centroid"])
    write_table(smk.output.csv, catalog)
    write_ecsv(smk.output.ecsv, catalog, units=units,
               meta={"image": str(smk.input.image), "passes": options["passes"], "centroid": options["centroid"]})


if __name__ == "__main__":
    run_script(main, snakemake)
