"""The frames' own WCS as a first guess of their registration and a check of it.

Where a frame and the reference both carry a celestial WCS (a plate solution), the WCS says where each of
the frame's pixels lands on the reference without looking at the image: the star matching tries it as a
starting point (it rescues frames whose patterns cannot be matched, a scale outside ``scale_range``, too few
stars for triangles), and the registration's row says how far the measured transform is from it.
"""

from __future__ import annotations

import numpy as np

from stackphot.geometry import Transform, frame_grid
from stackphot.io import celestial_wcs
from stackphot.register.match import fit_transform

def wcs_transform(frame_header, reference_header, shape) -> Transform | None:
    """The affine transform from a frame's pixels (``shape``) to the reference's that their WCS imply, or
    None when either header has no celestial WCS or the frame's sky does not project onto the reference's.

    The frame's pixels go to the sky by its WCS and back by the reference's; an affine map is fitted to a
    grid over the frame (exact for two TAN projections about one point, and within distortion terms
    otherwise).
    """
    frame_wcs, reference_wcs = celestial_wcs(frame_header), celestial_wcs(reference_header)
    if frame_wcs is None or reference_wcs is None:
        return None
    grid = frame_grid(shape)
    sky = frame_wcs.pixel_to_world(grid[:, 0], grid[:, 1])
    x, y = reference_wcs.world_to_pixel(sky)
    target = np.column_stack([x, y])
    if not np.all(np.isfinite(target)):
        return None
    return fit_transform(grid, target, model="affine")
