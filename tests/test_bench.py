"""The benchmark harness's bookkeeping (bench/run_bench.py): rules to stages, the table, the acceptance figures;
the FITS input/output benchmark (bench/fits_io.py), the sky's (bench/background.py), the centroids'
(bench/centroids.py), the PSF photometry's (bench/psf.py) and the registration's (bench/registration.py)."""

import sys
from pathlib import Path

import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
import background
import centroids
import fits_io
import psf
import registration
import run_bench
from run_bench import BEYOND, OTHER, TOTAL, FrameSetSpec, SetResult, Usage


def test_rules_map_to_the_reference_stages():
    expected = {"ingest_frame": "ingest", "tabulate_frames": "ingest", "subtract_background": "background", "find_defects_m13": "background",
                "prepare_reference": "register", "measure_shift": "register",
                "align_frame": "align", "align_frames": "align", "build_cube": "align", "stack_frames": "stack",
                "plot_frames": OTHER}
    assert {rule: run_bench.stage_of(rule) for rule in expected} == expected


def test_benchmark_files_are_read_per_job_with_the_exact_figures_of_their_logs(tmp_path):
    header = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"
    benchmarks, logs = tmp_path / "benchmarks", tmp_path / "logs"
    for folder in (benchmarks, logs):
        (folder / "ingest_frame").mkdir(parents=True)
    for name, (s, rss, cpu) in {"ingest_frame/a": (1.0, 100, 0.9), "ingest_frame/b": (2.0, 300, 1.9),
                                "stack_frames": (5.0, 900, "NA")}.items():
        (benchmarks / f"{name}.tsv").write_text(header + f"{s}\t0:00:01\t{rss}\t0\t0\t0\t0\t0\t0\t{cpu}\n")
    (logs / "ingest_frame/b.log").write_text("INFO frame b done\nINFO job used 2.25 s CPU (user + sys), peak memory "
                                             "412 MB\n")
    jobs = run_bench.read_benchmarks(benchmarks, logs).set_index("file")
    assert sorted(jobs.rule) == ["ingest_frame", "ingest_frame", "stack_frames"]
    assert jobs.groupby("stage").s.sum().to_dict() == {"ingest": 3.0, "stack": 5.0}
    exact = jobs.loc[str(benchmarks / "ingest_frame/b.tsv")]
    assert (exact.cpu_time, exact.max_rss, exact.exact) == (2.25, 412.0, True)  # the log's, not the samples
    sampled = jobs.loc[str(benchmarks / "ingest_frame/a.tsv")]
    assert (sampled.cpu_time, sampled.max_rss, sampled.exact) == (0.9, 100.0, False)
    assert jobs[jobs.rule == "stack_frames"].cpu_time.isna().all()  # a job too short to be sampled, without a log


def result(n_frames, size, *, wf_wall, wf_cpu, ref_wall, ref_cpu):
    jobs = pd.DataFrame({"rule": ["ingest_frame", "ingest_frame", "stack_frames", "detect_sources"],
                         "s": [2.0, 3.0, 4.0, 1.0], "cpu_time": [1.5, 2.5, 3.0, 1.0],
                         "max_rss": [100.0, 200.0, 1600.0, 300.0]})
    jobs["stage"] = jobs.rule.map(run_bench.stage_of)
    stages = {"ingest": {"wall": 3.0, "cpu": 3.0}, "stack": {"wall": 2.0, "cpu": 2.0}}
    return SetResult(FrameSetSpec(n_frames, size), jobs[:3], jobs[3:], Usage(wf_wall, wf_cpu, 500.0),
                     Usage(2.0, 2.0, 300.0), Usage(ref_wall, ref_cpu, 400.0), stages, "same")


def test_table_rows_split_the_totals():
    rows = pd.DataFrame(run_bench.set_rows(result(100, 256, wf_wall=6.0, wf_cpu=10.0, ref_wall=6.0, ref_cpu=5.5)))
    rows = rows.set_index("stage")
    assert rows.loc["ingest", ["jobs", "wf wall s", "wf CPU s", "CPU ratio"]].tolist() == [2, 5.0, 4.0, 4.0 / 3.0]
    assert rows.loc["ingest", "peak RSS MB"] == "ingest_frame 200"
    # What the sampled jobs miss, and the start-up of both, is the rest of the exact totals.
    assert rows.loc[OTHER, "wf CPU s"] == pytest.approx(10.0 - 4.0 - 3.0)
    assert rows.loc[OTHER, "ref CPU s"] == pytest.approx(0.5)
    assert rows.loc[TOTAL, ["wf wall s", "wall ratio", "peak RSS MB"]].tolist() == [6.0, 1.0, "max 1600"]
    assert rows.loc[BEYOND, ["jobs", "wf CPU s"]].tolist() == [1, 2.0]


