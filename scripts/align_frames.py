"""Rule align_frames: each background-subtracted frame of a batch shifted onto the reference."""

from typing import TYPE_CHECKING

from stackphot.io import read_table
from stackphot.scripting import run_script
from stackphot.steps import align

if TYPE_CHECKING:
    from snakemake.script import snakemake


def main(smk, log):
    shifts = read_table(smk.input.shifts)
    for frame, shift, output in zip(smk.input.frames, shifts.itertuples(), smk.output.frames, strict=True):
        align(frame, shift, output, order=smk.params.order, log=log)


if __name__ == "__main__":
    run_script(main, snakemake)
