"""Detector defects found from the frames themselves: a dataset's map of hot pixels, and blank borders.

* **Defect map** (``find_defects``). A hot pixel sits at one detector position in every frame. When the frames
  move by less than a pixel or two it lands on nearly the same sky pixel of the stack each time, so sigma
  clipping across frames cannot reject it. Each frame's ``spikes`` are the pixels standing alone above their
  4 neighbours: by more than ``nsigma`` times their noise (ERR, or the noise the frame shows where that is
  more), and by at least ``SHARPNESS`` of their excess over the local sky, which a single-pixel spike reaches and the core of a star (FWHM of 2 px or more) does not.
  A pixel that is a spike in at least ``min_fraction`` of the frames where it has data is a defect. A star
  moves on the detector between dithered frames, and in a set that barely moves its core is a spike only
  where it is sharper than FWHM 2 px; such a star (the Seestar's, on its luminance) holds its pixel only
  while the pointing does, which a night's drifts and jumps end long before a hot pixel's every frame. The counts are accumulated frame by frame (``DefectCounts``), so
  memory does not grow with the number of frames. Cold and dead pixels are not looked for: among crowded
  stars the valleys between them look alike; a master flat marks them (calibrate's LOW_RESPONSE).
* **Blank borders** (``blank_border``). A frame registered elsewhere (Siril, for one) has its edges filled with
  one constant value, usually 0: regions connected to the frame's edge holding one value over a run of pixels
  no sky shows (``MIN_BLANK_RUN``). Left as data they pull the sky model towards that value.

The MASK bit DEFECT is set by the background stage in each subtracted frame (``with_defects``), for the alignment
and the stack to leave the defects out; BLANK is set at ingest, so the sky leaves the border out too.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, replace

import numpy as np
from astropy.stats import mad_std
from scipy import ndimage

from stackphot.io import read_image
from stackphot.provenance import Product

# Bits of the MASK extension; others: ingest's NONFINITE 1, SATURATED 2, BAD_PIXEL 64, BAD_FRAME 128, calibrate's
# HOT 4 and LOW_RESPONSE 8.
DEFECT = 16  # a spike at one detector position in most frames: the dataset's defect map (background stage)
BLANK = 32  # the blank border of a frame registered elsewhere (set at ingest)

# A spike's step over its 4 neighbours' mean, as a fraction of its excess over the local sky. A single hot
# pixel on flat sky gives 1; the peak pixel of a star gives 0.2-0.3 at FWHM 3.5 px and about 0.44 at the
# sharpest star the detection stage cleans safely (FWHM 2.2 px, a Gaussian centred on the pixel).
SHARPNESS = 0.5
# The local sky of a candidate: the median of the ring of pixels 3 pixels away (Chebyshev), outside the
# core of a star of FWHM up to about 4 px, and untouched by the candidate itself.
_RING = np.ones((7, 7), bool)
_RING[1:-1, 1:-1] = False
_RING_OFFSETS = np.argwhere(_RING) - 3
_CROSS = np.array([[0, 1, 0], [1, 0, 1], [0, 1, 0]], np.float32)
_CROSS_OFFSETS = np.argwhere(_CROSS > 0) - 1
# The noise of a pixel less the mean of its 4 neighbours, in units of the pixel noise: sqrt(1 + 1/4).
STEP_NOISE = math.sqrt(1.25)

# Pixels of one value in a row along the frame's edge beyond which it is a blank border, not sky: noisy sky
# of integer ADU repeats a value in neighbouring pixels a few percent of the time, 16 in a row never.
MIN_BLANK_RUN = 16


def spikes(data, error, *, mask=None, nsigma: float = 5.0) -> np.ndarray:
    """Pixels standing alone above their 4 neighbours, sharper than a star: a frame's hot pixels and
    cosmic-ray hits.

    A pixel is a spike when its value less the mean of its 4 neighbours (its step) is more than ``nsigma``
    times its noise, its value less the local sky (the median of the pixels 3 pixels away) is too, and the
    step is at least ``SHARPNESS`` of that excess. The weaker of two adjacent spikes is found in a second pass,
    once the stronger is left out of its neighbours.

    Parameters
    ----------
    data, error : 2D arrays
        A frame and its 1-sigma error map (ERR). A pixel's noise is its ERR, or the noise the frame shows
        where that is more: ERR rests on a gain and read noise that headers may lack (the real M13 frames'
        ERR is 3.5 ADU where their sky scatters by 30), measured as the robust standard deviation of the
        steps (those of the sky are 1.12 times its pixel noise).
    mask : 2D array, optional
        The frame's MASK (any nonzero value: no data). Masked and non-finite pixels are never spikes and do
        not count as neighbours; a pixel next to one is not tested (the masked core of a saturated star
        would leave its rim standing above the rest). The frame's edge has fewer neighbours, and is tested.
    nsigma : float
        The threshold, in units of a pixel's noise.

    Returns
    -------
    2D bool array
        True at the spikes; all False when there are none.
    """
    data = np.asarray(data, dtype=np.float32)
    error = np.asarray(error, dtype=np.float32)
    bad = ~(np.isfinite(data) & np.isfinite(error))
    if mask is not None:
        bad |= np.asarray(mask) != 0
    found = np.zeros(data.shape, bool)
    step = _step(data, bad)
    tested = ~bad & (_neighbours(bad) == 0) & np.isfinite(step)
    if not tested.any():
        return found
    # The steps' noise from every other pixel of every other row: a million on a 2048 x 2048 frame, as good.
    threshold = nsigma * np.fmax(error, mad_std(step[::2, ::2][tested[::2, ::2]]) / STEP_NOISE)
    for _ in range(2):
        new = _sharp(data, bad | found, step, tested & ~found & (step > threshold), threshold)
        if not new.any():
            break
        found |= new
        _restep(step, data, bad | found, new)
    return found


def _step(data, left_out) -> np.ndarray:
    """Each pixel less the mean of its 4 neighbours that are not ``left_out`` (NaN where all are)."""
    values = np.where(left_out, 0.0, data).astype(np.float32)
    count = _neighbours(~left_out).astype(np.float32)
    with np.errstate(invalid="ignore", divide="ignore"):
        return data - ndimage.correlate(values, _CROSS, mode="constant") / count


def _neighbours(mask) -> np.ndarray:
    """How many of each pixel's 4 neighbours are in ``mask`` (none beyond the edge): uint8."""
    mask = np.asarray(mask, dtype=np.uint8)
    total = np.zeros(mask.shape, np.uint8)
    total[1:] += mask[:-1]
    total[:-1] += mask[1:]
    total[:, 1:] += mask[:, :-1]
    total[:, :-1] += mask[:, 1:]
    return total


