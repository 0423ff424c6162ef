"""Issue 22's independent references for `make bench`: the plain recipe (bench/plain.py) finds the simulator's shifts,
Siril's script (bench/siril.py) holds the commands it should and, where siril-cli is installed, registers a small set;
the stars' measure of registered frames (bench/star_offsets.py) reads a known misregistration; and
bench/run_bench.py's figures against them."""

import json
import shutil
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from stackphot.simulate import TRUTH_SHIFTS, simulate_frame_set, write_frame_set

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
import plain
import run_bench
import siril
import star_offsets
from run_bench import FrameSetSpec, SetResult, Usage

# Three small frames with the default dataset's detector (hot pixels, row banding, cosmic rays), moved by up to 6 px.
SIMULATION = {"shape": (160, 160), "n_frames": 3, "seed": 7, "n_cluster_stars": 150, "n_field_stars": 40,
              "cluster_scale_radius": 25.0, "cluster_max_radius": 70.0, "max_offset": 6.0}
RECIPE = {"box_size": 32, "filter_size": 3, "background_sigma": 3.0, "upsample_factor": 100, "smooth_sigma": 2.0,
          "order": 3, "stack_sigma": 3.0, "maxiters": 5}


@pytest.fixture(scope="module")
def frames(tmp_path_factory):
    folder = tmp_path_factory.mktemp("plain") / "frames"
    write_frame_set(simulate_frame_set(**SIMULATION), folder)
    return folder


def test_plain_recipe_finds_the_true_shifts(frames):
    result = plain.reduce_frames(frames, **RECIPE)
    truth = pd.read_csv(frames / TRUTH_SHIFTS).set_index("frame")
    assert (truth.rotation == 0).all() and (truth.scale == 1).all()
    shifts = pd.DataFrame(result["shifts"]).set_index("frame")
    assert result["reference"] == "frame_001" and shifts.index.tolist() == truth.index.tolist()
    assert truth[["dy", "dx"]].abs().to_numpy().max() > 2  # the frames do move
    np.testing.assert_allclose(shifts[["dy", "dx"]], truth[["dy", "dx"]], atol=0.05)
    errors = plain.shift_errors(frames, result["shifts"], result["reference"])
    assert errors["frames"] == 2 and errors["max"] < 0.05
    assert set(result["stages"]) == set(plain.STAGES)
    assert all(times["cpu"] >= 0 and times["wall"] >= 0 for times in result["stages"].values())
    # The stack is the shifted frames' mean: the sky gone, the reference's stars where they were, NaN only at edges.
    stack = result["stack"]
    assert stack.shape == (160, 160) and np.isfinite(stack[10:-10, 10:-10]).all()
    assert abs(np.nanmedian(stack)) < 5


def test_plain_errors_against_another_reference_are_relative_to_it(frames):
    truth = pd.read_csv(frames / TRUTH_SHIFTS)
    shifts = [{"frame": row.frame, "dy": row.dy - truth.dy[1], "dx": row.dx - truth.dx[1]}
              for row in truth.itertuples()]
    assert plain.shift_errors(frames, shifts, "frame_002") == {"rms": pytest.approx(0, abs=1e-9),
                                                                "max": pytest.approx(0, abs=1e-9), "frames": 2}
    assert plain.shift_errors(frames.parent, shifts, "frame_002") is None  # no truth table there


def test_plain_parameters_come_from_the_config_sections():
    config = {"background": {"box_size": 64, "filter_size": 3, "sigma": 3.0}, "align": {"order": 3},
              "register": {"upsample_factor": 100, "smooth_sigma": 2.0}, "stack": {"sigma": 2.5, "maxiters": 4}}
    assert plain.parameters(config) == {**RECIPE, "box_size": 64, "stack_sigma": 2.5, "maxiters": 4}


