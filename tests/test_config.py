"""The configuration: validated by the schema before any job runs; the default DAG lists without error."""

import shutil

import pytest
import yaml

from stackphot.simulate import simulate_frame_set, write_frame_set
from workflow_helpers import ROOT, run_snakemake

pytestmark = pytest.mark.workflow


def default_config():
    return yaml.safe_load((ROOT / "config.yaml").read_text())


def test_dry_run_of_the_default_config_lists_the_whole_dag(tmp_path):
    shutil.copytree(ROOT / "data", tmp_path / "data")
    result = run_snakemake(tmp_path, default_config(), "-n")
    for rule in ("simulate_m13sim", "ingest_frames", "subtract_backgrounds", "prepare_reference", "measure_shifts",
                 "select_frames", "align_frames", "build_cube", "stack_frames", "assess_registration"):
        assert rule in result.stdout, rule
    assert not (tmp_path / "results").exists()


@pytest.mark.parametrize(
    "change, words",
    [
        ({"stack": {"methd": "mean"}}, ["methd"]),
        ({"register": {"upsample_factor": "ten"}}, ["ten", "integer"]),
        ({"background": {"method": "spline"}}, ["spline"]),
        ({"colour": "blue"}, ["colour"]),
    ],
)
def test_a_wrong_key_type_or_value_stops_the_run_with_a_message_naming_it(tmp_path, change, words):
    shutil.copytree(ROOT / "data", tmp_path / "data")
    config = default_config()
    for key, value in change.items():
        if isinstance(value, dict) and isinstance(config.get(key), dict):
            config[key] = {**config[key], **value}
        else:
            config[key] = value
    result = run_snakemake(tmp_path, config, "-n", expect_success=False)
    assert result.returncode != 0
    message = result.stdout + result.stderr
    assert "validat" in message.lower()
    for word in words:
        assert word in message


def test_a_dataset_name_cannot_leave_results(tmp_path):
    (tmp_path / "frames").mkdir()
    result = run_snakemake(tmp_path, {"datasets": {"../escape": {"path": "frames"}}}, "-n", expect_success=False)
    assert result.returncode != 0
    assert "../escape" in result.stdout + result.stderr


def test_a_wrong_setting_of_one_dataset_stops_the_run_naming_the_dataset(tmp_path):
    (tmp_path / "frames").mkdir()
    write_frame_set(simulate_frame_set(shape=(32, 32), n_frames=1, n_cluster_stars=5, n_field_stars=0,
                                       cluster_scale_radius=5.0, cluster_max_radius=10.0), tmp_path / "frames")
    settings = {"detect": {"centroid": "peak"}}
    result = run_snakemake(tmp_path, {"datasets": {"plate": {"path": "frames", "settings": settings}}}, "-n",
                           expect_success=False)
    assert result.returncode != 0
    message = result.stdout + result.stderr
    assert "invalid settings of dataset 'plate': 'peak' is not one of" in message and "centroid" in message
    assert "Traceback" not in message


def test_the_sections_a_dataset_can_change_are_the_schema_s():
    from stackphot.datasets import SETTING_SECTIONS

    schema = yaml.safe_load((ROOT / "workflow/schemas/config.schema.yaml").read_text())
    dataset = schema["properties"]["datasets"]["additionalProperties"]["properties"]["settings"]
    assert tuple(dataset["propertyNames"]["enum"]) == SETTING_SECTIONS
    assert set(SETTING_SECTIONS) <= set(schema["properties"])


def test_a_dataset_name_with_a_regex_character_resolves_only_its_own_files(tmp_path):
    (tmp_path / "sim.yaml").write_text(yaml.safe_dump({"shape": [64, 64], "n_frames": 2}))
    config = {"datasets": {"m13.v2": {"simulate": "sim.yaml"}}}
    own = run_snakemake(tmp_path, config, "-n", "results/m13.v2/stack.fits")
    assert "stack_frames" in own.stdout
    # The '.' of the name is escaped in the wildcard constraint: another folder is not taken for the dataset.
    other = run_snakemake(tmp_path, config, "-n", "results/m13xv2/stack.fits", expect_success=False)
    message = other.stdout + other.stderr
    assert other.returncode != 0 and "No rule to produce results/m13xv2/stack.fits" in message
    assert "KeyError" not in message and "InputFunctionException" not in message


def test_the_run_settings_are_a_section_of_their_own():
    schema = yaml.safe_load((ROOT / "workflow/schemas/config.schema.yaml").read_text())
    assert "run settings" in schema["properties"]["run"]["description"].lower()
    assert set(schema["properties"]["run"]["properties"]) == {"batch_size", "worker"}
    assert "batch_size" not in schema["properties"] and "memory_mb" not in schema["properties"]["stack"]["properties"]
    assert default_config()["run"] == {"batch_size": "auto", "worker": True}


def test_nested_numbers_given_on_the_command_line_as_text_are_read_where_the_schema_takes_them():
    from stackphot.datasets import typed_text

    schema = yaml.safe_load((ROOT / "workflow/schemas/config.schema.yaml").read_text())
    # What `--config ingest='{gain: 0.067, offset: null}' photometry='{radii: [3, 5]}' ...` gives (YAML's BaseLoader)
    given = {"ingest": {"gain": "0.067", "offset": "null"}, "photometry": {"radii": ["3", "5.5"]},
             "data": "2024", "register": {"upsample_factor": "ten"}, "run": {"batch_size": "4", "worker": "false"}}
    assert typed_text(given, schema) == {
        "ingest": {"gain": 0.067, "offset": None}, "photometry": {"radii": [3, 5.5]},
        "data": "2024",  # a folder's name: text
        "register": {"upsample_factor": "ten"},  # no number: left for the schema to refuse
        "run": {"batch_size": 4, "worker": False},
    }


def test_a_gain_given_on_the_command_line_reaches_the_jobs(tmp_path):
    shutil.copytree(ROOT / "data", tmp_path / "data")
    result = run_snakemake(tmp_path, default_config(), "-n", "--config", "ingest={gain: 1.5, offset: 0}")
    assert "ingest_frames" in result.stdout + result.stderr
