"""Which masters a night needs and which of them calibrate each light, decided from the headers alone (before
any pixel is read, so that the workflow's jobs are known when it starts)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from astropy.io import fits

from stackphot.inventory.kinds import FrameInfo, ForeignMasterError, describe_frame
from stackphot.io import FITS_SUFFIXES, FrameError, frame_stem

# The config's keys of calibration sources (`calibrate: bias, darks, flats`) and the kind of what they list.
LISTED_KINDS = {"bias": "bias", "darks": "dark", "flats": "flat"}


def inventory(folder, *, default_kind: str = "light", listed_in: str | None = None) -> list[FrameInfo]:
    """Every FITS file under ``folder`` (subfolders too), described, in path order; ``default_kind`` and
    ``listed_in`` as ``describe_frame``'s.

    Raises
    ------
    FileNotFoundError
        The folder does not exist.
    FrameError
        It holds no FITS file, two lights share a frame name, a path holds a brace, a file cannot be read (except a light's: ingest
        says what is wrong with it) or it is a master made by another program.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: no such folder of frames")
    paths = sorted(path for path in folder.rglob("*") if path.is_file() and frame_stem(path) is not None
                   and not any(part.startswith(".") for part in path.relative_to(folder).parts))
    if not paths:
        raise FrameError(folder, f"holds no FITS frame (looked for {', '.join(FITS_SUFFIXES)}, also .gz)")
    for path in paths:
        if "{" in str(path) or "}" in str(path):
            raise FrameError(path, "its path holds '{' or '}', which Snakemake reads as a wildcard: rename it")
    frames = [_described(path, folder, default_kind, listed_in) for path in paths]
    lights: dict[str, Path] = {}
    for info in frames:
        if info.kind == "light":
            if info.name in lights:
                raise FrameError(info.path, f"has the same frame name {info.name!r} as {lights[info.name]}; "
                                            "rename one")
            lights[info.name] = info.path
    return frames


def _described(path, folder, default_kind: str, listed_in: str | None) -> FrameInfo:
    """``describe_frame``, or a light of unknown figures when its header cannot be read in a folder of lights:
    ingest reads it and says what is wrong with it, as for any light."""
    try:
        return describe_frame(path, folder, default_kind=default_kind, listed_in=listed_in)
    except ForeignMasterError:
        raise
    except (FrameError, KeyError, ValueError, TypeError) as error:
        if default_kind != "light":
            raise error if isinstance(error, FrameError) else FrameError(path, f"has an unreadable header ({error})")
        return FrameInfo(Path(path), frame_stem(path), "light", "its header could not be read", None, None, (1, 1),
                         (0, 0), None)


def listed_calibration(calibrate: dict) -> list[FrameInfo]:
    """The calibration frames and ready masters the config lists (`calibrate: bias, darks, flats`, each a
    folder, a file, or a list of them), of the key's kind unless their header or folder says another
    (a flats folder may hold the flats' darks).

    Raises
    ------
    FileNotFoundError
        A listed file or folder does not exist.
    FrameError
        A listed file is a light, cannot be read, or is a master made by another program.
    """
    found = []
    for key, kind in LISTED_KINDS.items():
        sources = calibrate.get(key) or []
        where = f"calibrate: {key}"
        for source in [sources] if isinstance(sources, str) else sources:
            path = Path(source)
            if path.is_dir():
                infos = inventory(path, default_kind=kind, listed_in=where)
            elif path.is_file():
                infos = [_described(path, path.parent, kind, where)]
            else:
                raise FileNotFoundError(f"{source}: no such file or folder ({where} in the config)")
            for info in infos:
                if info.kind == "light":
                    raise FrameError(info.path, f"a light ({info.kind_source}) among the {where} frames: take it "
                                                "out, or set IMAGETYP")
            found += infos
    return found


def exposure_name(exptime: float) -> str:
    """A file name's form of an exposure: 1.5 s is ``1p5s``, as observers name their dark folders."""
    return f"{exptime:g}".replace(".", "p") + "s"


@dataclass(frozen=True)
class ZeroRecipe:
    """What is subtracted from a frame of one exposure before it counts photons, chosen from the masters a night
    has: the master bias or not, a master dark (by its exposure) times ``factor`` or not, and a sentence."""

    bias: bool
    dark: float | None
    factor: float
    description: str


