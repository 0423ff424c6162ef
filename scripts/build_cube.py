"""Rule build_cube: the accepted aligned frames streamed into one cube, plane by plane."""

from functools import partial
from typing import TYPE_CHECKING

import numpy as np

from stackphot.align import cube_header
from stackphot.io import read_arrays, read_image, write_cube
from stackphot.register.select import read_selection
from stackphot.scripting import run_script

if TYPE_CHECKING:
    from snakemake.script import snakemake


def plane(path, extension, coverage=None):
    """One aligned frame's data (counting its covered pixels into ``coverage``) or error plane."""
    data = read_arrays(path, extension)[extension]
    if coverage is not None:
        coverage += np.isfinite(data)
    return data


def main(smk, log):
    selection = read_selection(smk.input.selection)
    accepted = selection["accepted"].to_numpy()
    frames = [path for path, keep in zip(smk.input.frames, accepted, strict=True) if keep]
    first, first_header, _ = read_image(frames[0])
    coverage = np.zeros(first.shape, np.int16)
    write_cube(
        smk.output.cube,
        [partial(plane, path, "PRIMARY", coverage) for path in frames],
        header=cube_header(selection, unit=first_header.get("BUNIT", "adu")),
        extensions=[("ERR", [partial(plane, path, "ERR") for path in frames])],
        images=[("COVERAGE", lambda: coverage)],
    )
    log.info("cube of %d frames written (%d rejected)", len(frames), int((~accepted).sum()))


if __name__ == "__main__":
    run_script(main, snakemake)
