"""Rule ingest_frames: each raw frame of a batch -> float32 frame with ERR and MASK extensions."""

from typing import TYPE_CHECKING

from stackphot.scripting import run_script
from stackphot.steps import ingest

if TYPE_CHECKING:
    from snakemake.script import snakemake


def main(smk, log):
    for raw, output in zip(smk.input.raw, smk.output.frames, strict=True):
        ingest(raw, output, gain=smk.params.gain, read_noise=smk.params.read_noise,
               saturation=smk.params.saturation, log=log)


if __name__ == "__main__":
    run_script(main, snakemake)
