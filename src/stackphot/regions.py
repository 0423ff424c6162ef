"""DS9 region files of detected sources and photometry apertures.

The files follow the SAOImage DS9 region format (https://ds9.si.edu/doc/ref/region.html), version 4.1:

.. code-block:: text

    # Region file format: DS9 version 4.1
    global color=green ... include=1 source=1
    image
    circle(908.847,860.765,3.5) # text={1}
    annulus(908.847,860.765,12,18) # background

The coordinate system line ``image`` gives positions in pixels of the image the regions were measured on
(here the stack; the aligned frames share its grid). DS9's image coordinates are 1-based: the centre of
the first pixel is (1, 1). stackphot's positions, like numpy's and photutils', are 0-based (the centre of
the first pixel is (0, 0)), so every position is written plus one; radii are unchanged.

Image coordinates rather than fk5/icrs: they are exact on the image the catalog came from whether or not
it has a WCS, and DS9 maps them through the WCS itself when the regions are shown on another image.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from stackphot.io import atomic_write

HEADER = "# Region file format: DS9 version 4.1"
GLOBAL = (
    'global color=green dashlist=8 3 width=1 font="helvetica 10 normal roman" select=1 highlite=1 dash=0 '
    "fixed=0 edit=1 move=1 delete=1 include=1 source=1"
)
COORDINATES = "image"


def ds9_image_coordinates(x, y) -> tuple[np.ndarray, np.ndarray]:
    """0-based pixel positions (numpy, photutils) to DS9 ``image`` coordinates (1-based)."""
    return np.asarray(x, dtype=float) + 1.0, np.asarray(y, dtype=float) + 1.0


def _finite_positions(x, y, ids):
    """Positions and ids with non-finite positions left out (with a warning naming how many)."""
    x = np.atleast_1d(np.asarray(x, dtype=float))
    y = np.atleast_1d(np.asarray(y, dtype=float))
    if x.shape != y.shape:
        raise ValueError(f"x and y differ in length ({x.size} and {y.size})")
    ids = np.arange(1, x.size + 1) if ids is None else np.atleast_1d(np.asarray(ids))
    if ids.shape != x.shape:
        raise ValueError(f"ids and positions differ in length ({ids.size} and {x.size})")
    finite = np.isfinite(x) & np.isfinite(y)
    if not finite.all():
        warnings.warn(f"{int((~finite).sum())} of {x.size} positions are not finite and have no region",
                      stacklevel=3)
    return x[finite], y[finite], ids[finite], finite


def source_regions(x, y, *, radius, ids=None, color: str | None = None) -> list[str]:
    """One ``circle`` per source, labelled with its id.

    Parameters
    ----------
    x, y : array-like
        0-based pixel positions (as in the catalog).
    radius : float or array-like
        Circle radius in pixels, one for all or one per source.
    ids : array-like, optional
        Labels shown beside each circle (``text={id}``); default 1, 2, 3, ...
    color : str, optional
        A DS9 colour for these circles (default: the file's global colour, green).

    Returns
    -------
    list of str
        Region lines without a newline; sources with a non-finite position are left out with a warning.
    """
    radius = np.broadcast_to(np.asarray(radius, dtype=float), np.shape(np.atleast_1d(x)))
    x, y, ids, finite = _finite_positions(x, y, ids)
    radius = radius[finite]
    xs, ys = ds9_image_coordinates(x, y)
    colour = f" color={color}" if color else ""
    return [f"circle({xi:.3f},{yi:.3f},{ri:.4g}) # text={{{label}}}{colour}"
            for xi, yi, ri, label in zip(xs, ys, radius, ids)]


def aperture_regions(x, y, *, radius: float, annulus, flags=None, flagged_color: str = "red") -> list[str]:
    """Each source's photometry aperture (``circle``) and sky annulus (``annulus``, a DS9 background region).

    Parameters
    ----------
    x, y : array-like
        0-based aperture centres in pixels.
    radius : float
        Aperture radius in pixels.
    annulus : (float, float)
        Inner and outer radius of the sky annulus in pixels.
    flags : array-like of int, optional
        Photometry flags; a source with any flag set is drawn in ``flagged_color``, the others in the
        global colour.

    Returns
    -------
    list of str
        Two lines per source (circle, then annulus); non-finite positions are left out with a warning.
    """
    r_in, r_out = (float(r) for r in annulus)
    if not 0 < r_in < r_out:
        raise ValueError(f"annulus radii must satisfy 0 < inner < outer, not {r_in:g}, {r_out:g}")
    flags = np.zeros(np.size(x), dtype=int) if flags is None else np.atleast_1d(np.asarray(flags, dtype=int))
    x, y, flags, _ = _finite_positions(x, y, flags)
    xs, ys = ds9_image_coordinates(x, y)
    lines = []
    for xi, yi, flag in zip(xs, ys, flags):
        colour = f" color={flagged_color}" if flag else ""
        lines.append(f"circle({xi:.3f},{yi:.3f},{radius:.4g}) #{colour} tag={{aperture}}")
        lines.append(f"annulus({xi:.3f},{yi:.3f},{r_in:.4g},{r_out:.4g}) # background{colour} tag={{annulus}}")
    return lines


def format_regions(regions, *, comments=()) -> str:
    """A DS9 region file's text: header, comment lines, global properties, ``image``, the regions."""
    lines = [HEADER, *(f"# {comment}" for comment in comments), GLOBAL, COORDINATES, *regions]
    return "\n".join(lines) + "\n"


def write_regions(path, regions, *, comments=()) -> Path:
    """Write region lines (from ``source_regions`` or ``aperture_regions``) as a DS9 file, atomically.

    No regions give a valid file with the header alone.
    """
    text = format_regions(regions, comments=comments)
    with atomic_write(path) as temporary:
        Path(temporary).write_text(text, encoding="ascii", errors="replace")
    return Path(path)


def write_catalog_regions(path, catalog, *, source: str, image: str) -> int:
    """A catalog's sources as a region file (a circle of the detection pass's FWHM labelled with the id); how
    many were written. ``source`` and ``image`` name the catalog file and the image it was detected on."""
    if "fwhm" not in catalog:
        raise ValueError(f"{source}: no fwhm column for the circles' radius")
    regions = source_regions(catalog.x, catalog.y, radius=catalog.fwhm, ids=catalog.id)
    write_regions(path, regions, comments=[
        f"stackphot: sources of {source} (detected on {image})",
        "circle radius: the FWHM of the detection pass; label: the catalogue id",
        "image coordinates are 1-based (DS9): catalogue x, y plus 1",
    ])
    return len(regions)


def write_aperture_regions(path, photometry, *, radius: float, annulus, source: str, image: str) -> int:
    """The photometry's apertures of ``radius`` and sky annuli as a region file, flagged sources in red; how many
    sources were written. ``source`` and ``image`` name the photometry file and the image it measured."""
    regions = aperture_regions(photometry.x, photometry.y, radius=radius, annulus=annulus, flags=photometry["flags"])
    write_regions(path, regions, comments=[
        f"stackphot: apertures of {source} (measured on {image})",
        f"circle: aperture of radius {radius:g} px (flux, mag); annulus {annulus[0]:g}-{annulus[1]:g} px: "
        "local sky (DS9 background region)",
        "red: a photometry flag is set (see the flags column); image coordinates are 1-based: x, y plus 1",
    ])
    return len(photometry)
