"""Which frames make up each dataset of a configuration (plain dictionaries in, no Snakemake)."""

from __future__ import annotations

import copy
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from stackphot.io import ascii_text
from stackphot.inventory import LISTED_KINDS, CalibrationPlan, inventory, listed_calibration, plan_calibration
from stackphot.inventory.groups import group_lights, group_of

# A dataset name becomes a folder under results/: nothing that could climb out of it or hide.
NAME_PATTERN = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]*$")
# batch_size auto: up to this many pixels per job (32 frames of 2048 x 2048), so that a job's Python start and
# imports stay small beside its work ...
AUTO_PIXELS_PER_JOB = 2**27
# ... and at least this many batches, so that cores have work: more jobs would each pay for a start again, which
# on 2 cores costs more than the parallelism gains (README "Many frames"; a machine of many cores may set
# `run: batch_size`) ...
AUTO_MIN_BATCHES = 4
# ... unless that leaves a job less than this (4 frames of 2048 x 2048): a small set's frames then share a job
# per step, since a second job's start costs about as much as the frames it would take (five M13 frames end to
# end, README "Performance").
AUTO_MIN_PIXELS_PER_JOB = 2**24


# The time series' own files in results/<dataset>/lightcurves/, which no light-curve target may be named after.
RESERVED_TARGET_NAMES = ("photometry", "times", "variability")

# The config's sections of scientific settings, which a dataset's own `settings` may change for it alone.
SETTING_SECTIONS = ("ingest", "calibrate", "background", "register", "quality", "align", "stack", "detect", "photometry",
                    "lightcurve", "observatory")


# Run settings that used to sit among the scientific ones: where each went (README, "Many frames").
MOVED_KEYS = {
    ("batch_size",): "`batch_size` is now `run: batch_size` (run settings: `--config run='{batch_size: 4}'`)",
    ("stack", "memory_mb"): (
        "`stack: memory_mb` is now the stack_frames job's memory, mem_mb, of which the stack takes all but 400 MB: "
        "`--set-resources stack_frames:mem_mb=N` (N: the old memory_mb plus 400) or `set-resources` in a profile"
    ),
}


class DatasetError(ValueError):
    """A dataset of the configuration cannot be used; the message says which and why."""


