"""The catalog's measurements on a real photographic plate (M67), without the workflow around them."""

import numpy as np
import pytest
from astropy.io import fits

from conftest import SHARED_DATA


def test_m67_plate_s_bright_stars_are_stars():
    """On a photographic plate the bright stars are wider than the faint ones (M67's unflagged sources of SNR > 30
    have half-light radii from about 1.5 to 2.5 px). Measured against the stellar locus at each source's flux,
    a fifth of them are extended (blends the flags miss, in a cluster); against the catalog's one locus, half."""
    from stackphot.background import estimate_background
    from stackphot.detect.morphology import _point_source_radius
    from stackphot.detect.segmentation import detect_segments

    path = SHARED_DATA / "m67" / "M6707HH.fits"
    if not path.exists():
        pytest.skip(f"real data not available: {path} does not exist")
    data = fits.getdata(path).astype(np.float32)
    sky = estimate_background(data, box_size=64)
    _, catalog = detect_segments(data - sky.map, rms=sky.rms, fwhm=3.5)
    bright = catalog[(catalog.snr > 30) & (catalog["flags"] == 0)]
    one_locus = _point_source_radius(catalog.flux_radius.to_numpy(), catalog.snr.to_numpy(),
                                     catalog["flags"].to_numpy())
    along, single = (bright.compactness >= 1.2).mean(), (bright.flux_radius / one_locus >= 1.2).mean()
    print(f"M67: {len(bright)} unflagged sources of SNR > 30; extended {along:.1%} against the locus along the "
          f"magnitudes, {single:.1%} against the catalog's one")
    assert len(bright) > 200 and along < 0.25 and single > 0.4