def zero_recipe(exptime, *, bias: bool, darks: dict[float, bool]) -> ZeroRecipe:
    """The zero level of a frame of ``exptime`` seconds, given whether there is a master ``bias`` and the
    master darks by exposure (True: made less the bias, so it scales with exposure): a dark of that exposure
    (plus the bias it was made without); else the bias plus the nearest dark scaled to the exposure; else the
    bias alone; else the nearest dark as it is (its own bias and its own exposure's dark current); else
    nothing."""
    if exptime in darks:
        if darks[exptime]:
            return ZeroRecipe(True, exptime, 1.0, f"the {exptime:g} s master dark and the master bias")
        return ZeroRecipe(False, exptime, 1.0, f"the {exptime:g} s master dark (bias included)")
    scalable = [time for time, less_bias in darks.items() if less_bias]
    if bias and scalable and exptime is not None:
        nearest = min(scalable, key=lambda time: abs(time - exptime))
        return ZeroRecipe(True, nearest, exptime / nearest,
                          f"the master bias and the {nearest:g} s master dark scaled to {exptime:g} s")
    if bias:
        return ZeroRecipe(True, None, 0.0, "the master bias (no dark: the dark current is left in)")
    if darks:
        nearest = min(darks, key=lambda time: abs(time - exptime) if exptime is not None else time)
        return ZeroRecipe(False, nearest, 1.0,
                          f"the {nearest:g} s master dark as the bias (no bias frames and no {exptime:g} s dark: "
                          f"the dark current beyond {nearest:g} s is left in)")
    return ZeroRecipe(False, None, 0.0, "nothing (no bias or dark frames)")


def mean_temperature(frames: list[FrameInfo]) -> float | None:
    """Degrees C: the mean sensor temperature of the frames whose headers give it (as their master records)."""
    known = [info.temperature for info in frames if info.temperature is not None]
    return sum(known) / len(known) if known else None


@dataclass(frozen=True)
class CalibrationPlan:
    """The calibration frames of a night grouped into masters, and each light's masters. A group of one ready
    master (``ready``) is used as it is, not combined."""

    bias: list[FrameInfo]
    darks: dict[float, list[FrameInfo]]  # by exposure (s)
    flats: dict[str, list[FrameInfo]]  # by flat name: filter and binning, "R_bin2x2"
    lights: dict[str, FrameInfo]  # by frame name
    ready: dict[str, Path] = field(default_factory=dict)  # master name -> the ready master's file
    darks_less_bias: dict[float, bool] = field(default_factory=dict)  # by exposure: made less the master bias

    def flat_for(self, light: FrameInfo) -> str | None:
        return flat_name(light) if self.flats else None

    def groups(self, kinds=("bias", "dark", "flat")) -> dict[str, list[FrameInfo]]:
        """The frames of each master of ``kinds``, by its file name (in ``calibrate/``, without suffix)."""
        groups = {"bias": {"master_bias": self.bias} if self.bias else {},
                  "dark": {f"master_dark_{exposure_name(t)}": frames for t, frames in self.darks.items()},
                  "flat": {f"master_flat_{name}": frames for name, frames in self.flats.items()}}
        return {name: frames for kind in ("bias", "dark", "flat") if kind in kinds
                for name, frames in groups[kind].items()}

    def masters(self, kinds=("bias", "dark", "flat")) -> list[str]:
        """File names (in ``calibrate/``, without suffix) of the masters of ``kinds``, ready ones included."""
        return list(self.groups(kinds))

    @property
    def master_names(self) -> list[str]:
        """File names of every master."""
        return self.masters()

    @property
    def masters_to_make(self) -> list[str]:
        """File names of the masters combined from their frames (all but the ready ones)."""
        return [name for name in self.master_names if name not in self.ready]

    def zero_recipe(self, exptime) -> ZeroRecipe:
        """How the zero level of a frame of ``exptime`` seconds is made from this night's masters."""
        return zero_recipe(exptime, bias=bool(self.bias), darks=self.darks_less_bias)

    def calibration_of(self, light: FrameInfo) -> str:
        """What is done to a light, in words: ``less <its zero level>; divided by master_flat_R_bin2x2``."""
        flat = self.flat_for(light)
        return f"less {self.zero_recipe(light.exptime).description}; " + (
            f"divided by master_flat_{flat}" if flat else "no flat")

    def warnings_of(self, frames: list[FrameInfo], *, max_temperature_difference: float) -> list[str]:
        """What the calibration of a light (or of the flats of one master, ``frames``) lacks: a dark of its
        exposure (lights), a dark within ``max_temperature_difference`` degrees C of the frames' temperature."""
        recipe = self.zero_recipe(frames[0].exptime)
        warnings = []
        if frames[0].kind == "light" and recipe.dark != frames[0].exptime:
            warnings.append(f"no dark of its exposure ({frames[0].exptime} s): {recipe.description}")
        temperature = mean_temperature(frames)
        dark = mean_temperature(self.darks[recipe.dark]) if recipe.dark is not None else None
        if temperature is not None and dark is not None and abs(temperature - dark) > max_temperature_difference:
            warnings.append(f"sensor at {temperature:.1f} C, its dark at {dark:.1f} C: {abs(temperature - dark):.1f} "
                            f"C apart, more than calibrate: max_temperature_difference "
                            f"({max_temperature_difference:g} C); its dark current may differ")
        return warnings

    def exposures_needed(self) -> list[float]:
        """The exposures whose zero level is needed: the lights' and those of the flats to combine."""
        times = {info.exptime for info in self.lights.values()}
        times |= {frames[0].exptime for name, frames in self.groups(("flat",)).items() if name not in self.ready}
        return sorted(t for t in times if t is not None)


