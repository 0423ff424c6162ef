"""The segmentation pass against sep, Source Extractor's own code as a library, on a real frame.

One 120 s R-band light of the SN 2022yid field (a supernova in its host galaxy, with other galaxies and
stars; ../shared/data/bsu_sn2022yid), raw: the mesh background of sep.Background (64 px, 3 x 3 filter)
is subtracted and its RMS map is the noise of both. Both then detect with the same threshold (3 RMS), the
same minimum area (5 px), the same Gaussian filter (``filter_kernel``, FWHM 6 px, SE's convention of an
unrescaled threshold), the same deblending (32 levels, contrast 0.005), no cleaning, and measure with the
other sources' pixels left in (sep's functions have no MASK_TYPE CORRECT). sep is only used here.
"""

import numpy as np
import pytest
from astropy.io import fits

from conftest import shared_set
from stackphot.detect.segmentation import detect_segments, filter_kernel

sep = pytest.importorskip("sep")

pytestmark = pytest.mark.shared

FRAME = "SN2022yid/R/SN2022yid_10292022-0002_R_120s.fit"
FWHM, THRESHOLD, NPIXELS, NLEVELS, CONTRAST, RADIUS = 6.0, 3.0, 5, 32, 0.005, 5.0
KRON_FACTOR, KRON_MIN = 2.5, 3.5


def robust_scatter(values):
    """1.4826 times the median absolute deviation: the standard deviation of a Gaussian core."""
    return 1.4826 * np.median(np.abs(values - np.median(values)))


@pytest.fixture(scope="module")
def both():
    """sep's objects with SE's measurements through sep's functions, and ours matched to them by windowed
    centroid (nearest within 1 px; -1 where none)."""
    raw = fits.getdata(shared_set("bsu_sn2022yid") / FRAME).astype(float)
    background = sep.Background(raw, bw=64, bh=64, fw=3, fh=3)
    data, rms = raw - background.back(), background.rms()

    objects = sep.extract(data, THRESHOLD, err=rms, minarea=NPIXELS, filter_kernel=filter_kernel(FWHM),
                          filter_type="conv", deblend_nthresh=NLEVELS, deblend_cont=CONTRAST, clean=False)
    x, y, a, b, theta = (objects[k] for k in ("x", "y", "a", "b", "theta"))
    aperture, aperture_err, _ = sep.sum_circle(data, x, y, RADIUS, err=rms, subpix=0)
    kron_radius, _ = sep.kron_radius(data, x, y, a, b, theta, 6.0)
    # SE's PHOT_AUTOPARAMS 2.5, 3.5: the minimum applies to the scaled radius, in units of a and b.
    scaled = np.fmax(KRON_FACTOR * kron_radius, KRON_MIN)
    kron, kron_err, _ = sep.sum_ellipse(data, x, y, a, b, theta, scaled, err=rms, subpix=0)
    half, _ = sep.flux_radius(data, x, y, 6.0 * a, 0.5, normflux=kron, subpix=5)
    x_win, y_win, _ = sep.winpos(data, x, y, 2.0 / 2.35 * half)

    _, ours = detect_segments(data, rms=rms, fwhm=FWHM, threshold=THRESHOLD, npixels=NPIXELS, nlevels=NLEVELS,
                              contrast=CONTRAST, radii=(RADIUS,), neighbours="none")
    distance = np.hypot(ours.x_win.to_numpy()[:, None] - x_win, ours.y_win.to_numpy()[:, None] - y_win)
    distance = np.where(np.isfinite(distance), distance, np.inf)
    nearest = np.argmin(distance, axis=0)
    match = np.where(distance[nearest, np.arange(len(objects))] <= 1.0, nearest, -1)
    return {"sep": {"aperture": aperture, "snr": aperture / aperture_err, "kron": kron,
                    "kron_snr": kron / kron_err, "half": half}, "ours": ours, "match": match}


def test_detects_what_sep_detects(both):
    bright = both["sep"]["snr"] > 10
    found = both["match"][bright] >= 0
    print(f"\n{found.sum()} of {bright.sum()} sep objects with SNR > 10 matched within 1 px of their windowed "
          f"centroids ({found.mean():.1%}); {len(both['ours'])} segments for {len(both['match'])} sep objects")
    assert found.mean() >= 0.95


def matched(both, column, reference, snr):
    """Our ``column`` over sep's ``reference`` for the matched objects whose ``snr`` (sep's key) exceeds 20."""
    keep = (both["match"] >= 0) & (both["sep"][snr] > 20)
    ours = both["ours"][column].to_numpy()[both["match"][keep]]
    ratio = ours / both["sep"][reference][keep]
    return ratio[np.isfinite(ratio)] - 1


# Our column, sep's measurement and the SNR that selects the objects, and the bar on both the median
# and the robust scatter of ours / sep - 1.
AGREEMENT = {
    "5 px aperture flux": (f"flux_r{RADIUS:g}", "aperture", "snr", 0.005, 0.01),
    "Kron flux": ("flux_auto", "kron", "kron_snr", 0.02, 0.02),
    "half-light radius": ("flux_radius", "half", "kron_snr", 0.05, 0.05),
}


@pytest.mark.parametrize("quantity", AGREEMENT)
def test_measurements_agree(both, quantity):
    column, reference, snr, median_bar, scatter_bar = AGREEMENT[quantity]
    difference = matched(both, column, reference, snr)
    print(f"\n{quantity}, ours / sep - 1 for {difference.size} objects (SNR > 20): median "
          f"{np.median(difference):+.4%}, robust scatter {robust_scatter(difference):.4%}")
    assert abs(np.median(difference)) <= median_bar
    assert robust_scatter(difference) <= scatter_bar