def _restep(step, data, left_out, changed) -> None:
    """Make ``step`` (``_step`` of ``data`` before the pixels ``changed`` were left out) ``_step(data, left_out)``,
    in place: only the 4 neighbours of those pixels change, so only theirs are computed again, as ``_step`` computes
    them (its correlation sums in double precision: the same float32 values)."""
    ny, nx = data.shape
    ys, xs = np.nonzero(changed)
    near_y = (ys[:, None] + _CROSS_OFFSETS[:, 0]).ravel()
    near_x = (xs[:, None] + _CROSS_OFFSETS[:, 1]).ravel()
    on_frame = (near_y >= 0) & (near_y < ny) & (near_x >= 0) & (near_x < nx)
    targets = np.unique(near_y[on_frame] * nx + near_x[on_frame])
    ty, tx = np.divmod(targets, nx)
    total, count = np.zeros(ty.size), np.zeros(ty.size)
    for dy, dx in _CROSS_OFFSETS:
        y, x = ty + dy, tx + dx
        used = (y >= 0) & (y < ny) & (x >= 0) & (x < nx)
        used[used] = ~left_out[y[used], x[used]]
        total[used] += data[y[used], x[used]]
        count[used] += 1
    with np.errstate(invalid="ignore", divide="ignore"):
        step[ty, tx] = data[ty, tx] - total.astype(np.float32) / count.astype(np.float32)


