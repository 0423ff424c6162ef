"""Stage timing shared by the one-process references (bench/reference.py, bench/plain.py)."""

import time
from contextlib import contextmanager


class Stopwatch:
    """Wall (perf_counter) and CPU (process_time) seconds, added up per stage."""

    def __init__(self):
        self.times: dict[str, dict[str, float]] = {}

    @contextmanager
    def __call__(self, stage: str):
        wall, cpu = time.perf_counter(), time.process_time()
        yield
        total = self.times.setdefault(stage, {"wall": 0.0, "cpu": 0.0})
        total["wall"] += time.perf_counter() - wall
        total["cpu"] += time.process_time() - cpu
