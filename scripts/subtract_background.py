"""Rule subtract_background: ingested frame -> background-subtracted frame (with ERR, MASK) and sky maps."""

from typing import TYPE_CHECKING

from stackphot.background import estimate_background, subtracted_error
from stackphot.io import read_image, write_image
from stackphot.scripting import run_script

if TYPE_CHECKING:
    from snakemake.script import snakemake


def main(smk, log):
    data, header, ext = read_image(smk.input.frame, "MASK")
    sky = estimate_background(
        data,
        method=smk.params.method,
        mask=ext["MASK"] > 0,
        box_size=smk.params.box_size,
        filter_size=smk.params.filter_size,
        sigma=smk.params.sigma,
        destripe_rows=smk.params.destripe,
    )
    log.info("%s", sky.describe())
    subtracted = data - sky.map
    error = subtracted_error(subtracted, sky, gain=header["GAIN"])
    history = [f"stackphot {sky.describe()}", "ERR: sky rms and the sources' Poisson noise"]
    header["SKYLEVEL"] = (sky.level, "median subtracted sky (ADU)")
    header["SKYRMS"] = (sky.rms_median, "median sky rms (ADU)")
    write_image(
        smk.output.frame,
        subtracted,
        header,
        extensions=[("ERR", error, None), ("MASK", ext["MASK"], None)],
        history=history,
    )
    write_image(smk.output.sky, sky.map, header, extensions=[("RMS", sky.rms, None)], history=history)


if __name__ == "__main__":
    run_script(main, snakemake)
