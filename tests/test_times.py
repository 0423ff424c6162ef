"""Frame times: the site and target from headers and config, JD (UTC), BJD (TDB) and airmass, checked against
a computation by hand and against a real OGLE header's own JULDAT, HELJD and AIRMASS."""

import warnings

import astropy.units as u
import numpy as np
import pytest
from astropy.coordinates import EarthLocation, SkyCoord, get_body_barycentric
from astropy.io import fits
from astropy.time import Time
from astropy.utils import iers

from stackphot.frames import mid_exposure
from stackphot.lightcurve.times import Site, frame_times, observing_site, target_coordinates, target_times

LAS_CAMPANAS = {"latitude": -29.0146, "longitude": -70.6926, "elevation": 2380}
LCO = Site(-29.0146, -70.6926, 2380.0, "test")
C = 299792458.0  # m/s
OBLIQUITY = 23.4392911  # degrees, J2000
# TAI - UTC in seconds from each date on (the IERS Bulletin C), as far as the test's dates need it.
LEAP_SECONDS = [("1999-01-01", 32), ("2006-01-01", 33), ("2009-01-01", 34), ("2012-07-01", 35),
                ("2015-07-01", 36), ("2017-01-01", 37)]


@pytest.fixture(autouse=True)
def offline():
    """The computations by hand below use astropy's IERS tables too: never downloaded."""
    with iers.conf.set_temp("auto_download", False):
        yield


def on_ecliptic(longitude):
    """The ICRS position of a point on the ecliptic (J2000) at ``longitude`` degrees, by spherical trigonometry."""
    lam, eps = np.radians(longitude), np.radians(OBLIQUITY)
    ra = np.degrees(np.arctan2(np.cos(eps) * np.sin(lam), np.cos(lam)))
    dec = np.degrees(np.arcsin(np.sin(eps) * np.sin(lam)))
    return SkyCoord(ra * u.deg, dec * u.deg)


def tdb_minus_utc(iso):
    """TDB - UTC in seconds: the leap seconds, 32.184 s of TT - TAI, and the two largest periodic terms of
    TDB - TT (Fairhead & Bretagnon 1990; good to 30 microseconds)."""
    leap = next(count for start, count in reversed(LEAP_SECONDS) if iso >= start)
    days = Time(iso, scale="utc").jd - 2451545.0
    g = np.radians(357.53 + 0.98560028 * days)  # the Earth's mean anomaly
    return leap + 32.184 + 0.001657 * np.sin(g) + 0.000014 * np.sin(2 * g)


def barycentric_by_hand(iso, target, location):
    """The Roemer delay: the projection of the observer's barycentric position (the Earth's, from astropy's
    builtin ephemeris, plus the site's GCRS offset) on the target's direction, over c; in seconds."""
    time = Time(iso, scale="utc")
    observer = get_body_barycentric("earth", time, ephemeris="builtin").xyz.to_value(u.m)
    if location is not None:
        observer = observer + location.get_gcrs_posvel(time)[0].xyz.to_value(u.m)
    return float(observer @ target.icrs.cartesian.xyz.value) / C


TARGETS = {"north ecliptic pole": SkyCoord(270.0 * u.deg, (90 - OBLIQUITY) * u.deg),
           "ecliptic at 90 degrees": on_ecliptic(90.0), "ecliptic at 180 degrees": on_ecliptic(180.0),
           "LMC": SkyCoord(73.0917 * u.deg, -69.3081 * u.deg)}
DATES = ["1999-07-01T00:00:00", "2011-12-27T05:28:41", "2020-03-20T03:50:00", "2024-06-21T12:00:00"]


@pytest.mark.parametrize("with_site", [True, False], ids=["Las Campanas", "geocentre"])
@pytest.mark.parametrize("name", TARGETS)
def test_bjd_equals_the_correction_computed_by_hand(name, with_site):
    target, site = TARGETS[name], LCO if with_site else None
    table, _ = frame_times(DATES, site=site, target=target)
    location = LCO.location() if with_site else None
    expected = np.array([tdb_minus_utc(iso) + barycentric_by_hand(iso, target, location) for iso in DATES])
    measured = (table.bjd_tdb - table.jd_utc).to_numpy() * 86400
    assert np.abs(measured - expected).max() < 1e-3  # seconds; measured 51 microseconds, float64 JDs resolve 40


