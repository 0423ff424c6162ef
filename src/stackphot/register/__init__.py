"""Registration: each frame's transform onto the reference, with the figures that say whether to trust it.

The stage's steps, each in its module: ``prepare`` reduces a frame to the light of its sources,
``correlate`` measures the subpixel translation against the reference by cross-correlation, ``stars``
counts the frame's stars and measures their FWHM on the way, ``select`` judges every frame against the
quality limits, and ``assess`` compares the result with a simulation's truth. ``register_frame`` is one
frame's row of the registration table: its ``stackphot.geometry.Transform`` in the table's columns, and the
quality figures.

Every frame is measured both ways: the cross-correlation translation (``correlate``) and a transform fitted
to its stars matched with the reference's (``match``). The cross-correlation is kept where the matched stars
confirm it; the star fit is used where the translation puts the frame further than ``max_xcorr_residual``
(RMS over the frame, corners included) from where the fit puts it, and further than three of the fit's
standard errors there (a turned or scaled frame), or where the cross-correlation failed (a meridian flip);
with fewer than ``min_matched_stars`` pairs (a faint or sparse frame) the cross-correlation is kept and the
row says it was not checked. The row's ``method`` and ``note`` say which, and why. Where the frames carry a
WCS (``wcs``), it is one more starting point of the matching, and the row says how far the result is from it.
"""

from __future__ import annotations

import numpy as np

from stackphot.geometry import Transform, frame_grid, rms_distance
from stackphot.ingest import SATURATED
from stackphot.io import read_table
from stackphot.register.correlate import (NothingToRegisterError, RegistrationError, Shift, measure_shift,
                                          spectrum)
from stackphot.register.prepare import (clean_for_registration, crop_region, prepare_for_registration, sky_noise,
                                        smooth, stretch, subtract_line_medians)
from stackphot.register.match import MODELS, StarMatch, Triangles, fit_transform, match_stars, triangles
from stackphot.register.stars import StarFigures, find_peaks, peak_positions, star_figures
from stackphot.register.wcs import wcs_transform

__all__ = ["MODELS", "NOT_SKY", "STAR_COLUMNS", "NothingToRegisterError", "RegistrationError", "Shift",
           "StarFigures", "StarMatch", "Triangles", "clean_for_registration", "crop_region", "fit_transform",
           "match_stars", "measure_shift", "prepare_for_registration", "prepare_frame", "prepare_reference",
           "read_reference_stars", "register_frame", "sky_noise", "smooth", "spectrum", "star_figures", "stretch",
           "subtract_line_medians", "triangles", "wcs_transform"]

# Stars whose positions are kept for the matching, brightest first: more add time, not precision.
MATCH_STARS = 500
# A smoothed peak counts as a star above this many times the smoothed noise (n_stars and the matching).
STAR_NSIGMA = 5.0
# A star fit whose pairs scatter more than this (px, weighted RMS) paired stars by chance or measured them
# badly (the real M13 frames' defocused rings: 0.7-0.9 px, where simulated stars give 0.1 px).
MAX_STAR_RESIDUAL = 0.4
SIGNIFICANCE = 3.0  # the translation must be this many of the star fit's standard errors off to be replaced
# MASK bits of pixels that are not sky: all but SATURATED. A saturated core is still a star, flat-topped alike
# in every frame, where a hole cut in it would follow the star's subpixel position (prepare's notes); blank
# borders, bad-pixel-mask pixels, defects, hot and non-finite pixels hold no light of the sky, and those fixed
# to the detector would correlate at zero shift and be found as stars.
NOT_SKY = 0xFF & ~SATURATED
# The columns of the reference's star list (register/reference_stars.csv): ``prepare_frame``'s stars.
STAR_COLUMNS = ("x", "y", "snr")


