"""The per-frame photometry as a time series: the accepted frames' rows, the stars as matrices, the targets.

The forced photometry (``forced``) gives one long table, a row per star and frame. The differential light
curves (``ensemble``) and the variability search (``variability``) work on matrices ``[n_frames, n_stars]`` of
one column of it; this module turns the one into the other and finds the configured targets in the catalog.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

# A frame's photometry enters the time series only where the frame selection accepted it.
FRAME_COLUMNS = ("frame", "mid_time", "time_source", "exptime", "filter", "gain", "read_noise")


class TargetError(ValueError):
    """A light-curve target that is not among the catalog's sources; the message says which and why."""


def accepted_photometry(tables, selection: pd.DataFrame) -> pd.DataFrame:
    """The batches' per-frame photometry (``tables``) of the frames ``selection`` accepted, in frame order."""
    photometry = pd.concat(list(tables), ignore_index=True)
    accepted = selection.loc[selection["accepted"].astype(bool), "frame"].astype(str)
    order = {frame: index for index, frame in enumerate(accepted)}
    photometry = photometry[photometry["frame"].astype(str).isin(order)]
    rank = photometry["frame"].astype(str).map(order)
    return photometry.assign(_rank=rank).sort_values(["_rank", "id"], kind="stable").drop(columns="_rank")