def flat_name(info: FrameInfo) -> str:
    """The flat a frame needs: its filter and binning (``R_bin2x2``, ``nofilter_bin1x1``)."""
    filter_name = "".join(c if c.isalnum() or c in "-+" else "_" for c in (info.filter or "nofilter"))
    return f"{filter_name}_bin{info.binning[0]}x{info.binning[1]}"


def plan_calibration(frames: list[FrameInfo], *, min_frames: int) -> CalibrationPlan | None:
    """The masters of a night's frames (``inventory``), or None when it has no calibration frames (a plain
    folder of lights, calibrated as before: not at all).

    Raises
    ------
    FrameError
        Naming the file and the fix: a calibration frame or master of another shape than the lights; fewer
        than ``min_frames`` frames for a master; a ready master beside frames for the same master; a light of
        a filter or binning no flat has; darks whose exposures match no light and no flat, with no bias to
        scale them by; a ready dark made less a bias the night lacks; a dark or flat without an exposure time.
    """
    lights = {info.name: info for info in frames if info.kind == "light"}
    calibration = [info for info in frames if info.kind != "light"]
    if not calibration:
        return None
    if not lights:
        raise FrameError(frames[0].path.parent, "holds calibration frames but no light")
    shape = next((info.shape for info in lights.values() if info.shape != (0, 0)), (0, 0))
    for info in calibration:
        if info.shape != shape:
            what = f"master {info.kind}" if info.master else info.kind
            raise FrameError(info.path, f"a {what} of {info.shape[0]} x {info.shape[1]} pixels for lights of "
                                        f"{shape[0]} x {shape[1]} ({next(iter(lights.values())).path}): another "
                                        f"camera or binning; take it out of {info.listed_in or 'the dataset folder'}")
        if info.kind in ("dark", "flat") and info.exptime is None:
            raise FrameError(info.path, f"a {info.kind} without an exposure time (EXPTIME): set it in the header")
    bias = [info for info in calibration if info.kind == "bias"]
    darks: dict[float, list[FrameInfo]] = {}
    flats: dict[str, list[FrameInfo]] = {}
    for info in calibration:
        if info.kind == "dark":
            darks.setdefault(info.exptime, []).append(info)
        elif info.kind == "flat":
            flats.setdefault(flat_name(info), []).append(info)
    plan = CalibrationPlan(bias, dict(sorted(darks.items())), dict(sorted(flats.items())), lights)
    for name, group in plan.groups().items():
        masters = [info for info in group if info.master]
        if masters and len(group) > 1:
            others = ", ".join(str(info.path) for info in group if info is not masters[0])
            raise FrameError(masters[0].path, f"a ready {name} beside other frames for it ({others}): keep the "
                                              "master or the frames")
        if masters:
            plan.ready[name] = masters[0].path
        elif len(group) < min_frames:
            raise FrameError(group[0].path, f"only {len(group)} {group[0].kind} frame(s) for {name}, fewer than calibrate: "
                                            f"min_frames ({min_frames}): add frames, or lower min_frames")
    if flats:
        for light in lights.values():
            if flat_name(light) not in flats:
                raise FrameError(light.path, f"a light of filter {light.filter or 'none'} and binning "
                                             f"{light.binning[0]}x{light.binning[1]}, but the flats are "
                                             f"{', '.join(sorted(flats))} ({next(iter(flats.values()))[0].path}): "
                                             "add its flats, or take it out")
    needed = plan.exposures_needed()
    if darks and not bias and not set(darks) & set(needed):
        first = next(iter(darks.values()))[0]
        raise FrameError(first.path, f"darks of {', '.join(f'{t:g}' for t in darks)} s match no light or flat "
                                     f"exposure ({', '.join(f'{t:g}' for t in needed)} s), and with no "
                                     "bias frames they cannot be scaled: add darks of those exposures, or bias "
                                     "frames")
    for exptime, name in zip(plan.darks, plan.masters(("dark",))):
        ready = plan.ready.get(name)
        plan.darks_less_bias[exptime] = bool(fits.getheader(ready).get("BIASSUB")) if ready else bool(bias)
        if plan.darks_less_bias[exptime] and not bias:
            raise FrameError(ready, "a ready master dark made less a master bias, and the night has no bias: give "
                                    "that master bias too (calibrate: bias)")
    return plan
