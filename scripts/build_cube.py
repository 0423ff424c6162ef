"""Rule build_cube: the accepted aligned frames streamed into one cube, plane by plane."""

from stackphot.worker import hand_over

hand_over()  # the job runs in this run's warm worker where one can take it (stackphot.worker)

from functools import partial
from typing import TYPE_CHECKING

import numpy as np

from stackphot.align import cube_header
from stackphot.io import read_arrays, read_image, write_cube
from stackphot.register.select import read_selection
from stackphot.scripting import run_script

if TYPE_CHECKING:
    from snakemake.script import snakemake


def plane(paths, extension, coverage=None):
    """One frame's aligned data (counting its covered pixels into ``coverage``) or error plane: the mean of its
    ``paths`` (a colour's aligned planes, both greens for G), errors in quadrature."""
    planes = np.stack([read_arrays(path, extension)[extension] for path in paths])
    if len(planes) == 1:
        data = planes[0]
    elif extension == "PRIMARY":
        data = planes.mean(axis=0)
    else:
        data = np.sqrt(np.square(planes).sum(axis=0)) / len(planes)
    if coverage is not None:
        coverage += np.isfinite(data)
    return data


def main(smk, log):
    selection = read_selection(smk.input.selection)
    accepted = selection["accepted"].to_numpy()
    per_frame = smk.params.get("planes_per_frame", 1)
    paths = [smk.input.frames[start : start + per_frame] for start in range(0, len(smk.input.frames), per_frame)]
    frames = [group for group, keep in zip(paths, accepted, strict=True) if keep]
    first, first_header, _ = read_image(frames[0][0])
    coverage = np.zeros(first.shape, np.int16)
    write_cube(
        smk.output.cube,
        [partial(plane, group, "PRIMARY", coverage) for group in frames],
        header=cube_header(selection, unit=first_header.get("BUNIT", "adu")),
        extensions=[("ERR", [partial(plane, group, "ERR") for group in frames])],
        images=[("COVERAGE", lambda: coverage)],
    )
    log.info("cube of %d frames written (%d rejected)", len(frames), int((~accepted).sum()))


if __name__ == "__main__":
    run_script(main, snakemake)
