"""Registration's cost per frame: today's (cross-correlation and matched stars) against the translation-only
registration it replaced, and the star matching alone.

    python bench/registration.py [SIZE] [N_FRAMES]

SIZE x SIZE frames (default 2048) of a field of 3000 stars (as dense on a smaller SIZE), simulated with stackphot.simulate: turned by up to
a degree, so that the star fit is used, and background-subtracted as the workflow does. Each frame is
registered against the first (its reference images made once, as a measure_shifts batch does) both ways; the
CPU seconds per frame and their ratio are printed. Then the matching alone: ``triangles`` and ``match_stars``
on 1000 stars, turned and shifted, with 10% unpaired on each side.
"""

import sys
import time

import numpy as np
from astropy.stats import mad_std

from stackphot.background import estimate_background
from stackphot.geometry import Transform
from stackphot.ingest import NONFINITE, ingest_frame
from stackphot.io import RawFrame
from stackphot.register import (clean_for_registration, crop_region, match_stars, measure_shift, prepare_frame,
                                register_frame, smooth, spectrum, star_figures, stretch, triangles)
from stackphot.simulate import simulate_frame_set

OPTIONS = dict(crop=None, smooth_sigma=2.0, threshold=2.0)
FIELD_STARS, MATCH_STARS, REPEATS = 3000, 1000, 20


def translation_only(data, mask, reference, reference_spectrum):
    """The registration before star matching (commit a39cee6): the prepared frame and its star figures, then the
    cross-correlation translation."""
    cleaned = clean_for_registration(data, mask=(mask & NONFINITE) > 0, crop=None)
    smoothed = smooth(cleaned, OPTIONS["smooth_sigma"])
    noise = mad_std(smoothed)
    figures = star_figures(cleaned, smoothed, noise=noise, bad=mask[crop_region(data.shape, None)] > 0)
    prepared = stretch(smoothed, OPTIONS["threshold"], noise)
    return measure_shift(reference, prepared, upsample_factor=100, reference_spectrum=reference_spectrum), figures


def cpu_seconds(run) -> float:
    start = time.process_time()
    run()
    return time.process_time() - start


def frames(size: int, n_frames: int):
    frame_set = simulate_frame_set(shape=(size, size), n_frames=n_frames, seed=5, n_cluster_stars=0,
                                   n_field_stars=max(round(FIELD_STARS * (size / 2048) ** 2), 100), max_offset=30.0, max_rotation=1.0)
    subtracted = []
    for data, header in zip(frame_set.frames, frame_set.headers):
        frame = ingest_frame(RawFrame(data.astype(np.float32), header, "bench.fits", 0, 65535.0))
        subtracted.append((frame.data - estimate_background(frame.data, method="mesh", mask=frame.mask > 0).map,
                           frame.mask))
    return subtracted


def registration(size: int, n_frames: int) -> None:
    subtracted = frames(size, n_frames)
    reference, _, reference_stars = prepare_frame(*subtracted[0], **OPTIONS)
    reference_spectrum = spectrum(reference)
    shared = {"reference_spectrum": reference_spectrum, "reference_triangles": triangles(reference_stars[:, :2])}
    old, new, methods = [], [], []
    for data, mask in subtracted[1:]:
        rows = []
        # Each way twice, the better kept: the first call of either pays for the FFT's plans and the caches.
        old.append(min(cpu_seconds(lambda: translation_only(data, mask, reference, reference_spectrum))
                       for _ in range(2)))
        new.append(min(cpu_seconds(lambda: rows.append(register_frame(
            data, mask, reference, reference_stars, upsample_factor=100, **OPTIONS, **shared)[0]))
            for _ in range(2)))
        methods.append(f"{rows[0]['method']} ({rows[0]['n_matched']} pairs)")
    old_s, new_s = np.median(old), np.median(new)
    print(f"registration of a {size} x {size} frame, CPU s (median of {len(old)} frames): translation only "
          f"{old_s:.2f}, with the matched stars {new_s:.2f}, ratio {new_s / old_s:.2f}; methods: {', '.join(methods)}")


def star_lists(rng):
    """1000 reference stars and the frame's: the same stars turned by 37 degrees and shifted, 0.05 px of
    position noise, 10% of each list without a partner."""
    reference = rng.uniform(0, 2048, (MATCH_STARS, 2))
    truth = Transform.about((1024, 1024), rotation=37.0, scale=1.002, dy=12.0, dx=-40.0)
    frame = np.column_stack(truth.inverse().apply(*reference.T)) + rng.normal(0, 0.05, reference.shape)
    for stars in (frame, reference):
        unpaired = rng.choice(MATCH_STARS, MATCH_STARS // 10, replace=False)
        stars[unpaired] = rng.uniform(0, 2048, (len(unpaired), 2))
    return frame, reference, truth


def matching() -> None:
    frame, reference, truth = star_lists(np.random.default_rng(3))
    pattern_seconds = min(cpu_seconds(lambda: triangles(reference)) for _ in range(REPEATS))
    reference_triangles = triangles(reference)
    results = []
    match_seconds = min(cpu_seconds(lambda: results.append(match_stars(frame, reference,
                                                                       reference_triangles=reference_triangles)))
                        for _ in range(REPEATS))
    found = results[-1]
    error = np.hypot(*(np.column_stack(found.transform.apply(*frame.T))
                       - np.column_stack(truth.apply(*frame.T))).T).max()
    if error > 0.05:
        raise AssertionError(f"the matching missed the truth by {error:.3f} px: the time would be of a failure")
    print(f"matching {MATCH_STARS} stars, CPU ms (best of {REPEATS}): the reference's triangles "
          f"{1e3 * pattern_seconds:.1f} (once per batch), match_stars {1e3 * match_seconds:.1f} per frame; "
          f"{found.n_matched} pairs, largest error of the fit {error:.3f} px")


if __name__ == "__main__":
    arguments = list(map(int, sys.argv[1:]))
    registration(*(arguments + [2048, 4][len(arguments):]))
    matching()
