"""Which lights of a night may be stacked together: those of one filter, exposure, binning, shape, colour
pattern and camera. Each group is stacked and cataloged on its own, so that nothing of two filters or two
exposures is ever combined, from the headers alone (before a pixel is read)."""

from __future__ import annotations

from stackphot.inventory.kinds import FrameInfo
from stackphot.inventory.plan import exposure_name

# What tells two groups apart, in the order their parts appear in a group's name.
GROUP_KEYS = ("filter", "exposure", "binning", "shape", "pattern", "camera")


def group_values(info: FrameInfo) -> dict[str, str | None]:
    """The light's value of each of GROUP_KEYS, as it appears in a group's name; None where its header does
    not say."""
    known = info.shape != (0, 0)
    return {
        "filter": info.filter,
        "exposure": exposure_name(round(info.exptime, 3)) if info.exptime is not None else None,
        "binning": f"bin{info.binning[0]}x{info.binning[1]}" if known else None,
        "shape": f"{info.shape[1]}x{info.shape[0]}" if known else None,
        "pattern": info.pattern or ("mono" if known else None),
        "camera": info.camera,
    }


def group_of(lights: list[FrameInfo]) -> dict[str, str | None]:
    """A group's values (GROUP_KEYS): those of its light whose header says the most."""
    return group_values(max(lights, key=lambda info: sum(v is not None for v in group_values(info).values())))


UNKNOWN = {"filter": "nofilter", "exposure": "noexptime", "camera": "nocamera"}


def _file_name_part(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-+." else "_" for c in text).strip("._") or "_"


def group_lights(lights: list[FrameInfo]) -> dict[str, list[FrameInfo]]:
    """The lights by group, each group named after the values that differ between the night's groups
    (``V_30s``, ``B_30s``; ``""`` for a night of one group), largest group first, frame order kept within.

    What a header does not say is no difference: a light without a FILTER card (or whose header could not be
    read: ingest says what is wrong with it) joins the largest group that agrees with it on what it says.
    """
    complete, partial = [], []
    for info in lights:
        (partial if None in group_values(info).values() else complete).append(info)
    keyed: dict[tuple, list[FrameInfo]] = {}
    for info in complete:
        keyed.setdefault(tuple(group_values(info).values()), []).append(info)
    for info in partial:
        values = tuple(group_values(info).values())
        agreeing = [key for key in keyed if all(v is None or v == k for v, k in zip(values, key))]
        if agreeing:
            keyed[max(agreeing, key=lambda key: len(keyed[key]))].append(info)
        else:
            keyed.setdefault(values, []).append(info)
    if len(keyed) == 1:
        return {"": list(lights)}
    varying = [index for index in range(len(GROUP_KEYS)) if len({key[index] for key in keyed}) > 1]
    order = {info.name: index for index, info in enumerate(lights)}
    return {"_".join(_file_name_part(key[index] or UNKNOWN.get(GROUP_KEYS[index], "unknown")) for index in varying):
            sorted(frames, key=lambda info: order[info.name])
            for key, frames in sorted(keyed.items(), key=lambda item: -len(item[1]))}
