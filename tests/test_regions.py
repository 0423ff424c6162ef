"""DS9 region files: checked against the DS9 region format by a small parser written from its specification.

The specification (https://ds9.si.edu/doc/ref/region.html, "Region File Format"): an optional first line
``# Region file format: DS9 version 4.x``; other lines starting with ``#`` are comments; ``global`` followed
by ``keyword=value`` properties; a coordinate system (``image``: 1-based pixels of the image, the centre of
the first pixel at (1, 1)); then shapes ``circle(x,y,r)`` and ``annulus(x,y,r_in,r_out)``, with local
properties after ``#``: ``color=...``, ``text={...}``, ``tag={...}``, and the bare ``background``.
"""

import re
import warnings

import numpy as np
import pytest

from stackphot.regions import aperture_regions, ds9_image_coordinates, source_regions, write_regions

COORDINATE_SYSTEMS = {"physical", "image", "fk4", "b1950", "fk5", "j2000", "galactic", "ecliptic", "icrs",
                      "linear", "amplifier", "detector"}
SHAPE = re.compile(r"^(?P<shape>[a-z]+)\((?P<args>[^)]*)\)\s*(?:#(?P<props>.*))?$")
PROPERTY = re.compile(r"(\w+)=(\{[^}]*\}|\"[^\"]*\"|\S+)|(\bbackground\b|\bsource\b)")


def parse_ds9(text):
    """(header, global properties, coordinate system, [(shape, args, properties), ...]) of a DS9 file."""
    lines = text.splitlines()
    assert re.fullmatch(r"# Region file format: DS9 version 4\.\d+", lines[0]), lines[0]
    globals_, system, regions = None, None, []
    for line in lines[1:]:
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("global "):
            globals_ = {key: value for key, value, _ in PROPERTY.findall(line[len("global "):]) if key}
            continue
        if line in COORDINATE_SYSTEMS:
            system = line
            continue
        match = SHAPE.match(line)
        assert match, f"not a DS9 region line: {line!r}"
        assert system is not None, "a region before any coordinate system line"
        args = [float(value) for value in re.split(r"[,\s]+", match["args"].strip())]
        props = {}
        for key, value, flag in PROPERTY.findall(match["props"] or ""):
            if flag:
                props[flag] = True
            else:
                props[key] = value.strip("{}\"")
        regions.append((match["shape"], args, props))
    assert globals_ is not None, "no global line"
    return lines[0], globals_, system, regions


def test_ds9_image_coordinates_are_one_based():
    x, y = ds9_image_coordinates([0.0, 10.25], [0.0, 3.5])
    np.testing.assert_array_equal(x, [1.0, 11.25])
    np.testing.assert_array_equal(y, [1.0, 4.5])


def test_catalog_regions_parse_with_positions_plus_one(tmp_path, rng):
    x, y = rng.uniform(0, 500, 40), rng.uniform(0, 300, 40)
    ids = np.arange(101, 141)
    path = write_regions(tmp_path / "catalog.reg", source_regions(x, y, radius=3.5, ids=ids),
                         comments=["sources of a test catalog"])
    header, globals_, system, regions = parse_ds9(path.read_text())
    assert system == "image"
    assert globals_["color"] == "green" and globals_["include"] == "1"
    assert len(regions) == 40
    assert {shape for shape, _, _ in regions} == {"circle"}
    positions = np.array([args[:2] for _, args, _ in regions])
    np.testing.assert_allclose(positions[:, 0], x + 1, atol=5e-4)
    np.testing.assert_allclose(positions[:, 1], y + 1, atol=5e-4)
    assert all(args[2] == 3.5 for _, args, _ in regions)
    assert [int(props["text"]) for _, _, props in regions] == list(ids)


def test_catalog_regions_take_a_radius_per_source():
    regions = source_regions([1.0, 2.0], [3.0, 4.0], radius=[2.0, 5.0], ids=[7, 8], color="cyan")
    assert regions == ["circle(2.000,4.000,2) # text={7} color=cyan", "circle(3.000,5.000,5) # text={8} color=cyan"]


def test_aperture_regions_hold_an_aperture_and_a_background_annulus_per_source(tmp_path):
    x, y = np.array([10.0, 50.5, 99.25]), np.array([20.0, 60.0, 5.75])
    flags = np.array([0, 8, 0])
    path = write_regions(tmp_path / "apertures.reg",
                         aperture_regions(x, y, radius=4.0, annulus=(12.0, 18.0), flags=flags))
    _, _, system, regions = parse_ds9(path.read_text())
    assert system == "image"
    assert [shape for shape, _, _ in regions] == ["circle", "annulus"] * 3
    circles = [(args, props) for shape, args, props in regions if shape == "circle"]
    annuli = [(args, props) for shape, args, props in regions if shape == "annulus"]
    np.testing.assert_allclose([args[:2] for args, _ in circles], np.column_stack([x + 1, y + 1]))
    np.testing.assert_allclose([args[:2] for args, _ in annuli], np.column_stack([x + 1, y + 1]))
    assert all(args[2] == 4.0 for args, _ in circles)
    assert all(args[2:] == [12.0, 18.0] for args, _ in annuli)
    assert all(props.get("background") for _, props in annuli)
    assert not any(props.get("background") for _, props in circles)
    # the flagged source (the second) in red, the others in the global colour
    assert [props.get("color") for _, props in circles] == [None, "red", None]
    assert [props.get("color") for _, props in annuli] == [None, "red", None]


def test_annulus_must_lie_outside_zero_and_grow():
    with pytest.raises(ValueError, match="annulus"):
        aperture_regions([1.0], [1.0], radius=3.0, annulus=(18.0, 12.0))


def test_non_finite_positions_are_left_out_with_a_warning():
    with pytest.warns(UserWarning, match="1 of 3 positions"):
        regions = source_regions([1.0, np.nan, 3.0], [1.0, 2.0, 3.0], radius=2.0)
    assert len(regions) == 2 and regions[1].endswith("text={3}")  # ids keep their rows


def test_no_sources_give_a_valid_file_without_regions(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        path = write_regions(tmp_path / "empty.reg", source_regions([], [], radius=3.0))
    _, _, system, regions = parse_ds9(path.read_text())
    assert system == "image" and regions == []
    assert not list(tmp_path.glob(".*.part"))  # written atomically, nothing left behind