def frame_table(frames: pd.DataFrame, photometry: pd.DataFrame, shifts: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per frame of ``photometry``: its time cards (frames.csv), its seeing (``shifts``: fwhm), the median
    sky per pixel under its stars and how many of its stars have no flag."""
    present = [column for column in FRAME_COLUMNS if column in frames.columns]
    table = frames[present].astype({"frame": str})
    by_frame = photometry.groupby(photometry["frame"].astype(str), sort=False)
    figures = pd.DataFrame({"sky": by_frame["bkg"].median(),
                            "n_good": by_frame["flags"].apply(lambda flags: int((flags == 0).sum()))})
    table = table.merge(figures, left_on="frame", right_index=True, how="inner")
    if shifts is not None and "fwhm" in shifts:
        table = table.merge(shifts[["frame", "fwhm"]].astype({"frame": str}), on="frame", how="left")
    return table.reset_index(drop=True)


def star_matrix(photometry: pd.DataFrame, column: str, frames, ids) -> np.ndarray:
    """``column`` of the long table as an array ``[len(frames), len(ids)]``; NaN (flags: -1) where a star was not
    measured in a frame."""
    wide = photometry.assign(frame=photometry["frame"].astype(str)).pivot(index="frame", columns="id", values=column)
    wide = wide.reindex(index=[str(frame) for frame in frames], columns=list(ids))
    if column == "flags":
        return wide.fillna(-1).to_numpy(dtype=int)
    return wide.to_numpy(dtype=float)


def light_curve_column(options: dict, photometry: pd.DataFrame) -> str:
    """The flux column the light curves take: the first of ``fwhm_radii`` with ``use_fwhm_radius`` (where every
    frame had a FWHM: the column is complete), else the first of ``radii``."""
    fixed = f"flux_r{options['radii'][0]:g}" if "radii" in options else None
    if options.get("use_fwhm_radius") and options.get("fwhm_radii"):
        scaled = f"flux_f{options['fwhm_radii'][0]:g}"
        if scaled in photometry and photometry[scaled].notna().any():
            return scaled
    if fixed is None or fixed not in photometry:
        fixed = next(column for column in photometry.columns if column.startswith("flux_r"))
    return fixed


def light_curve_columns(options: dict, photometry: pd.DataFrame) -> list[str]:
    """The flux columns a light curve may take: with ``choose_aperture`` every measured one (the fixed radii,
    then the FWHM-scaled ones every frame had), else the one ``light_curve_column`` names."""
    if not options.get("choose_aperture"):
        return [light_curve_column(options, photometry)]
    fixed = [column for column in photometry.columns if column.startswith("flux_r")]
    # A frame without a FWHM has no scaled apertures: a column missing a frame would lose it from the curve.
    by_frame = photometry.groupby(photometry["frame"].astype(str), sort=False)
    scaled = [column for column in photometry.columns
              if column.startswith("flux_f") and by_frame[column].count().gt(0).all()]
    return fixed + scaled


def find_target(catalog: pd.DataFrame, target: dict, *, match_radius: float, wcs=None) -> int:
    """The catalog id of a light-curve target: its ``id``, or the source nearest its ``x, y`` (reference-frame
    pixels) or its ``ra, dec`` (degrees, through ``wcs``, the stack's) within ``match_radius`` px.

    Raises
    ------
    TargetError
        An id not in the catalog, a sky position without a WCS, no source within ``match_radius``, or a target
        given neither way.
    """
    name = target["name"]
    if "id" in target:
        if target["id"] not in set(catalog["id"]):
            raise TargetError(f"light-curve target {name!r}: id {target['id']} is not in the catalog")
        return int(target["id"])
    if "ra" in target and "dec" in target:
        if wcs is None:
            raise TargetError(f"light-curve target {name!r} is given by ra, dec but the stack has no celestial "
                              "WCS: give its x, y (pixels of the reference frame) or its catalog id")
        x, y = (float(value) for value in wcs.all_world2pix(target["ra"], target["dec"], 0))
        where = f"ra {target['ra']:g}, dec {target['dec']:g} (pixel {x:.1f}, {y:.1f})"
    elif "x" in target and "y" in target:
        x, y = float(target["x"]), float(target["y"])
        where = f"x {x:g}, y {y:g}"
    else:
        raise TargetError(f"light-curve target {name!r}: give x and y, ra and dec, or id")
    distance = np.hypot(catalog["x"].to_numpy() - x, catalog["y"].to_numpy() - y)
    nearest = int(np.argmin(distance)) if len(distance) else None
    if nearest is None or distance[nearest] > match_radius:
        found = f"the nearest is {distance[nearest]:.1f} px away" if nearest is not None else "the catalog is empty"
        raise TargetError(f"light-curve target {name!r} at {where}: no catalog source within {match_radius:g} px "
                          f"({found}); check its position or raise lightcurve: match_radius")
    return int(catalog["id"].iloc[nearest])


def field_centre(header):
    """The sky position (SkyCoord) of the image's centre through its celestial WCS; None without one."""
    from stackphot.io import celestial_wcs

    wcs = celestial_wcs(header)
    if wcs is None:
        return None
    ny, nx = header.get("NAXIS2", 0), header.get("NAXIS1", 0)
    return wcs.pixel_to_world((nx - 1) / 2, (ny - 1) / 2)


def series_units(columns, flux_unit: str) -> dict[str, str]:
    """Units of the per-frame photometry's columns, for ECSV: the photometry's, plus times in days."""
    from stackphot.photometry import photometry_units

    units = photometry_units([column for column in columns if column not in ("x_ref", "y_ref")], flux_unit)
    units.update({column: "pix" for column in ("x_ref", "y_ref") if column in columns})
    units.update({column: "d" for column in ("jd_utc", "bjd_tdb") if column in columns})
    units.update({column: "deg" for column in ("altitude",) if column in columns})
    return units


def aperture_area(column: str, frames: pd.DataFrame) -> np.ndarray:
    """The area (pixels) of a flux column's aperture in each frame, as a column ``[n_frames, 1]``: ``flux_r4`` a
    circle of 4 px, ``flux_f1.5`` one of 1.5 times the frame's FWHM."""
    if column.startswith("flux_f"):
        radius = float(column.removeprefix("flux_f")) * frames["fwhm"].to_numpy(dtype=float)
    else:
        radius = np.full(len(frames), float(column.removeprefix("flux_r")))
    return (np.pi * radius**2)[:, None]


def usable_stars(stack_photometry: pd.DataFrame, ids, catalog: pd.DataFrame) -> np.ndarray:
    """Which of ``ids`` may compare: measured in the stack whole, unsaturated and clear of the edges, and found
    before the detection's residual pass. A neighbour (NEIGHBOUR, CROWDED_SKY) puts about the same light into a
    fixed aperture in every frame; the ensemble's weights find the stars it does not. A source found only once the
    others' PSFs were subtracted (``residual`` in the catalog) lies in a brighter star's wings, whose share of its
    aperture follows the seeing: it would take an ensemble's place only for the weights to drop it."""
    from stackphot.photometry import CROWDED_SKY, NEIGHBOUR

    doubtful = stack_photometry["flags"].to_numpy() & ~(NEIGHBOUR | CROWDED_SKY)
    clean = set(stack_photometry.loc[doubtful == 0, "id"])
    clean -= set(catalog.loc[catalog["residual"].astype(bool), "id"])
    return np.array([value in clean for value in ids])


def read_series(path) -> tuple[pd.DataFrame, dict]:
    """The per-frame photometry as ``collect_forced_photometry`` wrote it (ECSV) and its metadata."""
    from stackphot.io import read_ecsv

    photometry, meta = read_ecsv(path)
    photometry["frame"] = photometry["frame"].astype(str)
    return photometry, meta


# Seeing-wing shape of the crowding estimate: a Moffat of this beta (ground-based seeing's wings).
CROWDING_BETA = 3.0


def crowding(catalog: pd.DataFrame, *, radius: float, fwhm: float) -> np.ndarray:
    """Each catalog star's neighbours' light in its aperture of ``radius`` px, as a fraction of its own flux, in
    seeing of ``fwhm`` px (the night's worst): a neighbour at distance d puts the part of its Moffat profile
    between d - r and d + r into the aperture in proportion to the area it covers there (r / 4d). A star whose
    neighbours put in more than a thousandth varies with the seeing: no comparison star, no variable."""
    from stackphot.numerics import moffat_alpha

    x, y, flux = (catalog[column].to_numpy(dtype=float) for column in ("x", "y", "flux"))
    alpha = moffat_alpha(fwhm, CROWDING_BETA)

    def outside(distance):  # a Moffat's fraction of light beyond ``distance``
        return (1 + (np.clip(distance, 0, None) / alpha) ** 2) ** (1 - CROWDING_BETA)

    light = np.empty(x.size)
    # Rows of stars at a time: memory of CROWDING_ROWS x stars, not stars x stars (10 000 stars: 0.8 GB a matrix).
    for start in range(0, x.size, CROWDING_ROWS):
        rows = slice(start, start + CROWDING_ROWS)
        distance = np.hypot(x[rows, None] - x[None, :], y[rows, None] - y[None, :])
        own = np.arange(distance.shape[0])
        distance[own, start + own] = np.inf
        share = np.where(distance <= radius, 1.0,
                         (outside(distance - radius) - outside(distance + radius)) * radius / (4 * distance))
        light[rows] = (share * flux[None, :]).sum(axis=1)
    return light / np.where(flux > 0, flux, np.nan)


CROWDING_ROWS = 512


def star_crowding(catalog: pd.DataFrame, ids, *, column: str, frames: pd.DataFrame) -> np.ndarray:
    """``crowding`` of each of ``ids`` for the light curves' aperture (``column``) in the night's worst seeing
    (the frames' largest FWHM, else the catalog's); NaN for an id not in the catalog."""
    seeing = frames["fwhm"] if "fwhm" in frames and frames["fwhm"].notna().any() else catalog["fwhm"]
    fwhm = float(np.nanmax(seeing))
    radius = float(np.nanmax(np.sqrt(aperture_area(column, frames) / np.pi)))
    shares = dict(zip(catalog["id"], crowding(catalog, radius=radius, fwhm=fwhm)))
    return np.array([shares.get(value, np.nan) for value in ids], dtype=float)


def least_crowded(crowding_of: np.ndarray, allowed: np.ndarray, *, minimum: int) -> np.ndarray:
    """The ``allowed`` stars whose neighbours put under ``MAX_CROWDING`` of their light into their apertures, or,
    where fewer than ``minimum`` are (a crowded field), the ``minimum`` least crowded of them."""
    allowed = np.asarray(allowed, bool) & np.isfinite(crowding_of)
    clear = allowed & (crowding_of <= MAX_CROWDING)
    if clear.sum() >= minimum or not allowed.any():
        return clear
    limit = np.sort(crowding_of[allowed])[min(minimum, int(allowed.sum())) - 1]
    return allowed & (crowding_of <= limit)


# Neighbours' light in a star's aperture, as a fraction of its own, under which it is no blend.
MAX_CROWDING = 1e-3


def catalog_position(catalog: pd.DataFrame, source_id: int) -> tuple[float, float] | None:
    """The ICRS (ra, dec) in degrees of catalog id ``source_id``; None where the catalog has no sky columns."""
    if not {"ra", "dec"} <= set(catalog.columns):
        return None
    row = catalog.loc[catalog["id"] == source_id].iloc[0]
    return float(row["ra"]), float(row["dec"])



def timed_target(catalog: pd.DataFrame, stack_header, frames: pd.DataFrame, meta: dict, target: dict, *,
                 match_radius: float) -> tuple[int, pd.DataFrame, dict]:
    """A light-curve target's catalog id (``find_target``), and the series' frames and metadata timed for it
    (``times.target_times``: its catalog position through the stack's WCS, its configured ``ra, dec``, else
    the header's pointing)."""
    from stackphot.io import celestial_wcs
    from stackphot.lightcurve.times import target_coordinates, target_times

    target_id = find_target(catalog, target, match_radius=match_radius, wcs=celestial_wcs(stack_header))
    position, source = target_coordinates(stack_header, configured=target,
                                          wcs_position=catalog_position(catalog, target_id))
    frames, times_meta = target_times(frames, meta, target=position, target_source=source)
    return target_id, frames, {**meta, **times_meta}
