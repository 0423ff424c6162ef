import errno
import io
import re
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from stackphot.io import DiskFullError, fits_write, write_image, write_table
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


class NearlyFullDisk(io.FileIO):
    """A file on a disk with room for ``room`` bytes: the write past it fails as the kernel's would."""

    room = 5000

    def write(self, data):
        if self.tell() + len(memoryview(data).cast("B")) > self.room:
            raise OSError(errno.ENOSPC, "No space left on device")
        return super().write(data)


def test_a_full_disk_ends_the_job_with_one_line_naming_the_file_and_leaves_no_part_of_it(tmp_path, monkeypatch):
    monkeypatch.setattr(fits_write, "open", lambda path, mode: NearlyFullDisk(path, "w"), raising=False)
    product = tmp_path / "out" / "frame.fits"
    log = tmp_path / "job.log"
    with pytest.raises(SystemExit) as stop:
        run_script(lambda smk, log: write_image(product, np.zeros((100, 100), np.float32)),
                   SimpleNamespace(log=[str(log)]))
    assert stop.value.code == 1
    errors = [line for line in log.read_text().splitlines() if " ERROR " in line]
    assert [line.split(" ERROR ", 1)[1] for line in errors] == [
        f"no space left on device writing {product}: free space on that disk or run from a folder on another one"]
    assert "Traceback" not in log.read_text()
    assert list(product.parent.iterdir()) == []  # neither the product nor its temporary .part file


def test_a_used_up_quota_is_named_too_and_a_table_leaves_no_part_either(tmp_path, monkeypatch):
    def half_written(self, path, **options):
        Path(path).write_text("frame,sky\nf1,")
        raise OSError(errno.EDQUOT, "Disk quota exceeded")

    monkeypatch.setattr(pd.DataFrame, "to_csv", half_written)
    with pytest.raises(DiskFullError, match=r"^disk quota exceeded writing .*frames.csv: free space on that disk"):
        write_table(tmp_path / "frames.csv", pd.DataFrame({"frame": ["f1"], "sky": [1.0]}))
    assert list(tmp_path.iterdir()) == []
