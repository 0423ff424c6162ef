"""The environments: the package declares what it imports; the jobs' conda environment pins exactly the run-time
requirements, without the test and lint tools."""

import ast
import re
import sys
import tomllib

import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from workflow_helpers import ROOT

# Import name -> distribution, for every third-party package that src/stackphot imports.
DISTRIBUTIONS = {
    "astropy": "astropy",
    "matplotlib": "matplotlib",
    "numpy": "numpy",
    "pandas": "pandas",
    "photutils": "photutils",
    "scipy": "scipy",
    "skimage": "scikit-image",
    "yaml": "PyYAML",
}
DEV_TOOLS = ["pytest", "pytest-xdist", "snakefmt", "black", "pyflakes"]


def pins(name: str) -> list[str]:
    lines = (ROOT / name).read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def pinned_names(name: str) -> set[str]:
    return {canonicalize_name(pin.split("==")[0]) for pin in pins(name)}


def package_imports() -> set[str]:
    """Top-level names of the absolute imports anywhere in src/stackphot, the standard library's left out."""
    names = set()
    for path in (ROOT / "src/stackphot").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names.add(node.module.split(".")[0])
    return names - set(sys.stdlib_module_names) - {"stackphot", "__future__"}


def test_the_package_declares_every_distribution_it_imports():
    imported = package_imports()
    unknown = imported - set(DISTRIBUTIONS)
    assert not unknown, f"imports with no distribution in DISTRIBUTIONS (add it and to pyproject.toml): {unknown}"
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = {canonicalize_name(Requirement(dependency).name) for dependency in project["dependencies"]}
    needed = {canonicalize_name(DISTRIBUTIONS[name]) for name in imported}
    assert needed <= declared, f"imported but not in pyproject.toml's dependencies: {needed - declared}"
    # Nothing declared that the package does not import, and every declared one is pinned for the run.
    assert declared <= {canonicalize_name(d) for d in DISTRIBUTIONS.values()}
    assert declared <= pinned_names("requirements.txt")


def test_the_import_names_map_to_the_installed_distributions():
    from importlib.metadata import packages_distributions

    installed = packages_distributions()
    for name, distribution in DISTRIBUTIONS.items():
        assert canonicalize_name(distribution) in {canonicalize_name(d) for d in installed[name]}, name


def test_the_conda_environment_pins_the_run_time_requirements_and_nothing_relative():
    env = yaml.safe_load((ROOT / "envs/stackphot.yaml").read_text())
    assert "python=3.11" in env["dependencies"] and "conda-forge" in env["channels"]
    pip = next(item["pip"] for item in env["dependencies"] if isinstance(item, dict))
    assert pip == pins("requirements.txt")
    assert all("==" in pin and not pin.startswith("-") for pin in pip)


def test_the_test_and_lint_tools_are_development_pins_only():
    run, dev = pinned_names("requirements.txt"), pinned_names("requirements-dev.txt")
    tools = {canonicalize_name(tool) for tool in DEV_TOOLS}
    assert tools <= dev and not tools & run and not run & dev
    assert all("==" in pin for pin in pins("requirements-dev.txt"))
    # What the workflow itself runs with stays in the run-time pins.
    assert {"snakemake", "snakemake-executor-plugin-slurm", "pygments"} <= run
    makefile = (ROOT / "Makefile").read_text()
    assert "-r requirements.txt -r requirements-dev.txt" in makefile


def test_every_rule_that_runs_something_runs_in_that_environment():
    runs = 0
    for path in (ROOT / "workflow/rules").glob("*.smk"):
        # A rule's block runs to the next line that is not blank and not indented deeper than the rule.
        blocks = re.findall(r"^( *)(?:use )?rule\b.*?:\n(.*?)(?=^(?!\1 )(?!\s*$)|\Z)", path.read_text(),
                            re.MULTILINE | re.DOTALL)
        for _, body in blocks:
            if re.search(r"^\s*(script|shell|run):", body, re.MULTILINE):
                runs += 1
                assert "    conda:\n" in body and '"../../envs/stackphot.yaml"' in body, (path.name, body[:200])
    assert runs >= 20


def test_scripts_find_the_package_without_it_being_installed():
    # Snakemake appends a script's folder to its import path: the link serves a conda env without stackphot.
    link = ROOT / "scripts/stackphot"
    assert link.is_symlink() and link.resolve() == (ROOT / "src/stackphot").resolve()
    assert (link / "__init__.py").is_file()
