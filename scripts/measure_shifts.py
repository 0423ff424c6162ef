"""Rule measure_shifts: each frame of a batch against the reference, one row per frame."""

from typing import TYPE_CHECKING

import pandas as pd

from stackphot.io import read_image, write_table
from stackphot.register import spectrum
from stackphot.scripting import run_script
from stackphot.steps import measure_frame_shift

if TYPE_CHECKING:
    from snakemake.script import snakemake


def main(smk, log):
    reference, _, _ = read_image(smk.input.reference)
    reference_spectrum = spectrum(reference)
    rows = [measure_frame_shift(frame, reference, crop=smk.params.crop, smooth_sigma=smk.params.smooth_sigma,
                                threshold=smk.params.threshold, upsample_factor=smk.params.upsample_factor, log=log,
                                reference_spectrum=reference_spectrum) for frame in smk.input.frames]
    write_table(smk.output.shifts, pd.DataFrame(rows))


if __name__ == "__main__":
    run_script(main, snakemake)
