"""Rule plot_calibration: the night's masters with their statistics and histograms, and how each light was
calibrated (calibration.csv), as a PNG."""

from stackphot.worker import hand_over

hand_over()  # the job runs in this run's warm worker where one can take it (stackphot.worker)

from typing import TYPE_CHECKING

from stackphot.calibrate import read_master
from stackphot.io import frame_stem, read_table
from stackphot.report.calibration_plot import calibration_figure, master_statistics, statistics_lines
from stackphot.report.display import save_figure
from stackphot.scripting import run_script

if TYPE_CHECKING:
    from snakemake.script import snakemake


def main(smk, log):
    thresholds = {"hot_nsigma": smk.params.hot_nsigma, "min_flat": smk.params.min_flat}
    masters = [(frame_stem(path) or str(path), read_master(path)) for path in smk.input.masters]
    for name, master in masters:
        _, *numbers = statistics_lines(master_statistics(master, name=name, **thresholds), **thresholds)
        log.info("%s: %s", name, "; ".join(numbers))
    record = read_table(smk.input.record, "file", "filter", "used_for", "warning")
    lights = int((record["kind"] == "light").sum()) if "kind" in record else len(record)
    title = f"{smk.wildcards.dataset}: {len(masters)} master(s) and the calibration of {lights} light(s)"
    save_figure(calibration_figure(masters, record, title=title, **thresholds), smk.output.plot)
    log.info("%s: %d masters, %d lights", smk.output.plot, len(masters), lights)


if __name__ == "__main__":
    run_script(main, snakemake)
