"""When each frame was taken, as a light curve needs it: the mid-exposure as JD (UTC) and BJD (TDB), the
target's altitude and airmass, with the site and target they assume and where each was found."""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterable, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from astropy.coordinates import EarthLocation, SkyCoord
    from astropy.io import fits

COLUMNS = ("jd_utc", "bjd_tdb", "airmass", "altitude")

_GEOCENTRIC = ("OBSGEO-X", "OBSGEO-Y", "OBSGEO-Z")
# A site's cards in the order trusted: latitude, longitude and the elevation card of their own convention,
# or the geocentric cartesian cards.
_CONVENTIONS = [("SITELAT", "SITELONG", "SITEELEV"), ("LAT-OBS", "LONG-OBS", "ALT-OBS"), _GEOCENTRIC,
                ("OBSGEO-B", "OBSGEO-L", "OBSGEO-H")]
_ELEVATIONS = ("SITEELEV", "ELEVATION", "HEIGHT", "ALT-OBS", "OBSGEO-H")  # where a convention's own is missing
# A hemisphere letter before or after an angle ("33:24:24 N", "W 70.69"); upper case only, so that the
# "s" of "4h52m22s" is not taken for south.
_HEMISPHERE = re.compile(r"^\s*(?P<before>[NSEW])?\s*(?P<angle>.*?)\s*(?P<after>[NSEW])?\s*$")
# The geocentric distance of any site on the ground (6357 km at the poles, 6378 km at the equator), metres.
_EARTH_RADII = (6.34e6, 6.40e6)
_GEOCENTRE_ERROR = "at most 21 ms (the Earth's radius over c)"


@dataclass(frozen=True)
class Site:
    """An observatory: geodetic latitude and longitude in degrees (longitude east positive, in
    (-180, 180]), elevation above the WGS84 ellipsoid in metres, and where they were found in words
    (``config (observatory)``, ``header SITELAT/SITELONG/SITEELEV``)."""

    latitude: float
    longitude: float
    elevation: float
    source: str

    def location(self) -> EarthLocation:
        """The site as an astropy ``EarthLocation``."""
        import astropy.units as u
        from astropy.coordinates import EarthLocation

        return EarthLocation.from_geodetic(self.longitude * u.deg, self.latitude * u.deg, self.elevation * u.m)


def observing_site(header: fits.Header, *, configured: Mapping | None = None) -> Site | None:
    """The observatory that took a frame.

    ``configured`` (the config's ``observatory``: ``latitude``, ``longitude`` in degrees east positive,
    ``elevation`` in metres) wins over the header when it gives a latitude or longitude. Else the header's
    ``SITELAT``/``SITELONG``, then ``LAT-OBS``/``LONG-OBS``, then the geocentric ``OBSGEO-X/Y/Z`` (metres),
    then ``OBSGEO-B``/``OBSGEO-L``;
    the elevation from the convention's own card (``SITEELEV``, ``ALT-OBS``, ``OBSGEO-H``), else
    ``ELEVATION`` or ``HEIGHT``, else 0 m (which moves a BJD by under 10 microseconds and an airmass by
    nothing measurable), as the source then says.

    Angles are numbers in degrees or text, decimal or sexagesimal (``-116:51:48``, ``-02 27 30``,
    ``33d24m24s``), with an optional hemisphere letter (S and W negative). Longitudes are read east
    positive, as MaxIm DL, ACP, N.I.N.A. and the Seestar write them (``SITELONG = -79.76`` is west of
    Greenwich), unless the card's comment says west and not east; a longitude written west positive
    without saying so (the DSS plates' ``SITELONG = 210.934`` for Siding Spring) cannot be told from the
    value, and needs the config. Longitudes over 180 are wrapped to (-180, 180].

    Returns
    -------
    Site or None
        None when neither the config (None, empty or all null) nor the header gives a site.

    Raises
    ------
    ValueError
        Naming the card (or ``observatory: <key>``) whose value is no angle, lies outside its range
        (latitude beyond 90, elevation outside -1000 to 10000 m, ``OBSGEO-X/Y/Z`` not on the Earth's
        surface), or is one of a pair whose other half is missing.
    """
    if configured and (_given(configured, "latitude") or _given(configured, "longitude")):
        return _geodetic(configured, ("latitude", "longitude", "elevation"), source="config (observatory)",
                         names=lambda key: f"observatory: {key}", west=lambda key: False)
    for cards in _CONVENTIONS:
        if cards == _GEOCENTRIC:
            if any(_given(header, card) for card in cards):
                return _geocentric(header)
        elif _given(header, cards[0]) or _given(header, cards[1]):
            elevation = next((card for card in (cards[2], *_ELEVATIONS) if _given(header, card)), cards[2])
            named = cards[:2] + ((elevation,) if _given(header, elevation) else ())
            return _geodetic(header, (*cards[:2], elevation), source=f"header {'/'.join(named)}",
                             names=str, west=lambda key: _says_west(header.comments[key]))
    return None


