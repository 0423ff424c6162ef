"""`make bench`: the workflow against the same numerical work done in one process, and against a plain recipe.

For each frame set ``NxSIZE`` (N frames of SIZE x SIZE pixels) the harness

1. simulates the frames with stackphot.simulate into ``DIR/frames/<set>/``, once: they are reused while their
   spec is unchanged, and never timed;
2. runs bench/reference.py, the workflow's numerical steps in one Python process on one core;
3. runs bench/plain.py, the plain recipe of issue 22 (astropy, photutils, scikit-image and scipy called directly, no
   stackphot numerics) in one process on one core, and bench/siril.py, Siril on the same frames where siril-cli is
   installed;
4. runs the workflow in a fresh ``DIR/<set>/workflow/`` with ``snakemake --cores CORES``: first up to the stack
   (the reference's work), then the rest (detection and photometry, beyond the reference). Each of the three is
   one measured process tree; its products are deleted afterwards, its logs and benchmark files kept;

then prints one table (per stage: wall and CPU time of the workflow, the reference and the plain recipe, the
workflow's ratios to both, every rule's peak RSS; totals), the shifts' errors against the simulation's truth and
the acceptance figures of issues 4 and 22, and writes them to ``DIR/bench.md`` and ``DIR/bench.csv``.

    python bench/run_bench.py [--dir results/bench] [--cores 2] [60x1024 40x2048 100x2048 200x2048 1000x256]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import re
import shutil
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
# The runs are local. tests/bin's stand-in scontrol spares each Snakemake start the SLURM plugin's 9 s wait for a
# controller where SLURM's client is installed without one (README, "Running on a cluster"): that wait is the
# machine's, not the workflow's, and it is not what a user without SLURM sees.
NO_SLURM = ROOT / "tests" / "bin"
FULL_SETS = ("60x1024", "40x2048", "100x2048", "200x2048", "1000x256")
# Those of issue 4's acceptance: the workflow against the reference.
REFERENCE_SETS = ("100x2048", "200x2048", "1000x256")
# The sets of issue 22's acceptance: the workflow against the plain recipe.
PLAIN_SETS = ("60x1024", "40x2048")

# Stages of the reference, in DAG order, and the words of the names of the rules run up to the stack that belong to
# each (rules may be renamed or batched). What runs after the stack is beyond the reference, whatever its name.
RULE_WORDS = (
    ("ingest", ("ingest", "tabulate")),
    ("background", ("background", "defects")),
    ("register", ("reference", "shift", "regist")),
    ("align", ("align", "cube")),
    ("stack", ("stack",)),
)
STAGES = tuple(stage for stage, _ in RULE_WORDS)
# The plain recipe's stage beside each of them (bench/plain.py: reading is its ingest, shifting its alignment).
PLAIN_STAGES = {"ingest": "read", "background": "background", "register": "register", "align": "shift",
                "stack": "stack"}
OTHER = "other: snakemake, start-up, unsampled"
TOTAL = "total to the stack"
BEYOND = "beyond the reference: detection, photometry, report"

# Disk a set needs while it runs, per pixel of each frame: the workflow's float32 products (ingested, subtracted,
# sky, aligned, cube: data, error and mask planes) are about 42 bytes.
DISK_BYTES_PER_PIXEL = 45


@dataclass(frozen=True)
class FrameSetSpec:
    n_frames: int
    size: int

    @classmethod
    def parse(cls, text: str) -> FrameSetSpec:
        match = re.fullmatch(r"(\d+)x(\d+)", text.strip().lower())
        if not match:
            raise argparse.ArgumentTypeError(f"{text!r}: a frame set is NxSIZE, e.g. 200x2048")
        return cls(int(match[1]), int(match[2]))

    @property
    def name(self) -> str:
        return f"n{self.n_frames}_s{self.size}"

    def simulation(self) -> dict:
        """Simulation keys: the default dataset's star density and cosmic-ray rate on a SIZE x SIZE frame."""
        from stackphot.simulate import SimulationConfig

        default = SimulationConfig()
        scale = self.size / math.sqrt(default.shape[0] * default.shape[1])
        return {
            "shape": [self.size, self.size],
            "n_frames": self.n_frames,
            "seed": 4,
            "n_cluster_stars": round(default.n_cluster_stars * scale**2),
            "n_field_stars": round(default.n_field_stars * scale**2),
            "cluster_scale_radius": round(default.cluster_scale_radius * scale, 1),
            "cluster_max_radius": round(default.cluster_max_radius * scale, 1),
            "cosmic_rays_per_frame": round(default.cosmic_rays_per_frame * scale**2, 2),
            # Small frames keep most of their area on the reference.
            "max_offset": min(default.max_offset, self.size / 20),
        }