def _sharp(data, left_out, step, candidates, threshold) -> np.ndarray:
    """The ``candidates`` whose excess over the local sky is above ``threshold`` and at most ``step / SHARPNESS``."""
    ys, xs = np.nonzero(candidates)
    sharp = np.zeros(data.shape, bool)
    if ys.size == 0:
        return sharp
    ny, nx = data.shape
    ring_y = np.clip(ys[:, None] + _RING_OFFSETS[:, 0], 0, ny - 1)
    ring_x = np.clip(xs[:, None] + _RING_OFFSETS[:, 1], 0, nx - 1)
    ring = np.where(left_out[ring_y, ring_x], np.nan, data[ring_y, ring_x])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a ring with no data gives NaN: not a spike
        excess = data[ys, xs] - np.nanmedian(ring, axis=1)
    keep = (excess > threshold[ys, xs]) & (step[ys, xs] >= SHARPNESS * excess)
    sharp[ys[keep], xs[keep]] = True
    return sharp


MIN_DEFECT_FRAMES = 3


class DefectCounts:
    """How often each pixel of the detector was a spike, accumulated one frame at a time (``add``): two integer
    maps, whatever the number of frames."""

    def __init__(self, *, nsigma: float = 5.0):
        self.nsigma, self.n_frames = float(nsigma), 0
        self.spikes = None  # int32: frames in which the pixel was a spike
        self.valid = None  # int32: frames in which it had data

    def add(self, data, error, mask=None) -> int:
        """Count one frame's ``spikes``; the number found in it.

        Raises
        ------
        ValueError
            A frame whose shape is not the first frame's.
        """
        if self.spikes is None:
            self.spikes, self.valid = np.zeros(np.shape(data), np.int32), np.zeros(np.shape(data), np.int32)
        if np.shape(data) != self.spikes.shape:
            raise ValueError(f"a frame of shape {np.shape(data)} among frames of {self.spikes.shape}")
        found = spikes(data, error, mask=mask, nsigma=self.nsigma)
        self.spikes += found
        valid = np.isfinite(data)
        if mask is not None:
            valid &= np.asarray(mask) == 0
        self.valid += valid
        self.n_frames += 1
        return int(found.sum())

    def defects(self, min_fraction: float) -> DefectMap:
        """The pixels that were spikes in at least ``min_fraction`` of the frames where they had data, and in
        at least MIN_DEFECT_FRAMES frames (a dataset of fewer frames has no defect).

        Raises
        ------
        ValueError
            No frame was added, or ``min_fraction`` is not in (0, 1].
        """
        if not 0 < min_fraction <= 1:
            raise ValueError(f"min_fraction must be in (0, 1], got {min_fraction}")
        if self.spikes is None:
            raise ValueError("no frame to find defects in")
        # In one or two frames a sharp star is a spike as often as a hot pixel: only a pixel that is one in
        # MIN_DEFECT_FRAMES frames or more is told apart by its staying put.
        needed = np.maximum(np.ceil(min_fraction * self.valid - 1e-9), MIN_DEFECT_FRAMES)
        return DefectMap(self.spikes >= needed, self.spikes, self.n_frames, self.nsigma, float(min_fraction))


@dataclass
class DefectMap:
    """A dataset's defective pixels (``map``, bool), how many frames each was a spike in (``counts``), and the
    settings that found them."""

    map: np.ndarray
    counts: np.ndarray
    n_frames: int
    nsigma: float
    min_fraction: float

    @property
    def n_defects(self) -> int:
        return int(self.map.sum())

    def describe(self) -> str:
        return (f"{self.n_defects} hot pixels: spikes (> {self.nsigma:g} sigma above the mean of their 4 neighbours "
                f"and the local sky, the step >= {SHARPNESS:g} of the excess) in >= {self.min_fraction:g} of the "
                f"{self.n_frames} frames where they have data")

    def product(self) -> Product:
        """The map as the defects rule writes it: uint8 (1: defect) with the spike counts as COUNTS (int16)."""
        cards = {"NDEFECT": (self.n_defects, "defective pixels (value 1)"),
                 "NFRAMES": (self.n_frames, "frames searched"),
                 "DEFNSIG": (self.nsigma, "spike threshold over 4 neighbours, in sigma"),
                 "DEFSHARP": (SHARPNESS, "least step over neighbours / excess over sky"),
                 "DEFFRAC": (self.min_fraction, "least fraction of frames a defect is a spike in")}
        counts = np.minimum(self.counts, np.iinfo(np.int16).max).astype(np.int16)
        return Product(self.map.astype(np.uint8), {"COUNTS": counts}, cards, [f"stackphot defects: {self.describe()}"])


