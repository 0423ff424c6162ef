"""Which frames make up each dataset of a configuration (plain dictionaries in, no Snakemake)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from stackphot.io import find_frames

# A dataset name becomes a folder under results/: nothing that could climb out of it or hide.
NAME_PATTERN = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]*$")


class DatasetError(ValueError):
    """A dataset of the configuration cannot be used; the message says which and why."""


@dataclass(frozen=True)
class Dataset:
    name: str
    frames: dict[str, Path]  # frame name -> raw file, in name order
    reference: str
    simulate: Path | None = None  # the simulation spec, for datasets made by stackphot.simulate

    @property
    def frame_names(self) -> list[str]:
        return list(self.frames)


def simulated_frame_names(spec_path) -> list[str]:
    """Names of the frames a simulation spec makes (``frame_001`` ...), without simulating them."""
    from stackphot.simulate import SimulationConfig, frame_name

    spec = SimulationConfig.from_mapping(yaml.safe_load(Path(spec_path).read_text()) or {})
    return [frame_name(index) for index in range(spec.n_frames)]


def _checked_name(name: str) -> str:
    if not NAME_PATTERN.match(name):
        raise DatasetError(
            f"dataset name {name!r} is not allowed: use letters, digits, '.', '_' and '-' (it names a folder under results/)"
        )
    return name


def resolve_datasets(config: dict, *, data_root="data") -> dict[str, Dataset]:
    """Datasets of a (validated) configuration, with their frames found on disk or named by the simulation.

    ``config['data']``, when set, replaces ``config['datasets']`` by that one folder, named after it.

    Raises
    ------
    DatasetError
        Bad dataset name, no dataset, or a reference frame that is not in the dataset.
    FileNotFoundError, stackphot.io.FrameError
        A folder that does not exist or holds no FITS frame.
    """
    entries = config.get("datasets") or {}
    if config.get("data"):
        folder = Path(config["data"])
        entries = {folder.resolve().name: {"path": str(folder)}}
    if not entries:
        raise DatasetError("no dataset configured: set `datasets` in the config, or run with --config data=DIR")
    datasets = {}
    for name, entry in entries.items():
        _checked_name(name)
        if entry.get("simulate"):
            spec = Path(entry["simulate"])
            frames = {frame: Path(data_root) / name / f"{frame}.fits" for frame in simulated_frame_names(spec)}
        else:
            spec = None
            frames = find_frames(entry["path"])
        reference = entry.get("reference") or config.get("reference") or next(iter(frames))
        if reference not in frames:
            raise DatasetError(
                f"dataset {name!r}: reference frame {reference!r} is not one of its frames ({', '.join(frames)})"
            )
        datasets[name] = Dataset(name, frames, reference, spec)
    return datasets
