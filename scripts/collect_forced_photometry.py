"""Rule collect_forced_photometry: the batches' per-frame photometry of the accepted frames, with their times."""

from stackphot.worker import hand_over

hand_over()  # the job runs in this run's warm worker where one can take it (stackphot.worker)

from typing import TYPE_CHECKING

from astropy.io import fits

from stackphot.io import read_table, write_ecsv, write_table
from stackphot.lightcurve import (accepted_photometry, field_centre, frame_table, frame_times, observing_site,
                                  series_units, target_coordinates)
from stackphot.register.select import read_selection
from stackphot.scripting import run_script

if TYPE_CHECKING:
    from snakemake.script import snakemake


def main(smk, log):
    photometry = accepted_photometry(map(read_table, smk.input.batches), read_selection(smk.input.selection))
    frames = frame_table(read_table(smk.input.frames), photometry, read_table(smk.input.shifts))
    header = fits.getheader(smk.input.stack)
    observatory = {key: value for key, value in smk.params.observatory.items() if value is not None}
    site = observing_site(header, configured=observatory or None)
    target, target_source = target_coordinates(header, wcs_position=field_centre(header))
    times, meta = frame_times(frames["mid_time"], site=site, target=target, target_source=target_source,
                              time_source=frames["time_source"])
    frames = frames.join(times)
    meta["flux_unit"] = header.get("BUNIT", "adu")
    for key, value in meta.items():
        log.info("%s: %s", key, value)
    photometry = photometry.merge(frames[["frame", *times.columns]], on="frame", how="left")
    write_ecsv(smk.output.photometry, photometry, units=series_units(photometry.columns, meta["flux_unit"]),
               meta=meta)
    write_table(smk.output.times, frames)
    log.info("%d frames, %d stars", len(frames), photometry["id"].nunique())


if __name__ == "__main__":
    run_script(main, snakemake)
