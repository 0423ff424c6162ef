"""The per-frame steps of the workflow, from file to file: what one job does for each frame of its batch.

A rule takes a batch of frames (``batch_size`` in the config), so that thousands of small frames do not
each pay for a Python start and its imports; each image step still writes one file per frame, as a
frame-by-frame run would, and gives the same bytes whatever the batch size. Registration gives one row per
frame, which its rule writes as one table per batch: a thousand one-row files cost Snakemake more than the
rows do (it checksums small inputs once per output of a job).
"""

from __future__ import annotations

from dataclasses import asdict

import numpy as np

from stackphot.io import frame_stem, read_image, valid_header, write_image

# Each step imports what it needs itself: a job pays for its own imports only (photutils and
# astropy.convolution, which the background needs, take about 3 s of CPU).


def ingest(raw_path, output, *, gain, read_noise, saturation, log) -> None:
    """Raw frame -> float32 frame with its ERR (Poisson and read noise) and MASK extensions."""
    from stackphot.ingest import ingest_frame
    from stackphot.io import read_raw_frame
    from stackphot.provenance import sha256

    raw = read_raw_frame(raw_path)
    frame = ingest_frame(raw, gain=gain, read_noise=read_noise, saturation=saturation)
    noise = frame.noise
    log.info("%s: shape %s, gain %.3f (%s), read noise %.3f (%s)", raw.path, frame.data.shape,
             noise.gain, noise.gain_source, noise.read_noise, noise.read_noise_source)
    header, problems = valid_header(raw.header)
    for problem in problems:
        log.warning("%s: a header card left out, not valid FITS: %s", raw.path, problem)
    header["GAIN"] = (noise.gain, f"e-/ADU ({noise.gain_source})")
    header["RDNOISE"] = (noise.read_noise, f"e- ({noise.read_noise_source})")
    header["BUNIT"] = ("adu", "physical units of the data")
    header["ORIGFILE"] = (raw.path.name, "raw file")
    header["ORIGSHA"] = sha256(raw.path)  # of the raw file; a 64-digit value leaves no room for a comment
    if frame.saturation is not None:
        header["SATURATE"] = (frame.saturation, "ADU")
    history = [f"stackphot ingest: {raw.path.name} HDU {raw.hdu_index}, BZERO/BSCALE applied, float32"]
    if noise.assumed:
        history.append("error map assumes gain 1 and no read noise: sqrt(counts)")
    write_image(output, frame.data, header, extensions=[("ERR", frame.error, None), ("MASK", frame.mask, None)],
                history=history)


def subtract_background(frame_path, subtracted_path, sky_path, *, method, box_size, filter_size, sigma,
                        destripe, log) -> None:
    """Ingested frame -> background-subtracted frame (ERR, MASK) and the sky map with its RMS map."""
    from stackphot.background import estimate_background, subtracted_error

    data, header, ext = read_image(frame_path, "MASK")
    sky = estimate_background(data, method=method, mask=ext["MASK"] > 0, box_size=box_size,
                              filter_size=filter_size, sigma=sigma, destripe_rows=destripe)
    log.info("%s: %s", frame_stem(frame_path), sky.describe())
    subtracted = data - sky.map
    error = subtracted_error(subtracted, sky, gain=header["GAIN"])
    history = [f"stackphot {sky.describe()}", "ERR: sky rms and the sources' Poisson noise"]
    header["SKYLEVEL"] = (sky.level, "median subtracted sky (ADU)")
    header["SKYRMS"] = (sky.rms_median, "median sky rms (ADU)")
    write_image(subtracted_path, subtracted, header,
                extensions=[("ERR", error, None), ("MASK", ext["MASK"], None)], history=history)
    write_image(sky_path, sky.map, header, extensions=[("RMS", sky.rms, None)], history=history)


def prepare_frame(data, mask, *, crop, smooth_sigma, threshold):
    """A background-subtracted frame reduced for registration as ``register.prepare_for_registration`` does,
    with its stars counted and their FWHM measured on the way: ``(prepared image, StarFigures)``."""
    from astropy.stats import mad_std

    from stackphot.ingest import NONFINITE
    from stackphot.register import clean_for_registration, crop_region, smooth, stretch
    from stackphot.seeing import star_figures

    cleaned = clean_for_registration(data, mask=(mask & NONFINITE) > 0, crop=crop)
    smoothed = smooth(cleaned, smooth_sigma)
    noise = mad_std(smoothed)
    stars = star_figures(cleaned, smoothed, noise=noise, bad=mask[crop_region(data.shape, crop)] > 0)
    return stretch(smoothed, threshold, noise), stars


def measure_frame_shift(frame_path, reference, *, crop, smooth_sigma, threshold, upsample_factor, log,
                        reference_spectrum=None) -> dict:
    """One frame's shift against the prepared ``reference`` image (its FFT: ``reference_spectrum``, computed
    once per batch), with the frame's stars and their FWHM: a row of the shift table."""
    from stackphot.register import NothingToRegisterError, Shift, measure_shift

    data, header, ext = read_image(frame_path, "MASK")
    prepared, stars = prepare_frame(data, ext["MASK"], crop=crop, smooth_sigma=smooth_sigma, threshold=threshold)
    try:
        shift = measure_shift(reference, prepared, upsample_factor=upsample_factor,
                              reference_spectrum=reference_spectrum)
    except NothingToRegisterError as error:
        if not np.any(reference):
            raise ValueError(f"{frame_path}: {error}") from error
        # A blank frame is no reason to stop: no shift, and the frame selection rejects it.
        log.warning("%s: %s", frame_path, error)
        shift = Shift(dy=np.nan, dx=np.nan, correlation=0.0, xcorr_error=np.nan, overlap=0.0)
    except ValueError as error:
        raise ValueError(f"{frame_path}: {error}") from error
    log.info("%s: %s; %s", header.get("ORIGFILE"), shift, stars)
    return {"frame": frame_stem(frame_path).removesuffix(".sub"), **asdict(shift), **asdict(stars)}


def align(frame_path, shift, output, *, order, log) -> None:
    """Shift one background-subtracted frame onto the reference by its row of the shift table (``frame``,
    ``dy``, ``dx``); uncovered pixels become NaN. A frame with no shift (it could not be registered) covers
    nothing: all NaN."""
    from stackphot.align import align_frame, shift_wcs

    if shift.frame != frame_stem(frame_path).removesuffix(".sub"):
        raise ValueError(f"{frame_path}: the shift table's row is for frame {shift.frame}")
    data, header, ext = read_image(frame_path, "ERR", "MASK")
    if np.isfinite(shift.dy) and np.isfinite(shift.dx):
        aligned = align_frame(data, shift.dy, shift.dx, error=ext["ERR"], mask=ext["MASK"] > 0, order=order)
        data, error = aligned.data, aligned.error
        header["SHIFTY"] = (shift.dy, "applied shift along y (px)")
        header["SHIFTX"] = (shift.dx, "applied shift along x (px)")
        shift_wcs(header, shift.dy, shift.dx)
    else:
        data, error = np.full_like(data, np.nan), np.full_like(data, np.nan)
    log.info("%s shifted by (%.3f, %.3f) px; %.1f%% of pixels covered", shift.frame, shift.dy, shift.dx,
             100 * np.isfinite(data).mean())
    write_image(output, data, header, extensions=[("ERR", error, None)],
                history=[f"stackphot align: scipy.ndimage.shift order {order}; uncovered pixels NaN"])
