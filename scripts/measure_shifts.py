"""Rule measure_shifts: each frame of a batch registered against the reference, one row per frame."""

from typing import TYPE_CHECKING

import pandas as pd

from stackphot.io import frame_stem, read_image, write_table
from stackphot.register import read_reference_stars, register_frame, spectrum, triangles, wcs_transform
from stackphot.scripting import run_script

if TYPE_CHECKING:
    from snakemake.script import snakemake


def main(smk, log):
    reference, reference_header, _ = read_image(smk.input.reference)
    reference_stars = read_reference_stars(smk.input.reference_stars)
    shared = {"reference_spectrum": spectrum(reference), "reference_triangles": triangles(reference_stars[:, :2])}
    rows = []
    for path in smk.input.frames:
        data, header, ext = read_image(path, "MASK")
        try:
            row, warning = register_frame(data, ext["MASK"], reference, reference_stars, **smk.params, **shared,
                                          wcs_guess=wcs_transform(header, reference_header, data.shape))
        except ValueError as error:
            raise ValueError(f"{path}: {error}") from error
        if warning:
            log.warning("%s: %s", path, warning)
        log.info("%s: %s", header.get("ORIGFILE"), ", ".join(
            f"{key} {value:.4g}" if isinstance(value, float) else f"{key} {value}" for key, value in row.items()))
        rows.append({"frame": frame_stem(path).removesuffix(".sub"), **row})
    write_table(smk.output.shifts, pd.DataFrame(rows))


if __name__ == "__main__":
    run_script(main, snakemake)
