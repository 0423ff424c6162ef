"""Rule ingest_frames: each raw frame of a batch -> float32 frame with ERR and MASK extensions."""

from typing import TYPE_CHECKING

from stackphot.ingest import ingest_product
from stackphot.io import read_raw_frame, valid_header, write_product
from stackphot.provenance import sha256
from stackphot.scripting import run_script

if TYPE_CHECKING:
    from snakemake.script import snakemake


def main(smk, log):
    for raw_path, output in zip(smk.input.raw, smk.output.frames, strict=True):
        raw = read_raw_frame(raw_path)
        ingested = ingest_product(raw, gain=smk.params.gain, read_noise=smk.params.read_noise,
                                  saturation=smk.params.saturation, raw_sha256=sha256(raw.path))
        log.info("%s: %s", raw.path, ingested.frame.describe())
        if ingested.frame.bad_frame:
            log.warning("%s: no image (%s): written with every pixel masked, for the frame selection to reject",
                        raw.path, ingested.frame.bad_frame)
        header, problems = valid_header(raw.header)
        for problem in problems:
            log.warning("%s: a header card left out, not valid FITS: %s", raw.path, problem)
        write_product(output, ingested.product, header)


if __name__ == "__main__":
    run_script(main, snakemake)
