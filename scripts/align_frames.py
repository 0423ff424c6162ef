"""Rule align_frames: each background-subtracted frame of a batch resampled onto the reference."""

from typing import TYPE_CHECKING

import numpy as np

from stackphot.align import aligned_product
from stackphot.geometry import Transform
from stackphot.io import frame_stem, read_image, read_table, write_product
from stackphot.scripting import run_script

if TYPE_CHECKING:
    from snakemake.script import snakemake


def main(smk, log):
    rows = read_table(smk.input.shifts)
    for path, row, output in zip(smk.input.frames, rows.itertuples(), smk.output.frames, strict=True):
        if row.frame != frame_stem(path).removesuffix(".sub"):
            raise ValueError(f"{path}: the shift table's row is for frame {row.frame}")
        data, header, ext = read_image(path, "ERR", "MASK")
        transform = Transform.from_row(row)
        product = aligned_product(data, transform, header, error=ext["ERR"], mask=ext["MASK"] > 0,
                                  order=smk.params.order)
        log.info("%s moved by %s; %.1f%% of pixels covered", row.frame, transform,
                 100 * np.isfinite(product.data).mean())
        write_product(output, product, header)


if __name__ == "__main__":
    run_script(main, snakemake)