def test_acceptance_figures_pick_the_sets_of_the_issue():
    results = [result(100, 2048, wf_wall=50.0, wf_cpu=120.0, ref_wall=100.0, ref_cpu=100.0),
               result(200, 2048, wf_wall=110.0, wf_cpu=250.0, ref_wall=200.0, ref_cpu=200.0),
               result(1000, 256, wf_wall=30.0, wf_cpu=90.0, ref_wall=40.0, ref_cpu=40.0)]
    figures = run_bench.acceptance(results)
    assert figures.set.tolist() == ["n200_s2048"] * 3 + ["n1000_s256", "n200_s2048"]
    assert figures.value.tolist() == pytest.approx([1.25, 0.55, 1600 / 1024, 2.25, 2.2])
    assert figures.limit.tolist() == pytest.approx([1.3, 0.75, 1.5, 2.0, 2.1])
    assert figures.met.tolist() == ["yes", "yes", "NO", "NO", "NO"]
    # The small set alone: its own limit, not the large frames'.
    alone = run_bench.acceptance(results[2:])
    assert alone[["set", "limit", "met"]].values.tolist() == [["n1000_s256", 2.0, "NO"]]


def test_frame_sets_scale_the_default_star_density():
    spec = FrameSetSpec.parse("200x2048")
    assert spec.name == "n200_s2048"
    simulation = spec.simulation()
    assert simulation["shape"] == [2048, 2048] and simulation["n_frames"] == 200
    assert 8000 < simulation["n_cluster_stars"] < 9500  # 3000 stars on 1040 x 1392 px
    assert FrameSetSpec.parse("100x128").simulation()["max_offset"] == pytest.approx(6.4)


def test_fits_io_bench_times_both_writers_on_the_same_bytes(capsys):
    fits_io.main(16)  # it asserts that both write the same bytes
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("16 x 16 frame") and [line.split(":")[0].strip() for line in lines[1:]] == ["write",
                                                                                                         "read"]


def test_centroid_bench_compares_the_two_fits_on_the_same_stars(capsys):
    centroids.main(40)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("40 stars, box 5 px, CPU s: photutils centroid_2dg")
    assert lines[1].startswith("difference between the two, for the ")


def test_psf_bench_compares_the_two_fits_on_the_same_stars(capsys):
    psf.main(60)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("60 stars (") and "CPU s: photutils PSFPhotometry" in lines[0]
    assert lines[1].startswith("stackphot - photutils, in photutils' errors: position median ")
    assert lines[2].startswith("chi-square per pixel within 3 px of the stars: photutils ")


def test_background_bench_times_the_default_settings(capsys):
    background.main(256, repeats=2)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("one 256 x 256 frame, background: Background2D mesh, box 64 px, plus row offsets")
    assert lines[1].startswith("CPU s per run: ") and lines[1].count(",") == 1


def test_registration_bench_times_both_ways_and_the_matching(capsys):
    registration.registration(384, 2)
    registration.matching()  # it asserts that the matching found the truth
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("registration of a 384 x 384 frame, CPU s (median of 1 frames): translation only ")
    assert "methods: stars (" in lines[0]
    assert lines[1].startswith("matching 1000 stars, CPU ms (best of 20): the reference's triangles ")


def test_a_harness_stopped_by_sigterm_takes_the_running_commands_whole_tree_down(tmp_path):
    import os
    import signal
    import subprocess
    import time

    grandchild = tmp_path / "grandchild.pid"
    command = ("import subprocess, time; sleeper = subprocess.Popen(['sleep', '60']); "
               f"open({str(grandchild)!r}, 'w').write(str(sleeper.pid)); time.sleep(60)")
    harness = subprocess.Popen([sys.executable, "-c", (
        f"import sys; from pathlib import Path; sys.path.insert(0, {str(Path(run_bench.__file__).parent)!r}); "
        f"import run_bench; run_bench.exit_on_sigterm(); "
        f"run_bench.measured([sys.executable, '-c', {command!r}], Path({str(tmp_path / 'log')!r}))")])
    deadline = time.monotonic() + 30
    while not (grandchild.exists() and grandchild.read_text()) and time.monotonic() < deadline:
        time.sleep(0.05)
    sleeper = int(grandchild.read_text())
    harness.send_signal(signal.SIGTERM)
    assert harness.wait(timeout=30) == 128 + signal.SIGTERM

    def alive(pid):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        # A killed orphan may linger as a zombie where nothing reaps it: dead all the same.
        return "State:\tZ" not in Path(f"/proc/{pid}/status").read_text()

    deadline = time.monotonic() + 10
    while alive(sleeper) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not alive(sleeper)
