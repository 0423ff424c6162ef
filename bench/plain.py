"""The plain reference of issue 22: the recipe a competent astronomer writes in one script, in one process on one core.

Independent of the workflow's numerics: only astropy, photutils, scikit-image, scipy and numpy, called directly (no
stackphot import). For each frame, in name order:

1. read it with astropy.io.fits, as float32;
2. estimate the sky with photutils' ``Background2D`` (the config's ``background.box_size`` and ``filter_size``,
   ``SigmaClip(sigma=background.sigma)``, ``MedianBackground``) and subtract it;
3. measure its shift against the reference frame with ``skimage.registration.phase_cross_correlation(reference,
   frame, upsample_factor=register.upsample_factor)``;
4. shift it with ``scipy.ndimage.shift(order=align.order, mode="constant", cval=nan)``;

then stack all of them with ``astropy.stats.sigma_clip(sigma=stack.sigma, maxiters=stack.maxiters, axis=0)`` and
take the mean of what is left. Each stage's wall and CPU time is added up over the frames.

Two departures from the bare recipe, both needed for it to find the shifts at all. Hot pixels and row banding are
fixed to the detector and correlate perfectly at zero shift: on the bench's simulated frames the correlation of the
sky-subtracted frames, phase-normalised (skimage's default) or not, gives (0, 0) for every frame, 16 px RMS from the
truth. So the images correlated are the sky-subtracted frames through a 3 x 3 median filter (hot pixels, cosmic
rays) and a Gaussian of ``register.smooth_sigma``, and the correlation is not phase-normalised
(``normalization=None``: whitening gives the noise the stars' weight); this gave 0.007 px RMS on 8 frames of 512 x 512.
The frames themselves are shifted unfiltered.

Memory: every shifted frame is kept in RAM as float32 (200 frames of 2048 x 2048 are 3.4 GB, which the bench
machines hold); the clipping runs on blocks of rows (``STACK_BLOCK_MB`` of the cube each), which gives the same
result per pixel as one call on the whole cube without sigma_clip's several whole-cube temporaries.

    python bench/plain.py FRAMES OUT_DIR [--config config.yaml] [--reference NAME]

FRAMES is a folder of FITS frames; the parameters come from CONFIG's sections (``background``, ``register``,
``align``, ``stack``) and the reference is ``--reference``, else CONFIG's ``reference``, else the first frame in
name order. OUT_DIR receives ``plain.json`` (stage times, the shifts, and where FRAMES holds the simulator's
``truth_shifts.csv`` the shifts' errors) and ``stack.npy``.
"""

import os

if __name__ == "__main__":
    # One core, as bench/reference.py: the BLAS and OpenMP pools are sized when numpy loads, hence before the imports
    # below; the process is also pinned to a single CPU. Only when run: a test that imports this keeps its cores.
    for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[_variable] = "1"
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})

import argparse
import csv
import json
import math
import warnings
from pathlib import Path

import numpy as np
import yaml

from stopwatch import Stopwatch

# Frame files a folder may hold (the simulator writes .fits).
FRAME_SUFFIXES = (".fits", ".fit", ".fts")
# The simulator's truth table (stackphot.simulate.TRUTH_SHIFTS; not imported, to stay independent).
TRUTH_SHIFTS = "truth_shifts.csv"
# Cube per block of rows in the stack.
STACK_BLOCK_MB = 256
# Stages in the order they run; bench/run_bench.py puts "read" beside the workflow's ingest, "shift" beside align.
STAGES = ("read", "background", "register", "shift", "stack")


def parameters(config: dict) -> dict:
    """The recipe's keyword arguments from a stackphot config's sections."""
    background, register = config["background"], config["register"]
    return {"box_size": background["box_size"], "filter_size": background["filter_size"],
            "background_sigma": background["sigma"], "upsample_factor": register["upsample_factor"],
            "smooth_sigma": register["smooth_sigma"], "order": config["align"]["order"],
            "stack_sigma": config["stack"]["sigma"], "maxiters": config["stack"]["maxiters"]}


def frame_paths(folder) -> dict[str, Path]:
    """Frame name (file name without suffix) -> path, of the folder's FITS files in name order."""
    paths = sorted(path for path in Path(folder).iterdir() if path.suffix.lower() in FRAME_SUFFIXES)
    return {path.name[: -len(path.suffix)]: path for path in paths}


def read_frame(path) -> np.ndarray:
    """The primary image as float32."""
    from astropy.io import fits

    return fits.getdata(path).astype(np.float32)


def subtract_sky(data, *, box_size: int, filter_size: int, sigma: float) -> np.ndarray:
    """``data`` less photutils' mesh background (sigma-clipped medians of boxes, median-filtered, splined)."""
    from astropy.stats import SigmaClip
    from photutils.background import Background2D, MedianBackground

    sky = Background2D(data, box_size, filter_size=filter_size, sigma_clip=SigmaClip(sigma=sigma),
                       bkg_estimator=MedianBackground())
    return (data - sky.background).astype(np.float32)


def registration_image(data, *, smooth_sigma: float) -> np.ndarray:
    """What is correlated: a sky-subtracted frame through a 3 x 3 median (fixed hot pixels) and a Gaussian."""
    from scipy import ndimage

    return ndimage.gaussian_filter(ndimage.median_filter(data, size=3), smooth_sigma)