def _given(mapping, key) -> bool:
    """Whether ``mapping`` holds a value at ``key`` (a card without one, or of blank text, holds none)."""
    value = mapping.get(key)
    return value is not None and not (isinstance(value, str) and not value.strip())


def _says_west(comment: str) -> bool:
    """Whether a longitude card's comment says its value is counted west ("degrees west")."""
    return bool(re.search(r"\bwest", comment, re.I)) and not re.search(r"\beast", comment, re.I)


def _geodetic(mapping, keys, *, source, names, west) -> Site:
    """A site from the latitude, longitude and elevation at ``keys`` of a header or the config;
    ``names(key)`` says a key in an error, ``west(key)`` whether its longitude is counted west."""
    lat_key, lon_key, elev_key = keys
    for key, other in ((lat_key, lon_key), (lon_key, lat_key)):
        if not _given(mapping, key):
            raise ValueError(f"{names(key)} is missing beside {names(other)}: a site needs both "
                             "(give the observatory's latitude, longitude and elevation in the config)")
    latitude = _degrees(mapping[lat_key], names(lat_key))
    if abs(latitude) > 90:
        raise ValueError(f"{names(lat_key)} = {mapping[lat_key]!r} is no latitude (beyond 90 degrees)")
    longitude = _degrees(mapping[lon_key], names(lon_key))
    if abs(longitude) > 360:
        raise ValueError(f"{names(lon_key)} = {mapping[lon_key]!r} is no longitude (beyond 360 degrees)")
    longitude = -longitude if west(lon_key) else longitude
    longitude = 180.0 - (180.0 - longitude) % 360.0  # into (-180, 180]
    if _given(mapping, elev_key):
        elevation = _number(mapping[elev_key], names(elev_key))
    else:
        elevation, source = 0.0, f"{source} (no elevation given: 0 m assumed)"
    if not -1000 <= elevation <= 10000:
        raise ValueError(f"{names(elev_key)} = {mapping[elev_key]!r} is no elevation of a site on the ground "
                         "(metres, -1000 to 10000)")
    return Site(latitude, longitude, elevation, source)


def _geocentric(header) -> Site:
    """A site from ``OBSGEO-X/Y/Z``: metres from the geocentre in the ITRS, converted to WGS84."""
    import astropy.units as u
    from astropy.coordinates import EarthLocation

    missing = [card for card in _GEOCENTRIC if not _given(header, card)]
    if missing:
        raise ValueError(f"{', '.join(missing)} missing beside the other OBSGEO-X/Y/Z cards: a site needs all three")
    xyz = [_number(header[card], card) for card in _GEOCENTRIC]
    if not _EARTH_RADII[0] <= np.hypot.reduce(xyz) <= _EARTH_RADII[1]:
        raise ValueError(f"OBSGEO-X/Y/Z = {xyz} is no site on the Earth's surface (metres from the geocentre)")
    geodetic = EarthLocation.from_geocentric(*xyz, unit=u.m).to_geodetic("WGS84")
    return Site(float(geodetic.lat.deg), float(geodetic.lon.wrap_at(180 * u.deg).deg),
                float(geodetic.height.to_value(u.m)), "header OBSGEO-X/Y/Z")


