"""The time series' per-frame photometry: CPU per frame and memory against the number of frames.

    python bench/lightcurve.py [N_FRAMES] [SIZE] [N_STARS]

N_FRAMES frames (default 1000) of SIZE x SIZE (1024) with N_STARS stars (2000) are measured as the workflow's
measure_forced_photometry jobs measure them: the catalog carried into each frame by its transform, five apertures,
the annuli with every star masked, the cosmic-ray flag. The frames are made from one simulated frame moved by
each frame's offset (a simulation of every frame would take longer than the photometry), in batches of the
workflow's PHOTOMETRY_FRAMES_PER_JOB, each batch in a fresh process whose peak memory is read: it must not grow
with the frames. Then the long table of every star in every frame is made into the matrices the light curves
and the variability search take, and its time and memory printed.
"""

import json
import resource
import subprocess
import sys
import time

import numpy as np

PHOTOMETRY_FRAMES_PER_JOB = 64  # workflow/rules/common.smk


def batch(n_frames: int, size: int, n_stars: int) -> dict:
    """One job's worth of frames measured; CPU seconds per frame and the process's peak RSS (MB)."""
    from scipy import ndimage

    from stackphot.geometry import Transform
    from stackphot.lightcurve import forced_photometry
    from stackphot.simulate import simulate_frame_set

    frame_set = simulate_frame_set(shape=(size, size), n_frames=1, seed=20, n_cluster_stars=0, n_field_stars=n_stars,
                                   max_offset=0.0, cosmic_rays_per_frame=0.0)
    data = frame_set.frames[0].astype(np.float32) - np.median(frame_set.frames[0])
    error = np.sqrt(np.abs(data) + 100.0).astype(np.float32)
    catalog = frame_set.stars[(frame_set.stars.x > 0) & (frame_set.stars.x < size) & (frame_set.stars.y > 0)
                              & (frame_set.stars.y < size)]
    rng = np.random.default_rng(1)
    start, rows = time.process_time(), 0
    for _ in range(n_frames):
        dy, dx = rng.uniform(-5, 5, 2)
        moved = ndimage.shift(data, (dy, dx), order=1)
        table = forced_photometry(moved, x=catalog.x.to_numpy(), y=catalog.y.to_numpy(), ids=catalog.id.to_numpy(),
                                  transform=Transform.translation(-dy, -dx), radii=[4.0, 6.0, 9.0],
                                  annulus=(12.0, 18.0), error=error, mask=np.zeros(data.shape, bool), fwhm=3.5,
                                  fwhm_radii=[1.5, 2.5], mask_sources=9.0)
        rows += len(table)
    cpu = (time.process_time() - start) / n_frames
    return {"cpu_per_frame": cpu, "stars": len(catalog), "rows": rows,
            "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def in_fresh_process(*args) -> dict:
    """``batch`` in a new Python process: its peak memory is its own."""
    output = subprocess.run([sys.executable, __file__, "--batch", *map(str, args)], capture_output=True, text=True,
                            check=True).stdout
    return json.loads(output.strip().splitlines()[-1])


def series_matrices(n_frames: int, n_stars: int) -> dict:
    """The long table of ``n_frames`` x ``n_stars`` made into the light curves' matrices; seconds and peak MB."""
    import pandas as pd

    from stackphot.lightcurve import Matrices

    rng = np.random.default_rng(2)
    frames = [f"frame_{index:04d}" for index in range(n_frames)]
    table = pd.DataFrame({"frame": np.repeat(frames, n_stars), "id": np.tile(np.arange(1, n_stars + 1), n_frames),
                          "flux_r4": rng.uniform(1e3, 1e5, n_frames * n_stars),
                          "flux_err_r4": rng.uniform(10, 100, n_frames * n_stars),
                          "flags": np.zeros(n_frames * n_stars, int)})
    start = time.perf_counter()
    matrices = Matrices.of(table, "flux_r4", frames)
    return {"seconds": time.perf_counter() - start, "shape": list(matrices.flux.shape),
            "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def main(n_frames: int = 1000, size: int = 1024, n_stars: int = 2000) -> None:
    print(f"Per-frame photometry, {size} x {size}, {n_stars} stars placed (those on the frame measured), "
          f"jobs of {PHOTOMETRY_FRAMES_PER_JOB} frames, each in a fresh process:")
    for frames in sorted({min(8, n_frames), min(PHOTOMETRY_FRAMES_PER_JOB, n_frames)}):
        result = in_fresh_process(frames, size, n_stars)
        print(f"  a job of {frames:3d} frames: {result['cpu_per_frame']:.2f} s of CPU per frame "
              f"({result['stars']} stars), peak memory {result['peak_mb']:.0f} MB")
    jobs = -(-n_frames // PHOTOMETRY_FRAMES_PER_JOB)
    print(f"  {n_frames} frames: {jobs} such jobs; memory is the job's, whatever the number of frames")
    matrices = series_matrices(n_frames, n_stars)
    print(f"The series of {n_frames} frames x {n_stars} stars as matrices {matrices['shape']}: "
          f"{matrices['seconds']:.1f} s, peak memory {matrices['peak_mb']:.0f} MB")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--batch"]:
        print(json.dumps(batch(*map(int, sys.argv[2:5]))))
    else:
        main(*map(int, sys.argv[1:4]))
