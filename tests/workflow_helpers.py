"""Running the workflow through Snakemake from tests, in a folder of its own."""

import os
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def snakemake_command(workdir, config: dict, *extra: str) -> tuple[list[str], dict]:
    """Write ``config`` as the folder's config.yaml; the command line and environment that run the
    workflow there with 2 cores."""
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "config.yaml").write_text(yaml.safe_dump(config))
    # A fixed SOURCE_DATE_EPOCH dates the products, so that two runs can be compared byte for byte. tests/bin's
    # scontrol spares every local run the SLURM plugin's 9 s wait for a controller (see that file).
    path = os.pathsep.join([str(Path(sys.executable).parent), str(ROOT / "tests" / "bin"), os.environ["PATH"]])
    env = dict(os.environ, PATH=path, SOURCE_DATE_EPOCH=os.environ.get("SOURCE_DATE_EPOCH", "1764547200"))
    command = [sys.executable, "-m", "snakemake", "--snakefile", str(ROOT / "Snakefile"), "--directory",
               str(workdir), "--cores", "2", *extra]
    return command, env


def run_snakemake(workdir, config: dict, *extra: str, expect_success: bool = True) -> subprocess.CompletedProcess:
    """Run the workflow with ``config`` in ``workdir`` (see ``snakemake_command``) to its end."""
    command, env = snakemake_command(workdir, config, *extra)
    result = subprocess.run(command, capture_output=True, text=True, env=env)
    if expect_success and result.returncode != 0:
        raise AssertionError(f"snakemake failed ({result.returncode}):\n{result.stdout[-3000:]}\n{result.stderr[-6000:]}")
    return result
