"""Forced photometry of one frame at the stack catalog's sources, carried in by the frame's transform.

The stack's catalog is measured on each frame's own background-subtracted pixels, not on the resampled
aligned frame: interpolation does not keep every star's flux. A frame's registration maps its pixels onto the
reference (``stackphot.geometry.Transform``), so the catalog's reference-frame positions reach the frame
through its inverse (``frame_positions``). The apertures, the annulus sky, the errors and the flags are those
of ``stackphot.photometry.measure_apertures``, each aperture's own as well as the largest's; this module adds
apertures scaled by the frame's FWHM, the brightest pixel of the largest aperture (``peak``) and one flag:

``COSMIC`` (32)
    a single-pixel spike (``stackphot.defects.spikes``: a cosmic-ray hit, a hot pixel the defect map lacks)
    lies (even partly) inside the aperture and is not the star's own core (see ``forced_photometry``).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from stackphot.defects import spikes
from stackphot.geometry import Transform
from stackphot.numerics import box_pixels
from stackphot.photometry import measure_apertures
from stackphot.photometry.apertures import check_geometry, invalid_pixels

__all__ = ["COSMIC", "frame_annulus", "frame_positions", "forced_photometry"]

# The next free bit after measure_apertures' EDGE 1, NONFINITE 2, SATURATED 4, NEIGHBOUR 8, CROWDED_SKY 16.
COSMIC = 32


def frame_positions(transform: Transform, x, y) -> tuple[np.ndarray, np.ndarray]:
    """Frame pixel positions of reference-frame positions: ``(x, y)`` through the inverse of ``transform``.

    Parameters
    ----------
    transform : stackphot.geometry.Transform
        The frame's registration: frame pixel -> reference pixel.
    x, y : array-like
        Positions on the reference frame (0-based pixel centres), e.g. the stack catalog's.

    Returns
    -------
    x_frame, y_frame : 1D float arrays
        Where those positions lie on the frame; they may be off it. NaN throughout for an unknown transform
        (``Transform.unknown``), and wherever ``x`` or ``y`` is NaN.
    """
    x = np.atleast_1d(np.asarray(x, dtype=float))
    y = np.atleast_1d(np.asarray(y, dtype=float))
    return transform.inverse().apply(x, y)


def forced_photometry(data, *, x, y, ids, transform: Transform, radii, annulus, error=None, mask=None,
                      saturated=None, fwhm: float | None = None, fwhm_radii=(), neighbour_radius=None,
                      cosmic_nsigma: float = 5.0, mask_sources: float | None = None) -> pd.DataFrame:
    """Aperture photometry of a catalog on one frame, at positions carried from the reference frame.

    The catalog's reference-frame positions move onto the frame by ``frame_positions`` and are measured
    there, unresampled, by ``stackphot.photometry.measure_apertures``: per star the sigma-clipped median of
    the annulus as the local sky, per radius the flux less that sky, its error and its flags EDGE, NONFINITE,
    SATURATED (that circle's own) and NEIGHBOUR (the star's). Here also COSMIC (this module's bit 32): a spike
    of ``stackphot.defects.spikes`` overlapping the aperture. A sharp star's core is a spike itself (its step
    over its neighbours is 0.6 of its excess at FWHM 1.5 px), and once it is found its 4 neighbours stand out
    in the second pass of ``spikes``: a cross of spikes. So the spikes
    in the 3 x 3 pixels around the aperture's brightest valid pixel are taken for the star when that pixel
    is a spike and lies within 1 px of the star's position on both axes, as a sharp star's core does. Being
    the brightest alone would not do: a hit in a faint star's aperture outshines the star. Missed, then: a
    hit that outshines the star on the 1 to 4 pixels around its position, and on a sharp star a hit next to
    its core (9 of the 113 pixels of a 6 px aperture).

    Parameters
    ----------
    data : 2D array
        The frame's own calibrated, background-subtracted pixels; NaN where there is no data.
    x, y : array-like
        The catalog's positions on the reference frame (pixels, 0-based); all finite.
    ids : array-like
        The catalog's source ids, one per position.
    transform : stackphot.geometry.Transform
        The frame's registration (frame pixel -> reference pixel).
    radii : float or sequence of float
        Fixed aperture radii in pixels of the frame. They are not scaled by the transform: where it scales
        (``transform.scale`` != 1, a frame of another camera or binning), an aperture of R reference pixels is
        R / ``transform.scale`` frame pixels.
    annulus : (float, float)
        Inner and outer radius of the sky annulus in frame pixels, outside the fixed apertures. The apertures
        scaled by this frame's FWHM that reach it take their sky from one moved out (``frame_annulus``); the
        others, and ``bkg``, keep this one.
    error : 2D array, optional
        The frame's 1-sigma error map. Without it the ``flux_err`` columns are NaN, and the spikes' threshold
        rests on the noise the frame shows.
    mask : 2D array, optional
        Pixels without data (any nonzero value, e.g. the frame's MASK): out of the sky; an aperture holding
        one has a NaN flux at that radius and NONFINITE; never a spike.
    saturated : 2D bool array, optional
        Saturated pixels: SATURATED for an aperture that overlaps one.
    fwhm : float, optional
        This frame's median FWHM (frame pixels). With it, one aperture per factor of ``fwhm_radii`` of radius
        factor * ``fwhm``; where it is NaN or not positive (a frame whose FWHM was not measured) those columns
        are NaN, so that every frame's table has the same columns. Without it, no such columns.
    fwhm_radii : sequence of float
        Factors of ``fwhm``, positive and distinct.
    neighbour_radius : float, optional
        Another star of the catalog within this distance (frame pixels) sets NEIGHBOUR; default the annulus's
        outer radius.
    cosmic_nsigma : float
        Threshold of ``stackphot.defects.spikes``, in units of a pixel's noise.
    mask_sources : float, optional
        Leave the disks of this radius (frame pixels) around every star of the catalog out of the annuli: a
        neighbour's light, which changes with the seeing, stays out of a star's sky. CROWDED_SKY where too
        little of an annulus is left.

    Returns
    -------
    pandas.DataFrame
        One row per catalog source, in its order: ``id``; ``x``, ``y`` (frame pixels); ``x_ref``, ``y_ref``;
        ``bkg``, ``bkg_err`` (sky per pixel); per fixed radius r ``flux_r{r:g}``, ``flux_err_r{r:g}``,
        ``flags_r{r:g}``, per factor k ``flux_f{k:g}``, ``flux_err_f{k:g}``, ``flags_f{k:g}`` (e.g. ``flux_r4``,
        ``flags_f1.5``: that aperture's flags, int: EDGE, NONFINITE, SATURATED, NEIGHBOUR, CROWDED_SKY of
        ``stackphot.photometry`` and COSMIC; -1 where the frame has no FWHM, no measurement, as
        ``stackphot.lightcurve.series.star_matrix`` marks one); ``flags``, the largest aperture's; ``peak``,
        the brightest valid pixel of the largest aperture less the sky (a lower bound where part of the
        aperture is off the frame or masked; NaN where none of it has data). A star whose aperture reaches
        beyond the frame has EDGE and a NaN flux at that radius. An empty catalog gives an empty table.

    Raises
    ------
    ValueError
        An unknown (NaN) transform or a non-finite catalog position; radii or factors not positive and
        distinct; an annulus not outside the fixed apertures; x, y and ids of different lengths.
    """
    if not transform.is_valid:
        raise ValueError(f"the frame has no transform ({transform}): it cannot be measured at the catalog's positions")
    x_ref = np.atleast_1d(np.asarray(x, dtype=float))
    y_ref = np.atleast_1d(np.asarray(y, dtype=float))
    if not (np.isfinite(x_ref).all() and np.isfinite(y_ref).all()):
        raise ValueError("the catalog's positions must be finite")
    fixed = check_geometry(radii, *annulus)
    factors = np.asarray(fwhm_radii, dtype=float).ravel()
    factor_names = [f"{k:g}" for k in factors]
    if np.any(factors <= 0) or len(set(factor_names)) != len(factor_names):
        raise ValueError(f"fwhm_radii must be positive and distinct, got {list(factors)}")
    scaled = fwhm is not None and math.isfinite(fwhm) and fwhm > 0
    # A scaled radius equal to a fixed one (by its column name) is measured once and given both names.
    sizes = {f"{r:g}": r for r in fixed}
    if scaled:
        sizes.update({f"{k * fwhm:g}": k * fwhm for k in factors if f"{k * fwhm:g}" not in sizes})

    x_frame, y_frame = frame_positions(transform, x_ref, y_ref)
    sky_mask = None if not mask_sources else source_disks(np.shape(data), x_frame, y_frame, mask_sources)
    options = dict(ids=ids, error=error, mask=mask, saturated=saturated, neighbour_radius=neighbour_radius,
                   sky_mask=sky_mask, aperture_flags=True)
    # The apertures inside the configured annulus keep its sky; those that reach it in bad seeing take one moved
    # out (frame_annulus), measured apart, so that measuring a large aperture never changes a smaller one's sky.
    inside = [radius for radius in sizes.values() if radius < annulus[0]]
    reaching = [radius for radius in sizes.values() if radius >= annulus[0]]
    measured = measure_apertures(data, x_frame, y_frame, radii=inside, annulus=annulus, **options)
    if reaching:
        moved = measure_apertures(data, x_frame, y_frame, radii=reaching,
                                  annulus=frame_annulus(annulus, max(reaching)), **options)
        for radius in reaching:
            for kind in ("flux", "flux_err", "flags"):
                measured[f"{kind}_r{radius:g}"] = moved[f"{kind}_r{radius:g}"]
    peak, cosmic = _peak_and_cosmic(data, x_frame, y_frame, list(sizes.values()), measured["bkg"].to_numpy(),
                                    error=error, mask=mask, nsigma=cosmic_nsigma)
    for i, name in enumerate(sizes):
        measured[f"flags_r{name}"] |= np.where(cosmic[:, i], COSMIC, 0)
    columns = {"id": measured["id"].to_numpy(), "x": x_frame, "y": y_frame, "x_ref": x_ref, "y_ref": y_ref,
               "bkg": measured["bkg"].to_numpy(), "bkg_err": measured["bkg_err"].to_numpy()}
    for radius in fixed:
        for kind in ("flux", "flux_err", "flags"):
            columns[f"{kind}_r{radius:g}"] = measured[f"{kind}_r{radius:g}"].to_numpy()
    if fwhm is not None:
        for k, name in zip(factors, factor_names):
            for kind, unmeasured in (("flux", np.nan), ("flux_err", np.nan), ("flags", -1)):
                columns[f"{kind}_f{name}"] = (measured[f"{kind}_r{k * fwhm:g}"].to_numpy() if scaled
                                              else np.full(x_ref.size, unmeasured))
    columns["flags"] = measured[f"flags_r{max(sizes.values()):g}"].to_numpy()
    columns["peak"] = peak
    return pd.DataFrame(columns)


def _peak_and_cosmic(data, x, y, radii, bkg, *, error, mask, nsigma):
    """Per position, the brightest valid pixel overlapping the circle of the largest of ``radii`` less ``bkg``,
    and per radius (a column each) whether a spike other than the star's core overlaps that circle (the rule of
    ``forced_photometry``, by that circle's own brightest pixel)."""
    data = np.asarray(data, dtype=float)
    if x.size == 0:
        return np.empty(0), np.empty((0, len(radii)), dtype=bool)
    # Without an error map, zero lets the spikes' threshold fall back on the noise measured in the frame.
    spike_map = spikes(data, np.zeros(data.shape) if error is None else error, mask=mask, nsigma=nsigma)
    invalid = invalid_pixels(data, error=error, mask=mask)
    half = math.ceil(max(radii)) + 1  # every pixel the circle overlaps, wherever the centre is in its pixel
    size = 2 * half + 1
    x_start, y_start = np.rint(x).astype(int) - half, np.rint(y).astype(int) - half
    pixels, on_image = box_pixels(data.shape, x_start, y_start, size)
    local_y, local_x = (g.ravel() for g in np.indices((size, size)))
    offset_x = x_start[:, None] + local_x - x[:, None]
    offset_y = y_start[:, None] + local_y - y[:, None]
    # A pixel overlaps the circle when its nearest point to the centre lies inside it.
    nearest2 = np.maximum(np.abs(offset_x) - 0.5, 0) ** 2 + np.maximum(np.abs(offset_y) - 0.5, 0) ** 2
    inside = on_image & (nearest2 < max(radii) ** 2)
    valid = inside & ~np.take(invalid, pixels)
    values = np.where(valid, np.take(data, pixels), -np.inf)
    brightest = np.argmax(values, axis=1)
    peak = np.where(valid.any(axis=1), values[np.arange(x.size), brightest] - bkg, np.nan)
    hits = inside & np.take(spike_map, pixels)
    cosmic = np.zeros((x.size, len(radii)), dtype=bool)
    # Only a star with a spike in its largest circle can have one in a smaller: the rest need no more work.
    some = np.flatnonzero(hits.any(axis=1))
    for i, radius in enumerate(radii):
        circle = nearest2[some] < radius**2
        cosmic[some, i] = _stray_spikes(np.where(circle, values[some], -np.inf), hits[some] & circle,
                                        offset_x[some], offset_y[some], local_x, local_y)
    return peak, cosmic


def _stray_spikes(values, hits, offset_x, offset_y, local_x, local_y) -> np.ndarray:
    """Per row, whether a spike of ``hits`` is not the star's core: the 3 x 3 pixels around the brightest of
    ``values`` (-inf where not valid) are the core's where that pixel is a spike within 1 px of the star."""
    rows = np.arange(len(values))
    brightest = np.argmax(values, axis=1)
    core = (np.abs(offset_x[rows, brightest]) < 1) & (np.abs(offset_y[rows, brightest]) < 1)
    core &= np.isfinite(values[rows, brightest]) & hits[rows, brightest]
    near_core = ((np.abs(local_x - local_x[brightest][:, None]) <= 1)
                 & (np.abs(local_y - local_y[brightest][:, None]) <= 1))
    return (hits & ~(core[:, None] & near_core)).any(axis=1)


def frame_annulus(annulus, largest_radius: float) -> tuple[float, float]:
    """A frame's sky annulus: the configured one, moved out (its width kept) where a radius scaled by the frame's
    FWHM reaches it, so that the sky never holds the star in bad seeing."""
    inner, outer = annulus
    if largest_radius < inner:
        return float(inner), float(outer)
    start = SKY_GAP * largest_radius
    return start, start + (outer - inner)


# A moved annulus starts this far out, in units of the largest aperture.
SKY_GAP = 1.25


def source_disks(shape, x, y, radius: float) -> np.ndarray:
    """Pixels within ``radius`` of any of the positions ``x, y`` (those just off the image included): the
    positions' pixels dilated by a disk, painted offset by offset (the sources are far fewer than the pixels, so
    this costs a small part of a whole-frame ``binary_dilation``, to the same pixels)."""
    reach = int(np.ceil(radius))
    finite = np.isfinite(x) & np.isfinite(y)
    rows, columns = np.rint(np.asarray(y)[finite]).astype(int), np.rint(np.asarray(x)[finite]).astype(int)
    # Centres further than ``reach`` outside the image reach none of its pixels.
    near = (rows >= -reach) & (rows < shape[0] + reach) & (columns >= -reach) & (columns < shape[1] + reach)
    rows, columns = rows[near], columns[near]
    disks = np.zeros(shape, bool)
    for dy in range(-reach, reach + 1):
        for dx in range(-reach, reach + 1):
            if dy * dy + dx * dx > radius**2:
                continue
            row, column = rows + dy, columns + dx
            on_image = (row >= 0) & (row < shape[0]) & (column >= 0) & (column < shape[1])
            disks[row[on_image], column[on_image]] = True
    return disks