def ensure_frames(spec: FrameSetSpec, folder: Path) -> Path:
    """The set's frames in ``folder/<set>``, simulated unless they are there with the same spec."""
    from stackphot.simulate import SimulationConfig, frame_name, simulate_frame_set, write_frame_set

    folder = folder / spec.name
    spec_file = folder / "spec.yaml"
    wanted = yaml.safe_dump(spec.simulation())
    frames = [folder / f"{frame_name(index)}.fits" for index in range(spec.n_frames)]
    if spec_file.is_file() and spec_file.read_text() == wanted and all(path.is_file() for path in frames):
        return folder
    spec_file.unlink(missing_ok=True)  # written last: a set interrupted while written is simulated again
    start = time.perf_counter()
    write_frame_set(simulate_frame_set(SimulationConfig.from_mapping(spec.simulation())), folder, overwrite=True)
    spec_file.write_text(wanted)
    seconds = time.perf_counter() - start
    print(f"{spec.name}: simulated in {seconds:.0f} s ({seconds / spec.n_frames:.2f} s per frame)", flush=True)
    return folder


@dataclass
class Usage:
    wall: float  # s, elapsed
    cpu: float  # s, user + sys of the process and all its descendants
    max_rss_mb: float  # the largest single process of the tree


def measured(command: list[str], log: Path) -> Usage:
    """Run ``command`` (absolute executable first), its output to ``log``; the exact usage of its process tree.

    os.wait4 gives the child's rusage with every descendant it waited for (snakemake waits for all its jobs), so
    no short job is missed as by sampling, and the figures are this run's alone, unlike RUSAGE_CHILDREN's.
    The command runs in a session of its own: a harness stopped (Ctrl-C, or SIGTERM as from ``timeout``) kills its
    whole tree, so that no orphaned run goes on writing into the bench folder and into the next run's figures.
    """
    env = dict(os.environ, PATH=os.pathsep.join([str(BIN), str(NO_SLURM), os.environ["PATH"]]))
    with open(log, "w") as out:
        redirect = [(os.POSIX_SPAWN_DUP2, out.fileno(), 1), (os.POSIX_SPAWN_DUP2, out.fileno(), 2)]
        start = time.perf_counter()
        pid = os.posix_spawn(command[0], command, env, file_actions=redirect, setsid=True)
        try:
            _, status, usage = os.wait4(pid, 0)
        except BaseException:
            os.killpg(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            raise
        wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"failed: {' '.join(command)}\n  see {log}")
    return Usage(wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024)


def exit_on_sigterm():
    """SIGTERM (``timeout``, ``kill``) as SystemExit: an exception, so that ``measured`` takes the running command's
    tree down with it, where the default action would end this process alone."""
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))


JOB_USED = re.compile(r"job used ([\d.]+) s CPU \(user \+ sys\), peak memory (\d+) MB")


def read_benchmarks(folder: Path, logs: Path) -> pd.DataFrame:
    """One row per job of the ``benchmark:`` files under ``folder``: file, rule, stage, s, cpu_time, max_rss (MB).

    A rule's files are ``<rule>.tsv`` or ``<rule>/<wildcards>.tsv``; its log, at the same place under ``logs``,
    ends with the job's exact CPU time and peak memory (stackphot.scripting), which replace the samples.
    """
    tables = []
    for path in sorted(folder.rglob("*.tsv")):
        parts = path.relative_to(folder).parts
        rule = parts[0] if len(parts) > 1 else path.stem
        job = pd.read_csv(path, sep="\t").assign(file=str(path), rule=rule)
        log = (logs / path.relative_to(folder)).with_suffix(".log")
        used = JOB_USED.findall(log.read_text()) if log.is_file() else []
        if used:
            job = job.assign(cpu_time=float(used[-1][0]), max_rss=float(used[-1][1]))
        tables.append(job.assign(exact=bool(used)))
    jobs = pd.concat(tables, ignore_index=True)[["file", "rule", "s", "cpu_time", "max_rss", "exact"]]
    return jobs.assign(stage=jobs.rule.map(stage_of))


