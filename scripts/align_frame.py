"""Rule align_frame: shift one background-subtracted frame onto the reference."""

from typing import TYPE_CHECKING

import pandas as pd

from stackphot.align import align_frame
from stackphot.io import read_image, write_image
from stackphot.scripting import run_script

if TYPE_CHECKING:
    from snakemake.script import snakemake


def main(smk, log):
    shift = pd.read_csv(smk.input.shift).iloc[0]
    data, header, ext = read_image(smk.input.frame, "ERR", "MASK")
    aligned = align_frame(data, shift.dy, shift.dx, error=ext["ERR"], mask=ext["MASK"] > 0, order=smk.params.order)
    log.info("%s shifted by (%.3f, %.3f) px; %.1f%% of pixels covered", shift.frame, shift.dy, shift.dx,
             100 * aligned.valid.mean())
    header["SHIFTY"] = (shift.dy, "applied shift along y (px)")
    header["SHIFTX"] = (shift.dx, "applied shift along x (px)")
    write_image(
        smk.output.frame,
        aligned.data,
        header,
        extensions=[("ERR", aligned.error, None)],
        history=[f"stackphot align: scipy.ndimage.shift order {smk.params.order}; uncovered pixels NaN"],
    )


if __name__ == "__main__":
    run_script(main, snakemake)
