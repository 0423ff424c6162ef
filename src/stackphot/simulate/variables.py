"""Time series from the simulator: a throughput per frame (clouds), stars whose light varies, and their truth.

A frame set is a time series with known truth when its config gives ``transparency`` or ``variables``. Each
frame's starlight is multiplied by that frame's throughput, and a variable star's by its own factor at the
frame's mid-exposure time, ``start_time + cadence * i + exptime / 2``; the sky is not dimmed (see
``SimulationConfig.transparency``). The truth is a table with a row per frame (:func:`lightcurve_truth`, written
as ``truth_lightcurves.csv``) and the column ``variable`` of ``truth_stars.csv``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from stackphot.numerics import moffat_alpha
from stackphot.options import check_fields

TRUTH_LIGHTCURVES = "truth_lightcurves.csv"

# An 'auto' variable star is one a light curve can be measured on without excuses, in every frame of the set:
# at least this signal-to-noise in an aperture of radius FWHM at its faintest (worst seeing, thickest cloud),
_MIN_SNR = 200.0
# its brightest pixel below this fraction of the saturation at its brightest (cameras turn non-linear before it),
_MAX_PEAK_FRACTION = 0.5
# at least this many FWHM (the widest) from every edge of every frame,
_EDGE_FWHM = 4.0
# and its neighbours' light in that aperture below this fraction of its own (counted out to _BLEND_FWHM FWHM).
_MAX_BLEND = 1e-3
_BLEND_FWHM = 10.0


def utc(text: str) -> dt.datetime:
    """The naive UTC datetime of an ISO time; one without a zone is taken as UTC already."""
    time = dt.datetime.fromisoformat(text)
    return time.astimezone(dt.timezone.utc).replace(tzinfo=None) if time.tzinfo else time


@dataclass(frozen=True)
class Transit:
    """A transit (or an eclipse): the star's flux falls by ``depth`` for ``duration_hours``.

    Attributes
    ----------
    star : int or "auto"
        Catalog id (``truth_stars.csv``), or ``"auto"``: an isolated, well exposed, unsaturated star of the set,
        away from the edges, drawn from a random stream of its own.
    depth : float
        Fraction of the flux lost at mid-transit, in (0, 1).
    duration_hours : float
        From first to last contact.
    mid_time : str or float
        ISO time (UTC where it gives no zone) or hours after ``start_time``.
    ingress_hours : float
        0 (default): a box, the flux ``1 - depth`` while ``|t - mid_time| < duration_hours / 2``. Otherwise a
        trapezoid whose ingress and egress fall and rise linearly over this time, at most half the duration.
    kind : str
        ``"transit"``.
    """

    star: int | str
    depth: float
    duration_hours: float
    mid_time: str | float
    ingress_hours: float = 0.0
    kind: str = "transit"

    def __post_init__(self):
        _check(self, {
            "depth must be in (0, 1)": 0 < self.depth < 1,
            "duration_hours must be > 0": self.duration_hours > 0,
            "ingress_hours must be in [0, duration_hours / 2]": 0 <= self.ingress_hours <= self.duration_hours / 2,
        })

    @property
    def extremes(self) -> tuple[float, float]:
        """The lowest and highest flux factor."""
        return 1 - self.depth, 1.0

    def factor(self, hours: np.ndarray, start_time: str) -> np.ndarray:
        """Flux relative to the catalog's at ``hours`` after ``start_time``."""
        mid = self.mid_time
        if isinstance(mid, str):
            mid = (utc(mid) - utc(start_time)).total_seconds() / 3600
        inside = self.duration_hours / 2 - np.abs(np.asarray(hours, float) - mid)
        dip = (inside > 0).astype(float) if self.ingress_hours == 0 else np.clip(inside / self.ingress_hours, 0, 1)
        return 1 - self.depth * dip


