import numpy as np
import pytest
from astropy.io import fits

from stackphot.datasets import DatasetError, moved_keys, resolve_datasets
from stackphot.io import FrameError


@pytest.fixture
def frames_dir(tmp_path):
    folder = tmp_path / "night1"
    folder.mkdir()
    for name in ("b.fits", "a.fits.gz", "c.fit"):
        fits.PrimaryHDU(np.ones((4, 4), np.float32)).writeto(folder / name)
    return folder


def test_data_shortcut_replaces_the_datasets_and_is_named_after_the_folder(frames_dir, tmp_path):
    spec = tmp_path / "sim.yaml"
    spec.write_text("n_frames: 3\n")
    datasets = resolve_datasets({"datasets": {"sim": {"simulate": str(spec)}}, "data": str(frames_dir)})
    assert list(datasets) == ["night1"]
    night = datasets["night1"]
    assert night.frame_names == ["a", "b", "c"] and night.reference == "a"
    assert night.frames["a"].name == "a.fits.gz"


def test_simulated_dataset_names_its_frames_without_simulating(tmp_path):
    spec = tmp_path / "sim.yaml"
    spec.write_text("n_frames: 3\nseed: 2\n")
    dataset = resolve_datasets({"datasets": {"sim": {"simulate": str(spec)}}}, data_root="data")["sim"]
    assert dataset.frame_names == ["frame_001", "frame_002", "frame_003"]
    assert str(dataset.frames["frame_002"]) == "data/sim/frame_002.fits"
    assert dataset.simulate == spec


def test_calibration_frames_listed_for_a_simulated_dataset_are_refused(tmp_path):
    spec = tmp_path / "sim.yaml"
    spec.write_text("n_frames: 3\n")
    config = {"datasets": {"sim": {"simulate": str(spec)}}, "calibrate": {"flats": str(tmp_path)}}
    with pytest.raises(DatasetError, match=r"dataset 'sim' is simulated: .* calibrate: flats cannot be applied"):
        resolve_datasets(config)


def test_a_simulation_spec_that_is_not_there_is_named(tmp_path):
    config = {"datasets": {"sim": {"simulate": str(tmp_path / "missing.yaml")}}}
    with pytest.raises(DatasetError, match=r"dataset 'sim': its simulation spec .*missing.yaml is not a file"):
        resolve_datasets(config)


def test_reference_can_be_chosen_and_must_exist(frames_dir):
    config = {"datasets": {"n": {"path": str(frames_dir), "reference": "c"}}}
    assert resolve_datasets(config)["n"].reference == "c"
    config["datasets"]["n"]["reference"] = "zz"
    with pytest.raises(DatasetError, match="'zz' is not one of its frames"):
        resolve_datasets(config)


@pytest.mark.parametrize("name", ["../up", ".hidden", "a/b", ""])
def test_dataset_names_that_could_leave_results_are_refused(frames_dir, name):
    with pytest.raises(DatasetError, match="not allowed"):
        resolve_datasets({"datasets": {name: {"path": str(frames_dir)}}})


def test_empty_or_missing_folders_are_named(tmp_path):
    with pytest.raises(FrameError, match="holds no FITS frame"):
        resolve_datasets({"data": str(tmp_path)})
    with pytest.raises(FileNotFoundError, match="no such folder"):
        resolve_datasets({"data": str(tmp_path / "missing")})
    with pytest.raises(DatasetError, match="no dataset configured"):
        resolve_datasets({"datasets": {}})


def test_frame_size_is_read_from_the_headers_and_the_simulation_spec(frames_dir, tmp_path):
    assert resolve_datasets({"data": str(frames_dir)})["night1"].pixels == 16
    spec = tmp_path / "sim.yaml"
    spec.write_text("n_frames: 2\nshape: [30, 50]\n")
    assert resolve_datasets({"datasets": {"sim": {"simulate": str(spec)}}})["sim"].pixels == 1500
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "a.fits").write_bytes(b"SIMPLE  = not a FITS file")
    assert resolve_datasets({"data": str(tmp_path / "broken")})["broken"].pixels is None


