import re
import time
from types import SimpleNamespace

import numpy as np
import pytest

from stackphot.scripting import run_script


def busy_main(smk, log):
    held = np.ones(200 * 2**20 // 8)  # 200 MB, touched
    start = time.process_time()
    while time.process_time() - start < 0.5:
        held.sum()
    log.info("done")


def test_the_log_ends_with_the_cpu_and_peak_memory_the_job_used(tmp_path):
    log = tmp_path / "job.log"
    run_script(busy_main, SimpleNamespace(log=[str(log)]))
    used = re.search(r"job used ([\d.]+) s CPU \(user \+ sys\), peak memory (\d+) MB", log.read_text().splitlines()[-1])
    assert used, log.read_text()
    assert float(used[1]) >= 0.5  # this process's whole CPU time: the loop and everything before it
    assert int(used[2]) >= 200


def test_a_data_error_ends_the_job_with_one_line_in_the_log(tmp_path):
    def bad_main(smk, log):
        raise ValueError("frame.fits: not a FITS file")

    log = tmp_path / "job.log"
    with pytest.raises(SystemExit) as stop:
        run_script(bad_main, SimpleNamespace(log=[str(log)]))
    assert stop.value.code == 1
    assert "ERROR frame.fits: not a FITS file" in log.read_text()
    assert "job used" not in log.read_text()