def stage_of(rule: str) -> str:
    return next((stage for stage, words in RULE_WORDS if any(word in rule for word in words)), OTHER)


@dataclass
class SetResult:
    spec: FrameSetSpec
    jobs: pd.DataFrame  # read_benchmarks: the jobs up to the stack
    beyond_jobs: pd.DataFrame  # and those of the rest of the workflow
    workflow: Usage  # up to the stack
    beyond: Usage  # the rest of the workflow
    reference: Usage
    reference_stages: dict  # stage -> {"wall": s, "cpu": s}
    checks: str  # does the workflow give the reference's results
    plain: Usage | None = None  # bench/plain.py's process
    plain_stages: dict = field(default_factory=dict)  # its stage -> {"wall": s, "cpu": s}
    # "workflow", "plain" (their transforms), "workflow, by its stars", "Siril" (by its stars), "floor of the stars'
    # measure" -> {"rms", "max", "frames"} (px) or None
    shift_errors: dict = field(default_factory=dict)
    siril: dict | None = None  # siril.json: {"wall", "cpu", ...} or {"skipped": why}


def run_set(spec: FrameSetSpec, *, bench_dir: Path, cores: int) -> SetResult:
    frames = ensure_frames(spec, bench_dir / "frames")
    work = bench_dir / spec.name
    run = work / "workflow"
    shutil.rmtree(work, ignore_errors=True)
    run.mkdir(parents=True)
    config = yaml.safe_load((ROOT / "config.yaml").read_text())
    config.update(datasets={spec.name: {"path": str(frames.resolve())}}, data=None)
    (run / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))

    print(f"{spec.name}: reference", flush=True)
    reference = measured([sys.executable, str(ROOT / "bench/reference.py"), str(run / "config.yaml"),
                          str(work / "reference")], work / "reference.log")
    print(f"{spec.name}: plain recipe", flush=True)
    plain = measured([sys.executable, str(ROOT / "bench/plain.py"), str(frames), str(work / "plain"), "--config",
                      str(run / "config.yaml")], work / "plain.log")
    siril = measured([sys.executable, str(ROOT / "bench/siril.py"), str(frames), str(work / "siril"), "--cores",
                      str(cores)], work / "siril.log")
    siril_outcome = json.loads((work / "siril/siril.json").read_text())
    if "skipped" in siril_outcome:
        print(f"{spec.name}: siril-cli not found: Siril's column skipped", flush=True)
    else:
        print(f"{spec.name}: Siril {siril_outcome['wall']:.0f} s wall ({siril.wall:.0f} s with its Python)", flush=True)
    print(f"{spec.name}: workflow", flush=True)
    snakemake = [str(BIN / "snakemake"), "--snakefile", str(ROOT / "Snakefile"), "--directory", str(run),
                 "--cores", str(cores)]
    results = run / "results" / spec.name
    benchmarks, logs = run / "benchmarks" / spec.name, run / "logs" / spec.name
    workflow = measured([*snakemake, str(results.relative_to(run) / "stack.fits")], work / "snakemake_stack.log")
    jobs = read_benchmarks(benchmarks, logs)
    beyond = measured(snakemake, work / "snakemake_beyond.log")
    beyond_jobs = read_benchmarks(benchmarks, logs)
    beyond_jobs = beyond_jobs[~beyond_jobs.file.isin(jobs.file)]

    outcome = json.loads((work / "reference/reference.json").read_text())
    # The reference ingests each frame twice where the workflow reads its ingested file (bench/reference.py).
    uncounted = outcome["stages"].pop("reingest", {"wall": 0.0, "cpu": 0.0})
    reference = Usage(reference.wall - uncounted["wall"], reference.cpu - uncounted["cpu"], reference.max_rss_mb)
    checks = compare(results, outcome["shifts"], np.load(work / "reference/stack.npy"))
    plain_outcome = json.loads((work / "plain/plain.json").read_text())
    checks += "; " + compare_plain(results, plain_outcome["shifts"], np.load(work / "plain/stack.npy"))
    errors = {"workflow": shift_errors(results / "shifts.csv", frames, spec.size, plain_outcome["reference"]),
              "plain": plain_outcome["shift_error"],
              **star_errors(results / "aligned", frames, plain_outcome["reference"])}
    if "skipped" not in siril_outcome:
        errors["Siril"] = siril_outcome["shift_error"]
    shutil.rmtree(results)
    (work / "plain/stack.npy").unlink()
    return SetResult(spec, jobs, beyond_jobs, workflow, beyond, reference, outcome["stages"], checks, plain,
                     plain_outcome["stages"], errors, siril_outcome)