def target_coordinates(header: fits.Header, *, configured: Mapping | None = None,
                       wcs_position=None) -> tuple[SkyCoord | None, str]:
    """Where the target of a light curve is on the sky (ICRS), and where that was found in words.

    In order: the config's ``ra`` and ``dec`` (degrees, ICRS; a target given by pixels has neither);
    ``wcs_position``, the target's position through the stack's WCS (a ``SkyCoord``, or ``(ra, dec)`` in
    degrees, ICRS); the header's ``RA``/``DEC``, then ``OBJCTRA``/``OBJCTDEC`` (numbers in degrees, or
    sexagesimal text: hours for RA, degrees for Dec), in the frame their ``RADESYS`` and ``EQUINOX`` (else
    ``EPOCH``) say (FK4 before 1984, FK5 after, J2000 when neither is given); last the reference point
    ``CRVAL1``/``CRVAL2`` of a celestial WCS in the header. The header's pointing and the WCS's reference
    point are the field's centre, not the target: 10 arcmin away moves a BJD by at most 1.5 s, as the
    source then says.

    Returns
    -------
    (SkyCoord or None, str)
        ``(None, why)`` when nothing gives a position.

    Raises
    ------
    ValueError
        Naming the card (or ``ra``/``dec`` of the config) whose value is no angle or out of range, or one of
        a pair whose other half is missing.
    """
    from astropy.coordinates import SkyCoord

    if configured and ("ra" in configured or "dec" in configured):
        ra, dec = (_number(configured.get(key), f"lightcurve target {key}") for key in ("ra", "dec"))
        return _position(ra, dec, "lightcurve target dec"), "config (ra, dec)"
    if wcs_position is not None:
        position = wcs_position if isinstance(wcs_position, SkyCoord) else _position(*wcs_position, "wcs_position")
        return position.icrs, "the target's pixel position through the stack's WCS"
    for ra_card, dec_card in (("RA", "DEC"), ("OBJCTRA", "OBJCTDEC")):
        if _given(header, ra_card) or _given(header, dec_card):
            for card, other in ((ra_card, dec_card), (dec_card, ra_card)):
                if not _given(header, card):
                    raise ValueError(f"{card} is missing beside {other}: a position needs both")
            ra, dec = _degrees(header[ra_card], ra_card, hours=True), _degrees(header[dec_card], dec_card)
            frame, system = _equatorial_frame(header)
            source = f"header {ra_card}/{dec_card} ({system}; the pointing, not necessarily the target)"
            return _position(ra, dec, dec_card, frame=frame), source
    return _reference_point(header)


def _position(ra, dec, dec_name, *, frame="icrs") -> SkyCoord:
    """The ICRS position of (``ra``, ``dec``) in degrees in ``frame``, its declination checked."""
    import astropy.units as u
    from astropy.coordinates import SkyCoord

    if not np.isfinite(ra) or not -90 <= dec <= 90:
        raise ValueError(f"{dec_name}: ({ra}, {dec}) is no sky position in degrees")
    return SkyCoord(ra * u.deg, dec * u.deg, frame=frame).icrs


def _equatorial_frame(header):
    """The frame of the header's RA and Dec and its name: RADESYS, else FK4 or FK5 by the equinox."""
    from astropy.coordinates import FK4, FK5, ICRS
    from astropy.time import Time

    system = str(header.get("RADESYS", header.get("RADECSYS", ""))).strip().upper()
    if system == "ICRS":
        return ICRS(), "ICRS"
    card = next((card for card in ("EQUINOX", "EPOCH") if _given(header, card)), None)
    if card is None:
        return FK5(equinox="J2000"), "no EQUINOX: J2000 assumed"
    year = _number(str(header[card]).strip().upper().lstrip("JB"), card)  # 2000.0, or "J2000" as some write it
    if system == "FK4" or (system != "FK5" and year < 1984):  # the FITS default of RADESYS by the equinox
        return FK4(equinox=Time(year, format="byear")), f"FK4, {card} B{year:g}"
    return FK5(equinox=Time(year, format="jyear")), f"FK5, {card} J{year:g}"


