"""Rule find_defects: every frame of a dataset, read one at a time -> the dataset's defect map."""

from stackphot.worker import hand_over

hand_over()  # the job runs in this run's warm worker where one can take it (stackphot.worker)

from typing import TYPE_CHECKING

from stackphot.defects import DefectCounts
from stackphot.io import frame_stem, read_image, write_product
from stackphot.scripting import run_script

if TYPE_CHECKING:
    from snakemake.script import snakemake


def main(smk, log):
    settings = smk.params.defects
    if not settings:
        raise ValueError("background: defects is false for this dataset: it has no defect map to make")
    counts = DefectCounts(nsigma=settings["nsigma"])
    for path in smk.input.frames:
        data, _, ext = read_image(path, "ERR", "MASK")
        log.info("%s: %d spikes", frame_stem(path), counts.add(data, ext["ERR"], ext["MASK"]))
    defects = counts.defects(settings["min_fraction"])
    log.info("%s", defects.describe())
    write_product(smk.output.defects, defects.product())


if __name__ == "__main__":
    run_script(main, snakemake)