def compare(results: Path, reference_shifts: list[dict], reference_stack: np.ndarray) -> str:
    """How far the workflow's shifts and stack are from the reference's (0: the same numerical work)."""
    from astropy.io import fits

    columns = ["dy", "dx"]
    shifts = pd.read_csv(results / "shifts.csv").set_index("frame")[columns]
    shift_diff = (shifts - pd.DataFrame(reference_shifts).set_index("frame")[columns]).abs().to_numpy().max()
    stack = fits.getdata(results / "stack.fits").astype(np.float64)
    same_coverage = np.array_equal(np.isnan(stack), np.isnan(reference_stack))
    stack_diff = np.nanmax(np.abs(stack - reference_stack))
    return (f"shifts differ from the reference's by at most {shift_diff:.1e} px, the stack by {stack_diff:.1e} ADU"
            f"{'' if same_coverage else ' (and in which pixels are NaN)'}")


def compare_plain(results: Path, plain_shifts: list[dict], plain_stack: np.ndarray) -> str:
    """How far the plain recipe's shifts and stack are from the workflow's (its sky is another's: not 0)."""
    from astropy.io import fits

    columns = ["dy", "dx"]
    shifts = pd.read_csv(results / "shifts.csv").set_index("frame")[columns]
    shift_diff = (shifts - pd.DataFrame(plain_shifts).set_index("frame")[columns]).abs().to_numpy()
    stack = fits.getdata(results / "stack.fits").astype(np.float64)
    return (f"the plain recipe's shifts differ from the workflow's by at most {np.nanmax(shift_diff):.3f} px, its "
            f"stack by a median of {np.nanmedian(np.abs(stack - plain_stack)):.2f} ADU")


def shift_errors(shifts_csv: Path, frames: Path, size: int, reference: str) -> dict | None:
    """The workflow's registration against the simulator's truth: RMS and largest distance (px) over the frame.

    A frame's distance is the RMS over its grid of points (stackphot.geometry.rms_distance) between where its
    measured and its true transform put them; the reference (distance 0) and frames without a transform are left
    out. None without a truth table.
    """
    from stackphot.geometry import Transform, rms_distance
    from stackphot.simulate import TRUTH_SHIFTS

    if not (frames / TRUTH_SHIFTS).is_file():
        return None
    truth = pd.read_csv(frames / TRUTH_SHIFTS).set_index("frame")
    measured_rows = pd.read_csv(shifts_csv).set_index("frame")
    onto_reference = Transform.from_row(truth.loc[reference]).inverse()
    distances = [rms_distance(Transform.from_row(row), Transform.from_row(truth.loc[name]).then(onto_reference),
                              (size, size))
                 for name, row in measured_rows.iterrows() if name != reference and np.isfinite(row.dy)]
    if not distances:
        return None
    return {"rms": float(np.sqrt(np.mean(np.square(distances)))), "max": float(max(distances)),
            "frames": len(distances)}


