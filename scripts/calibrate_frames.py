"""Rule calibrate_frames: each ingested light of a batch less its zero level and divided by its flat."""

from stackphot.worker import hand_over

hand_over()  # the job runs in this run's warm worker where one can take it (stackphot.worker)

from typing import TYPE_CHECKING

from stackphot.calibrate import calibrate_light, hot_in_any, night_read_noise, read_master, zero_level
from stackphot.ingest import frame_read_noise
from stackphot.io import frame_stem, read_image, write_product
from stackphot.provenance import Product
from stackphot.scripting import run_script

if TYPE_CHECKING:
    from snakemake.script import snakemake


def main(smk, log):
    params = smk.params
    masters = [read_master(path) for path in smk.input.masters]
    bias = next((master for master in masters if master.kind == "bias"), None)
    darks = {master.exptime: master for master in masters if master.kind == "dark"}
    flats = {master.filter: master for master in masters if master.kind == "flat"}
    hot = hot_in_any(darks.values(), masters[0].data.shape, nsigma=params.hot_nsigma)
    log.info("%d hot pixels in the master darks", hot.sum())
    for path, output in zip(smk.input.frames, smk.output.frames, strict=True):
        name = frame_stem(path)
        light = params.lights[name]
        data, header, ext = read_image(path, "MASK")
        zero = zero_level(light["exptime"], bias=bias, darks=darks)
        flat = flats.get(light["flat"])
        read_noise = frame_read_noise(header, night_read_noise(masters))  # (e-, the card's comment)
        result = calibrate_light(data, ext["MASK"], zero=zero, flat=flat, gain=header["GAIN"],
                                 read_noise=read_noise[0], hot=hot if darks else None, min_flat=params.min_flat)
        flat_text = f"divided by the master flat {light['flat']}" if flat is not None else "no flat"
        log.info("%s: less %s, %s", name, zero.description, flat_text)
        for warning in light["warnings"]:
            log.warning("%s: %s", name, warning)
        cards = {"CALZERO": (zero.description[:68], "subtracted"),
                 "CALFLAT": (light["flat"] if flat is not None else "none", "master flat divided by"),
                 "RDNOISE": read_noise}
        write_product(output, Product(result.data, {"ERR": result.error, "MASK": result.mask}, cards,
                                      [f"stackphot calibrate: less {zero.description}, {flat_text}",
                                       "ERR: Poisson noise above the zero level, read noise, the masters' errors"]),
                      header)


if __name__ == "__main__":
    run_script(main, snakemake)
