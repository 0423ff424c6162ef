"""Rule measure_shifts: each frame of a batch registered against the reference, one row per frame."""

from stackphot.worker import hand_over

hand_over()  # the job runs in this run's warm worker where one can take it (stackphot.worker)

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from stackphot.geometry import Transform
from stackphot.io import frame_stem, read_image, write_table
from stackphot.register import read_reference_stars, register_frame, spectrum, triangles, wcs_transform
from stackphot.scripting import run_script

if TYPE_CHECKING:
    from snakemake.script import snakemake


def unregistered(reason: str) -> dict:
    """The row of a frame that holds no image (ingest's BADFRAME card, every pixel masked): register_frame's
    columns with nothing measured, and ``bad_frame``, the card's reason, for the frame selection to reject it."""
    return {**Transform.unknown().columns(), "method": "none", "n_matched": 0, "residual": np.nan,
            "xcorr_residual": np.nan, "wcs_offset": np.nan, "correlation": 0.0, "xcorr_error": np.nan,
            "overlap": 0.0, "n_stars": 0, "fwhm": np.nan, "note": f"not registered: no image ({reason})",
            "bad_frame": reason}


def main(smk, log):
    reference, reference_header, _ = read_image(smk.input.reference)
    reference_stars = read_reference_stars(smk.input.reference_stars)
    shared = {"reference_spectrum": spectrum(reference), "reference_triangles": triangles(reference_stars[:, :2])}
    rows = []
    for path in smk.input.frames:
        data, header, ext = read_image(path, "MASK")
        name = frame_stem(path).removesuffix(".sub")
        if header.get("BADFRAME"):
            log.warning("%s: not registered, no image (%s)", header.get("ORIGFILE"), header["BADFRAME"])
            rows.append({"frame": name, **unregistered(header["BADFRAME"])})
            continue
        try:
            row, warning = register_frame(data, ext["MASK"], reference, reference_stars, **smk.params, **shared,
                                          wcs_guess=wcs_transform(header, reference_header, data.shape))
        except ValueError as error:
            raise ValueError(f"{path}: {error}") from error
        if warning:
            log.warning("%s: %s", path, warning)
        log.info("%s: %s", header.get("ORIGFILE"), ", ".join(
            f"{key} {value:.4g}" if isinstance(value, float) else f"{key} {value}" for key, value in row.items()))
        rows.append({"frame": name, **row})
    write_table(smk.output.shifts, pd.DataFrame(rows))


if __name__ == "__main__":
    run_script(main, snakemake)