def test_the_ecliptic_pole_sees_the_smallest_correction_and_the_ecliptic_the_largest():
    pole, _ = frame_times(DATES, site=LCO, target=TARGETS["north ecliptic pole"])
    ecliptic, _ = frame_times(DATES, site=LCO, target=TARGETS["ecliptic at 90 degrees"])
    roemer = [(table.bjd_tdb - table.jd_utc) * 86400 - [tdb_minus_utc(iso) for iso in DATES]
              for table in (pole, ecliptic)]
    # The Earth's orbit hardly leaves the ecliptic: measured 0.13 s at most.
    assert np.abs(roemer[0]).max() < 0.5
    # The Sun's wobble about the barycentre adds up to 0.01 AU (5 s) to the Earth's distance from it.
    assert roemer[1][3] == pytest.approx(-499.0 * 1.0163, abs=6)  # June: the Sun at 90 degrees, aphelion
    assert roemer[1][1] == pytest.approx(499.0 * 0.9833, abs=6)  # December: the other side, perihelion


@pytest.fixture
def ogle(shared_data):
    return fits.getheader(shared_data / "cepheid_ogle" / "o4197842.10.fts")


@pytest.mark.shared
def test_ogle_header_times_and_airmass(ogle):
    site = observing_site(ogle, configured=LAS_CAMPANAS)
    target, target_source = target_coordinates(ogle)
    mid = mid_exposure(ogle)
    assert mid.time_source == "DATE-OBS + EXPTIME/2"
    table, meta = frame_times([mid.mid_time], site=site, target=target, target_source=target_source,
                              time_source=mid.time_source)
    row = table.iloc[0]
    assert abs(row.jd_utc - ogle["JULDAT"]) * 86400 < 1  # measured 0.027 s (JULDAT is rounded to 0.086 s)
    # HJD(UTC) to BJD(TDB): TDB - UTC = 32.184 + 34 s, and the Sun-barycentre difference (tiny this near the
    # ecliptic pole): measured 0.04 s.
    assert abs((row.bjd_tdb - ogle["HELJD"]) * 86400 - 66.184) < 5
    assert abs(row.airmass - ogle["AIRMASS"]) < 0.01  # measured 0.0018
    assert row.altitude == pytest.approx(45.3, abs=0.1)
    assert meta["site_source"] == "config (observatory)" and meta["time_source"] == "DATE-OBS + EXPTIME/2"
    assert meta["target_source"].startswith("header RA/DEC (FK5, EQUINOX J2000")


def test_frames_without_a_site_are_timed_at_the_geocentre():
    target = TARGETS["ecliptic at 90 degrees"]
    here, _ = frame_times(DATES, site=LCO, target=target)
    table, meta = frame_times(DATES, site=None, target=target)
    assert np.abs(table.bjd_tdb - here.bjd_tdb).max() * 86400 < 0.0213
    assert np.abs(table.bjd_tdb - here.bjd_tdb).max() * 86400 > 1e-3  # the site does count
    assert table.airmass.isna().all() and table.altitude.isna().all()
    assert meta["site"] is None and "geocentre" in meta["site_source"] and "21 ms" in meta["bjd_tdb"]
    assert meta["airmass"] == "NaN: no site"


def test_a_light_curve_is_timed_for_its_own_star_not_the_field_centre():
    centre = TARGETS["ecliptic at 90 degrees"]
    star = centre.directional_offset_by(90 * u.deg, 1 * u.deg)  # along the ecliptic: the largest change
    series, meta = frame_times(DATES, site=LCO, target=centre, target_source="field centre", time_source="DATE-OBS")
    frames = series.assign(frame=[f"f{i}" for i in range(len(DATES))], mid_time=DATES, time_source="DATE-OBS")
    timed, timed_meta = target_times(frames, meta, target=star, target_source="the star")
    by_hand = np.array([tdb_minus_utc(iso) + barycentric_by_hand(iso, star, LCO.location()) for iso in DATES])
    assert np.abs((timed.bjd_tdb - timed.jd_utc).to_numpy() * 86400 - by_hand).max() < 1e-3
    moved = np.abs(timed.bjd_tdb - series.bjd_tdb).to_numpy() * 86400
    assert 8 < moved.max() < 507 * np.radians(1)  # the Earth at most 507 light-seconds out: 8.8 s a degree
    assert list(timed.columns) == list(frames.columns) and list(timed.frame) == list(frames.frame)
    assert timed_meta["target_source"] == "the star" and timed_meta["site"] == meta["site"]
    unchanged, same_meta = target_times(frames, meta, target=None, target_source=None)
    assert unchanged is frames and same_meta == meta


def test_frames_without_a_target_have_only_their_jd():
    table, meta = frame_times(["2011-12-27T05:28:41", None], site=LCO, target=None, time_source=["a", "a"])
    assert table.jd_utc[0] == pytest.approx(2455922.728252, abs=1e-6) and np.isnan(table.jd_utc[1])
    assert table[["bjd_tdb", "airmass", "altitude"]].isna().all().all()
    assert meta["target"] is None and meta["bjd_tdb"].startswith("NaN") and meta["time_source"] == "a"


