"""Rule prepare_reference: the reference frame reduced to the light of its sources, and its stars."""

from stackphot.worker import hand_over

hand_over()  # the job runs in this run's warm worker where one can take it (stackphot.worker)

from typing import TYPE_CHECKING

import pandas as pd

from stackphot.io import read_image, write_image, write_table
from stackphot.register import STAR_COLUMNS, prepare_reference
from stackphot.scripting import run_script

if TYPE_CHECKING:
    from snakemake.script import snakemake


def main(smk, log):
    data, header, ext = read_image(smk.input.frame, "MASK")
    prepared, figures, stars = prepare_reference(data, ext["MASK"], name=header.get("ORIGFILE", smk.input.frame),
                                                 crop=smk.params.crop, smooth_sigma=smk.params.smooth_sigma,
                                                 threshold=smk.params.threshold)
    log.info("reference %s: %.1f%% of pixels above the threshold, %d stars (%d kept for matching)",
             header.get("ORIGFILE"), 100 * (prepared > 0).mean(), figures.n_stars, len(stars))
    write_image(smk.output.prepared, prepared, header,
                history=["stackphot registration image: destriped, median filtered, smoothed, thresholded"])
    write_table(smk.output.stars, pd.DataFrame(stars, columns=list(STAR_COLUMNS)))


if __name__ == "__main__":
    run_script(main, snakemake)
