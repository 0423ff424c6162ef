"""A warm worker: the jobs of one local Snakemake run start in a process that has imported stackphot already.

A job's own work on a small frame takes less time than Python takes to import numpy, astropy, scipy, photutils
and pandas (README, "Small sets"). Like Bazel's persistent workers, the run keeps one process with every import
done (``serve``, started by the workflow's ``onstart`` handler and stopped by ``onsuccess``/``onerror``); each
job's script hands itself over first thing (``hand_over``), and the worker forks a child that runs the script,
unchanged, with the job's ``snakemake`` object, working directory, environment and standard streams. The job's
process waits for the child's exit status and ends with it. Where no worker can take the job (a cluster node, a
job of more than one thread whose script does not say they are its own, a job in another Python), the script
simply goes on in its own process: the products are the same either way.
"""

from __future__ import annotations

import ast
import importlib
import os
import pickle
import random
import selectors
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import traceback
import types
from pathlib import Path

SOCKET_VARIABLE = "STACKPHOT_WORKER"
PYTHON_VARIABLE = "STACKPHOT_WORKER_PYTHON"
# The worker imports numpy with the thread counts Snakemake gives a job of one thread; jobs of more threads run in
# their own process, so that no job's linear algebra runs on a different number of threads than without a worker.
THREAD_VARIABLES = ("OMP_NUM_THREADS", "GOTO_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                    "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS")
_HEADER = struct.Struct("!Q")
_STATUS = struct.Struct("!i")


def hand_over(*, own_threads: bool = False) -> None:
    """Run the job of the Snakemake script being run in this run's warm worker, and end this process with the
    job's exit status.

    Returns, and the script goes on in this process, where no worker can take the job: a script imported by a tool
    rather than run by Snakemake, no worker, a cluster job, another Python, or a job of more than one thread
    unless ``own_threads`` (its threads are a pool of its own, and its linear algebra runs on one thread).
    """
    main = sys.modules["__main__"]
    smk = getattr(main, "snakemake", None)
    path, python = os.environ.get(SOCKET_VARIABLE), os.environ.get(PYTHON_VARIABLE)
    if smk is None or not path or python != sys.executable or "SLURM_JOB_ID" in os.environ:
        return
    if smk.threads != 1 and not own_threads:
        return
    request = pickle.dumps({"script": main.__file__, "snakemake": smk, "cwd": os.getcwd(),
                            "environment": dict(os.environ), "argv": sys.argv})
    connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        connection.connect(path)
        socket.send_fds(connection, [_HEADER.pack(len(request))], [0, 1, 2])
        connection.sendall(request)
    except OSError:
        connection.close()
        return  # not up yet, or gone: the job runs here
    status = _receive(connection, _STATUS.size)
    if len(status) < _STATUS.size:
        sys.exit(f"the warm worker ({path}) ended before the job did: run the workflow again")
    sys.exit(_STATUS.unpack(status)[0])


def _receive(connection, size: int) -> bytes:
    chunks = []
    while size:
        chunk = connection.recv(size)
        if not chunk:
            break
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def modules_to_import() -> list[str]:
    """Every stackphot module, then every module any of them imports inside a function."""
    import stackphot

    package = Path(stackphot.__file__).parent
    sources = sorted(package.rglob("*.py"))
    # Named from the files: pkgutil.walk_packages would import every subpackage before the worker listens.
    own = [".".join(("stackphot", *path.relative_to(package).with_suffix("").parts)).removesuffix(".__init__")
           for path in sources]
    inner = set()
    for path in sources:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                inner.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                inner.add(node.module)
    return [name for name in own + sorted(inner - set(own)) if name != __name__]


def _import(name: str) -> None:
    try:
        importlib.import_module(name)
    except ImportError:
        pass  # an optional package of a function no job calls without it


def serve(path: str) -> None:
    """Run each job that connects to ``path`` in a child of this process, importing stackphot in between.

    A job that comes before every import is done finds the rest to import in its child, as in a process of its
    own. Ends when its parent (the Snakemake run) ends or sends SIGTERM, ending the jobs still running.
    """
    parent = os.getppid()
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(64)
    selector = selectors.DefaultSelector()
    selector.register(listener, selectors.EVENT_READ)
    jobs: dict[int, socket.socket] = {}  # child pid: the connection of the job's process, which waits for it
    # A signal (a child's end, SIGTERM) wakes the select at once: its number is written to `wakeup`.
    wakeup, woken = socket.socketpair()
    for end in (wakeup, woken):
        end.setblocking(False)
    signal.set_wakeup_fd(woken.fileno(), warn_on_full_buffer=False)
    selector.register(wakeup, selectors.EVENT_READ)
    pending = modules_to_import()  # one at a time, between connections
    stopping = []
    signal.signal(signal.SIGTERM, lambda signum, frame: stopping.append(signum))
    signal.signal(signal.SIGCHLD, lambda signum, frame: None)
    try:
        while not stopping and os.getppid() == parent:
            for key, _ in selector.select(timeout=0 if pending else 1.0):
                if key.fileobj is listener:
                    _start_job(listener, selector, jobs, held=(wakeup, woken))
                elif key.fileobj is wakeup:
                    while _drained(wakeup):
                        pass
                elif _gone(key.fileobj):  # the job's process was stopped: so is its job
                    pid = next(pid for pid, connection in jobs.items() if connection is key.fileobj)
                    os.kill(pid, signal.SIGTERM)
                    selector.unregister(key.fileobj)
            _reap(selector, jobs)
            if pending:
                _import(pending.pop(0))
    finally:
        for pid in jobs:
            os.kill(pid, signal.SIGTERM)
        while jobs:
            _reap(selector, jobs, block=True)
        _remove(Path(path))


def _drained(wakeup) -> bool:
    try:
        return bool(wakeup.recv(512))
    except BlockingIOError:
        return False


def _gone(connection) -> bool:
    try:
        return not connection.recv(1, socket.MSG_PEEK)  # a job's process sends nothing after its request
    except OSError:
        return True


def _start_job(listener, selector, jobs, *, held) -> None:
    connection, _ = listener.accept()
    connection.settimeout(10)
    try:
        header, fds, _, _ = socket.recv_fds(connection, _HEADER.size, 3)
        request = _receive(connection, _HEADER.unpack(header)[0])
    except (OSError, struct.error):
        connection.close()  # the job's process could not send it: it ends with an error and Snakemake says so
        return
    pid = os.fork()
    if pid == 0:
        signal.set_wakeup_fd(-1)
        selector.close()
        for end in (listener, connection, *jobs.values(), *held):
            end.close()
        _run_job(pickle.loads(request), fds)
    for fd in fds:
        os.close(fd)
    jobs[pid] = connection
    selector.register(connection, selectors.EVENT_READ)


def _reap(selector, jobs, *, block: bool = False) -> None:
    while jobs:
        pid, status = os.waitpid(-1, 0 if block else os.WNOHANG)
        if pid == 0:
            return
        connection = jobs.pop(pid)
        if connection.fileno() in selector.get_map():
            selector.unregister(connection)
        try:
            code = os.waitstatus_to_exitcode(status)
            connection.sendall(_STATUS.pack(code if code >= 0 else 128 - code))  # a signal's, as a shell says
        except OSError:
            pass  # its process is gone
        connection.close()


def _run_job(request: dict, fds: list[int]) -> None:
    """In the forked child: become the job's process and run its script as Python would; never returns."""
    code = 1
    try:
        for stream, fd in zip((0, 1, 2), fds, strict=True):
            os.dup2(fd, stream)
            os.close(fd)
        for number in (signal.SIGTERM, signal.SIGCHLD):
            signal.signal(number, signal.SIG_DFL)
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["environment"])
        del os.environ[SOCKET_VARIABLE]  # what this job starts runs here
        sys.argv = request["argv"]
        random.seed()  # a fresh process's unseeded generators, not the worker's
        _reseed_numpy()
        script = request["script"]
        main = types.ModuleType("__main__")
        main.__file__, main.snakemake = script, request["snakemake"]
        sys.modules["__main__"] = main
        exec(compile(Path(script).read_text(), script, "exec"), main.__dict__)
        code = 0
    except SystemExit as stop:
        code = _exit_code(stop.code)
    except BaseException:
        traceback.print_exc()
    finally:
        _flush()
        os._exit(code)