def star_errors(aligned: Path, frames: Path, reference: str) -> dict:
    """The workflow's aligned frames' registration read off their stars (bench/star_offsets.py, as Siril's is), and
    that measure's floor: the frames moved by their true shifts. Empty without a truth table, or where the
    frames turn or change scale (no shift moves them right)."""
    import star_offsets
    from astropy.io import fits

    from stackphot.simulate import TRUTH_SHIFTS

    if not (frames / TRUTH_SHIFTS).is_file():
        return {}
    truth = pd.read_csv(frames / TRUTH_SHIFTS).set_index("frame")
    if (truth.rotation != 0).any() or (truth.scale != 1).any():
        return {}
    others = [name for name in truth.index if name != reference]
    # The truth's shifts line each frame up with the first; the stars' places move into the reference's pixels.
    to_reference = truth.loc[reference, ["dy", "dx"]].to_numpy(float)
    raw = {path.stem: path for path in frames.glob("*.fits")}
    shape = fits.getdata(raw[reference]).shape
    places = star_offsets.reference_stars(frames / "truth_stars.csv", shape, offset=-to_reference)
    aligned_errors = star_offsets.offsets([aligned / f"{name}.fits" for name in others],
                                          aligned / f"{reference}.fits", places)
    true_shifts = [truth.loc[name, ["dy", "dx"]].to_numpy(float) - to_reference for name in others]
    floor = star_offsets.true_shift_offsets([raw[name] for name in others], raw[reference], true_shifts, places)
    return {"workflow, by its stars": star_offsets.summary(aligned_errors),
            "floor of the stars' measure": star_offsets.summary(floor)}


def set_rows(result: SetResult) -> list[dict]:
    """The set's rows of the table: per stage, other, total to the stack, beyond the reference."""
    jobs = result.jobs
    reference, plain = result.reference_stages, result.plain_stages
    none = {"wall": math.nan, "cpu": math.nan}

    def row(stage, rules, wf_wall, wf_cpu, ref=none, plain_times=none, peaks=None):
        if peaks is None:
            peaks = ", ".join(f"{rule} {mb:.0f}" for rule, mb in rules.groupby("rule").max_rss.max().items())
        return {"set": result.spec.name, "stage": stage, "jobs": len(rules), "wf wall s": wf_wall,
                "wf CPU s": wf_cpu, "ref wall s": ref["wall"], "ref CPU s": ref["cpu"],
                "CPU ratio": wf_cpu / ref["cpu"], "wall ratio": wf_wall / ref["wall"],
                "plain wall s": plain_times["wall"], "plain CPU s": plain_times["cpu"],
                "CPU / plain": wf_cpu / plain_times["cpu"], "wall / plain": wf_wall / plain_times["wall"],
                "peak RSS MB": peaks}

    def rest(usage: Usage | None, stages: dict) -> dict:
        """What a one-process run spent outside its stages: start-up, imports, writing."""
        if usage is None:
            return none
        return {"wall": usage.wall - sum(t["wall"] for t in stages.values()),
                "cpu": usage.cpu - sum(t["cpu"] for t in stages.values())}

    rows = []
    for stage in STAGES:
        rules = jobs[jobs.stage == stage]
        rows.append(row(stage, rules, rules.s.sum(), rules.cpu_time.sum(), reference.get(stage, none),
                        plain.get(PLAIN_STAGES[stage], none)))
    staged = jobs[jobs.stage.isin(STAGES)]
    rows.append(row(OTHER, jobs[jobs.stage == OTHER], math.nan, result.workflow.cpu - staged.cpu_time.sum(),
                    rest(result.reference, reference), rest(result.plain, plain)))
    plain_total = none if result.plain is None else {"wall": result.plain.wall, "cpu": result.plain.cpu}
    rows.append(row(TOTAL, staged, result.workflow.wall, result.workflow.cpu,
                    {"wall": result.reference.wall, "cpu": result.reference.cpu}, plain_total,
                    peaks=f"max {staged.max_rss.max():.0f}"))
    rows.append(row(BEYOND, result.beyond_jobs, result.beyond.wall, result.beyond.cpu))
    return rows


# Frames this small are the many-small-frames case: per-file costs dominate, the CPU limit is 2x.
SMALL_FRAME_SIZE = 256