@dataclass(frozen=True)
class Dataset:
    name: str
    frames: dict[str, Path]  # frame name -> raw file, in name order
    reference: str
    simulate: Path | None = None  # the simulation spec, for datasets made by stackphot.simulate
    pixels: int | None = None  # per frame, when known before the frames are read
    settings: dict = field(default_factory=dict)  # SETTING_SECTIONS: its own `settings` over the config's
    calibration: CalibrationPlan | None = None  # its bias, dark and flat frames; None: the lights as they are
    # A night whose lights fall into several groups (inventory.groups) is one dataset per group, named
    # "<night>/<group>"; they share the night's calibration masters, in results/<night>/calibrate/.
    night: str | None = None
    group: dict[str, str] = field(default_factory=dict)  # GROUP_KEYS -> this group's values
    folder: Path | None = None  # the folder of frames (None: simulated)
    # A colour (Bayer) mosaic: split into superpixel planes L, R, G, B after calibration (stackphot.colour); the
    # luminance takes the monochrome path, the colours are aligned and stacked beside it.
    colour: bool = False

    @property
    def night_name(self) -> str:
        """The dataset the folder is configured as: results/<night_name>/ holds this dataset's results."""
        return self.night or self.name

    @property
    def frame_names(self) -> list[str]:
        return list(self.frames)

    def batches(self, batch_size: int | str = "auto") -> list[list[str]]:
        """The frame names in consecutive batches of ``batch_size`` (the last one may be shorter).

        ``auto``: about ``AUTO_PIXELS_PER_JOB`` pixels per batch but at least ``AUTO_MIN_BATCHES`` batches, as
        long as a batch keeps ``AUTO_MIN_PIXELS_PER_JOB`` (one frame per batch when the frame size is unknown).
        """
        names = self.frame_names
        if batch_size == "auto":
            if not self.pixels:
                return [[name] for name in names]
            most = max(1, AUTO_PIXELS_PER_JOB // self.pixels)
            least = math.ceil(AUTO_MIN_PIXELS_PER_JOB / self.pixels)
            batch_size = min(most, max(least, math.ceil(len(names) / AUTO_MIN_BATCHES)))
        return [names[start : start + batch_size] for start in range(0, len(names), batch_size)]


def simulated_frames(spec_path) -> tuple[list[str], int, str | None]:
    """Names of the frames a simulation spec makes (``frame_001`` ...), their pixel count and colour pattern
    (None: monochrome), without simulating them."""
    from stackphot.simulate import SimulationConfig, frame_name

    spec = SimulationConfig.from_mapping(yaml.safe_load(Path(spec_path).read_text()) or {})
    return [frame_name(index) for index in range(spec.n_frames)], math.prod(spec.shape), spec.bayer_pattern


def frame_pixels(path) -> int | None:
    """Pixels of the first 2D image in a FITS file, from its headers alone; None if there is none (the
    ingest step reports what is wrong with the file)."""
    from astropy.io import fits

    try:
        with fits.open(path, mode="readonly") as hdul:
            for hdu in hdul:
                if hdu.is_image and hdu.header.get("NAXIS") == 2:
                    return hdu.header["NAXIS1"] * hdu.header["NAXIS2"]
    except (OSError, KeyError, ValueError):
        pass
    return None


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
        # Named after the folder as given: a symlinked folder keeps its own name (abspath resolves "." and "..").
        # A name a results folder can hold: "my night" is results/my_night/.
        name = re.sub(r"[^A-Za-z0-9._-]", "_", ascii_text(Path(os.path.abspath(folder)).name)).lstrip(".") or "frames"
        entries = {name: {"path": str(folder)}}
    if not entries:
        raise DatasetError("no dataset configured: set `datasets` in the config, or run with --config data=DIR")
    datasets = {}
    for name, entry in entries.items():
        _checked_name(name)
        own = entry.get("settings") or {}
        settings = merged_settings(config, own)
        unknown = sorted(set(own) - set(SETTING_SECTIONS))
        if unknown:
            raise DatasetError(f"dataset {name!r}: its settings can change {', '.join(SETTING_SECTIONS)}, not "
                               f"{', '.join(unknown)}")
        reference = entry.get("reference") or config.get("reference")
        if entry.get("simulate"):
            listed = [key for key in LISTED_KINDS if settings["calibrate"].get(key)]
            if listed:
                raise DatasetError(f"dataset {name!r} is simulated: its frames need no calibration, and "
                                   f"calibrate: {', '.join(listed)} cannot be applied to it; set them in the "
                                   "settings of the datasets of real frames")
            spec = Path(entry["simulate"])
            if not spec.is_file():
                raise DatasetError(f"dataset {name!r}: its simulation spec {spec} is not a file (relative paths are "
                                   f"from the working directory, {Path.cwd()})")
            names, pixels, pattern = simulated_frames(spec)
            frames = {frame: Path(data_root) / name / f"{frame}.fits" for frame in names}
            _check_reference(name, reference, frames)
            _check_settings(name, settings, None)
            datasets[name] = Dataset(name, frames, reference or next(iter(frames)), spec, pixels, settings,
                                     colour=_is_colour(settings, pattern))
            continue
        found = inventory(entry["path"])
        # A file both in the folder and in the config's calibrate lists goes into its master once.
        seen = {info.path.resolve() for info in found}
        found += [info for info in listed_calibration(settings["calibrate"]) if info.path.resolve() not in seen]
        plan = plan_calibration(found, min_frames=settings["calibrate"].get("min_frames", 3))
        groups = group_lights([info for info in found if info.kind == "light"])
        _check_reference(name, reference, {info.name: info for lights in groups.values() for info in lights})
        for group, lights in groups.items():
            frames = {info.name: info.path for info in lights}
            group_name = f"{name}/{group}" if group else name
            known = [info.shape for info in lights if info.shape != (0, 0)]
            _check_settings(group_name, settings, known[0] if known else None)
            datasets[group_name] = Dataset(
                group_name, frames, reference if reference in frames else next(iter(frames)), None,
                frame_pixels(next(iter(frames.values()))), settings, plan, night=name if group else None,
                folder=Path(entry["path"]), group=group_of(lights),
                colour=_is_colour(settings, group_of(lights)["pattern"]))
    return datasets


def _is_colour(settings: dict, pattern: str | None) -> bool:
    """Whether a dataset's lights are colour mosaics: the config's `ingest: bayer_pattern` ("mono" for none)
    over the headers' pattern."""
    configured = settings["ingest"].get("bayer_pattern")
    if configured is not None:
        return configured.lower() != "mono"
    return pattern not in (None, "mono")


def foreign_results(dataset: Dataset, results_root="results") -> Path | None:
    """Where the frames of an earlier run's results/<night>/ came from, when that is not ``dataset``'s folder
    (another folder of the same name, whose products this run would overwrite); None if they came from it,
    or there are none. Read from the ``path`` column of the frames.csv tables there."""
    import csv

    if dataset.folder is None:
        return None
    folder = Path(os.path.abspath(dataset.folder))
    night = Path(results_root) / dataset.night_name
    for table in [night / "frames.csv", *sorted(night.glob("*/frames.csv"))]:
        if not table.is_file():
            continue
        with open(table, newline="", encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                raw = Path(os.path.abspath(row.get("path") or folder))
                if not raw.is_relative_to(folder):
                    return raw.parent
    return None


def _check_settings(name: str, settings: dict, shape: tuple[int, int] | None) -> None:
    """What the schema cannot see: an annulus inside out or over the apertures, a crop outside the frames
    (``shape``: ny, nx, where the headers give it)."""
    photometry = settings.get("photometry", {})
    pairs = [("photometry: annulus", photometry.get("annulus"), max(photometry.get("radii") or [0]), "radii"),
             ("photometry: sky: annulus_arcsec", (photometry.get("sky") or {}).get("annulus_arcsec"),
              (photometry.get("sky") or {}).get("radius_arcsec") or 0, "radius_arcsec")]
    for key, annulus, radius, radius_key in pairs:
        if annulus is None:
            continue
        inner, outer = annulus
        if inner >= outer:
            raise DatasetError(f"dataset {name!r}: {key} [{inner:g}, {outer:g}] is inside out: give [inner, "
                               "outer] with inner < outer")
        if radius > inner:
            raise DatasetError(f"dataset {name!r}: {key} starts at {inner:g}, inside the aperture of "
                               f"{radius:g} ({radius_key}): the sky would hold the star's light; start it "
                               "further out")
    names = [target.get("name") for target in (settings.get("lightcurve") or {}).get("targets") or []]
    taken = sorted({name for name in names if name in RESERVED_TARGET_NAMES or name.startswith("batch_")})
    if taken or len(set(names)) < len(names):
        why = f"{', '.join(taken)} name the time series' own files" if taken else "two targets share a name"
        raise DatasetError(f"dataset {name!r}: lightcurve: targets: {why} (results/<dataset>/lightcurves/): give "
                           "each target a name of its own")
    crop = (settings.get("register") or {}).get("crop")
    if crop is not None:
        y0, y1, x0, x1 = crop
        fits_in = shape is None or (y1 <= shape[0] and x1 <= shape[1])
        if not (y0 < y1 and x0 < x1 and fits_in):
            frame = f" of frames of {shape[0]} x {shape[1]} pixels (ny x nx)" if shape else ""
            raise DatasetError(f"dataset {name!r}: register: crop {list(crop)} is not a region{frame}: give "
                               "[y0, y1, x0, x1] with y0 < y1 <= ny and x0 < x1 <= nx")


def _check_reference(name: str, reference: str | None, frames: dict) -> None:
    if reference is not None and reference not in frames:
        raise DatasetError(f"dataset {name!r}: reference frame {reference!r} is not one of its frames "
                           f"({', '.join(frames)})")


def moved_keys(config: dict) -> list[str]:
    """What to write instead, for each MOVED_KEYS key that ``config`` or a dataset's `settings` in it still sets."""
    places = [("", config)] + [(f"dataset {name!r}: ", entry.get("settings"))
                               for name, entry in (config.get("datasets") or {}).items() if isinstance(entry, dict)]
    messages = []
    for where, mapping in places:
        for path, message in MOVED_KEYS.items():
            *sections, key = path
            holder = mapping
            for section in sections:
                holder = holder.get(section) if isinstance(holder, dict) else None
            if isinstance(holder, dict) and key in holder:
                messages.append(where + message)
    return messages


def merged_settings(config: dict, own: dict) -> dict:
    """The SETTING_SECTIONS of ``config`` with a dataset's ``own`` settings laid over them (a copy): mappings
    are merged key by key, at any depth; any other value (a list of detection passes, say) replaces the
    config's."""

    def merged(base, over):
        if isinstance(base, dict) and isinstance(over, dict):
            return {**base, **{key: merged(base.get(key), value) for key, value in over.items()}}
        return over

    return copy.deepcopy({section: merged(config.get(section, {}), own.get(section, {}))
                          for section in SETTING_SECTIONS})


def typed_text(value, schema: dict):
    """``value`` with the text that Snakemake's ``--config`` makes of every nested number, boolean and null
    (``--config ingest='{gain: 0.067}'`` gives '0.067') read as YAML, where ``schema`` (a JSON schema) refuses the
    text and takes what is read. Everything else is left as it is, for the schema's own check to judge."""
    if isinstance(value, dict):
        properties, other = schema.get("properties", {}), schema.get("additionalProperties")
        return {key: typed_text(item, properties.get(key, other if isinstance(other, dict) else {}))
                for key, item in value.items()}
    if isinstance(value, list):
        items = schema.get("items")
        return [typed_text(item, items if isinstance(items, dict) else {}) for item in value]
    if isinstance(value, str) and not _takes(schema, value):
        try:
            read = yaml.safe_load(value)
        except yaml.YAMLError:
            return value
        return read if _takes(schema, read) else value
    return value


_JSON_TYPES = {bool: {"boolean"}, int: {"integer", "number"}, float: {"number"}, str: {"string"},
               type(None): {"null"}}


def _takes(schema: dict, value) -> bool:
    """Whether ``schema`` takes a scalar ``value`` by its type, enum or constant (a schema that says neither
    takes text only)."""
    choices = schema.get("oneOf", []) + schema.get("anyOf", [])
    if choices:
        return any(_takes(choice, value) for choice in choices)
    if "enum" in schema or "const" in schema:
        return any(type(value) is type(option) and value == option
                   for option in schema.get("enum", [schema.get("const")]))
    types = schema.get("type", "string")
    return bool(_JSON_TYPES.get(type(value), set()) & set([types] if isinstance(types, str) else types))