def measure_shift(reference, image, *, upsample_factor: int) -> tuple[float, float]:
    """``(dy, dx)`` to apply to ``image`` to line it up with ``reference``, to 1/``upsample_factor`` px."""
    from skimage.registration import phase_cross_correlation

    shift, _, _ = phase_cross_correlation(reference, image, upsample_factor=upsample_factor, normalization=None)
    return float(shift[0]), float(shift[1])


def shift_frame(data, shift, *, order: int) -> np.ndarray:
    """``data`` moved by ``shift`` (dy, dx) with a spline of ``order``; what comes from beyond the frame is NaN."""
    from scipy import ndimage

    return ndimage.shift(data, shift, order=order, mode="constant", cval=np.nan)


def stack_frames(cube, *, sigma: float, maxiters: int, block_mb: float = STACK_BLOCK_MB) -> np.ndarray:
    """Mean along the first axis of what astropy's sigma_clip keeps (NaN ignored; NaN where nothing is left)."""
    from astropy.stats import sigma_clip

    n_frames, ny, nx = cube.shape
    rows = max(1, int(block_mb * 2**20 // (n_frames * nx * cube.itemsize)))
    image = np.empty((ny, nx), dtype=np.float64)
    with warnings.catch_warnings():  # the NaN beyond each shifted frame's edge are expected
        warnings.filterwarnings("ignore", message="Input data contains invalid values")
        for start in range(0, ny, rows):
            clipped = sigma_clip(cube[:, start : start + rows], sigma=sigma, maxiters=maxiters, axis=0)
            image[start : start + rows] = clipped.mean(axis=0).filled(np.nan)
    return image


def reduce_frames(folder, *, reference: str | None = None, box_size: int, filter_size: int, background_sigma: float,
                  upsample_factor: int, smooth_sigma: float, order: int, stack_sigma: float, maxiters: int) -> dict:
    """Run the recipe on the folder's frames: ``{"stages": times, "shifts": rows, "stack": image}``."""
    paths = frame_paths(folder)
    if not paths:
        raise FileNotFoundError(f"{folder}: no FITS frames ({', '.join(FRAME_SUFFIXES)})")
    reference = reference or next(iter(paths))
    clock = Stopwatch()

    def subtracted(name):
        with clock("read"):
            data = read_frame(paths[name])
        with clock("background"):
            return subtract_sky(data, box_size=box_size, filter_size=filter_size, sigma=background_sigma)

    reference_data = subtracted(reference)
    with clock("register"):
        reference_image = registration_image(reference_data, smooth_sigma=smooth_sigma)
    cube = np.empty((len(paths), *reference_data.shape), dtype=np.float32)
    shifts = []
    for index, name in enumerate(paths):
        data = reference_data if name == reference else subtracted(name)
        with clock("register"):
            image = (reference_image if name == reference
                     else registration_image(data, smooth_sigma=smooth_sigma))
            dy, dx = measure_shift(reference_image, image, upsample_factor=upsample_factor)
        shifts.append({"frame": name, "dy": dy, "dx": dx})
        with clock("shift"):
            cube[index] = shift_frame(data, (dy, dx), order=order)
    with clock("stack"):
        image = stack_frames(cube, sigma=stack_sigma, maxiters=maxiters)
    return {"reference": reference, "stages": clock.times, "shifts": shifts, "stack": image}


def shift_errors(folder, shifts: list[dict], reference: str) -> dict | None:
    """The shifts' distance from the simulator's truth (``truth_shifts.csv`` in ``folder``), in px.

    The truth maps each frame onto the first; against another reference a frame's true shift is the difference of
    the two. None without a truth table, or when its frames turn or change scale (a shift cannot match them).
    Returns ``rms`` and ``max`` over the frames other than the reference, and ``frames``, how many.
    """
    path = Path(folder) / TRUTH_SHIFTS
    if not path.is_file():
        return None
    with open(path, newline="") as table:
        truth = {row["frame"]: row for row in csv.DictReader(table)}
    if any(float(row.get("rotation", 0)) != 0 or float(row.get("scale", 1)) != 1 for row in truth.values()):
        return None
    origin = truth[reference]
    distances = [math.hypot(row["dy"] - (float(truth[row["frame"]]["dy"]) - float(origin["dy"])),
                            row["dx"] - (float(truth[row["frame"]]["dx"]) - float(origin["dx"])))
                 for row in shifts if row["frame"] != reference]
    if not distances:
        return None
    return {"rms": math.sqrt(sum(d * d for d in distances) / len(distances)), "max": max(distances),
            "frames": len(distances)}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("frames", type=Path, help="folder of FITS frames")
    parser.add_argument("out_dir", type=Path, help="receives plain.json and stack.npy")
    parser.add_argument("--config", type=Path, default=Path(__file__).resolve().parents[1] / "config.yaml",
                        help="stackphot config whose parameters the recipe takes (default: the repository's)")
    parser.add_argument("--reference", help="reference frame name (default: the config's, else the first)")
    args = parser.parse_args(argv)
    config = yaml.safe_load(args.config.read_text())
    result = reduce_frames(args.frames, reference=args.reference or config.get("reference"), **parameters(config))
    args.out_dir.mkdir(parents=True, exist_ok=True)
    np.save(args.out_dir / "stack.npy", result.pop("stack"))
    result["shift_error"] = shift_errors(args.frames, result["shifts"], result["reference"])
    (args.out_dir / "plain.json").write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