def acceptance(results: list[SetResult]) -> pd.DataFrame:
    """Issue 4's figures on the sets given: the largest frames' most frames, the small frames, the doubling."""
    figures = [("total CPU, workflow / reference", r, r.workflow.cpu / r.reference.cpu, 2.0)
               for r in results if r.spec.size <= SMALL_FRAME_SIZE]
    large = [r for r in results if r.spec.size > SMALL_FRAME_SIZE]
    if not large:
        return _figure_table(figures)
    big = max(large, key=lambda r: (r.spec.size, r.spec.n_frames))
    figures = [
        ("total CPU, workflow / reference", big, big.workflow.cpu / big.reference.cpu, 1.3),
        ("wall, workflow / reference", big, big.workflow.wall / big.reference.wall, 0.75),
        ("max rule peak RSS, GB", big, max(big.jobs.max_rss.max(), big.beyond_jobs.max_rss.max()) / 1024, 1.5),
        *figures,
    ]
    fewer = [r for r in results if r.spec.size == big.spec.size and r.spec.n_frames < big.spec.n_frames]
    if fewer:
        # The next set down (100 frames for 200, not issue 22's 40): the issue's limit is for twice the frames.
        base = max(fewer, key=lambda r: r.spec.n_frames)
        frames = big.spec.n_frames / base.spec.n_frames
        figures.append((f"wall growth from {base.spec.n_frames} frames", big, big.workflow.wall / base.workflow.wall,
                        1.05 * frames))  # the 2.1 for twice the frames
    return _figure_table(figures)


# Issue 22's limits, up to the stack: the workflow's CPU and wall time against the plain recipe's.
PLAIN_CPU_LIMIT, PLAIN_WALL_LIMIT = 1.3, 0.75


def acceptance_plain(results: list[SetResult]) -> pd.DataFrame:
    """Issue 22's figures on every set the plain recipe ran on, and the workflow against Siril where it ran."""
    figures = []
    for r in results:
        if r.plain is not None:
            figures += [
                ("workflow CPU / plain CPU (up to the stack)", r, r.workflow.cpu / r.plain.cpu, PLAIN_CPU_LIMIT),
                ("workflow wall / plain wall", r, r.workflow.wall / r.plain.wall, PLAIN_WALL_LIMIT),
            ]
        if r.siril and "skipped" not in r.siril:
            figures += [("workflow CPU / Siril CPU", r, r.workflow.cpu / r.siril["cpu"], math.nan),
                        ("workflow wall / Siril wall", r, r.workflow.wall / r.siril["wall"], math.nan)]
    return _figure_table(figures)


SHIFT_ERRORS = (("workflow", "its transforms"), ("plain", "its shifts"), ("workflow, by its stars", "stars"),
                ("Siril", "stars"), ("floor of the stars' measure", "stars"))


def shift_table(results: list[SetResult]) -> pd.DataFrame:
    """Per set, each registration's errors against the truth (px), and how they were measured."""
    rows = []
    for r in results:
        for who, how in SHIFT_ERRORS:
            if who in r.shift_errors:
                error = r.shift_errors[who] or {}
                rows.append({"set": r.spec.name, "registration": who.removesuffix(", by its stars"), "measured by": how,
                             "RMS px": error.get("rms", math.nan), "max px": error.get("max", math.nan),
                             "frames": error.get("frames", math.nan)})
    return pd.DataFrame(rows, columns=["set", "registration", "measured by", "RMS px", "max px", "frames"])


def _figure_table(figures) -> pd.DataFrame:
    return pd.DataFrame(
        [{"figure": what, "set": r.spec.name, "value": value, "limit": limit,
          "met": "" if math.isnan(limit) else "yes" if value <= limit else "NO"}
         for what, r, value, limit in figures],
        columns=["figure", "set", "value", "limit", "met"],
    )


def machine() -> str:
    model = re.search(r"^model name\s*:\s*(.*)$", Path("/proc/cpuinfo").read_text(), re.MULTILINE)
    memory = re.search(r"^MemTotal:\s*(\d+) kB", Path("/proc/meminfo").read_text(), re.MULTILINE)
    return (f"{model[1] if model else platform.processor()}, {os.cpu_count()} cores "
            f"({len(os.sched_getaffinity(0))} usable), {int(memory[1]) / 2**20:.1f} GiB RAM, Python "
            f"{platform.python_version()}, {platform.system()} {platform.release()}")


