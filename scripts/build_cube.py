"""Rule build_cube: the aligned frames streamed into one cube, plane by plane."""

from functools import partial
from typing import TYPE_CHECKING

import numpy as np
from astropy.io import fits

from stackphot.io import add_cards, read_arrays, read_image, write_cube
from stackphot.scripting import run_script
from stackphot.selection import read_selection

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
    header = fits.Header()
    header["BUNIT"] = first_header.get("BUNIT", "adu")
    header["NFRAMES"] = (len(frames), "planes along axis 3, in frames-table order")
    add_cards(header, "COMMENT", ["Aligned, background-subtracted frames; NaN: not covered by that frame.",
                                  "Extension ERR: one-sigma errors of the same planes; COVERAGE: frames per pixel."])
    add_cards(header, "HISTORY", [f"plane {i + 1}: {row.frame} shifted by ({row.dy:.3f}, {row.dx:.3f}) px"
                                  for i, row in enumerate(selection[accepted].itertuples())]
              + [f"rejected {row.frame}: {row.reason}" for row in selection[~accepted].itertuples()])
    coverage = np.zeros(first.shape, np.int16)
    write_cube(
        smk.output.cube,
        [partial(plane, path, "PRIMARY", coverage) for path in frames],
        header=header,
        extensions=[("ERR", [partial(plane, path, "ERR") for path in frames])],
        images=[("COVERAGE", lambda: coverage)],
    )
    log.info("cube of %d frames written (%d rejected)", len(frames), int((~accepted).sum()))


if __name__ == "__main__":
    run_script(main, snakemake)