@dataclass(frozen=True)
class Sine:
    """A sinusoidal variable: magnitude ``amplitude_mag * sin(2 pi (t / period_hours + phase))`` about the
    catalog's, t in hours after ``start_time`` (positive: fainter).

    Attributes
    ----------
    star : int or "auto"
        As for :class:`Transit`.
    amplitude_mag : float
        Semi-amplitude in magnitudes (the peak-to-peak is twice it), in (0, 2].
    period_hours : float
        Period, > 0.
    phase : float
        Fraction of a cycle at ``start_time``.
    kind : str
        ``"sine"``.
    """

    star: int | str
    amplitude_mag: float
    period_hours: float
    phase: float = 0.0
    kind: str = "sine"

    def __post_init__(self):
        _check(self, {"amplitude_mag must be in (0, 2]": 0 < self.amplitude_mag <= 2,
                      "period_hours must be > 0": self.period_hours > 0,
                      "phase must be finite": math.isfinite(self.phase)})

    @property
    def extremes(self) -> tuple[float, float]:
        """The lowest and highest flux factor."""
        return 10 ** (-0.4 * self.amplitude_mag), 10 ** (0.4 * self.amplitude_mag)

    def factor(self, hours: np.ndarray, start_time: str) -> np.ndarray:
        """Flux relative to the catalog's at ``hours`` after ``start_time``."""
        cycles = np.asarray(hours, float) / self.period_hours + self.phase
        return 10 ** (-0.4 * self.amplitude_mag * np.sin(2 * np.pi * cycles))


KINDS = {"transit": Transit, "sine": Sine}


def _check(variable, checks: Mapping[str, bool]) -> None:
    failed = [message for message, passed in checks.items() if not passed]
    if failed:
        raise ValueError(f"invalid {variable.kind} variable of star {variable.star!r}: " + "; ".join(failed))


def parse_variables(value, start_time: str) -> tuple[Transit | Sine, ...]:
    """The config's ``variables``: each a mapping (a YAML spec's) or a :class:`Transit` or :class:`Sine`.

    Raises
    ------
    ValueError
        Not a list of mappings, an unknown kind or key, a missing key, a wrong value (each named), a star
        given twice.
    """
    if value is None:
        return ()
    if isinstance(value, (str, Mapping)) or not isinstance(value, Sequence):
        raise ValueError(f"variables must be a list of mappings such as {{kind: transit, ...}}, got {value!r}")
    parsed = []
    for index, entry in enumerate(value):
        what = f"variables[{index}]"
        if dataclasses.is_dataclass(entry):
            entry = dataclasses.asdict(entry)
        if not isinstance(entry, Mapping):
            raise ValueError(f"{what} must be a mapping such as {{kind: transit, ...}}, got {entry!r}")
        kind = entry.get("kind")
        if kind not in KINDS:
            raise ValueError(f"{what}: kind must be one of {', '.join(KINDS)}, got {kind!r}")
        check_fields(KINDS[kind], entry, f"{what} ({kind})")
        options = {}
        for name, given in entry.items():
            if name == "star":
                options[name] = _star(given, what)
            elif name == "mid_time":
                options[name] = _mid_time(given, what, start_time)
            elif name != "kind":
                options[name] = _number(given, f"{what}: {name}")
        parsed.append(KINDS[kind](**options))
    given = [variable.star for variable in parsed if variable.star != "auto"]
    twice = sorted({star for star in given if given.count(star) > 1})
    if twice:
        raise ValueError(f"variables: star(s) {', '.join(map(str, twice))} given more than one light curve")
    return tuple(parsed)


