"""The conda environment for clusters pins exactly what the pip requirements pin."""

import re

import yaml

from workflow_helpers import ROOT


def test_the_conda_environment_pins_the_requirements_and_nothing_relative():
    env = yaml.safe_load((ROOT / "envs/stackphot.yaml").read_text())
    assert "python=3.11" in env["dependencies"] and "conda-forge" in env["channels"]
    pip = next(item["pip"] for item in env["dependencies"] if isinstance(item, dict))
    requirements = [line.strip() for line in (ROOT / "requirements.txt").read_text().splitlines()
                    if line.strip() and not line.startswith("#")]
    assert pip == requirements
    assert all("==" in pin and not pin.startswith("-") for pin in pip)


def test_every_rule_runs_in_that_environment():
    rules = list((ROOT / "workflow/rules").glob("*.smk"))
    for path in rules:
        text = path.read_text()
        rules_defined = len(re.findall(r"^\s*rule(\s+\w+)?:\s*$", text, re.MULTILINE))
        assert text.count("conda:") == rules_defined, path.name
        assert text.count('"../../envs/stackphot.yaml"') == text.count("conda:"), path.name


def test_scripts_find_the_package_without_it_being_installed():
    # Snakemake appends a script's folder to its import path: the link serves a conda env without stackphot.
    link = ROOT / "scripts/stackphot"
    assert link.is_symlink() and link.resolve() == (ROOT / "src/stackphot").resolve()
    assert (link / "steps.py").is_file()
