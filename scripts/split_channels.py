"""Rule split_channels: each colour mosaic of a batch -> its superpixel planes L, R, G, B."""

from stackphot.worker import hand_over

hand_over()  # the job runs in this run's warm worker where one can take it (stackphot.worker)

from typing import TYPE_CHECKING

from stackphot.colour import PLANES, bayer_pattern, split_products
from stackphot.io import frame_stem, read_image, write_product
from stackphot.scripting import run_script

if TYPE_CHECKING:
    from snakemake.script import snakemake


def main(smk, log):
    outputs = iter(smk.output.planes)
    for path in smk.input.frames:
        data, header, ext = read_image(path, "ERR", "MASK")
        pattern = bayer_pattern(header, configured=smk.params.bayer_pattern, n_rows=data.shape[0])
        if pattern is None:
            raise ValueError(f"{path}: no colour pattern (BAYERPAT) in a colour dataset: set ingest: "
                             "bayer_pattern in the config")
        products = split_products(data, ext["ERR"], ext["MASK"], header, pattern=pattern)
        for plane in PLANES:
            write_product(next(outputs), products[plane], header)
        log.info("%s: %s mosaic split into %s planes of %d x %d", frame_stem(path), pattern, "".join(PLANES),
                 *products["L"].data.shape)


if __name__ == "__main__":
    run_script(main, snakemake)