def prepare_frame(data, mask, *, crop, smooth_sigma, threshold):
    """A background-subtracted frame reduced for registration as ``prepare_for_registration`` does, with its
    stars found on the way: ``(prepared image, StarFigures, stars)``, the stars an (n, 3) array of x, y (the
    whole frame's pixels) and signal-to-noise ratio (of the smoothed peak), brightest first. The pixels
    ``mask`` (the MASK extension) marks ``NOT_SKY`` count as empty sky."""
    not_sky = (mask & NOT_SKY) > 0
    cleaned = clean_for_registration(data, mask=not_sky, crop=crop)
    smoothed = smooth(cleaned, smooth_sigma)
    noise = sky_noise(smoothed, mask=not_sky, crop=crop)
    region = crop_region(data.shape, crop)
    peaks = find_peaks(smoothed, noise=noise, nsigma=STAR_NSIGMA)
    figures = star_figures(cleaned, smoothed, noise=noise, bad=mask[region] > 0, peaks=peaks)
    ys, xs = (axis[:MATCH_STARS] for axis in peaks)
    positions = peak_positions(smoothed, ys, xs) + [region[1].start or 0, region[0].start or 0]
    stars = np.column_stack([positions, smoothed[ys, xs] / noise])
    return stretch(smoothed, threshold, noise), figures, stars


def prepare_reference(data, mask, *, name, crop, smooth_sigma, threshold):
    """``prepare_frame`` for the reference frame ``name``, which every frame is registered to and so must
    hold light where another frame may be blank (the frame selection rejects that one).

    Raises
    ------
    NothingToRegisterError
        Naming the frame and the fix (another ``reference:``) when it has nothing above the threshold.
    """
    prepared, figures, stars = prepare_frame(data, mask, crop=crop, smooth_sigma=smooth_sigma, threshold=threshold)
    if not prepared.any():
        choose = ("choose another frame as the reference with `reference: <frame>` in config.yaml (under the "
                  "dataset, or --config reference=<frame>)")
        if ((mask & NOT_SKY) > 0).all():
            raise NothingToRegisterError(f"{name}: the reference frame holds no image (every pixel masked): {choose}")
        raise NothingToRegisterError(f"{name}: the reference frame has nothing above the registration threshold: "
                                     f"lower `register: threshold`, or {choose}")
    return prepared, figures, stars


def read_reference_stars(path) -> np.ndarray:
    """The reference's stars as ``prepare_frame`` gives them, from the table the workflow wrote."""
    table = read_table(path)
    missing = [column for column in STAR_COLUMNS if column not in table.columns]
    if missing:
        raise ValueError(f"{path}: no column {', '.join(missing)} in the reference's star list (columns: "
                         f"{', '.join(map(str, table.columns))}); it should hold {', '.join(STAR_COLUMNS)}")
    return table[list(STAR_COLUMNS)].to_numpy(dtype=float)