def find_defects(frames: Iterable, *, nsigma: float = 5.0, min_fraction: float = 0.75) -> DefectMap:
    """The defect map of a dataset's ``frames``: an iterable of ``(data, error, mask)`` (a frame, its ERR and
    MASK), taken one at a time, so that a generator keeps a single frame in memory.

    Raises
    ------
    ValueError
        No frame, frames of different shapes, or ``min_fraction`` not in (0, 1].
    """
    counts = DefectCounts(nsigma=nsigma)
    for data, error, mask in frames:
        counts.add(data, error, mask)
    return counts.defects(min_fraction)


def read_defect_map(path) -> np.ndarray:
    """The defective pixels (bool) of a map written from ``DefectMap.product``."""
    data, _, _ = read_image(path)
    return np.asarray(data) > 0


def flag_defects(mask, defects) -> np.ndarray:
    """A copy of a frame's ``mask`` (uint8 bits) with DEFECT set at the ``defects`` (bool, the frame's shape)."""
    mask = np.array(mask, dtype=np.uint8, copy=True)
    if np.shape(defects) != mask.shape:
        raise ValueError(f"the defect map's shape {np.shape(defects)} is not the frame's {mask.shape}")
    mask[np.asarray(defects, dtype=bool)] |= DEFECT
    return mask


def with_defects(product: Product, defects) -> Product:
    """A background-subtracted frame (the ``subtracted`` product of ``background.subtract_background``) with
    DEFECT set in its MASK at the ``defects`` and a HISTORY line saying so: a new product, the input unchanged.

    Only the MASK the frame carries on to the alignment and the stack changes: its sky is estimated from the
    MASK it came with. The sky needs no map, as sigma clipping and the sources' mask keep hot pixels out of it
    already, while any change in the pixels it is estimated from moves a destriped sky under the faint stars
    (by up to 1.8 times their flux error in a crowded field that moves by under a pixel, tests/test_defects.py)
    without bringing it closer to the truth.
    """
    mask = flag_defects(product.extensions["MASK"], defects)
    line = f"MASK bit {DEFECT} (DEFECT): the {int(np.count_nonzero(defects))} pixels of the dataset's defect map"
    return replace(product, extensions={**product.extensions, "MASK": mask}, history=[*product.history, line])


def blank_border(data, *, min_run: int = MIN_BLANK_RUN) -> np.ndarray:
    """The frame's blank border: pixels of one constant value connected to a run of at least ``min_run``
    pixels of that value along the frame's edge.

    Each such run (of 0 in Siril's registered frames, but of any value) is followed, through the pixels of
    exactly its value (4-connected), from the edge into the frame: the border may be rows or columns at the
    edges or any region touching them (the wedge a turned frame leaves). Non-finite pixels are left alone
    (ingest masks them as NONFINITE). Returns all False when the edge holds no such run, as a frame of sky
    does (and a frame narrower than ``min_run``).
    """
    data = np.asarray(data)
    seeds = np.zeros(data.shape, bool)
    for edge in (np.s_[0, :], np.s_[-1, :], np.s_[:, 0], np.s_[:, -1]):
        seeds[edge] |= _in_long_runs(data[edge], min_run)
    blank = np.zeros(data.shape, bool)
    for value in np.unique(data[seeds]):
        labels, _ = ndimage.label(data == value)
        blank |= np.isin(labels, np.unique(labels[seeds & (data == value)]))
    return blank


def _in_long_runs(line, min_run: int) -> np.ndarray:
    """True at the finite pixels of a 1D array that belong to a run of at least ``min_run`` equal values."""
    starts = np.flatnonzero(np.r_[True, line[1:] != line[:-1]])
    lengths = np.diff(np.r_[starts, line.size])
    return np.repeat(lengths >= min_run, lengths) & np.isfinite(line)
