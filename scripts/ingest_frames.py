"""Rule ingest_frames: each raw frame of a batch -> float32 frame with ERR and MASK extensions."""

from stackphot.worker import hand_over

hand_over()  # the job runs in this run's warm worker where one can take it (stackphot.worker)

import warnings
from typing import TYPE_CHECKING

from stackphot.ingest import NoiseAssumedWarning, ingest_product
from stackphot.io import read_raw_frame, valid_header, write_product
from stackphot.provenance import sha256
from stackphot.scripting import run_script

if TYPE_CHECKING:
    from snakemake.script import snakemake


def main(smk, log):
    for raw_path, output in zip(smk.input.raw, smk.output.frames, strict=True):
        raw = read_raw_frame(raw_path)
        header, problems = valid_header(raw.header)
        # An assumed noise model and cards left out are mostly the same for every frame: noted in the frame's
        # cards, they are said once for the dataset by tabulate_frames, not for each frame here.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NoiseAssumedWarning)
            ingested = ingest_product(raw, gain=smk.params.gain, read_noise=smk.params.read_noise,
                                      saturation=smk.params.saturation, offset=smk.params.offset,
                                      raw_sha256=sha256(raw.path), left_out=problems)
        log.info("%s: %s", raw.path, ingested.frame.describe())
        for problem in problems:
            log.info("%s: a header card left out, not valid FITS: %s", raw.path, problem)
        if ingested.frame.bad_frame:
            log.warning("%s: no image (%s): written with every pixel masked, for the frame selection to reject",
                        raw.path, ingested.frame.bad_frame)
        write_product(output, ingested.product, header)


if __name__ == "__main__":
    run_script(main, snakemake)
