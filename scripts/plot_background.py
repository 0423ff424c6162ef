"""Rule plot_background: the sky model and its RMS map of the reference frame and a few others, as a PNG."""

from typing import TYPE_CHECKING

from stackphot.io import frame_stem, read_image
from stackphot.report.background_plot import background_figure, choose_frames
from stackphot.report.display import save_figure
from stackphot.scripting import run_script

if TYPE_CHECKING:
    from snakemake.script import snakemake


def main(smk, log):
    paths = {frame_stem(path).removesuffix(".sky"): path for path in smk.input.skies}
    shown = choose_frames(paths, smk.params.reference, n=smk.params.frames_shown)
    maps, unit = [], "adu"
    for name in shown:
        sky, header, ext = read_image(paths[name], "RMS")
        unit = header.get("BUNIT", unit)
        maps.append((name, sky, ext["RMS"]))
    title = f"{smk.wildcards.dataset}: background model of {len(shown)} of {len(paths)} frames"
    figure = background_figure(maps, reference=smk.params.reference, unit=unit, title=title)
    save_figure(figure, smk.output.plot)
    log.info("%s: sky maps of %s", smk.output.plot, ", ".join(shown))


if __name__ == "__main__":
    run_script(main, snakemake)
