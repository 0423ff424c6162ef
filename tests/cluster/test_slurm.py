"""The default dataset through SLURM (a single node on this machine) gives the same products as a local run.

The node is brought up by tests/cluster/slurm.sh (Debian's slurm-wlm and munge; root and apt-get needed) and
stopped after the test, unless it was already running. When the daemons cannot start, the test is skipped
with the script's error.
"""

import ctypes
import fcntl
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from astropy.io import fits

pytestmark = [pytest.mark.workflow, pytest.mark.cluster]

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = Path(__file__).with_name("slurm.sh")
# Both runs side by side take about 4 minutes here on 2 cores (7-8 under a load of 4-9 from other work): each
# SLURM job starts snakemake twice (the job step, then srun) and is seen to end only at the next status check.
TIMEOUT = 900
# What the toy cluster does differently from a real one: it has no accounting database, so sacct cannot report job
# states (squeue does; and the plugin, finding no account to guess, submits without one), and its jobs take
# seconds, so the first status check comes after 2 s instead of the profile's 20 s. All five frames go in one
# job per per-frame step (16 SLURM jobs instead of 32; the local run keeps batch_size auto, one frame per job):
# the products do not depend on the batch size, so they must still equal the local run's.
SLURM_TEST_ARGS = ["--slurm-status-command", "squeue", "--slurm-init-seconds-before-status-checks", "2",
                   "--config", "run={batch_size: 5}"]  # --config last: it takes every argument after it
TABLES = ["shifts.csv", "catalog.csv", "photometry.csv"]


def cluster(command: str) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(SCRIPT), command], capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def slurm_env():
    """The environment in which SLURM commands reach the node; the node stopped after, if this started it."""
    # One test session at a time: another one's teardown would stop the daemons under this one's jobs.
    lock_path = Path(os.environ.get("STACKPHOT_SLURM_DIR", "/tmp/stackphot-slurm") + ".lock")
    lock = open(lock_path, "w")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock.close()
        pytest.skip(f"the single-node SLURM is in use by another test session (lock {lock_path})")
    already_running = cluster("status").returncode == 0
    started = cluster("start")
    if started.returncode != 0:
        cluster("stop")  # whichever daemons did start
        lock.close()
        reason = (started.stderr.strip() or started.stdout.strip())[-2000:]
        pytest.skip(f"single-node SLURM could not start (tests/cluster/slurm.sh start): {reason}")
    slurm_conf = started.stdout.strip().splitlines()[-1].removeprefix("SLURM_CONF=")
    # Jobs run with the submitting environment (sbatch --export=ALL): this Python's environment first on PATH.
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    yield dict(os.environ, SLURM_CONF=slurm_conf, PATH=path)
    if not already_running:
        stopped = cluster("stop")
        assert stopped.returncode == 0, stopped.stderr
    lock.close()


def default_dataset(workdir: Path) -> Path:
    """A working directory holding the repository's config.yaml and simulation specs: the default dataset."""
    (workdir / "data").mkdir(parents=True)
    shutil.copy(ROOT / "config.yaml", workdir)
    for spec in (ROOT / "data").glob("*.yaml"):
        shutil.copy(spec, workdir / "data")
    return workdir


def die_with_parent() -> None:
    """In the child: be sent SIGTERM when the test process dies, so that a killed pytest leaves no run behind
    (snakemake cancels its SLURM jobs on SIGTERM). Linux's PR_SET_PDEATHSIG."""
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)


def snakemake(workdir: Path, env: dict, *args: str) -> subprocess.Popen:
    """Start snakemake on the workflow in ``workdir``, its output going to workdir/snakemake.out."""
    with open(workdir / "snakemake.out", "w") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "snakemake", "--snakefile", str(ROOT / "Snakefile"), "--directory",
             str(workdir), *args],
            stdout=log, stderr=subprocess.STDOUT, env=env, cwd=workdir, preexec_fn=die_with_parent,
        )


def wait(process: subprocess.Popen, workdir: Path, deadline: float) -> None:
    """Wait for a run until ``deadline`` (time.monotonic()); fail with the end of its output unless it succeeded."""
    try:
        process.wait(timeout=max(deadline - time.monotonic(), 1))
    except subprocess.TimeoutExpired:
        pass
    stop(process)
    output = (workdir / "snakemake.out").read_text()
    assert process.returncode == 0, f"snakemake in {workdir.name} failed ({process.returncode}):\n{output[-6000:]}"


def stop(process: subprocess.Popen) -> None:
    """End a run still going (snakemake cancels its SLURM jobs on SIGTERM)."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_slurm_products_equal_local_products(slurm_env, tmp_path):
    local, cluster_run = default_dataset(tmp_path / "local"), default_dataset(tmp_path / "slurm")
    start = time.monotonic()
    # Side by side: the cluster run spends much of its time waiting for status checks.
    on_slurm = snakemake(cluster_run, slurm_env, "--executor", "slurm", "--profile", str(ROOT / "profiles/slurm"),
                         *SLURM_TEST_ARGS)
    on_host = snakemake(local, slurm_env, "--cores", "2")
    try:
        wait(on_host, local, start + TIMEOUT)
        local_seconds = time.monotonic() - start
        wait(on_slurm, cluster_run, start + TIMEOUT)
    finally:
        stop(on_host)
        stop(on_slurm)
    print(f"local run {local_seconds:.0f} s, SLURM run {time.monotonic() - start:.0f} s (side by side)")

    log = (cluster_run / "snakemake.out").read_text()
    assert "submitted with SLURM jobid" in log, "no job went through SLURM"
    for dataset in yaml.safe_load((ROOT / "config.yaml").read_text())["datasets"]:
        here, there = local / "results" / dataset, cluster_run / "results" / dataset
        with fits.open(here / "stack.fits") as a, fits.open(there / "stack.fits") as b:
            assert [hdu.name for hdu in a] == [hdu.name for hdu in b]
            for hdu_a, hdu_b in zip(a, b):
                np.testing.assert_array_equal(hdu_a.data, hdu_b.data, err_msg=f"stack.fits[{hdu_a.name}]")
        for table in TABLES:
            pd.testing.assert_frame_equal(pd.read_csv(there / table), pd.read_csv(here / table), check_exact=True,
                                          obj=table)
