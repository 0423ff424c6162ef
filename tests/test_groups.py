"""A night of mixed filters, exposures and shapes: one stack per group, named after it, sharing the night's
masters; and results folders that never collide."""

import os
import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest
from astropy.io import fits

from stackphot.datasets import foreign_results, resolve_datasets
from stackphot.inventory import FrameInfo
from stackphot.inventory.groups import group_lights
from stackphot.simulate import simulate_frame_set, write_frame_set
from workflow_helpers import run_snakemake, snakemake_command


def light(name, filter_name="V", exptime=30.0, shape=(48, 64), binning=(1, 1), pattern=None):
    return FrameInfo(f"/night/{name}.fits", name, "light", "test", exptime, filter_name, binning, shape, None,
                     pattern=pattern)


def test_lights_are_grouped_by_what_differs_and_named_after_it():
    lights = [light("a"), light("b", "B"), light("c"), light("d", exptime=5.0), light("e", "B")]
    groups = group_lights(lights)
    assert {name: [info.name for info in frames] for name, frames in groups.items()} == {
        "V_30s": ["a", "c"], "B_30s": ["b", "e"], "V_5s": ["d"]}


def test_a_night_of_one_group_is_one_unnamed_group_and_what_a_header_does_not_say_is_no_difference():
    unreadable = FrameInfo("/night/z.fits", "z", "light", "unreadable", None, None, (1, 1), (0, 0), None)
    no_filter = light("y", None)
    assert list(group_lights([light("a"), light("b")])) == [""]
    groups = group_lights([light("a", shape=(40, 64)), light("b"), no_filter, light("c"), unreadable])
    assert [info.name for info in groups["64x48"]] == ["b", "y", "c", "z"]
    assert [info.name for info in groups["64x40"]] == ["a"]
    colour = group_lights([light("a", pattern="RGGB"), light("b")])
    assert list(colour) == ["mono", "RGGB"] or list(colour) == ["RGGB", "mono"]


FILTERS = {"frame_001": ("V", 30.0), "frame_002": ("B", 30.0), "frame_003": ("V", 30.0), "frame_004": ("V", 5.0),
           "frame_005": ("B", 30.0), "frame_006": ("V", 5.0), "frame_007": ("V", 30.0)}


def write_mixed_night(folder):
    """Seven simulated frames relabelled as V 30 s (3), B 30 s (2) and V 5 s (2), with bias and flats."""
    write_frame_set(simulate_frame_set(shape=(64, 80), n_frames=len(FILTERS), n_cluster_stars=30,
                                       n_field_stars=15, cluster_scale_radius=12.0, cluster_max_radius=25.0,
                                       max_offset=3.0), folder)
    for name, (filter_name, exptime) in FILTERS.items():
        with fits.open(folder / f"{name}.fits", mode="update") as hdul:
            hdul[0].header["FILTER"] = filter_name
            hdul[0].header["EXPTIME"] = exptime
    rng = np.random.default_rng(5)
    for kind, filters in (("bias", [None]), ("flats", ["V", "B"])):
        (folder / kind).mkdir()
        for filter_name in filters:
            for index in range(3):
                level = 1000.0 if kind == "bias" else 20000.0
                data = np.round(rng.normal(level, 5.0, (64, 80))).astype(np.uint16)
                cards = {"EXPTIME": 0.0 if kind == "bias" else 2.0, "INSTRUME": "stackphot simulator"}
                if filter_name:
                    cards["FILTER"] = filter_name
                fits.PrimaryHDU(data, fits.Header(cards)).writeto(folder / kind / f"{filter_name or 'b'}_{index}.fits")


@pytest.fixture(scope="module")
def mixed_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("groups")
    night = root / "mixed"
    write_mixed_night(night)
    work = root / "work"
    run_snakemake(work, {"datasets": {"mixed": {"path": str(night), "settings": {"stack": {"weights": "noise"}}}},
                         "run": {"batch_size": 10}}, "ingest", "stack")
    return night, work