def register_frame(data, mask, reference, reference_stars, *, crop, smooth_sigma, threshold, upsample_factor,
                   model="similarity", scale_range=(0.9, 1.1), match_tolerance=1.5, max_xcorr_residual=0.05,
                   min_matched_stars=8, wcs_guess=None, max_wcs_offset=2.0, reference_spectrum=None,
                   reference_triangles=None) -> tuple[dict, str | None]:
    """One frame's row of the registration table against the prepared ``reference`` and its ``reference_stars``
    (both from ``prepare_frame``); ``reference_spectrum`` and ``reference_triangles`` are
    the reference's FFT and triangles, made once per batch; ``wcs_guess`` the transform the frames' WCS imply
    (``register.wcs.wcs_transform``), None without. Also a warning when the frame holds nothing to register,
    or when the transform found is more than ``max_wcs_offset`` px (RMS over the frame) from the WCS's.

    The row: the transform's columns (``stackphot.geometry.COLUMNS``); ``method`` (``xcorr``, ``stars`` or
    ``none``), ``n_matched`` (star pairs), ``residual`` (px, SNR-weighted RMS of the pairs after the transform used),
    ``xcorr_residual`` (px, RMS distance over the frame between where the cross-correlation translation and
    the star fit put its pixels); ``wcs_offset`` (px, RMS over the frame between the transform used and the WCS's;
    NaN without a WCS); the cross-correlation's ``correlation, xcorr_error``; the ``overlap`` of the
    transform used; the frame's ``n_stars, fwhm``; and a ``note`` saying why the method was chosen. A blank
    frame is no reason to stop: its transform is unknown (NaN) and the frame selection rejects it. A blank
    reference is: NothingToRegisterError.
    """
    prepared, figures, stars = prepare_frame(data, mask, crop=crop, smooth_sigma=smooth_sigma,
                                             threshold=threshold)
    warning = None
    try:
        shift = measure_shift(reference, prepared, upsample_factor=upsample_factor,
                              reference_spectrum=reference_spectrum)
        xcorr = Transform.translation(shift.dy, shift.dx)
    except NothingToRegisterError as error:
        if not np.any(reference):
            raise
        warning = str(error)
        shift = Shift(dy=np.nan, dx=np.nan, correlation=0.0, xcorr_error=np.nan, overlap=0.0)
        xcorr = Transform.unknown()
    reference_xy = reference_stars[:, :2]
    match = match_stars(stars[:, :2], reference_xy, model=model, scale_range=scale_range, tolerance=match_tolerance,
                        guesses=(xcorr, wcs_guess), reference_triangles=reference_triangles, frame_snr=stars[:, 2],
                        reference_snr=reference_stars[:, 2])
    n_matched = match.n_matched if match else 0
    xcorr_residual = residual = np.nan
    if match is not None and xcorr.is_valid:
        # Over the whole frame, not at the stars: a turn the translation leaves out is largest at the corners.
        xcorr_residual = rms_distance(xcorr, match.transform, np.shape(data))
        frame_xy = stars[match.frame_index, :2]
        xcorr_xy = np.column_stack(xcorr.apply(frame_xy[:, 0], frame_xy[:, 1]))
        residual = match.rms(xcorr_xy - reference_xy[match.reference_index])
    # The star fit takes over only where it differs from the translation by more than its own uncertainty
    # over the frame (few, poorly centred stars: M13's defocused rings, give a fit no better than the xcorr).
    limit = max_xcorr_residual
    if match is not None:
        limit = max(limit, SIGNIFICANCE * match.position_error(frame_grid(np.shape(data))))
    trusted = n_matched >= min_matched_stars and match.residual <= MAX_STAR_RESIDUAL
    if trusted and not xcorr_residual <= limit:
        method, transform, residual = "stars", match.transform, match.residual
        overlap = transform.overlap(np.shape(data))
        note = ("cross-correlation failed: the star fit is used" if not xcorr.is_valid else
                f"the cross-correlation translation is {xcorr_residual:.2f} px RMS off the star fit: the star "
                "fit is used")
    elif xcorr.is_valid:
        method, transform, overlap = "xcorr", xcorr, shift.overlap
        if trusted:
            note = f"{n_matched} matched stars agree: {xcorr_residual:.2f} px RMS off their fit, limit {limit:.2f} px"
        elif n_matched >= min_matched_stars:
            note = (f"{n_matched} stars matched, but their fit is loose ({match.residual:.2f} px RMS > "
                    f"{MAX_STAR_RESIDUAL:g}): the cross-correlation is kept, unchecked")
        else:
            note = (f"{n_matched} stars matched, fewer than {min_matched_stars}: the cross-correlation is kept, "
                    "unchecked")
    else:
        method, transform, overlap = "none", Transform.unknown(), 0.0
        note = "no cross-correlation and " + (
            f"{n_matched} stars matched, fewer than {min_matched_stars}" if n_matched < min_matched_stars else
            f"the {n_matched} matched stars' fit is loose ({match.residual:.2f} px RMS > {MAX_STAR_RESIDUAL:g})")
    wcs_offset = np.nan
    if wcs_guess is not None and transform.is_valid:
        wcs_offset = rms_distance(transform, wcs_guess, np.shape(data))
        if wcs_offset > max_wcs_offset:
            disagreement = (f"the frames' WCS puts this frame {wcs_offset:.1f} px (RMS) from where it was "
                            f"registered, more than {max_wcs_offset:g} px: one of the two is wrong")
            note = f"{note}; {disagreement}"
            warning = disagreement if warning is None else f"{warning}; {disagreement}"
    row = {**transform.columns(), "method": method, "n_matched": n_matched, "residual": residual,
           "xcorr_residual": xcorr_residual, "wcs_offset": wcs_offset, "correlation": shift.correlation,
           "xcorr_error": shift.xcorr_error,
           "overlap": overlap, "n_stars": figures.n_stars, "fwhm": figures.fwhm, "note": note}
    return row, warning

