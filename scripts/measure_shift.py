"""Rule measure_shift: one frame's shift against the reference, as a one-row table."""

from dataclasses import asdict
from typing import TYPE_CHECKING

import pandas as pd

from stackphot.ingest import NONFINITE
from stackphot.io import frame_stem, read_image, write_table
from stackphot.register import measure_shift, prepare_for_registration
from stackphot.scripting import run_script

if TYPE_CHECKING:
    from snakemake.script import snakemake


def main(smk, log):
    reference, _, _ = read_image(smk.input.reference)
    data, header, ext = read_image(smk.input.frame, "MASK")
    prepared = prepare_for_registration(
        data,
        mask=(ext["MASK"] & NONFINITE) > 0,
        crop=smk.params.crop,
        smooth_sigma=smk.params.smooth_sigma,
        threshold=smk.params.threshold,
    )
    try:
        shift = measure_shift(reference, prepared, upsample_factor=smk.params.upsample_factor)
    except ValueError as error:
        raise ValueError(f"{smk.input.frame}: {error}") from error
    log.info("%s: %s", header.get("ORIGFILE"), shift)
    name = frame_stem(smk.input.frame).removesuffix(".sub")
    write_table(smk.output.shift, pd.DataFrame([{"frame": name, **asdict(shift)}]))


if __name__ == "__main__":
    run_script(main, snakemake)
