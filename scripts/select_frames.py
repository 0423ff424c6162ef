"""Rule select_frames: the batches' shift tables in one; each frame judged against the quality limits; the rejected
ones listed with why."""

from stackphot.worker import hand_over

hand_over()  # the job runs in this run's warm worker where one can take it (stackphot.worker)

from typing import TYPE_CHECKING

import pandas as pd

from stackphot.io import read_table, write_table
from stackphot.register.select import check_selection, duplicate_files, judge_frames
from stackphot.scripting import run_script

if TYPE_CHECKING:
    from snakemake.script import snakemake


def main(smk, log):
    shifts = pd.concat([read_table(path) for path in smk.input.shifts], ignore_index=True)
    log.info("shifts of %d frames:\n%s", len(shifts), shifts.to_string(index=False))
    write_table(smk.output.table, shifts)
    limits = smk.params.quality
    duplicates = duplicate_files(read_table(smk.input.frames), reference=smk.params.reference)
    judged = judge_frames(shifts, reference=smk.params.reference, duplicates=duplicates,
                          min_correlation=limits["min_correlation"], min_overlap=limits["min_overlap"],
                          min_matched_stars=limits["min_matched_stars"],
                          min_stars=limits["min_stars"], max_fwhm=limits["max_fwhm"])
    rejected = judged.loc[~judged["accepted"], ["frame", "reason"]]
    for row in rejected.itertuples():
        log.warning("rejected %s: %s", row.frame, row.reason)
    check_selection(judged, on_bad_frame=limits["on_bad_frame"], min_frames=limits["min_frames"],
                    dataset=smk.wildcards.dataset)
    log.info("%d of %d frames accepted", int(judged["accepted"].sum()), len(judged))
    write_table(smk.output.selection, judged)
    write_table(smk.output.rejected, rejected)


if __name__ == "__main__":
    run_script(main, snakemake)