def _reference_point(header) -> tuple[SkyCoord | None, str]:
    """``CRVAL1``/``CRVAL2`` of the header's celestial WCS in ICRS, or None and why."""
    import astropy.units as u
    from astropy.coordinates import SkyCoord
    from astropy.wcs import WCS, FITSFixedWarning
    from astropy.wcs.utils import wcs_to_celestial_frame

    nothing = ("no target coordinates: none in the config, no WCS position, and no RA/DEC, OBJCTRA/OBJCTDEC nor "
               "celestial WCS in the header")
    try:
        with warnings.catch_warnings():  # the fixes astropy makes to old WCS cards (dates, units) are no news here
            warnings.simplefilter("ignore", FITSFixedWarning)
            wcs = WCS(header)
    except (ValueError, KeyError, MemoryError):  # a WCS astropy cannot read is no WCS (WcsError is a ValueError)
        return None, nothing
    if not wcs.has_celestial:
        return None, nothing
    celestial = wcs.celestial
    lon, lat = celestial.wcs.crval
    position = SkyCoord(lon * u.deg, lat * u.deg, frame=wcs_to_celestial_frame(celestial)).icrs
    return position, "header CRVAL1/CRVAL2 (the WCS's reference point, not necessarily the target)"


def _number(value, name) -> float:
    """A finite number from a number or its text; ValueError naming ``name`` otherwise."""
    try:
        if isinstance(value, bool):  # a FITS T or F is no number
            raise TypeError
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} = {value!r} is not a number") from None
    if not np.isfinite(number):
        raise ValueError(f"{name} = {value!r} is not a finite number")
    return number


def _degrees(value, name, *, hours=False) -> float:
    """An angle in degrees from a number (degrees) or text, decimal (degrees) or sexagesimal (hours where
    ``hours``, else degrees), with an optional hemisphere letter (S and W negative)."""
    import astropy.units as u
    from astropy.coordinates import Angle

    if not isinstance(value, str):
        return _number(value, name)
    parts = _HEMISPHERE.match(value)
    letter, text = parts["before"] or parts["after"], parts["angle"]
    try:
        degrees = float(text)
    except ValueError:
        try:
            degrees = Angle(text, unit=u.hourangle if hours else u.deg).deg
        except (ValueError, TypeError):
            raise ValueError(f"{name} = {value!r} is not an angle (degrees, or sexagesimal text)") from None
        if hours and abs(degrees) > 360:
            raise ValueError(f"{name} = {value!r} is no right ascension in hours")
    if not np.isfinite(degrees):
        raise ValueError(f"{name} = {value!r} is not a finite angle")
    return -abs(degrees) if letter in ("S", "W") else abs(degrees) if letter else degrees


@contextmanager
def _offline_earth_orientation():
    """Astropy's IERS and leap-second tables as installed, never downloaded, their predictions accepted.

    ``auto_max_age=None`` keeps astropy from refusing the bundled IERS-A table's predictions once it is
    30 days old; beyond the table's ends UT1-UTC is held at its last value and the polar motion at its
    mean. |UT1-UTC| stays under 0.9 s, so the errors are under 0.004 degrees of altitude and 2 microseconds
    of BJD: the warnings of both, and ERFA's "dubious year" for UTC before 1960 or past the leap-second
    table, are silenced.
    """
    from astropy.utils import iers

    with (iers.conf.set_temp("auto_download", False), iers.conf.set_temp("auto_max_age", None),
          warnings.catch_warnings()):
        warnings.filterwarnings("ignore", message="Tried to get polar motions for times")
        warnings.filterwarnings("ignore", message='ERFA function .* "dubious year')
        warnings.filterwarnings("ignore", category=iers.IERSDegradedAccuracyWarning)
        yield


