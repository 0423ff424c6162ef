"""Rule build_cube: the aligned frames streamed into one cube, plane by plane."""

from functools import partial
from typing import TYPE_CHECKING

import pandas as pd
from astropy.io import fits

from stackphot.io import add_cards, write_cube
from stackphot.scripting import run_script

if TYPE_CHECKING:
    from snakemake.script import snakemake


def plane(path, extension):
    return fits.getdata(path, extension)


def main(smk, log):
    frames = list(smk.input.frames)
    shifts = pd.read_csv(smk.input.shifts)
    header = fits.Header()
    header["BUNIT"] = fits.getheader(frames[0]).get("BUNIT", "adu")
    header["NFRAMES"] = (len(frames), "planes along axis 3, in frames-table order")
    add_cards(header, "COMMENT", ["Aligned, background-subtracted frames; NaN: not covered by that frame.",
                                  "Extension ERR: one-sigma errors of the same planes."])
    add_cards(header, "HISTORY", [f"plane {i + 1}: {row.frame} shifted by ({row.dy:.3f}, {row.dx:.3f}) px"
                                  for i, row in enumerate(shifts.itertuples())])
    write_cube(
        smk.output.cube,
        [partial(plane, path, "PRIMARY") for path in frames],
        header=header,
        extensions=[("ERR", [partial(plane, path, "ERR") for path in frames])],
    )
    log.info("cube of %d frames written", len(frames))


if __name__ == "__main__":
    run_script(main, snakemake)
