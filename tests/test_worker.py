"""The warm worker: a job handed over runs in a child of the worker, as its own process would, or in its own."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from stackphot import worker

# What Snakemake's preamble does before a script's own lines: binds ``snakemake`` and points ``__file__`` at the
# script (the file run is a copy of it with the preamble on top).
PREAMBLE = ("import types; snakemake = types.SimpleNamespace(threads={threads}, own_threads={own_threads}, code={code}); "
            "__file__ = {script!r}\n")
SCRIPT = """\
import os
import sys
import time

from stackphot.worker import hand_over

hand_over(own_threads=snakemake.own_threads)

print("ran in", os.getpid(), "under", os.getppid(), "in", os.getcwd(), "with", os.environ.get("JOB_MARK"), flush=True)
if snakemake.code == "raise":
    raise RuntimeError("a bug in the script")
if snakemake.code == "sleep":
    time.sleep(60)
sys.exit(snakemake.code)
"""


@pytest.fixture(scope="module")
def warm():
    process = worker.start()
    socket_path = Path(os.environ[worker.SOCKET_VARIABLE])
    deadline = time.monotonic() + 120
    while not socket_path.exists():  # the worker listens once it has imported everything
        assert process.poll() is None and time.monotonic() < deadline, "the worker never listened"
        time.sleep(0.1)
    yield process
    worker.stop(process)
    assert process.returncode is not None and not socket_path.parent.exists()


def run_job(folder: Path, *, threads=1, own_threads=False, code=0, wait=True):
    script = folder / "job.py"
    script.write_text(SCRIPT)
    run = folder / "job_with_preamble.py"
    run.write_text(PREAMBLE.format(threads=threads, own_threads=own_threads, code=repr(code), script=str(script))
                   + SCRIPT)
    command = [sys.executable, str(run)]
    environment = dict(os.environ, JOB_MARK="this job's")
    if not wait:
        return subprocess.Popen(command, cwd=folder, env=environment, stdout=subprocess.PIPE, text=True)
    return subprocess.run(command, cwd=folder, env=environment, capture_output=True, text=True, timeout=60)


def ran_under(result) -> int:
    return int(result.stdout.split()[4])


def test_a_job_runs_in_a_child_of_the_worker_in_its_folder_with_its_environment_and_exit_status(warm, tmp_path):
    result = run_job(tmp_path, code=3)
    assert result.returncode == 3, result.stderr
    assert ran_under(result) == warm.pid
    assert f"in {tmp_path} with this job's" in result.stdout


def test_a_job_of_two_threads_runs_in_its_own_process_unless_its_threads_are_its_own(warm, tmp_path):
    result = run_job(tmp_path, threads=2)
    assert result.returncode == 0, result.stderr
    assert ran_under(result) != warm.pid
    assert ran_under(run_job(tmp_path, threads=2, own_threads=True)) == warm.pid


def test_a_bug_in_a_script_shows_its_traceback_and_fails_the_job(warm, tmp_path):
    result = run_job(tmp_path, code="raise")
    assert result.returncode == 1
    assert ran_under(result) == warm.pid
    assert "RuntimeError: a bug in the script" in result.stderr and "job.py" in result.stderr


def test_a_stopped_job_process_stops_its_job_in_the_worker(warm, tmp_path):
    process = run_job(tmp_path, code="sleep", wait=False)
    child = int(process.stdout.readline().split()[2])
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=10)
    deadline = time.monotonic() + 5
    while Path(f"/proc/{child}").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not Path(f"/proc/{child}").exists(), "the job went on in the worker after its process was stopped"


def test_without_a_worker_a_job_runs_in_its_own_process(tmp_path, monkeypatch):
    monkeypatch.setenv(worker.SOCKET_VARIABLE, str(tmp_path / "no-such-socket"))
    monkeypatch.setenv(worker.PYTHON_VARIABLE, sys.executable)
    result = run_job(tmp_path, code=0)
    assert result.returncode == 0, result.stderr
    assert "ran in" in result.stdout


def test_a_worker_whose_run_was_killed_ends_and_leaves_no_folder_behind():
    run = subprocess.Popen([sys.executable, "-c", "import time; from stackphot import worker; worker.start(); "
                            "import os; print(os.environ[worker.SOCKET_VARIABLE], flush=True); time.sleep(60)"],
                           stdout=subprocess.PIPE, text=True)
    socket_path = Path(run.stdout.readline().strip())
    deadline = time.monotonic() + 60
    while not socket_path.exists():
        assert time.monotonic() < deadline, "the worker never listened"
        time.sleep(0.05)
    run.kill()  # SIGKILL: Snakemake's onsuccess and onerror never run
    run.wait()
    deadline = time.monotonic() + 10
    while socket_path.parent.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not socket_path.parent.exists()
