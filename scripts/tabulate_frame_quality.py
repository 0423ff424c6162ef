"""Rule tabulate_frame_quality: one row per frame (time, sky, stars, FWHM, shift, correlation) as CSV and HTML."""

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from astropy.io import fits

from stackphot.io import frame_stem, read_table, write_table
from stackphot.plots import frame_quality_html, frame_quality_table, write_text
from stackphot.scripting import run_script
from stackphot.selection import read_selection

if TYPE_CHECKING:
    from snakemake.script import snakemake

NOTE = (
    "sky_level, sky_rms: median of the frame's background model and of its RMS map; n_stars: peaks above 5 "
    "sigma of the frame smoothed for registration; fwhm: median FWHM (px) of Gaussians fitted to the cores of "
    "its brightest isolated unsaturated stars; dy, dx: the shift "
    "applied to line the frame up with the reference (px); correlation: of the prepared frame with the "
    "reference at that shift (near 1 good, near 0 unrelated); xcorr_error: skimage's translation-invariant "
    "error of the cross-correlation (not a shift uncertainty); overlap: fraction of the frame that lands on "
    "the reference; accepted, reason: whether the frame is stacked, and if not why (quality limits in the config). "
    "The reference frame is highlighted."
)


def sky_statistics(path) -> dict:
    """Median sky and sky RMS of one background model: from its header cards, else from its maps."""
    with fits.open(path, mode="readonly") as hdul:
        header = hdul[0].header
        level = header.get("SKYLEVEL")
        rms = header.get("SKYRMS")
        if level is None:
            level = float(np.nanmedian(hdul[0].data))
        if rms is None and "RMS" in hdul:
            rms = float(np.nanmedian(hdul["RMS"].data))
    return {"frame": frame_stem(path).removesuffix(".sky"), "sky_level": level, "sky_rms": rms}


def main(smk, log):
    frames = read_table(smk.input.frames)
    shifts = read_selection(smk.input.shifts)
    sky = pd.DataFrame([sky_statistics(path) for path in smk.input.skies])
    table = frame_quality_table(frames, shifts, sky, reference=smk.params.reference)
    write_table(smk.output.table, table)
    write_text(smk.output.html, frame_quality_html(
        table, title=f"{smk.wildcards.dataset}: quality of {len(table)} frames", note=NOTE))
    log.info("frame quality:\n%s", table.to_string(index=False))


if __name__ == "__main__":
    run_script(main, snakemake)