@pytest.mark.workflow
def test_each_group_is_stacked_on_its_own_with_its_filter_and_exposure(mixed_run):
    _, work = mixed_run
    expected = {"V_30s": ("V", 30.0, 3), "B_30s": ("B", 30.0, 2), "V_5s": ("V", 5.0, 2)}
    for group, (filter_name, exptime, n_frames) in expected.items():
        header = fits.getheader(work / "results/mixed" / group / "stack.fits")
        assert (header["FILTER"], header["EXPTIME"], header["NCOMBINE"]) == (filter_name, exptime, n_frames)
        # Weighted by each frame's sky noise, as the night's settings ask: the weights average 1.
        weights = [float(line.split()[-1]) for line in header["HISTORY"] if line.startswith("weight ")]
        assert header["WEIGHTS"] == "noise" and len(weights) == n_frames
        assert sum(weights) / n_frames == pytest.approx(1.0, abs=1e-3)
        table = pd.read_csv(work / "results/mixed" / group / "frames.csv")
        assert set(table.group) == {group}
        assert [(row.filter, row.exptime) for row in table.itertuples()] == [(filter_name, exptime)] * n_frames


@pytest.mark.workflow
def test_a_light_curve_takes_its_stars_colours_from_another_filters_group_of_the_night(mixed_run):
    night, work = mixed_run
    config = {"datasets": {"mixed": {"path": str(night)}}, "lightcurve": {"targets": [{"name": "t", "id": 1}]}}
    dry = run_snakemake(work, config, "--dry-run", "--printshellcmds", "results/mixed/V_30s/lightcurves/t.csv")
    # The B group's stack photometry and catalog come in (its frames are made); the V 5 s group is no other band.
    assert "measure_photometry" in dry.stdout and "results/mixed/B_30s/photometry.csv" in dry.stdout
    assert "results/mixed/V_5s/photometry.csv" not in dry.stdout


@pytest.mark.workflow
def test_the_groups_share_the_nights_masters(mixed_run):
    _, work = mixed_run
    masters = sorted(path.name for path in (work / "results/mixed/calibrate").glob("master_*.fits"))
    assert masters == ["master_bias.fits", "master_flat_B_bin1x1.fits", "master_flat_V_bin1x1.fits"]
    assert fits.getheader(work / "results/mixed/B_30s/calibrate/frame_002.fits")["CALFLAT"] == "B_bin1x1"
    assert fits.getheader(work / "results/mixed/V_5s/calibrate/frame_004.fits")["CALFLAT"] == "V_bin1x1"


def test_results_of_another_folder_of_the_same_name_are_found(tmp_path):
    first, second = tmp_path / "x" / "clean", tmp_path / "x" / "night2" / "clean"
    for folder in (first, second):
        write_frame_set(simulate_frame_set(shape=(32, 32), n_frames=1, n_cluster_stars=5, n_field_stars=2,
                                           cluster_scale_radius=5.0, cluster_max_radius=10.0), folder)
    results = tmp_path / "results"
    (results / "clean").mkdir(parents=True)
    pd.DataFrame({"frame": ["frame_001"], "path": [str(first / "frame_001.fits")]}).to_csv(
        results / "clean/frames.csv", index=False)
    for folder, expected in ((first, None), (second, first)):
        dataset = resolve_datasets({"data": str(folder), "reference": None, "ingest": {}, "calibrate": {}})["clean"]
        assert foreign_results(dataset, results) == expected


def test_a_symlinked_folder_keeps_its_own_name(tmp_path):
    real = tmp_path / "2026-12-04"
    write_frame_set(simulate_frame_set(shape=(32, 32), n_frames=1, n_cluster_stars=5, n_field_stars=2,
                                       cluster_scale_radius=5.0, cluster_max_radius=10.0), real)
    os.symlink(real, tmp_path / "m67_night")
    assert list(resolve_datasets({"data": str(tmp_path / "m67_night"), "calibrate": {}})) == ["m67_night"]


@pytest.mark.workflow
def test_a_run_on_another_folder_of_the_same_name_stops_naming_both(mixed_run, tmp_path):
    night, work = mixed_run
    other = tmp_path / "elsewhere" / "mixed"
    shutil.copytree(night, other)
    command, env = snakemake_command(work, {"data": str(other)}, "-n")
    result = subprocess.run(command, capture_output=True, text=True, env=env)
    assert result.returncode != 0
    message = result.stdout + result.stderr
    assert f"results/mixed/ holds the products of the frames in {night}" in message
    assert str(other) in message
