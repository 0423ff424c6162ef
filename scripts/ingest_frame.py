"""Rule ingest_frame: raw frame -> float32 frame with ERR and MASK extensions."""

from typing import TYPE_CHECKING

from stackphot.ingest import ingest_frame
from stackphot.io import read_raw_frame, write_image
from stackphot.provenance import sha256
from stackphot.scripting import run_script

if TYPE_CHECKING:
    from snakemake.script import snakemake


def main(smk, log):
    raw = read_raw_frame(smk.input.raw)
    frame = ingest_frame(
        raw, gain=smk.params.gain, read_noise=smk.params.read_noise, saturation=smk.params.saturation
    )
    noise = frame.noise
    log.info("%s: shape %s, gain %.3f (%s), read noise %.3f (%s)", raw.path, frame.data.shape,
             noise.gain, noise.gain_source, noise.read_noise, noise.read_noise_source)
    header = raw.header.copy()
    header["GAIN"] = (noise.gain, f"e-/ADU ({noise.gain_source})")
    header["RDNOISE"] = (noise.read_noise, f"e- ({noise.read_noise_source})")
    header["BUNIT"] = ("adu", "physical units of the data")
    header["ORIGFILE"] = (raw.path.name, "raw file")
    header["ORIGSHA"] = (sha256(raw.path), "SHA-256 of the raw file")
    if frame.saturation is not None:
        header["SATURATE"] = (frame.saturation, "ADU")
    history = [f"stackphot ingest: {raw.path.name} HDU {raw.hdu_index}, BZERO/BSCALE applied, float32"]
    if noise.assumed:
        history.append("error map assumes gain 1 and no read noise: sqrt(counts)")
    write_image(
        smk.output.frame,
        frame.data,
        header,
        extensions=[("ERR", frame.error, None), ("MASK", frame.mask, None)],
        history=history,
    )


if __name__ == "__main__":
    run_script(main, snakemake)
