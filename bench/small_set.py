"""A small set end to end, as a person trying stackphot waits for it: the five real M13 frames, warm environment,
fresh results, every product of the workflow (stack, catalog, photometry, time series, plots).

    python bench/small_set.py [--data DIR] [--cores 2] [--repeat 3] [--batch-size auto 1] [--worker true false]

Each run is a fresh folder under a temporary directory (the frames are read where they are, never copied);
its wall time, the CPU of Snakemake and every job (the process tree's, from ``getrusage``), and the number of
jobs are printed, the median of ``--repeat`` runs per batch size. ``--batch-size 1`` is one job per frame and
step, the cut of the per-frame steps before small sets shared a job; ``--worker false`` starts every job in a
Python of its own (``run: worker``). Issue 22's bar: at most 10 s of wall.
"""

import argparse
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
M13 = ROOT.parent / "shared" / "data" / "m13"
NO_SLURM = ROOT / "tests" / "bin"  # the SLURM plugin's wait for a controller is not the workflow's: run_bench.py
WALL_BAR_S = 10.0


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_once(data: Path, cores: int, batch_size: str, worker: str) -> tuple[float, float, int]:
    """Wall and CPU seconds and the number of jobs of one run of the whole workflow on ``data``."""
    with tempfile.TemporaryDirectory(prefix="stackphot-small-") as work:
        Path(work, "config.yaml").write_text(f'data: "{data}"\nrun: {{batch_size: {batch_size}, worker: {worker}}}\n')
        command = [sys.executable, "-m", "snakemake", "--snakefile", str(ROOT / "Snakefile"), "--directory", work,
                   "--cores", str(cores)]
        env = dict(os.environ, PATH=os.pathsep.join([str(Path(sys.executable).parent), str(NO_SLURM),
                                                     os.environ["PATH"]]))
        cpu, start = children_cpu(), time.perf_counter()
        result = subprocess.run(command, capture_output=True, text=True, env=env)
        wall, cpu = time.perf_counter() - start, children_cpu() - cpu
        if result.returncode != 0:
            raise SystemExit(f"the workflow failed on {data}:\n{result.stderr[-3000:]}")
        jobs = len(re.findall(r"^(?:local)?rule (?!all:)\w+:", result.stdout + result.stderr, re.MULTILINE))
    return wall, cpu, jobs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=M13)
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--batch-size", nargs="+", default=["auto", "1"])
    parser.add_argument("--worker", nargs="+", default=["true", "false"], choices=["true", "false"])
    options = parser.parse_args()
    if not options.data.is_dir():
        print(f"{options.data}: no such folder (the shared data sets lie beside the project): small set skipped")
        return
    print(f"{options.data}, {options.cores} cores, median of {options.repeat} runs each")
    print("| batch_size | worker | jobs | wall (s) | CPU (s) | wall bar |")
    print("|---|---|---|---|---|---|")
    for batch_size in options.batch_size:
        for worker in options.worker:
            runs = [run_once(options.data.resolve(), options.cores, batch_size, worker)
                    for _ in range(options.repeat)]
            wall = statistics.median(run[0] for run in runs)
            cpu = statistics.median(run[1] for run in runs)
            print(f"| {batch_size} | {worker} | {runs[0][2]} | {wall:.1f} | {cpu:.1f} | "
                  f"{wall / WALL_BAR_S:.2f} x {WALL_BAR_S:g} s |")


if __name__ == "__main__":
    main()