def _reseed_numpy() -> None:
    numpy = sys.modules.get("numpy")
    if numpy is not None:
        numpy.random.seed()


def _exit_code(code) -> int:
    if code is None or isinstance(code, int):
        return code or 0
    print(code, file=sys.stderr)
    return 1


def _flush() -> None:
    import logging

    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass


def start() -> subprocess.Popen:
    """Start a worker for this process's jobs (they find it by the environment variables it sets); ``stop`` it."""
    path = str(Path(tempfile.mkdtemp(prefix="stackphot-worker-"), "socket"))  # a folder only this user can enter
    environment = dict(os.environ, **dict.fromkeys(THREAD_VARIABLES, "1"))
    worker = subprocess.Popen([sys.executable, "-c", f"from stackphot.worker import serve; serve({path!r})"],
                              env=environment, stdin=subprocess.DEVNULL)
    os.environ[SOCKET_VARIABLE], os.environ[PYTHON_VARIABLE] = path, sys.executable
    return worker


def stop(worker: subprocess.Popen) -> None:
    """End ``worker`` (its jobs are over) and wait for it, so that its CPU time counts as this process's children's."""
    path = Path(os.environ.pop(SOCKET_VARIABLE))
    os.environ.pop(PYTHON_VARIABLE, None)
    worker.terminate()
    worker.wait()
    _remove(path)  # if the worker could not


def _remove(socket_path: Path) -> None:
    socket_path.unlink(missing_ok=True)
    try:
        socket_path.parent.rmdir()
    except FileNotFoundError:
        pass