def test_plain_stack_in_row_blocks_equals_one_sigma_clip_of_the_cube(rng):
    from astropy.stats import sigma_clip

    cube = rng.normal(100, 5, (20, 30, 20)).astype(np.float32)
    cube[2, 4, 5] = 1e4  # a cosmic ray
    cube[:, 0, :3] = np.nan  # beyond every frame's edge
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Input data contains invalid values")
        whole = sigma_clip(cube, sigma=3.0, maxiters=5, axis=0).mean(axis=0).filled(np.nan)
    blocks = plain.stack_frames(cube, sigma=3.0, maxiters=5, block_mb=20 * 20 * 4 * 4 / 2**20)  # 4 rows a block
    np.testing.assert_array_equal(blocks, whole)
    assert np.isnan(blocks[0, :3]).all() and abs(blocks[4, 5] - 100) < 10


def test_siril_script_converts_registers_and_stacks(tmp_path):
    out = tmp_path / "siril out"
    lines = siril.siril_script(out, cores=2).splitlines()
    assert lines == ["requires 1.0.0", "setcpu 2", f'convert light "-out={out.resolve()}"', f'cd "{out.resolve()}"',
                     "register light", "stack r_light rej s 3 3 -norm=addscale -output_norm -out=stack"]
    two_pass = siril.siril_script(tmp_path, cores=1, two_pass=True).splitlines()
    assert two_pass[0] == "requires 1.2.0"  # -2pass and seqapplyreg came with Siril 1.2
    assert two_pass[4:6] == ["register light -2pass", "seqapplyreg light"]
    assert two_pass[2] == f"convert light -out={tmp_path.resolve()}"


