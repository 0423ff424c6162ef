"""Rule prepare_reference: the reference frame reduced to the light of its sources."""

from typing import TYPE_CHECKING

from stackphot.ingest import NONFINITE
from stackphot.io import read_image, write_image
from stackphot.register import prepare_for_registration
from stackphot.scripting import run_script

if TYPE_CHECKING:
    from snakemake.script import snakemake


def main(smk, log):
    data, header, ext = read_image(smk.input.frame, "MASK")
    prepared = prepare_for_registration(
        data,
        mask=(ext["MASK"] & NONFINITE) > 0,
        crop=smk.params.crop,
        smooth_sigma=smk.params.smooth_sigma,
        threshold=smk.params.threshold,
    )
    log.info("reference %s: %.1f%% of pixels above the threshold", header.get("ORIGFILE"),
             100 * (prepared > 0).mean())
    write_image(smk.output.prepared, prepared, header,
                history=["stackphot registration image: destriped, median filtered, smoothed, thresholded"])


if __name__ == "__main__":
    run_script(main, snakemake)