def test_a_target_below_the_horizon_has_no_airmass():
    polaris = SkyCoord(37.95 * u.deg, 89.26 * u.deg)  # never rises at Las Campanas
    table, _ = frame_times(DATES, site=LCO, target=polaris)
    assert (table.altitude < -28).all() and table.airmass.isna().all() and table.bjd_tdb.notna().all()


def test_no_times_and_bad_times():
    table, _ = frame_times([], site=LCO, target=TARGETS["LMC"])
    assert list(table.columns) == ["jd_utc", "bjd_tdb", "airmass", "altitude"] and len(table) == 0
    with pytest.raises(ValueError, match="'last night'"):
        frame_times(["2011-12-27T05:28:41", "last night"], site=LCO, target=None)


def test_tonight_needs_no_download_and_warns_of_nothing(monkeypatch):
    # Tonight lies past the bundled IERS-A table's measured values, where astropy's defaults would fetch a
    # newer table (or refuse its predictions once the table is 30 days old).
    from astropy.utils import data

    attempts = []
    monkeypatch.setattr(iers.iers, "download_file", lambda *args, **kwargs: attempts.append(args))
    monkeypatch.setattr(data, "download_file", lambda *args, **kwargs: attempts.append(args))
    tonight = [(Time.now() - 1 * u.day).isot, "2060-01-01T00:00:00"]
    with iers.conf.set_temp("auto_download", True), iers.conf.set_temp("auto_max_age", 30.0):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            table, _ = frame_times(tonight, site=LCO, target=TARGETS["LMC"])
    assert attempts == [] and table.notna().all().all()


# Sites


def header(**cards):
    return fits.Header([(key.replace("_", "-"), *value) if isinstance(value, tuple) else (key.replace("_", "-"), value)
                        for key, value in cards.items()])


@pytest.mark.parametrize("cards, expected", [
    # The Seestar: decimal degrees, east positive, no elevation.
    ({"SITELAT": 32.8965, "SITELONG": -79.7625}, (32.8965, -79.7625, 0.0)),
    # Palomar in MaxIm DL's sexagesimal text.
    ({"SITELAT": "+33:24:24.00", "SITELONG": "-116:51:48.00", "SITEELEV": 1706}, (33.406667, -116.863333, 1706)),
    ({"SITELAT": "29 00 52.6 S", "SITELONG": "70 41 33.4 W", "HIERARCH ELEVATION": 2380},
     (-29.014611, -70.692611, 2380)),
    ({"SITELAT": -29.0146, "SITELONG": 289.3074, "HEIGHT": 2380.0}, (-29.0146, -70.6926, 2380)),
    ({"SITELAT": -29.0146, "SITELONG": (70.6926, "longitude, degrees west"), "SITEELEV": 2380},
     (-29.0146, -70.6926, 2380)),
    ({"LAT_OBS": -29.0146, "LONG_OBS": -70.6926, "ALT_OBS": 2380.0}, (-29.0146, -70.6926, 2380)),
    ({"OBSGEO_B": -29.0146, "OBSGEO_L": -70.6926, "OBSGEO_H": 2380.0}, (-29.0146, -70.6926, 2380)),
    ({"OBSGEO_B": "-29:00:52.56", "OBSGEO_L": "-70:41:33.36"}, (-29.0146, -70.6926, 0.0)),
])
def test_sites_from_each_header_convention(cards, expected):
    site = observing_site(header(**cards))
    assert (site.latitude, site.longitude, site.elevation) == pytest.approx(expected, abs=1e-6)
    assert site.source.startswith(f"header {next(iter(cards)).replace('_', '-')}")
    assert ("0 m assumed" in site.source) == (expected[2] == 0)


def test_a_site_from_geocentric_cartesian_cards():
    x, y, z = EarthLocation.from_geodetic(-70.6926 * u.deg, -29.0146 * u.deg, 2380 * u.m).to_value(u.m)
    site = observing_site(header(OBSGEO_X=x, OBSGEO_Y=y, OBSGEO_Z=z))
    assert (site.latitude, site.longitude) == pytest.approx((-29.0146, -70.6926), abs=1e-9)
    assert site.elevation == pytest.approx(2380, abs=1e-3) and site.source == "header OBSGEO-X/Y/Z"


def test_the_config_wins_and_a_header_without_a_site_gives_none():
    seestar = header(SITELAT=32.8965, SITELONG=-79.7625)
    assert observing_site(seestar, configured=LAS_CAMPANAS) == Site(-29.0146, -70.6926, 2380.0, "config (observatory)")
    site = observing_site(seestar, configured={"latitude": "-29:00:52.56", "longitude": -70.6926})
    assert site.elevation == 0.0 and site.latitude == pytest.approx(-29.0146) and "0 m assumed" in site.source
    for nothing in ({}, {"latitude": None, "longitude": None, "elevation": None}):
        assert observing_site(seestar, configured=nothing).source == (
            "header SITELAT/SITELONG (no elevation given: 0 m assumed)")
    assert observing_site(header(OBJECT="M 94")) is None