def frame_times(mid_times: Iterable[str | None], *, site: Site | None, target: SkyCoord | None,
                target_source: str | None = None, time_source: str | Iterable[str] | None = None,
                ) -> tuple[pd.DataFrame, dict]:
    """Each frame's mid-exposure as JD (UTC) and BJD (TDB), and the target's altitude and airmass.

    ``mid_times`` are ISO 8601 UTC instants, one per frame (the frames table's ``mid_time``, from
    ``stackphot.frames.mid_exposure``); None or NaN for a frame whose header gives no time makes its row
    NaN. ``bjd_tdb`` is ``time.tdb + time.light_travel_time(target, 'barycentric', location=site)`` with
    astropy's builtin ephemeris (ERFA's epv00: the Earth within 5 km, 15 microseconds of light time; no
    download); ``altitude`` the target's true (airless) altitude at the site in degrees, and ``airmass``
    Young's (1994, Applied Optics 33, 1108) formula of it, within 0.004 of a model atmosphere's down to
    the horizon, NaN below it. Without a ``site`` the BJD is for the geocentre (wrong by at most 21 ms) and
    the altitude and airmass are NaN; without a ``target`` the BJD, altitude and airmass are NaN. JDs are
    float64 days, which resolve 40 microseconds. Nothing is downloaded: the IERS tables installed with
    astropy are used as they are (see ``_offline_earth_orientation``).

    ``target_source`` (what ``target_coordinates`` returns beside the position) and ``time_source`` (the
    frames' ``time_source``, one or one per frame) are written into the metadata.

    Returns
    -------
    (pandas.DataFrame, dict)
        The columns ``jd_utc``, ``bjd_tdb``, ``airmass``, ``altitude``, one row per time, in their order
        (empty for no times); and what was assumed: ``site`` (``latitude``, ``longitude``, ``elevation``,
        or None), ``site_source``, ``target`` (``ra``, ``dec`` in ICRS degrees, or None),
        ``target_source``, ``time_source``, ``bjd_tdb``, ``airmass`` (each how it was computed, or why it
        is NaN), ``ephemeris`` and ``earth_orientation``.

    Raises
    ------
    ValueError
        Naming the first time that is not an ISO instant, or for a target that is not one position.
    """
    times = list(mid_times)
    known = np.array([isinstance(time, str) and bool(time.strip()) for time in times], dtype=bool)
    odd = next((time for time, good in zip(times, known) if not good and not pd.isna(time)), None)
    if odd is not None:
        raise ValueError(f"mid-exposure time {odd!r} is neither ISO text nor None")
    if target is not None and not target.isscalar:
        raise ValueError(f"the target must be one position, not {target.shape}")
    table = pd.DataFrame({column: np.full(len(times), np.nan) for column in COLUMNS})
    meta = _metadata(site, target, target_source, time_source)
    if not known.any():
        return table, meta
    with _offline_earth_orientation():
        values = _computed([time.strip() for time, good in zip(times, known) if good], site, target)
    for column, value in values.items():
        table.loc[known, column] = value
    return table, meta


def _computed(times, site, target) -> dict[str, np.ndarray]:
    """The columns for the known ``times``, with astropy's IERS settings already made offline."""
    import astropy.units as u
    from astropy.coordinates import AltAz, EarthLocation
    from astropy.time import Time

    location = EarthLocation.from_geocentric(0, 0, 0, unit=u.m) if site is None else site.location()
    try:
        time = Time(times, scale="utc", location=location)
    except ValueError:
        bad = next(text for text in times if not _is_time(text, Time))
        raise ValueError(f"mid-exposure time {bad!r} is not an ISO 8601 instant") from None
    values = {"jd_utc": time.jd}
    if target is None:
        return values
    light_time = time.light_travel_time(target, "barycentric", location=location, ephemeris="builtin")
    values["bjd_tdb"] = (time.tdb + light_time).jd
    if site is not None:
        altitude = target.transform_to(AltAz(obstime=time, location=location)).alt.deg
        values["altitude"], values["airmass"] = altitude, _airmass(altitude)
    return values


