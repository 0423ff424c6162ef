"""Rules master_bias, master_dark, master_flat: one master frame from its calibration frames."""

from stackphot.worker import hand_over

hand_over()  # the job runs in this run's warm worker where one can take it (stackphot.worker)

from typing import TYPE_CHECKING

import numpy as np

from stackphot.calibrate import (CombineOptions, master_bias, master_dark, master_flat, master_product,
                                 night_read_noise, read_master, zero_level)
from stackphot.calibrate.noise import frames_noise
from stackphot.ingest import saturation_level
from stackphot.io import read_raw_frame, valid_header, write_product
from stackphot.scripting import run_script

if TYPE_CHECKING:
    from snakemake.script import snakemake


def main(smk, log):
    params = smk.params
    first = read_raw_frame(smk.input.raw[0])
    saturation = saturation_level(first, saturation=params.saturation)
    bias = read_master(smk.input.bias[0]) if smk.input.get("bias") else None
    darks = {dark.exptime: dark for dark in map(read_master, smk.input.get("darks", []))}
    noise = frames_noise(first.header, smk.input.raw, kind=params.kind, exptime=params.exptime, gain=params.gain,
                         read_noise=params.read_noise, saturation=saturation,
                         night=night_read_noise([bias, *darks.values()]))
    common = dict(gain=noise.gain, read_noise=noise.read_noise, saturation=saturation,
                  options=CombineOptions(method=params.method, sigma=params.sigma, memory_mb=params.memory_mb))
    if params.kind == "bias":
        master = master_bias(smk.input.raw, **common)
    elif params.kind == "dark":
        master = master_dark(smk.input.raw, params.exptime, bias=bias, **common)
    else:
        zero = zero_level(params.exptime, bias=bias, darks=darks)
        log.info("the flats' zero level: %s", zero.description)
        master = master_flat(smk.input.raw, params.flat, zero=zero, colour=params.colour, **common)
    master.read_noise = noise.measured
    for warning in [*params.warnings, *noise.warnings]:
        log.warning("%s", warning)
    for line in master.history:
        log.info("%s", line)
    log.info("%s; median %.6g ADU, median error %.3g ADU", noise.describe(), np.nanmedian(master.data),
             np.nanmedian(master.error))
    header, _ = valid_header(first.header)
    write_product(smk.output.master, master_product(master), header)


if __name__ == "__main__":
    run_script(main, snakemake)