@pytest.mark.parametrize("cards, configured, card", [
    ({"SITELAT": "north", "SITELONG": -79.76}, None, "SITELAT"),
    ({"SITELAT": 32.9, "SITELONG": True}, None, "SITELONG"),
    ({"LAT_OBS": 95.0, "LONG_OBS": 10.0}, None, "LAT-OBS"),
    ({"SITELAT": 32.9, "SITELONG": -79.76, "SITEELEV": "high"}, None, "SITEELEV"),
    ({"SITELAT": 32.9, "SITELONG": -79.76, "SITEELEV": 2.0e6}, None, "SITEELEV"),
    ({"SITELAT": 32.9}, None, "SITELONG is missing"),
    ({"OBSGEO_X": 1.0, "OBSGEO_Y": 2.0, "OBSGEO_Z": 3.0}, None, "OBSGEO-X/Y/Z"),
    ({"OBSGEO_X": 1.0}, None, "OBSGEO-Y, OBSGEO-Z missing"),
    ({}, {"latitude": "x", "longitude": 10}, "observatory: latitude"),
    ({}, {"latitude": 10}, "observatory: longitude is missing"),
])
def test_bad_sites_name_their_card(cards, configured, card):
    with pytest.raises(ValueError, match=card):
        observing_site(header(**cards), configured=configured)


# Targets


def test_the_config_then_the_wcs_position_win_over_the_header():
    cards = header(RA="4:52:22.0", DEC="-69:18:29", EQUINOX=2000.0)
    position, source = target_coordinates(cards, configured={"name": "T", "ra": 10.0, "dec": -20.0},
                                          wcs_position=(11.0, -21.0))
    assert (position.ra.deg, position.dec.deg, source) == (10.0, -20.0, "config (ra, dec)")
    position, source = target_coordinates(cards, configured={"name": "T", "x": 5, "y": 6}, wcs_position=(11.0, -21.0))
    assert (position.ra.deg, position.dec.deg) == pytest.approx((11.0, -21.0)) and "WCS" in source
    position, source = target_coordinates(cards)
    assert (position.ra.deg, position.dec.deg) == pytest.approx((73.091667, -69.308056), abs=1e-4)


@pytest.mark.parametrize("cards, expected, words", [
    # The Seestar: degrees, no equinox (FK5 J2000 is the ICRS within 0.02 arcsec).
    ({"RA": 193.070835, "DEC": 40.979722}, (193.070835, 40.979722), "J2000 assumed"),
    ({"OBJCTRA": "05 41 06.000", "OBJCTDEC": "-02 27 30.00", "EQUINOX": 2000.0}, (85.275, -2.458333), "OBJCTRA"),
    ({"RA": "4h52m22s", "DEC": "-00:30:00", "RADESYS": "ICRS"}, (73.091667, -0.5), "ICRS"),
    # 3C 273 at B1950 (FK4) and its ICRS position (NED: 12h29m06.6997s +02d03m08.598s).
    ({"RA": "12:26:33.246", "DEC": "+02:19:43.29", "EQUINOX": 1950.0}, (187.277915, 2.052388), "FK4"),
    ({"CTYPE1": "RA---TAN", "CTYPE2": "DEC--TAN", "CRVAL1": 150.0, "CRVAL2": 2.2, "CRPIX1": 1, "CRPIX2": 1},
     (150.0, 2.2), "CRVAL1"),
    # The Galactic centre (ICRS 266.40499, -28.93617).
    ({"CTYPE1": "GLON-CAR", "CTYPE2": "GLAT-CAR", "CRVAL1": 0.0, "CRVAL2": 0.0}, (266.40499, -28.93617), "CRVAL1"),
])
def test_targets_from_the_header(cards, expected, words):
    position, source = target_coordinates(header(**cards))
    assert position.separation(SkyCoord(*expected, unit="deg")).arcsec < 1.0
    assert words in source


def test_no_target_and_bad_targets():
    position, source = target_coordinates(header(OBJECT="M 94"))
    assert position is None and source.startswith("no target coordinates")
    for cards, card in [({"RA": "abc", "DEC": 10.0}, "RA"), ({"RA": 10.0, "DEC": 95.0}, "DEC"),
                        ({"RA": 10.0}, "DEC is missing"), ({"RA": "25:00:00", "DEC": 0.0}, "RA"),
                        ({"RA": 10.0, "DEC": 0.0, "EQUINOX": "J2O00"}, "EQUINOX")]:
        with pytest.raises(ValueError, match=card):
            target_coordinates(header(**cards))
    with pytest.raises(ValueError, match="dec"):
        target_coordinates(header(), configured={"ra": 10.0})
