"""Rule subtract_backgrounds: each ingested frame of a batch -> background-subtracted frame and sky maps."""

from stackphot.worker import hand_over

hand_over()  # the job runs in this run's warm worker where one can take it (stackphot.worker)

from typing import TYPE_CHECKING

from stackphot.background import subtract_background
from stackphot.defects import DEFECT, read_defect_map, with_defects
from stackphot.io import frame_stem, read_image, write_product
from stackphot.scripting import run_script

if TYPE_CHECKING:
    from snakemake.script import snakemake


def main(smk, log):
    maps = getattr(smk.input, "defects", [])  # none where the dataset's settings turn defects off
    defects = read_defect_map(maps[0]) if maps else None
    if defects is not None:
        log.info("%d pixels of %s flagged DEFECT (MASK bit %d) in every subtracted frame", defects.sum(), maps[0],
                 DEFECT)
    for frame, subtracted, sky in zip(smk.input.frames, smk.output.frames, smk.output.skies, strict=True):
        data, header, ext = read_image(frame, "MASK")
        result = subtract_background(data, ext["MASK"], gain=header["GAIN"], method=smk.params.method,
                                     box_size=smk.params.box_size, filter_size=smk.params.filter_size,
                                     sigma=smk.params.sigma, destripe_rows=smk.params.destripe)
        log.info("%s: %s", frame_stem(frame), result.background.describe())
        frame_product = result.subtracted if defects is None else with_defects(result.subtracted, defects)
        write_product(subtracted, frame_product, header)
        write_product(sky, result.sky, header)


if __name__ == "__main__":
    run_script(main, snakemake)
