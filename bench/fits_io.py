"""Writing and reading a product FITS file: stackphot.io against astropy's HDU classes, CPU ms per file.

    python bench/fits_io.py [SIZE]

A frame of SIZE x SIZE (default 256) with an ERR and a MASK extension and a header of 30 cards, as the
background step writes and reads them.
"""

import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from astropy.io import fits

from stackphot.io import add_cards, read_image, write_image


def cpu_ms(function, repeats: int) -> float:
    function()
    start = time.process_time()
    for _ in range(repeats):
        function()
    return (time.process_time() - start) / repeats * 1000


def main(size: int = 256) -> None:
    rng = np.random.default_rng(1)
    data = rng.normal(600, 20, (size, size)).astype(np.float32)
    error = np.sqrt(np.abs(data)).astype(np.float32)
    mask = (rng.random((size, size)) > 0.999).astype(np.uint8)
    header = fits.Header([(f"KEY{i}", float(i), f"card {i}") for i in range(30)])
    history = ["stackphot background: Background2D mesh"]
    repeats = max(10, min(200, 200 * 256**2 // size**2))  # about a second per measurement
    with tempfile.TemporaryDirectory() as folder:
        ours, theirs = Path(folder) / "ours.fits", Path(folder) / "astropy.fits"

        def astropy_write():
            primary = header.copy()
            add_cards(primary, "HISTORY", history)
            fits.HDUList([fits.PrimaryHDU(data, primary), fits.ImageHDU(error, name="ERR"),
                          fits.ImageHDU(mask, name="MASK")]).writeto(theirs, overwrite=True, output_verify="exception")

        def astropy_read():
            with fits.open(theirs, memmap=False) as hdul:
                return hdul[0].data, hdul[0].header.copy(), hdul["ERR"].data, hdul["MASK"].data

        write = (cpu_ms(astropy_write, repeats),
                 cpu_ms(lambda: write_image(ours, data, header, extensions=[("ERR", error, None),
                                                                              ("MASK", mask, None)], history=history),
                        repeats))
        assert ours.read_bytes() == theirs.read_bytes()
        read = (cpu_ms(astropy_read, repeats), cpu_ms(lambda: read_image(ours, "ERR", "MASK"), repeats))
    print(f"{size} x {size} frame with ERR and MASK, CPU ms per file (same bytes written):")
    for what, (astropy, stackphot) in (("write", write), ("read", read)):
        print(f"  {what}: astropy {astropy:.2f}, stackphot.io {stackphot:.2f}, ratio {astropy / stackphot:.1f}")


if __name__ == "__main__":
    main(*map(int, sys.argv[1:]))
