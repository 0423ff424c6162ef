"""What Snakemake would run, by dry runs alone: a stage asked for by name, and which jobs a change reruns.

The products are empty stand-ins that `snakemake --touch` records as made (their params among them), so that
a dry run after a change lists what a real run would redo, without any job running.
"""

import re

import pytest
import yaml

from workflow_helpers import run_snakemake

pytestmark = pytest.mark.workflow

SIMULATION = {"shape": [64, 64], "n_frames": 3, "seed": 1}
CONFIG = {
    "datasets": {"tiny": {"simulate": "sim.yaml"}},
    "detect": {"frames": ["frame_002"]},
    "photometry": {"sky": {"targets": [{"name": "centre", "lon": 250.42, "lat": 36.46}]}},
}
STAGES = ["simulate", "ingest", "background", "register", "align", "stack", "detect", "photometry", "report"]


def listed_rules(result) -> set[str]:
    """The rules of the jobs in a dry run's job table, the batch rules by their stage's name (``align_frames``)."""
    table = result.stdout.split("Job stats:", 1)[1].split("total", 1)[0] if "Job stats:" in result.stdout else ""
    return {re.sub(r"_tiny_\d{4}$", "", match) for match in re.findall(r"^(\w+)\s+\d+$", table, re.MULTILINE)}


def changed(config: dict, section: str, **values) -> dict:
    return {**config, section: {**config.get(section, {}), **values}}


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    """A folder whose every product exists (empty) and is recorded as made with CONFIG."""
    work = tmp_path_factory.mktemp("dag")
    (work / "sim.yaml").write_text(yaml.safe_dump(SIMULATION))
    summary = run_snakemake(work, CONFIG, "--summary").stdout.splitlines()
    products = [line.split("\t")[0] for line in summary[summary.index(next(s for s in summary if s.startswith(
        "output_file"))) + 1:] if line.strip()]
    assert "results/tiny/sky_photometry.csv" in products and "results/tiny/stack.fits" in products
    for product in products:
        (work / product).parent.mkdir(parents=True, exist_ok=True)
        (work / product).touch()
    run_snakemake(work, CONFIG, "--touch", "--forceall")
    return work


def dry_run(work, config, *extra, expect_success=True):
    """A dry run in ``work``; rules whose code changed (scripts being edited meanwhile) are not rerun for it."""
    return run_snakemake(work, config, "--rerun-triggers", "mtime", "params", "input", "--dry-run", *extra,
                         expect_success=expect_success)


def test_with_nothing_changed_nothing_reruns(made):
    result = dry_run(made, CONFIG)
    assert "Nothing to be done" in result.stdout + result.stderr


@pytest.mark.parametrize(
    "section, values, rerun",
    [
        # Only the sky targets' rule reads it: not the stack's plot or region files, which draw pixel apertures.
        ("photometry", {"sky": {**CONFIG["photometry"]["sky"], "radius_arcsec": 3.0}}, {"measure_sky_targets"}),
        ("photometry", {"growth_stars": 5}, {"measure_curve_of_growth"}),
        # The photometry tables change, so what reads them reruns too.
        ("photometry", {"zero_point": 24.0}, {"measure_photometry", "measure_frame_photometry",
                                              "measure_curve_of_growth", "plot_stack"}),
        ("photometry", {"annulus": [11.0, 17.0]}, {"measure_photometry", "measure_frame_photometry",
                                                   "measure_curve_of_growth", "plot_stack"}),
        # Another single frame to measure: its own jobs, not the stack's catalog again.
        ("detect", {"frames": ["frame_002", "frame_003"]}, {"detect_frame_sources", "measure_frame_photometry"}),
        # The registration plot marks the rejected frames: it follows the selection, as the time series does. The
        # selection's job also writes shifts.csv (the same bytes), so the simulation's shift accuracy reruns too.
        ("quality", {"min_overlap": 0.6}, {"select_frames", "assess_registration", "plot_frames", "build_cube", "stack_frames",
                                           "detect_sources", "measure_photometry", "measure_sky_targets",
                                           "measure_curve_of_growth", "plot_stack",
                                           "measure_forced_photometry",
                                           "collect_forced_photometry", "find_variables"}),
        # The time series' own settings rerun the time series alone.
        ("lightcurve", {"radii": [3.0, 5.0]}, {"measure_forced_photometry", "collect_forced_photometry",
                                               "find_variables"}),
        ("lightcurve", {"variable_nsigma": 4.0}, {"find_variables"}),
    ],
)
def test_a_changed_key_reruns_only_the_rules_that_read_it_and_what_follows(made, section, values, rerun):
    result = dry_run(made, changed(CONFIG, section, **values))
    assert listed_rules(result) == rerun | {"all"}


def test_the_stack_s_memory_is_a_resource_that_reruns_nothing(made):
    # The stack's memory budget follows its job's mem_mb (all but 400 MB of it), a run setting: no rerun.
    assert listed_rules(dry_run(made, CONFIG, "--set-resources", "stack_frames:mem_mb=3000")) == set()
    for extra, mem_mb in [((), 1424), (("--set-resources", "stack_frames:mem_mb=3000"), 3000)]:
        result = run_snakemake(made, CONFIG, "--dry-run", "--forcerun", "stack_frames", "--verbose", *extra)
        stack_job = result.stdout.split("rule stack_frames:", 1)[1].split("\n\n", 1)[0]
        assert f" mem_mb={mem_mb}," in stack_job


def test_the_batch_size_is_a_run_setting_given_in_its_section(made):
    result = dry_run(made, CONFIG, "--forceall", "--config", "run={batch_size: 2}")  # --config takes the rest
    assert "ingest_frames_tiny_0002" in result.stdout and "ingest_frames_tiny_0003" not in result.stdout
    result = dry_run(made, {**CONFIG, "batch_size": 2}, expect_success=False)
    assert result.returncode != 0 and "`batch_size` is now `run: batch_size`" in result.stdout + result.stderr


@pytest.fixture(scope="module")
def fresh(tmp_path_factory):
    """A folder with nothing made yet, and the rules of everything a run there would do."""
    work = tmp_path_factory.mktemp("fresh")
    (work / "sim.yaml").write_text(yaml.safe_dump(SIMULATION))
    return work, listed_rules(run_snakemake(work, CONFIG, "--dry-run"))


@pytest.mark.parametrize("stage", STAGES)
def test_a_stage_is_a_target_by_its_name(fresh, stage):
    work, everything = fresh
    asked = listed_rules(run_snakemake(work, CONFIG, "--dry-run", stage))
    assert stage in asked and asked - {stage} < everything - {"all"}
    # The stage's own rules and those before it run; none of a later stage.
    later = {"simulate": "ingest_frames", "ingest": "subtract_backgrounds", "background": "measure_shifts",
             "register": "align_frames", "align": "stack_frames", "stack": "detect_sources",
             "detect": "measure_photometry", "photometry": "plot_stack", "report": "all"}[stage]
    assert later not in asked