@pytest.mark.parametrize(
    "n_frames, pixels, batch_size, sizes",
    [
        (10, 100, 3, [3, 3, 3, 1]),
        (10, 100, 1, [1] * 10),
        (12, 2048 * 2048, "auto", [4] * 3),  # at least 4 frames of 2048 x 2048 per job, before 4 jobs
        (100, 2048 * 2048, "auto", [25] * 4),  # at least 4 jobs
        (200, 2048 * 2048, "auto", [32] * 6 + [8]),  # at most 32 frames of 2048 x 2048 per job
        (2000, 2048 * 2048, "auto", [32] * 62 + [16]),  # at most 32 frames of 2048 x 2048 per job
        (1000, 256 * 256, "auto", [256] * 3 + [232]),  # at least 4 frames of 2048 x 2048 in pixels per job
        (5, 1040 * 1392, "auto", [5]),  # a small set: one job per step
        (40, 2048 * 2048, "auto", [10] * 4),
        (10, 2048 * 2048, "auto", [4, 4, 2]),  # at least 4 frames of 2048 x 2048 per job
        (3, 8192 * 8192, "auto", [1] * 3),  # frames above the least pixels per job: one each
        (5, None, "auto", [1] * 5),  # frame size unknown: one frame per job
    ],
)
def test_batches_cover_every_frame_once_in_order(n_frames, pixels, batch_size, sizes):
    from stackphot.datasets import Dataset

    frames = {f"f{i:04d}": f"f{i:04d}.fits" for i in range(n_frames)}
    batches = Dataset("d", frames, "f0000", pixels=pixels).batches(batch_size)
    assert [len(batch) for batch in batches] == sizes
    assert sum(batches, []) == list(frames)


def test_a_dataset_s_own_settings_are_laid_over_the_config_s(frames_dir):
    config = {
        "datasets": {"plate": {"path": str(frames_dir), "settings": {
            "detect": {"passes": [{"finder": "dao", "fwhm": 6.0, "threshold": 5.0}], "centroid": "com"},
            "photometry": {"sky": {"radius_arcsec": 3.0}}}},
            "ccd": {"path": str(frames_dir)}},
        "detect": {"passes": [{"finder": "iraf", "fwhm": 3.5, "threshold": 5.0}], "centroid": "2dg", "clean": True},
        "photometry": {"radii": [4.0], "sky": {"radius_arcsec": 4.8, "frame": "icrs"}},
        "stack": {"method": "median"},
    }
    datasets = resolve_datasets(config)
    plate = datasets["plate"].settings
    # A list replaces the config's; mappings merge key by key, at any depth.
    assert plate["detect"] == {"passes": [{"finder": "dao", "fwhm": 6.0, "threshold": 5.0}], "centroid": "com",
                               "clean": True}
    assert plate["photometry"] == {"radii": [4.0], "sky": {"radius_arcsec": 3.0, "frame": "icrs"}}
    assert plate["stack"] == {"method": "median"} and plate["ingest"] == {}
    # The other dataset has the config's settings, in a copy of its own.
    ccd = datasets["ccd"].settings
    assert ccd["detect"] == config["detect"] and ccd["photometry"] == config["photometry"]
    ccd["detect"]["passes"][0]["fwhm"] = 9.0
    assert config["detect"]["passes"][0]["fwhm"] == 3.5
    config["datasets"]["ccd"]["settings"] = {"batch_size": 4}
    with pytest.raises(DatasetError, match="dataset 'ccd': its settings can change ingest, .*, not batch_size"):
        resolve_datasets(config)


def test_run_settings_left_among_the_science_are_named_with_where_they_went():
    config = {"batch_size": 4, "stack": {"method": "median", "memory_mb": 2048},
              "datasets": {"plate": {"path": "p", "settings": {"stack": {"memory_mb": 512}}}, "ccd": {"path": "c"}}}
    messages = moved_keys(config)
    assert len(messages) == 3
    assert "`run: batch_size`" in messages[0]
    assert "--set-resources stack_frames:mem_mb=" in messages[1]
    assert messages[2].startswith("dataset 'plate': `stack: memory_mb`")
    assert moved_keys({"run": {"batch_size": 4}, "stack": {"method": "median"}, "datasets": {"a": {"path": "a"}}}) == []

