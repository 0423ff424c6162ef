"""Rule measure_forced_photometry: each frame of a batch measured at the stack's sources on its own pixels."""

from stackphot.worker import hand_over

hand_over()  # the job runs in this run's warm worker where one can take it (stackphot.worker)

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from stackphot.geometry import Transform
from stackphot.ingest import SATURATED
from stackphot.io import frame_stem, read_image, read_table, write_table
from stackphot.lightcurve import forced_photometry
from stackphot.scripting import run_script

if TYPE_CHECKING:
    from snakemake.script import snakemake


def main(smk, log):
    options = smk.params.lightcurve
    catalog = pd.read_csv(smk.input.catalog)
    rows = read_table(smk.input.shifts).set_index("frame", drop=False)
    # One sky mask for the night (twice its worst seeing): a star's sky is measured alike in every frame.
    masked = np.nanmax([*options["radii"], 2 * rows["fwhm"].max()])
    tables = []
    for path in smk.input.frames:
        frame = frame_stem(path).removesuffix(".sub")
        row = rows.loc[frame]
        data, _, ext = read_image(path, "ERR", "MASK")
        table = forced_photometry(data, x=catalog.x.to_numpy(), y=catalog.y.to_numpy(), ids=catalog.id.to_numpy(),
                                  transform=Transform.from_row(row), radii=options["radii"],
                                  annulus=options["annulus"], error=ext["ERR"],
                                  mask=ext["MASK"] > 0,
                                  saturated=(ext["MASK"] & SATURATED) > 0, fwhm=row.fwhm,
                                  fwhm_radii=options["fwhm_radii"], mask_sources=masked)
        table.insert(0, "frame", frame)
        tables.append(table)
        log.info("%s: %d sources measured, %d without flags", frame, len(table), int((table["flags"] == 0).sum()))
    write_table(smk.output.table, pd.concat(tables, ignore_index=True))


if __name__ == "__main__":
    run_script(main, snakemake)