def _is_time(text, time_class) -> bool:
    """Whether astropy reads ``text`` as a UTC instant."""
    try:
        time_class(text, scale="utc")
    except ValueError:
        return False
    return True


def _airmass(altitude: np.ndarray) -> np.ndarray:
    """Young (1994) airmass from the true altitude in degrees; NaN below the horizon."""
    c = np.sin(np.radians(altitude))  # cos of the zenith angle
    airmass = (1.002432 * c**2 + 0.148386 * c + 0.0096467) / (c**3 + 0.149864 * c**2 + 0.0102963 * c + 0.000303978)
    return np.where(altitude >= 0, airmass, np.nan)


def _metadata(site, target, target_source, time_source) -> dict:
    """What ``frame_times`` assumed, and where each thing came from, in words and numbers."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        tables = f"astropy-iers-data {version('astropy-iers-data')}"
    except PackageNotFoundError:
        tables = "astropy's"
    sources = [time_source] if isinstance(time_source, str) or time_source is None else list(time_source)
    if target is None:
        bjd = "NaN: no target coordinates"
    elif site is None:
        bjd = f"BJD(TDB) for the geocentre, no site being known: wrong by {_GEOCENTRE_ERROR}"
    else:
        bjd = "BJD(TDB) at the site: time.tdb + time.light_travel_time(target, 'barycentric', location=site)"
    missing = [why for why, absent in (("no site", site is None), ("no target", target is None)) if absent]
    airmass = ("NaN: " + " and ".join(missing) if missing
               else "Young (1994) from the true (airless) altitude at the site; NaN below the horizon")
    return {
        "site": None if site is None else {"latitude": site.latitude, "longitude": site.longitude,
                                           "elevation": site.elevation},
        "site_source": "none in the config or the header: the geocentre" if site is None else site.source,
        "target": None if target is None else {"ra": float(target.icrs.ra.deg), "dec": float(target.icrs.dec.deg)},
        "target_source": target_source,
        "time_source": None if sources == [None] else "; ".join(dict.fromkeys(str(s) for s in sources)),
        "bjd_tdb": bjd,
        "airmass": airmass,
        "ephemeris": "astropy builtin (ERFA epv00 for the Earth: 15 microseconds of light time; no download)",
        "earth_orientation": f"the IERS tables of {tables}, never downloaded; predictions and the tables' ends "
                             "accepted (under 0.9 s of UT1: 0.004 deg of altitude, 2 microseconds of BJD)",
    }


def target_times(frames: pd.DataFrame, meta: Mapping, *, target: SkyCoord | None,
                 target_source: str | None) -> tuple[pd.DataFrame, dict]:
    """``frames`` (a series' times table: ``mid_time``, ``time_source``, ``COLUMNS``) timed for one ``target``:
    the series times every frame for the field's centre, a light curve for its own star (the light crosses
    the Earth's orbit in 499 s: a degree between them moves a BJD by up to 9 s). The site is the series' (``meta``, as ``frame_times`` wrote it).

    Returns the frames with ``COLUMNS`` recomputed and ``frame_times``' metadata; ``frames`` and ``meta``
    unchanged where ``target`` is None (nothing better than the field's centre is known).
    """
    if target is None:
        return frames, dict(meta)
    site = meta.get("site")
    site = site and Site(site["latitude"], site["longitude"], site["elevation"], meta.get("site_source", "series"))
    times, times_meta = frame_times(frames["mid_time"], site=site, target=target,
                                    target_source=target_source,
                                    time_source=frames["time_source"] if "time_source" in frames else None)
    table = frames.drop(columns=[column for column in COLUMNS if column in frames]).reset_index(drop=True)
    return table.join(times)[list(frames.columns) + [c for c in COLUMNS if c not in frames]], times_meta
