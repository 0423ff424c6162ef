"""The in-process limit of issue 4: the workflow's numerical steps on one frame set, in one process on one core.

Every frame is read and ingested, its sky estimated and subtracted, reduced for registration and its shift
measured against the reference (whose spectrum is computed once), shifted onto the reference, and all of them
combined: the package functions the rule scripts call, with the values of the same config, but without the
intermediate files the rules write. Each stage's wall and CPU time is added up over the frames.

    python bench/reference.py CONFIG OUT_DIR

CONFIG names one dataset (``datasets: {name: {path: ...}}``); OUT_DIR receives ``reference.json`` (stage times
and shifts) and ``stack.npy`` (the combined image, to compare with the workflow's).
"""

import os

# One core: the BLAS and OpenMP pools are sized when numpy loads, hence before the imports below; the process is
# also pinned to a single CPU, so that no library's own threads can use a second one.
for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_variable] = "1"
os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})

import json
import sys
from pathlib import Path

import numpy as np
import yaml

from stackphot.align import align_frame
from stackphot.background import subtract_background
from stackphot.datasets import resolve_datasets
from stackphot.defects import DefectCounts, with_defects
from stackphot.geometry import Transform
from stackphot.ingest import ingest_product
from stackphot.io import read_raw_frame
from stackphot.provenance import sha256
from stackphot.register import prepare_frame, register_frame, spectrum, triangles, wcs_transform
from stackphot.stack import combine
from stopwatch import Stopwatch


# The stack job's default block budget: its mem_mb (workflow/rules/stack.smk) less 400 MB for Python.
STACK_MEMORY_MB = 1024


def reduce_dataset(config: dict, out_dir: Path) -> dict:
    """Ingest, background, register, align and combine the config's one dataset; stage times and shifts."""
    (dataset,) = resolve_datasets(config).values()
    ingest, background, register = config["ingest"], config["background"], config["register"]
    clock = Stopwatch()

    def ingested(name, stage="ingest"):
        """One frame as ingest_frames writes it, and its raw header."""
        path = dataset.frames[name]
        with clock(stage):
            raw = read_raw_frame(path)
            made = ingest_product(raw, gain=ingest["gain"], read_noise=ingest["read_noise"],
                                  saturation=ingest["saturation"], offset=ingest["offset"], raw_sha256=sha256(path))
        return made, raw.header

    # The dataset's defect map, from every ingested frame before any sky, as find_defects makes it (run_bench
    # counts that rule with the background). The frames are ingested here for it and again below, where the
    # workflow reads its ingested files instead: that second ingest is clocked apart ("reingest"), as no stage.
    defects = None
    if background["defects"]:
        counts = DefectCounts(nsigma=background["defects"]["nsigma"])
        for name in dataset.frame_names:
            made, _ = ingested(name)
            with clock("background"):
                counts.add(made.product.data, made.product.extensions["ERR"], made.product.extensions["MASK"])
        with clock("background"):
            defects = counts.defects(background["defects"]["min_fraction"]).map

    def subtracted(name):
        """Data, error, mask and header of one frame as subtract_backgrounds writes them."""
        made, header = ingested(name, "reingest" if defects is not None else "ingest")
        with clock("background"):
            products = subtract_background(made.product.data, made.product.extensions["MASK"], gain=made.frame.noise.gain,
                                           method=background["method"], box_size=background["box_size"],
                                           filter_size=background["filter_size"], sigma=background["sigma"],
                                           destripe_rows=background["destripe"]).subtracted
            if defects is not None:
                products = with_defects(products, defects)
        return products.data, products.extensions["ERR"], products.extensions["MASK"], header

    reference = subtracted(dataset.reference)
    with clock("register"):
        reference_image, _, reference_stars = prepare_frame(reference[0], reference[2], crop=register["crop"],
                                                            smooth_sigma=register["smooth_sigma"],
                                                            threshold=register["threshold"])
        shared = {"reference_spectrum": spectrum(reference_image),
                  "reference_triangles": triangles(reference_stars[:, :2])}
    options = {**register, "min_matched_stars": config["quality"]["min_matched_stars"]}
    # The aligned planes go to float32 memmaps on disk, as the workflow's cube does: 200 frames of 2048 x 2048
    # are 3.2 GB of data and as much of errors, which combine reads back in blocks within its memory budget.
    shape = (len(dataset.frames), *reference[0].shape)
    cube_path, errors_path = out_dir / "cube.npy", out_dir / "errors.npy"
    cube = np.lib.format.open_memmap(cube_path, mode="w+", dtype=np.float32, shape=shape)
    errors = np.lib.format.open_memmap(errors_path, mode="w+", dtype=np.float32, shape=shape)
    shifts = []
    for index, name in enumerate(dataset.frame_names):
        is_reference = name == dataset.reference
        data, error, mask, header = reference if is_reference else subtracted(name)
        with clock("register"):
            row, _ = register_frame(data, mask, reference_image, reference_stars, **options, **shared,
                                    wcs_guess=wcs_transform(header, reference[3], data.shape))
        # Rounded as shifts.csv stores them (%.6f), so that the stacks can be compared bit for bit.
        row = {key: round(value, 6) if isinstance(value, float) else value for key, value in row.items()}
        shifts.append({"frame": name, **row})
        with clock("align"):
            aligned = align_frame(data, Transform.from_row(row), error=error, mask=mask > 0,
                                  order=config["align"]["order"])
            cube[index], errors[index] = aligned.data, aligned.error
    stack = config["stack"]
    with clock("stack"):
        result = combine(cube, errors, method=stack["method"], sigma=stack["sigma"], maxiters=stack["maxiters"],
                         memory_mb=STACK_MEMORY_MB)
    np.save(out_dir / "stack.npy", result.image)
    del cube, errors
    cube_path.unlink()
    errors_path.unlink()
    return {"stages": clock.times, "shifts": shifts}


def main(config_path, out_dir):
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    result = reduce_dataset(yaml.safe_load(Path(config_path).read_text()), out_dir)
    (out_dir / "reference.json").write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main(*sys.argv[1:])
