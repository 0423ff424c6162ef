"""Rule stack_frames: the aligned cube combined, memory-bounded, into the stacked FITS."""

from stackphot.worker import hand_over

hand_over(own_threads=True)  # in this run's warm worker where one can take it: its threads are the stack's own

from typing import TYPE_CHECKING

from astropy.io import fits

from stackphot.io import CubeRows, read_table, write_image
from stackphot.register.select import read_selection
from stackphot.scripting import run_script
from stackphot.report.frame_table import sky_statistics
from stackphot.stack import combine, frame_weights, stack_header

if TYPE_CHECKING:
    from snakemake.script import snakemake


def main(smk, log):
    method, weighting = smk.params.method, smk.params.weights
    options = f"sigma {smk.params.sigma}, maxiters {smk.params.maxiters}" if method == "sigma_clip" else ""
    selection = read_selection(smk.input.selection)
    frames = read_table(smk.input.frames).merge(selection[["frame", "accepted", "reason", "n_stars", "fwhm"]],
                                                on="frame")
    if smk.input.get("skies"):
        frames["sky_rms"] = [sky_statistics(path)["sky_rms"] for path in smk.input.skies]
    accepted = frames[frames.accepted]
    weights = frame_weights(accepted, weighting)
    if weights is not None:
        options = ", ".join(filter(None, [options, f"weights {weighting}"]))
        for name, weight in zip(accepted.frame, weights):
            log.info("%s: weight %.4f (%s)", name, weight, weighting)
    with CubeRows(smk.input.cube, 0) as cube, CubeRows(smk.input.cube, "ERR") as error:
        result = combine(cube, error, method=method, sigma=smk.params.sigma, maxiters=smk.params.maxiters,
                         memory_mb=smk.params.memory_mb, workers=smk.threads, weights=weights)
    header = stack_header(fits.getheader(smk.input.reference), accepted, read_table(smk.input.shifts),
                          method=method, options=options, rejected=frames[~frames.accepted], weights=weights,
                          weighting=weighting)
    log.info("%s of %d frames; %d values rejected", method, len(frames), int(result.rejected.sum()))
    write_image(
        smk.output.stack,
        result.image,
        header,
        extensions=[("ERR", result.error, None), ("COVERAGE", result.coverage, None),
                    ("NREJECT", result.rejected, None)],
    )


if __name__ == "__main__":
    run_script(main, snakemake)
