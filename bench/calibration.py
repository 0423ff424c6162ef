"""Memory of the master-calibration combine (issue 18: at most 1.5 GB peak for 50 frames of 4096 x 4096).

    python bench/calibration.py [N] [SIZE]

Simulates N bias and N flat frames of SIZE x SIZE (default 50 and 4096) as a camera writes them (uint16 stored
as int16 with BZERO 32768) into ``results/bench/calibration/<N>x<SIZE>/``, once: files already there with that
shape are reused, and each is written under a temporary name and renamed. Then master_bias and master_flat
(less the master bias, as zero_level gives it) each run in a fresh process with CombineOptions(memory_mb=600),
what the workflow's master rules pass, and a table gives per master its input (on disk, and N * SIZE**2 float32
values in memory), wall and CPU seconds of the call, the process's peak RSS, its ratio to that float32 input
and the verdict against 1.5 GB; last, the floor: the peak of a process that only imports stackphot.calibrate.

Every step, the simulation too, is its own process, reporting its own getrusage ru_maxrss and VmHWM. The parent
imports nothing heavy: on Linux a child's ru_maxrss starts from its parent's RSS when it was spawned (exec
keeps the old address space's high-water mark), which a large parent would print into every figure. A
child's peak covers its whole life (imports, the master bias read for the flat); its wall and CPU seconds the
master's call alone. MB and GB are 2**20 and 2**30 bytes (as bench/run_bench.py's acceptance reads 1.5 GB).
"""

import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MB, GB = 2**20, 2**30
LIMIT_GB = 1.5
MEMORY_MB = 600  # workflow/rules/common.smk, master_params
GAIN, READ_NOISE = 1.5, 9.0  # e-/ADU, e-
BIAS_LEVEL, FLAT_LEVEL, FLAT_EXPTIME = 1000.0, 20000.0, 2.0  # ADU, ADU above the bias, s
KINDS = ("bias", "flat")


