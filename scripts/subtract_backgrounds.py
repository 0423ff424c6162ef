"""Rule subtract_backgrounds: each ingested frame of a batch -> background-subtracted frame and sky maps."""

from typing import TYPE_CHECKING

from stackphot.scripting import run_script
from stackphot.steps import subtract_background

if TYPE_CHECKING:
    from snakemake.script import snakemake


def main(smk, log):
    for frame, subtracted, sky in zip(smk.input.frames, smk.output.frames, smk.output.skies, strict=True):
        subtract_background(frame, subtracted, sky, method=smk.params.method, box_size=smk.params.box_size,
                            filter_size=smk.params.filter_size, sigma=smk.params.sigma,
                            destripe=smk.params.destripe, log=log)


if __name__ == "__main__":
    run_script(main, snakemake)
