"""Which masters a night needs and which of them calibrate each light, decided from the headers alone (before
any pixel is read, so that the workflow's jobs are known when it starts)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from stackphot.inventory.kinds import FrameInfo, describe_frame
from stackphot.io import FITS_SUFFIXES, FrameError, frame_stem


def inventory(folder) -> list[FrameInfo]:
    """Every FITS file under ``folder`` (subfolders too), described, in path order.

    Raises
    ------
    FileNotFoundError
        The folder does not exist.
    FrameError
        It holds no FITS file, two lights share a frame name, or a file cannot be read.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: no such folder of frames")
    paths = sorted(path for path in folder.rglob("*") if path.is_file() and frame_stem(path) is not None
                   and not any(part.startswith(".") for part in path.relative_to(folder).parts))
    if not paths:
        raise FrameError(folder, f"holds no FITS frame (looked for {', '.join(FITS_SUFFIXES)}, also .gz)")
    frames = [_described(path, folder) for path in paths]
    lights: dict[str, Path] = {}
    for info in frames:
        if info.kind == "light":
            if info.name in lights:
                raise FrameError(info.path, f"has the same frame name {info.name!r} as {lights[info.name]}; "
                                            "rename one")
            lights[info.name] = info.path
    return frames


def _described(path, folder) -> FrameInfo:
    """``describe_frame``, or a light of unknown figures when its header cannot be read: ingest reads it and
    says what is wrong with it, as for any light."""
    try:
        return describe_frame(path, folder)
    except (FrameError, KeyError, ValueError, TypeError):
        return FrameInfo(Path(path), frame_stem(path), "light", "its header could not be read", None, None, (1, 1),
                         (0, 0), None)


def exposure_name(exptime: float) -> str:
    """A file name's form of an exposure: 1.5 s is ``1p5s``, as observers name their dark folders."""
    return f"{exptime:g}".replace(".", "p") + "s"


@dataclass(frozen=True)
class CalibrationPlan:
    """The calibration frames of a night grouped into masters, and each light's masters."""

    bias: list[FrameInfo]
    darks: dict[float, list[FrameInfo]]  # by exposure (s)
    flats: dict[str, list[FrameInfo]]  # by flat name: filter and binning, "R_bin2x2"
    lights: dict[str, FrameInfo]  # by frame name

    def flat_for(self, light: FrameInfo) -> str | None:
        return flat_name(light) if self.flats else None

    def masters(self, kinds=("bias", "dark", "flat")) -> list[str]:
        """File names (in ``calibrate/``, without suffix) of the masters of ``kinds``."""
        names = {"bias": ["master_bias"] if self.bias else [],
                 "dark": [f"master_dark_{exposure_name(t)}" for t in self.darks],
                 "flat": [f"master_flat_{name}" for name in self.flats]}
        return [name for kind in ("bias", "dark", "flat") if kind in kinds for name in names[kind]]

    @property
    def master_names(self) -> list[str]:
        """File names (in ``calibrate/``) of every master."""
        return self.masters()

    def exposures_needed(self) -> list[float]:
        """The exposures whose zero level is needed: the lights' and the flats'."""
        times = {info.exptime for info in self.lights.values()}
        times |= {frames[0].exptime for frames in self.flats.values()}
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
        Naming the file and the fix: a calibration frame of another shape than the lights; fewer than
        ``min_frames`` frames for a master; a light of a filter or binning no flat has; darks whose exposures
        match no light and no flat, with no bias to scale them by; a dark or flat without an exposure time.
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
            raise FrameError(info.path, f"a {info.kind} of {info.shape[0]} x {info.shape[1]} pixels for lights of "
                                        f"{shape[0]} x {shape[1]} ({next(iter(lights.values())).path}): another "
                                        "camera or binning; take it out of the dataset's folder")
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
    for what, group in [("bias", bias)] + [(f"{t:g} s dark", g) for t, g in darks.items()] + \
            [(f"{name} flat", g) for name, g in flats.items()]:
        if group and len(group) < min_frames:
            raise FrameError(group[0].path, f"only {len(group)} {what} frame(s), fewer than calibrate: min_frames "
                                            f"({min_frames}): add frames, or lower min_frames")
    if flats:
        for light in lights.values():
            if flat_name(light) not in flats:
                raise FrameError(light.path, f"a light of filter {light.filter or 'none'} and binning "
                                             f"{light.binning[0]}x{light.binning[1]}, but the flats are "
                                             f"{', '.join(sorted(flats))} ({next(iter(flats.values()))[0].path}): "
                                             "add its flats, or take it out")
    plan = CalibrationPlan(bias, dict(sorted(darks.items())), dict(sorted(flats.items())), lights)
    needed = plan.exposures_needed()
    if darks and not bias and not set(darks) & set(needed):
        first = next(iter(darks.values()))[0]
        raise FrameError(first.path, f"darks of {', '.join(f'{t:g}' for t in darks)} s match no light or flat "
                                     f"exposure ({', '.join(f'{t:g}' for t in needed)} s), and with no "
                                     "bias frames they cannot be scaled: add darks of those exposures, or bias "
                                     "frames")
    return plan