def peak_mb() -> dict:
    """This process's peak RSS: getrusage's ru_maxrss and, on Linux, VmHWM (its own address space only)."""
    peak = {"maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    status = Path("/proc/self/status")
    if status.exists():
        line = next(line for line in status.read_text().splitlines() if line.startswith("VmHWM:"))
        peak["hwm_mb"] = int(line.split()[1]) / 1024
    return peak


def frame_paths(folder: Path, kind: str, n_frames: int) -> list[Path]:
    return [folder / f"{kind}_{index:03d}.fits" for index in range(n_frames)]


def has_shape(path: Path, size: int) -> bool:
    """A frame written earlier (complete: frames appear only once renamed) of this size."""
    from astropy.io import fits

    try:
        header = fits.getheader(path)
    except (OSError, ValueError):
        return False
    return (header.get("NAXIS"), header.get("NAXIS1"), header.get("NAXIS2"), header.get("BITPIX")) == (2, size, size, 16)


# The children: each prints one JSON line of figures last.

def simulate(folder: Path, n_frames: int, size: int) -> dict:
    """Write the frames not yet there, one at a time in float32: at most a few frames held."""
    import numpy as np
    from astropy.io import fits

    from stackphot.io import atomic_write

    y, x = np.ogrid[:size, :size]
    columns = (3 * np.sin(x / 5.0)).astype(np.float32)  # the bias's column structure, one row
    radius2 = ((x - size / 2) / size) ** 2 + ((y - size / 2) / size) ** 2
    response = None  # the flats' vignetting times a 1% pixel response, made when a flat is written
    written = 0
    for kind in KINDS:
        for index, path in enumerate(frame_paths(folder, kind, n_frames)):
            if has_shape(path, size):
                continue
            rng = np.random.default_rng([size, KINDS.index(kind), index])
            if kind == "bias":
                data = rng.standard_normal((size, size), dtype=np.float32)
                data *= READ_NOISE / GAIN
                data += BIAS_LEVEL + columns
                cards = {"IMAGETYP": "Bias Frame", "EXPTIME": 0.0}
            else:
                if response is None:
                    response = (1 - 0.6 * radius2).astype(np.float32)
                    response *= np.random.default_rng([size, 99]).normal(1, 0.01, (size, size)).astype(np.float32)
                # Twilight fading frame after frame; Poisson and read noise as one Gaussian, in electrons.
                electrons = response * np.float32(FLAT_LEVEL * 0.99**index * GAIN)
                noise = rng.standard_normal((size, size), dtype=np.float32)
                noise *= np.sqrt(electrons + READ_NOISE**2)
                electrons += noise
                del noise
                data = electrons
                data /= GAIN
                data += BIAS_LEVEL + columns
                cards = {"IMAGETYP": "Flat Field", "EXPTIME": FLAT_EXPTIME, "FILTER": "R"}
            counts = np.clip(np.rint(data, out=data), 0, 65535, out=data).astype(np.uint16)
            del data
            header = fits.Header({**cards, "GAIN": GAIN, "RDNOISE": READ_NOISE, "CCD-TEMP": -10.0})
            with atomic_write(path) as temporary:
                fits.PrimaryHDU(counts, header).writeto(temporary)  # uint16: int16 with BZERO 32768
            del counts
            written += 1
    return {"written": written}


def combine_master(folder: Path, kind: str, n_frames: int) -> dict:
    """master_bias (written to the folder for the flat) or master_flat less it, timed and its peak taken."""
    from stackphot.calibrate import CombineOptions, master_bias, master_flat, master_product, read_master, zero_level
    from stackphot.io import write_product

    common = dict(gain=GAIN, read_noise=READ_NOISE, saturation=65535.0, options=CombineOptions(memory_mb=MEMORY_MB))
    bias_path = folder / "master_bias.fits"
    if kind == "flat":
        zero = zero_level(FLAT_EXPTIME, bias=read_master(bias_path), darks={})
    start_mb = peak_mb()
    wall, cpu = time.perf_counter(), time.process_time()
    if kind == "bias":
        master = master_bias(frame_paths(folder, kind, n_frames), **common)
    else:
        master = master_flat(frame_paths(folder, kind, n_frames), "R", zero=zero, **common)
    figures = {"wall": time.perf_counter() - wall, "cpu": time.process_time() - cpu, **peak_mb(),
               "start_mb": start_mb.get("hwm_mb", start_mb["maxrss_mb"]), "history": master.history[0]}
    if kind == "bias":
        write_product(bias_path, master_product(master))
    return figures


def floor() -> dict:
    import stackphot.calibrate  # noqa: F401

    return {}


def child(task: str, folder: str, n_frames: str, size: str) -> None:
    folder, n_frames, size = Path(folder), int(n_frames), int(size)
    if task == "simulate":
        figures = simulate(folder, n_frames, size)
    elif task == "floor":
        figures = floor()
    else:
        figures = combine_master(folder, task, n_frames)
    print(json.dumps({**peak_mb(), **figures}))


# The parent.

def run_child(task: str, folder: Path, n_frames: int, size: int) -> dict:
    done = subprocess.run([sys.executable, __file__, "--child", task, str(folder), str(n_frames), str(size)],
                          check=True, stdout=subprocess.PIPE, text=True, cwd=ROOT)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(n_frames: int = 50, size: int = 4096, folder: Path | None = None) -> None:
    folder = (folder or ROOT / "results/bench/calibration" / f"{n_frames}x{size}").resolve()
    folder.mkdir(parents=True, exist_ok=True)
    needed = len(KINDS) * n_frames * (size**2 * 2 + 2880) + 16 * size**2  # the frames and the master bias
    present = sum(path.stat().st_size for kind in KINDS for path in frame_paths(folder, kind, n_frames)
                  if path.exists())
    free = shutil.disk_usage(folder).free
    if free < needed - present:
        sys.exit(f"{folder}: {free / GB:.1f} GB free, the frames need about {(needed - present) / GB:.1f} GB more")

    start = time.perf_counter()
    simulated = run_child("simulate", folder, n_frames, size)
    print(f"{n_frames} bias and {n_frames} flat frames of {size} x {size} in {folder}: {simulated['written']} "
          f"written ({time.perf_counter() - start:.0f} s, peak {simulated['maxrss_mb']:.0f} MB), the rest reused")
    in_memory = n_frames * size**2 * 4  # float32
    rows = []
    for kind in KINDS:
        on_disk = sum(path.stat().st_size for path in frame_paths(folder, kind, n_frames))
        run = run_child(kind, folder, n_frames, size)
        peak = run["maxrss_mb"]
        rows.append((kind, n_frames, f"{size} x {size}", f"{on_disk / GB:.2f}", f"{run['wall']:.1f}",
                     f"{run['cpu']:.1f}", f"{run['start_mb']:.0f}", f"{peak:.0f}", f"{run.get('hwm_mb', peak):.0f}",
                     f"{peak * MB / in_memory:.3f}", f"{peak / 1024 / LIMIT_GB:.2f} {'PASS' if peak / 1024 <= LIMIT_GB else 'FAIL'}"))
        print(f"  {kind}: {run['history']}")
    bare = run_child("floor", folder, n_frames, size)
    header = ("kind", "frames", "size", "input GB", "wall s", "CPU s", "start MB", "peak RSS MB", "VmHWM MB",
              "peak / input", f"peak / {LIMIT_GB} GB")
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows)]
    print(f"master combine, CombineOptions(memory_mb={MEMORY_MB}) (sigma_clip, 3 sigma), each in a fresh process; "
          f"input in memory {in_memory / GB:.2f} GB as float32")
    for row in (header, *rows):
        print("  ".join(str(cell).rjust(width) for cell, width in zip(row, widths)))
    print(f"floor: a process importing stackphot.calibrate peaks at {bare['maxrss_mb']:.0f} MB "
          f"(VmHWM {bare.get('hwm_mb', bare['maxrss_mb']):.0f}); this parent at {peak_mb()['maxrss_mb']:.0f} MB. "
          "start MB: the process before the call (imports; for the flat, the master bias read)")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        child(*sys.argv[2:])
    else:
        main(*(int(arg) for arg in sys.argv[1:]))