def _number(value, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise ValueError(f"{what} must be a number, got {value!r}")
    return float(value)


def _star(value, what: str) -> int | str:
    if value == "auto":
        return value
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{what}: star must be a catalog id (an integer >= 1) or 'auto', got {value!r}")
    return int(value)


def _mid_time(value, what: str, start_time: str) -> str | float:
    if isinstance(value, dt.date):  # YAML reads an unquoted timestamp as a datetime
        value = value.isoformat()
    if isinstance(value, str):
        try:
            utc(value) - utc(start_time)
        except (TypeError, ValueError):
            raise ValueError(f"{what}: mid_time must be an ISO time or hours after start_time, got {value!r}") from None
        return value
    return _number(value, f"{what}: mid_time (hours after start_time)")


def mid_exposure(config, index: int) -> dt.datetime:
    """Frame ``index``'s mid-exposure time (naive UTC)."""
    return utc(config.start_time) + dt.timedelta(seconds=index * config.cadence + config.exptime / 2)


def variable_stars(config, stars: pd.DataFrame, rng: np.random.Generator) -> list[int]:
    """The catalog id of each of ``config.variables``: the given one, or for ``"auto"`` one drawn with ``rng``
    among the stars that suit a light curve (see the module's limits) and carry no other.

    Raises
    ------
    ValueError
        A given id not in the catalog, or no star left that suits an ``"auto"`` variable.
    """
    ids = stars["id"].to_numpy()
    given = [variable.star for variable in config.variables if variable.star != "auto"]
    unknown = sorted(set(given) - set(ids.tolist()))
    if unknown:
        raise ValueError(f"variables: star(s) {', '.join(map(str, unknown))} not in the catalog (ids 1 to {ids.size})")
    chosen = []
    for variable in config.variables:
        if variable.star != "auto":
            chosen.append(variable.star)
            continue
        free = _suitable(config, stars, *variable.extremes) & ~np.isin(ids, given + chosen)
        if not free.any():
            raise ValueError(
                f"variables: no star left for an 'auto' {variable.kind}: none is isolated, at least "
                f"{_EDGE_FWHM:g} FWHM inside every frame, at S/N >= {_MIN_SNR:g} and below "
                f"{_MAX_PEAK_FRACTION:g} of the saturation in every frame (give more or brighter stars, or an id)"
            )
        chosen.append(int(rng.choice(ids[free])))
    return chosen


def _suitable(config, stars: pd.DataFrame, faintest: float, brightest: float) -> np.ndarray:
    """Which stars can carry a variable whose flux factor spans ``faintest`` to ``brightest``."""
    ny, nx = config.shape
    y, x, flux = (stars[column].to_numpy() for column in ("y", "x", "flux"))
    (fwhm_lo, fwhm_hi), beta = config.fwhm_range, config.moffat_beta
    # Turned and scaled frames move a star at r from the centre by at most 2 r sin(turn / 2) + r * scale_change.
    from_centre_y, from_centre_x = y - (ny - 1) / 2, x - (nx - 1) / 2
    r = np.hypot(from_centre_y, from_centre_x)
    moved = config.max_offset + r * (2 * math.sin(math.radians(config.max_rotation) / 2) + config.scale_change)
    room = np.minimum((ny - 1) / 2 - np.abs(from_centre_y), (nx - 1) / 2 - np.abs(from_centre_x)) - moved
    suits = room >= _EDGE_FWHM * fwhm_hi

    gain, clear, cloudy = config.gain, 1 + config.transparency, 1 - config.transparency
    alpha_lo = moffat_alpha(fwhm_lo, beta)
    # A colour set's star is brightest in the filter its colour favours.
    in_filters = stars[[column for column in ("flux", "flux_r", "flux_b") if column in stars]].max(axis=1).to_numpy()
    peak = in_filters * brightest * clear * (beta - 1) / (math.pi * alpha_lo**2)
    sky = config.sky * (1 + config.sky_gradient) * max(config.sky_colour if config.bayer_pattern else (1.0,))
    suits &= config.bias + sky + peak <= _MAX_PEAK_FRACTION * config.saturation
    area = math.pi * fwhm_hi**2
    signal = flux * faintest * cloudy * gain
    suits &= signal / np.sqrt(signal + area * (config.sky * gain + config.read_noise**2)) >= _MIN_SNR

    # Neighbours' light at the aperture's nearest edge, times its area: an upper bound of what they put in it.
    alpha_hi = moffat_alpha(fwhm_hi, beta)
    from scipy.spatial import cKDTree

    tree = cKDTree(np.column_stack([y, x]))
    for row in np.flatnonzero(suits):
        near = np.array(tree.query_ball_point([y[row], x[row]], _BLEND_FWHM * fwhm_hi))
        near = near[near != row]
        gap = np.maximum(np.hypot(y[near] - y[row], x[near] - x[row]) - fwhm_hi, 0)
        blend = np.sum(flux[near] * (1 + (gap / alpha_hi) ** 2) ** -beta) * (beta - 1) / (math.pi * alpha_hi**2) * area
        suits[row] = blend < _MAX_BLEND * flux[row] * faintest
    return suits


def lightcurve_truth(config, names, transparency, fwhm, sky, factors: Mapping[int, np.ndarray]) -> pd.DataFrame:
    """The time series' truth, a row per frame: ``frame``, ``mid_time`` (ISO, UTC), ``jd_utc`` (its Julian
    date), ``transparency``, ``fwhm``, ``sky`` and, for each variable star, ``factor_<id>``: its flux in that
    frame over its catalog flux, transparency aside (``factors`` maps the ids to these)."""
    from astropy.time import Time

    mid = [mid_exposure(config, index).isoformat(timespec="milliseconds") for index in range(len(names))]
    table = pd.DataFrame({"frame": list(names), "mid_time": mid, "jd_utc": Time(mid, scale="utc").jd,
                          "transparency": transparency, "fwhm": fwhm, "sky": sky})
    for star, factor in factors.items():
        table[f"factor_{star}"] = factor
    return table