def test_siril_is_skipped_in_one_line_without_siril_cli(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(siril.shutil, "which", lambda name: None)
    siril.main([str(tmp_path), str(tmp_path / "siril")])
    assert capsys.readouterr().out == "siril-cli not found: Siril's column skipped\n"
    assert json.loads((tmp_path / "siril/siril.json").read_text()) == {"skipped": "siril-cli not found"}


def test_workflow_shift_errors_compare_transforms_with_the_truth(frames, tmp_path):
    truth = pd.read_csv(frames / TRUTH_SHIFTS)
    measured = truth.assign(dx=truth.dx + [0.0, 0.03, -0.04])
    measured.loc[2, ["dy", "dx"]] = np.nan  # a frame that was not registered is left out
    measured.to_csv(tmp_path / "shifts.csv", index=False)
    errors = run_bench.shift_errors(tmp_path / "shifts.csv", frames, 160, "frame_001")
    assert errors == {"rms": pytest.approx(0.03), "max": pytest.approx(0.03), "frames": 1}


def result_with_plain(siril_outcome):
    jobs = pd.DataFrame({"rule": ["ingest_frame", "stack_frames"], "s": [2.0, 4.0], "cpu_time": [1.5, 3.0],
                         "max_rss": [100.0, 600.0]})
    jobs["stage"] = jobs.rule.map(run_bench.stage_of)
    stages = {"ingest": {"wall": 3.0, "cpu": 3.0}, "stack": {"wall": 2.0, "cpu": 2.0}}
    plain_stages = {"read": {"wall": 1.0, "cpu": 1.0}, "shift": {"wall": 2.0, "cpu": 2.0},
                    "stack": {"wall": 3.0, "cpu": 3.0}}
    return SetResult(FrameSetSpec(60, 1024), jobs, jobs[:0], Usage(6.0, 10.0, 500.0), Usage(1.0, 1.0, 300.0),
                     Usage(8.0, 8.0, 400.0), stages, "same", Usage(10.0, 8.0, 300.0), plain_stages,
                     {"workflow": {"rms": 0.01, "max": 0.02, "frames": 59}, "plain": None}, siril_outcome)


def test_table_and_acceptance_against_the_plain_recipe_and_siril():
    rows = pd.DataFrame(run_bench.set_rows(result_with_plain({"skipped": "siril-cli not found"}))).set_index("stage")
    assert rows.loc["ingest", ["plain wall s", "CPU / plain"]].tolist() == [1.0, 1.5]
    assert rows.loc["align", "plain CPU s"] == 2.0 and np.isnan(rows.loc["background", "plain CPU s"])
    assert rows.loc[run_bench.OTHER, "plain CPU s"] == pytest.approx(8.0 - 6.0)
    assert rows.loc[run_bench.TOTAL, ["plain CPU s", "CPU / plain", "wall / plain"]].tolist() == [8.0, 1.25, 0.6]
    figures = run_bench.acceptance_plain([result_with_plain({"skipped": "siril-cli not found"})])
    assert figures.value.tolist() == [1.25, 0.6] and figures.met.tolist() == ["yes", "yes"]
    with_siril = run_bench.acceptance_plain([result_with_plain({"wall": 3.0, "cpu": 5.0})])
    assert with_siril.value.tolist()[2:] == [2.0, 2.0] and with_siril.met.tolist()[2:] == ["", ""]
    shifts = run_bench.shift_table([result_with_plain(None)]).set_index("registration")
    assert shifts.loc["workflow", ["measured by", "RMS px", "frames"]].tolist() == ["its transforms", 0.01, 59]
    assert np.isnan(shifts.loc["plain", "RMS px"]) and len(shifts) == 2


# Frames with room for isolated stars at star_offsets.EDGE from the edges; the frame moves by up to 6 px.
STAR_FIELD = {"shape": (256, 256), "n_frames": 3, "seed": 11, "n_cluster_stars": 0, "n_field_stars": 150,
              "flux_range": (2e4, 2e6), "max_offset": 6.0}


@pytest.fixture(scope="module")
def star_field(tmp_path_factory):
    folder = tmp_path_factory.mktemp("stars") / "frames"
    write_frame_set(simulate_frame_set(**STAR_FIELD), folder)
    return folder


def test_the_stars_measure_reads_a_known_misregistration(star_field, tmp_path):
    from astropy.io import fits
    from scipy import ndimage

    truth = pd.read_csv(star_field / TRUTH_SHIFTS).set_index("frame")
    frames = sorted(star_field.glob("frame_*.fits"))
    places = star_offsets.reference_stars(star_field / "truth_stars.csv", (256, 256))
    assert star_offsets.bright(fits.getdata(frames[0]), places).sum() >= 8
    shifts = [truth.loc[path.stem, ["dy", "dx"]].to_numpy(float) for path in frames[1:]]
    floor = star_offsets.true_shift_offsets(frames[1:], frames[0], shifts, places)
    assert max(floor) < 0.02
    # Registered by hand, the second frame 0.1 px too far in y and the third 0.08 px short in x.
    errors = [(0.1, 0.0), (0.0, -0.08)]
    registered = []
    for path, shift, error in zip(frames[1:], shifts, errors):
        registered.append(tmp_path / path.name)
        moved = ndimage.shift(fits.getdata(path).astype(float), shift + error, order=3, mode="nearest")
        fits.writeto(registered[-1], moved)
    distances = star_offsets.offsets(registered, frames[0], places)
    np.testing.assert_allclose(distances, [0.1, 0.08], atol=0.02)
    assert star_offsets.summary(distances)["frames"] == 2 and star_offsets.summary([]) is None


@pytest.mark.skipif(shutil.which("siril-cli") is None, reason="siril-cli is not installed (apt-get install siril)")
def test_siril_runs_registers_every_frame_and_is_measured_by_its_stars(star_field, tmp_path):
    siril.main([str(star_field), str(tmp_path / "siril"), "--cores", "1"])
    outcome = json.loads((tmp_path / "siril/siril.json").read_text())
    assert outcome["registered"] == 3 and outcome["cpu"] > 0
    assert outcome["shift_error"]["frames"] == 2 and outcome["shift_error"]["max"] < 0.1