def report(results: list[SetResult], *, cores: int, machine_text: str, load: tuple) -> tuple[str, pd.DataFrame]:
    """The markdown report and the table behind it."""
    table = pd.DataFrame([row for result in results for row in set_rows(result)])
    quick = not set(map(FrameSetSpec.parse, REFERENCE_SETS)) <= {r.spec for r in results}
    plain_sets = set(map(FrameSetSpec.parse, PLAIN_SETS)) <= {r.spec for r in results}
    lines = [
        "# stackphot benchmark",
        "",
        f"Machine: {machine_text}; load average {load[0]:.2f} before, {os.getloadavg()[0]:.2f} after.",
        f"Workflow: `snakemake --cores {cores}`; reference: bench/reference.py, one process on one core; plain:",
        "bench/plain.py, one process on one core.",
        "",
        table.replace({np.nan: None}).to_markdown(index=False, floatfmt=".2f", missingval=""),
        "",
        "A stage's workflow wall time is its jobs' wall times added up (they run up to `--cores` at once); the",
        "total rows' is elapsed time. A job's CPU time and peak RSS are exact, from the last line of its log",
        "(getrusage and VmHWM of the job's process, start-up and imports included); the row 'other' is what is left",
        "of the exact total (os.wait4 of the whole tree): Snakemake's own work and the shell around each job.",
        "",
        *(f"- {r.spec.name}: {r.checks}; largest single process {r.workflow.max_rss_mb:.0f} MB up to the stack "
          f"(Snakemake included), {r.beyond.max_rss_mb:.0f} MB beyond" for r in results),
        "",
        "## Acceptance (issue 4)" + (" on the quick sets, not the issue's sizes" if quick else ""),
        "",
        acceptance(results).to_markdown(index=False, floatfmt=".2f"),
        "",
        "## Acceptance (issue 22): the workflow against the plain recipe"
        + ("" if plain_sets else " on other sets than the issue's (60x1024, 40x2048)"),
        "",
        "The plain recipe (bench/plain.py): per frame astropy.io.fits, photutils' Background2D (MedianBackground),",
        "skimage's phase_cross_correlation (on a 3 x 3 median and a Gaussian of the frame, not phase-normalised),",
        "scipy.ndimage.shift; then astropy's sigma_clip along the frames and the mean; one process on one core.",
        "Its total (the row 'total to the stack') is its whole process: Python's start-up and imports included.",
        "",
        acceptance_plain(results).replace({np.nan: None}).to_markdown(index=False, floatfmt=".2f", missingval=""),
        "",
        *(f"- {r.spec.name}: siril-cli not found: Siril's column skipped" for r in results
          if r.siril and "skipped" in r.siril),
        "",
        "## Registration against the simulation's truth",
        "",
        "RMS and largest distance over the frames (the reference left out). By its transforms: each frame's RMS over",
        "a grid on it between where its measured and its true transform put the pixels. By the stars",
        "(bench/star_offsets.py): the median offset of the bright isolated stars between each registered frame and the",
        "reference, for Siril (which keeps no transform) and the workflow's aligned frames alike; its floor is what it",
        "reads of the frames moved by their true shifts with a cubic spline.",
        "",
        shift_table(results).replace({np.nan: None}).to_markdown(index=False, floatfmt=".4f", missingval=""),
    ]
    return "\n".join(lines) + "\n", table


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("sets", nargs="*", type=FrameSetSpec.parse, default=list(map(FrameSetSpec.parse, FULL_SETS)),
                        help=f"frame sets NxSIZE (default: {' '.join(FULL_SETS)})")
    parser.add_argument("--dir", type=Path, default=ROOT / "results/bench", help="work and report folder")
    parser.add_argument("--cores", type=int, default=2, help="snakemake --cores")
    args = parser.parse_args(argv)
    exit_on_sigterm()
    bench_dir = args.dir.resolve()
    bench_dir.mkdir(parents=True, exist_ok=True)
    needed = max(s.n_frames * s.size**2 for s in args.sets) * DISK_BYTES_PER_PIXEL
    free = shutil.disk_usage(bench_dir).free
    if free < needed:
        sys.exit(f"{bench_dir}: {free / 1e9:.0f} GB free, the largest set needs about {needed / 1e9:.0f} GB")

    load = os.getloadavg()
    results = [run_set(spec, bench_dir=bench_dir, cores=args.cores) for spec in args.sets]
    text, table = report(results, cores=args.cores, machine_text=machine(), load=load)
    print(text)
    (bench_dir / "bench.md").write_text(text)
    table.to_csv(bench_dir / "bench.csv", index=False, float_format="%.3f")
    print(f"written: {bench_dir / 'bench.md'}, {bench_dir / 'bench.csv'}")


if __name__ == "__main__":
    main()
