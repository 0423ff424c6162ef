"""Saturated star cores: holes of no data in the brightest stars, filled for detection.

A pixel that saturated in every frame has no value in the stack (NaN; ``ingest.SATURATED`` kept it out of each
frame). Such a core is a hole in a bright star, and a finder sees a ring: it peaks on the ring's brightest side,
a couple of pixels off, or between two close bright stars, or not at all. Source Extractor detects saturated
stars on their saturated plateau and flags them; here the plateau is put back for detection and centroids alone:
each hole whose whole rim is bright takes its rim's highest value, the level at which the star stopped being
measured. Holes in the sky (a defect in every frame, a frame's edge) keep no value.
"""

from __future__ import annotations

import numpy as np

__all__ = ["fill_saturated_cores"]

# Largest hole (px) taken for a saturated core; larger ones are blank regions of the frame, not stars.
MAX_CORE_PIXELS = 2000


def fill_saturated_cores(image, invalid, noise, *, nsigma: float = 5.0):
    """``image`` with its saturated cores filled, and those cores' pixels.

    Parameters
    ----------
    image : 2D array
        Sky-subtracted image; its values at ``invalid`` pixels are not read.
    invalid : 2D bool array
        Pixels without data.
    noise : 2D array
        One-sigma noise per pixel.
    nsigma : float
        A hole is a core when every valid pixel around it (its 8-connected rim) stands this many sigma above
        the sky, as a star's wings next to a saturated core do.

    Returns
    -------
    (2D array, 2D bool array)
        ``image`` with each core at its rim's highest value (a copy; ``image`` itself where it has no core), and
        the cores' pixels.
    """
    from scipy import ndimage

    image, invalid = np.asarray(image), np.asarray(invalid, dtype=bool)
    cores = np.zeros(invalid.shape, dtype=bool)
    labels, _ = ndimage.label(invalid)
    filled = image
    eight = np.ones((3, 3), dtype=bool)
    for index, box in enumerate(ndimage.find_objects(labels), start=1):
        if box is None:
            continue
        # The hole's box grown by a pixel; a hole touching the image's edge has no whole rim.
        rows, columns = box
        if rows.start == 0 or columns.start == 0 or rows.stop == invalid.shape[0] or columns.stop == invalid.shape[1]:
            continue
        grown = (slice(rows.start - 1, rows.stop + 1), slice(columns.start - 1, columns.stop + 1))
        hole = labels[grown] == index
        if hole.sum() > MAX_CORE_PIXELS:
            continue
        rim = ndimage.binary_dilation(hole, structure=eight) & ~invalid[grown]
        if not rim.any():
            continue
        values, sigmas = image[grown][rim], np.asarray(noise, dtype=float)[grown][rim]
        if not np.all(values > nsigma * sigmas):
            continue
        if filled is image:
            filled = image.copy()
        filled[grown][hole] = values.max()
        cores[grown] |= hole
    return filled, cores
