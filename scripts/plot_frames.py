"""Rule plot_frames: each frame's registration against time and a few frames' sky maps, as PNGs; one row per
frame (time, sky, stars, FWHM, shift, correlation, accepted or why not) as CSV and HTML."""

from stackphot.worker import hand_over

hand_over()  # the job runs in this run's warm worker where one can take it (stackphot.worker)

from typing import TYPE_CHECKING

import pandas as pd

from stackphot.io import frame_stem, read_image, read_table, write_table, write_text
from stackphot.register.select import read_selection
from stackphot.report.background_plot import background_figure, choose_frames
from stackphot.report.display import save_figure
from stackphot.report.frame_table import FRAME_TABLE_NOTE, frame_quality_html, frame_quality_table, sky_statistics
from stackphot.report.registration_plot import registration_figure
from stackphot.scripting import run_script

if TYPE_CHECKING:
    from snakemake.script import snakemake


def main(smk, log):
    dataset, reference = smk.wildcards.dataset, smk.params.reference
    selection, frames = read_selection(smk.input.selection), read_table(smk.input.frames, "date_obs")
    rejected = int((~selection["accepted"]).sum())
    title = f"{dataset}: registration of {len(selection)} frames onto {reference} ({rejected} rejected)"
    save_figure(registration_figure(selection, frames, reference=reference, title=title), smk.output.registration)
    log.info("%s: registration of %d frames, %d rejected", smk.output.registration, len(selection), rejected)

    skies = {frame_stem(path).removesuffix(".sky"): path for path in smk.input.skies}
    shown = choose_frames(skies, reference, n=smk.params.frames_shown)
    maps = [(name, *read_image(skies[name], "RMS")) for name in shown]
    title = f"{dataset}: background model of {len(shown)} of {len(skies)} frames"
    save_figure(background_figure([(name, sky, ext["RMS"]) for name, sky, _, ext in maps], reference=reference,
                                  unit=maps[-1][2].get("BUNIT", "adu"), title=title), smk.output.background)
    log.info("%s: sky maps of %s", smk.output.background, ", ".join(shown))

    sky = pd.DataFrame([sky_statistics(path) for path in smk.input.skies])
    table = frame_quality_table(read_table(smk.input.frames), selection, sky, reference=reference)
    write_table(smk.output.table, table)
    write_text(smk.output.html, frame_quality_html(table, title=f"{dataset}: quality of {len(table)} frames",
                                                   note=FRAME_TABLE_NOTE))
    log.info("frame quality:\n%s", table.to_string(index=False))


if __name__ == "__main__":
    run_script(main, snakemake)
