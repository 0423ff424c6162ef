"""Rule align_frames: each background-subtracted frame of a batch resampled onto the reference."""

from stackphot.worker import hand_over

hand_over()  # the job runs in this run's warm worker where one can take it (stackphot.worker)

from typing import TYPE_CHECKING

import numpy as np

from stackphot.align import aligned_product
from stackphot.colour import channel_offset
from stackphot.geometry import Transform
from stackphot.io import frame_stem, read_image, read_table, write_product
from stackphot.scripting import run_script

if TYPE_CHECKING:
    from snakemake.script import snakemake


def main(smk, log):
    rows = read_table(smk.input.shifts).set_index("frame", drop=False)
    # A colour dataset's planes come after its luminance frames, each of a frame of the table (params.frames).
    for path, frame, output in zip(smk.input.frames, smk.params.frames, smk.output.frames, strict=True):
        data, header, ext = read_image(path, "ERR", "MASK")
        # A colour plane's pixels lie a quarter superpixel off the luminance's, which the transform is of.
        offset, aligned_cards = channel_offset(header)
        transform = offset.then(Transform.from_row(rows.loc[frame]))
        product = aligned_product(data, transform, header, error=ext["ERR"], mask=ext["MASK"] > 0,
                                  order=smk.params.order)
        product.cards.update(aligned_cards)
        log.info("%s moved by %s; %.1f%% of pixels covered", frame_stem(path), transform,
                 100 * np.isfinite(product.data).mean())
        write_product(output, product, header)


if __name__ == "__main__":
    run_script(main, snakemake)
