"""A colour sensor's three channel stacks as one colour picture, and one star close up in colour and in each
channel, with the channels' centroids: no checkerboard in the core, and the channels' cores together."""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from stackphot.colour.check import channel_offsets
from stackphot.report.display import asinh_softening, new_figure, save_figure

__all__ = ["ColourBalance", "colour_balance", "colour_picture", "colour_star", "colour_figure", "plot_colour"]

CHANNELS = ("R", "G", "B")
CHANNEL_STYLE = {"R": ("#ff5a5a", "+"), "G": ("#51cf66", "x"), "B": ("#4dabf7", "1")}  # centroid markers
BALANCE_SNR = 20.0  # luminance peak SNR of the stars the colour balance is measured on
MIN_BALANCE_STARS = 3  # fewer such stars: the channels are left unbalanced
STAR_HALF = 3  # half side (px) of the box a star's flux is summed in, for the balance
BLACK_SIGMA = 2.0  # default black level: this many sky noise sigma below the sky
SKY_BRIGHTNESS = 0.12  # the grey the sky is shown at by the default stretch (dark, its noise still seen)
NOISELESS_SOFTENING = 0.02  # asinh softening when the sky has no noise to set it by (synthetic images)
PEAK_SNR = 5.0  # luminance peak SNR of the stars (and neighbours) for the close-up when no catalog is given
FLAT_TOP = 0.02  # a peak with 4 of its 8 neighbours within this fraction of it is saturated (flat-topped)
CLOSE_UP_HALF = 8  # half side (px) of the close-ups
CLOSE_UP_SOFTENING = 0.25  # asinh softening of the colour close-up: half its peak shows at 69 % brightness


@dataclass(frozen=True)
class ColourBalance:
    """How the channels are put on one scale: ``(channel - sky) * gain``, by channel R, G, B.

    ``sky`` and ``noise`` are each channel's sigma-clipped median and standard deviation (data units);
    ``gains`` make the median star white (green's is 1); ``n_stars`` is the number of stars they were
    measured on (0: too few, gains 1).
    """

    sky: tuple[float, float, float]
    noise: tuple[float, float, float]
    gains: tuple[float, float, float]
    n_stars: int

    def describe(self) -> str:
        """The balance in one line, for a figure's title."""
        gains = ", ".join(f"{name} {gain:.3g}" for name, gain in zip(CHANNELS, self.gains))
        source = f"median of {self.n_stars} stars white" if self.n_stars else "too few stars: unbalanced"
        return f"sky subtracted per channel, gains {gains} ({source})"


def colour_balance(red, green, blue, *, min_snr: float = BALANCE_SNR) -> ColourBalance:
    """Each channel's sky and noise, and the gains that make the median bright star white.

    A sky subtracted per channel puts every channel's sky at zero, so the sky is neutral whatever the gains;
    the gains, one factor per channel, then set the colour of the stars. Balancing on the sky instead (equal
    sky levels) would tint every star with the colour of the sky glow; leaving the channels raw would show
    the camera's response (a Bayer sensor's green is the most sensitive, so the picture turns green).
    With the median star white, a star's colour in the picture is its colour relative to the typical star of
    the field, and every star's flux ratios between channels are kept up to these three constants.

    The stars are the local peaks of the luminance (the sum of the sky-subtracted channels) at a peak SNR
    of at least ``min_snr``, with a box of ``2 * STAR_HALF + 1`` px on the planes and without NaN, and not
    flat-topped (saturated) in any channel; the flux of each is the sum of its box. A channel's gain is the
    median over the stars of green's flux over the channel's. NaN pixels are ignored throughout; with fewer
    than ``MIN_BALANCE_STARS`` stars the gains are 1.
    """
    from astropy.stats import sigma_clipped_stats
    from scipy import ndimage

    planes = [np.asarray(plane, dtype=float) for plane in (red, green, blue)]
    sky, noise = [], []
    for plane in planes:
        values = plane[np.isfinite(plane)]
        _, median, std = sigma_clipped_stats(values) if values.size else (0.0, 0.0, 0.0)
        sky.append(float(median))
        noise.append(float(std))
    subtracted = [plane - level for plane, level in zip(planes, sky)]
    luminance = np.sum(subtracted, axis=0)
    size = 2 * STAR_HALF + 1
    covered = np.isfinite(luminance)
    # a box holds no NaN and lies on the planes where the mean of "covered" over it is 1
    full_box = ndimage.uniform_filter(covered.astype(float), size, mode="constant") > 1 - 1e-9
    filled = np.where(covered, luminance, -np.inf)
    peaks = (filled == ndimage.maximum_filter(filled, size, mode="constant", cval=-np.inf)) & full_box
    peaks &= filled > min_snr * np.sqrt(np.sum(np.square(noise)))
    rows, columns = np.nonzero(peaks)
    unsaturated = [not any(_flat_topped(plane, row, column) for plane in subtracted)
                   for row, column in zip(rows, columns)]
    rows, columns = rows[unsaturated], columns[unsaturated]
    flux = [ndimage.uniform_filter(np.where(covered, plane, 0.0), size, mode="constant")[rows, columns]
            for plane in subtracted]  # mean over the box: the sum up to a constant, which cancels
    usable = (flux[0] > 0) & (flux[1] > 0) & (flux[2] > 0)
    if usable.sum() < MIN_BALANCE_STARS:
        return ColourBalance(tuple(sky), tuple(noise), (1.0, 1.0, 1.0), 0)
    gains = tuple(float(np.median(flux[1][usable] / channel[usable])) for channel in flux)
    return ColourBalance(tuple(sky), tuple(noise), gains, int(usable.sum()))


def colour_picture(red, green, blue, *, black: float | None = None, white_fraction: float = 0.998,
                   stretch: float | None = None, balance: ColourBalance | None = None) -> np.ndarray:
    """The three channel stacks as the colour picture a person would show.

    Each channel has its sky subtracted and is scaled by its gain (``colour_balance``: the sky neutral, the
    median star white), so all three share one black level and one white level. The stretch is the one of
    Lupton et al. (2004, PASP 116, 133; astropy's ``make_lupton_rgb``): the asinh is applied to the mean of
    the three channels, the intensity, and each channel is scaled by the same factor, so a star keeps its
    colour from its wings to its core instead of turning white where the channels are stretched apart; a
    pixel whose brightest channel would pass 1 has all three divided by it, keeping its hue. Pixels are
    never resampled or smoothed.

    Parameters
    ----------
    red, green, blue : 2D arrays
        The aligned channel stacks, of one shape; NaN where uncovered.
    black : float, optional
        The level shown black, in the balanced data's units above the sky (green's units; 0 is the sky).
        Default: ``BLACK_SIGMA`` times the sky noise of the intensity below the sky, so the sky is a dark
        neutral grey and its noise shows rather than being cut at black.
    white_fraction : float
        The intensity at this quantile of the covered pixels is shown white (the brightest star cores
        saturate to their colour).
    stretch : float, optional
        The asinh softening, as a fraction of the black-to-white range: smaller shows fainter detail.
        Default: the softening that shows the sky at ``SKY_BRIGHTNESS`` grey (``NOISELESS_SOFTENING`` for a
        sky without noise).
    balance : ColourBalance, optional
        The channels' skies and gains; measured with ``colour_balance`` by default.

    Returns
    -------
    numpy.ndarray
        ``(ny, nx, 3)`` RGB floats in [0, 1]; black (0, 0, 0) where any channel is NaN or infinite.

    Raises
    ------
    ValueError
        Channels of different shapes or not 2D, ``white_fraction`` outside (0, 1], ``stretch`` not
        positive, or ``black`` at or above the white level.
    """
    planes = [np.asarray(plane, dtype=float) for plane in (red, green, blue)]
    if len({plane.shape for plane in planes}) != 1 or planes[0].ndim != 2:
        raise ValueError(f"red, green and blue must be 2D arrays of one shape, got "
                         f"{[plane.shape for plane in planes]}")
    if not 0 < white_fraction <= 1:
        raise ValueError(f"white_fraction must lie in (0, 1], not {white_fraction}")
    if stretch is not None and not stretch > 0:
        raise ValueError(f"stretch (the asinh softening) must be positive, not {stretch}")
    balance = balance or colour_balance(*planes)
    data = np.stack([gain * (plane - sky) for plane, sky, gain in zip(planes, balance.sky, balance.gains)],
                    axis=-1)
    covered = np.isfinite(data).all(axis=-1)
    intensity = data.mean(axis=-1)
    # the intensity's noise: the mean of three independent noises
    sigma = np.sqrt(np.sum(np.square(np.multiply(balance.gains, balance.noise)))) / 3
    black = -BLACK_SIGMA * sigma if black is None else float(black)
    white = float(np.quantile(intensity[covered], white_fraction)) if covered.any() else black + 1.0
    if white <= black:
        if covered.any() and np.ptp(intensity[covered]) > 0:
            raise ValueError(f"black ({black:g}) must lie below the white level ({white:g})")
        white = black + 1.0  # a flat image: all at black
    sky_fraction = -black / (white - black)
    if stretch is None:
        stretch = (asinh_softening(sky_fraction, SKY_BRIGHTNESS) if 0 < sky_fraction < 1
                   else NOISELESS_SOFTENING)
    level = np.clip((np.where(covered[..., None], data, black) - black) / (white - black), 0.0, None)
    mean = level.mean(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        scale = np.where(mean > 0, np.arcsinh(mean / stretch) / np.arcsinh(1 / stretch) / mean, 0.0)
    picture = level * scale[..., None]
    brightest = picture.max(axis=-1, keepdims=True)
    picture = np.where(brightest > 1, picture / np.maximum(brightest, 1), picture)
    return np.clip(picture, 0.0, 1.0)


def colour_star(red, green, blue, *, x=None, y=None, half_size: int = CLOSE_UP_HALF,
                balance: ColourBalance | None = None):
    """Where to show a star close up: the brightest isolated, unsaturated star with room around it.

    The candidates are the sources at ``x``, ``y`` (0-based px) or, without them, the local peaks of the
    luminance (the sum of the sky-subtracted channels) at a peak SNR of ``PEAK_SNR`` or more. A candidate
    qualifies when its close-up box (``2 * half_size + 1`` px around its nearest pixel) lies on the planes
    without a NaN in any channel and its peak is not flat-topped (saturated) in any channel; it is isolated
    when no other candidate lies within ``half_size`` px. The brightest (luminance peak) isolated one is
    chosen, or, without one, the brightest that qualifies.

    Returns
    -------
    (x, y) : tuple of float, or None
        The star's position (a catalog position, or a peak's pixel); None when no candidate qualifies.
    """
    from scipy import ndimage

    balance = balance or colour_balance(red, green, blue)
    subtracted = [np.asarray(plane, dtype=float) - sky for plane, sky in zip((red, green, blue), balance.sky)]
    luminance = np.sum(subtracted, axis=0)
    filled = np.where(np.isfinite(luminance), luminance, -np.inf)
    if x is None or y is None:
        threshold = PEAK_SNR * np.sqrt(np.sum(np.square(balance.noise)))
        peaks = (filled == ndimage.maximum_filter(filled, 5, mode="constant", cval=-np.inf)) & (filled > threshold)
        y, x = (axis.astype(float) for axis in np.nonzero(peaks))
    x, y = np.atleast_1d(np.asarray(x, dtype=float)), np.atleast_1d(np.asarray(y, dtype=float))
    ny, nx = luminance.shape
    finite = np.isfinite(x) & np.isfinite(y)
    columns, rows = np.rint(np.where(finite, x, -1)).astype(int), np.rint(np.where(finite, y, -1)).astype(int)
    ok = finite & (columns >= half_size) & (rows >= half_size) & (columns < nx - half_size)
    ok &= rows < ny - half_size
    peak = np.full(x.shape, -np.inf)
    for index in np.flatnonzero(ok):
        box = luminance[rows[index] - half_size:rows[index] + half_size + 1,
                        columns[index] - half_size:columns[index] + half_size + 1]
        saturated = any(_flat_topped(plane, rows[index], columns[index]) for plane in subtracted)
        ok[index] = np.isfinite(box).all() and not saturated
        peak[index] = filled[rows[index] - 1:rows[index] + 2, columns[index] - 1:columns[index] + 2].max()
    if not ok.any():
        return None
    isolated = ok & (_nearest_other(x[finite], y[finite], x, y) > half_size)
    candidates = np.flatnonzero(isolated if isolated.any() else ok)
    best = candidates[np.argmax(peak[candidates])]
    return float(x[best]), float(y[best])


def colour_figure(red, green, blue, *, x=None, y=None, errors=None, title: str = ""):
    """The colour picture of the field and one star close up in colour and in each channel alone.

    The close-ups (``colour_star``) show the pixels as they are (nearest-neighbour display): the colour
    picture, and each channel with a linear grey scale from its sky to the star's peak, where a Bayer
    checkerboard or a channel's offset would be seen. Each channel's centroid (``channel_offsets``, a 2D
    Gaussian fit) is marked in every close-up, and the offsets of R and B from G are in the title.

    Parameters
    ----------
    red, green, blue : 2D arrays
        The aligned channel stacks, of one shape; NaN where uncovered (shown black).
    x, y : array-like, optional
        0-based source positions (the luminance catalog) to choose the close-up star from.
    errors : sequence of three 2D arrays, optional
        The channels' error planes (ERR), which weigh the centroid fits; without them each channel's noise is
        taken from its sky.
    title : str
        The figure's title, above the colour balance.
    """
    from matplotlib.patches import Rectangle
    from matplotlib.ticker import MaxNLocator

    balance = colour_balance(red, green, blue)
    picture = colour_picture(red, green, blue, balance=balance)
    ny, nx = picture.shape[:2]
    aspect = nx / ny
    unit = 14.0 / (2 * aspect + 2)
    figure = new_figure(14.0, 2 * unit + 1.2)
    grid = figure.add_gridspec(2, 3, width_ratios=[2 * aspect, 1, 1])
    full = figure.add_subplot(grid[:, 0])
    full.imshow(picture, origin="lower", interpolation="nearest")
    full.set_xlabel("x (pixel, 0-based)")
    full.set_ylabel("y (pixel, 0-based)")
    full.set_title("colour picture (asinh stretch of the intensity, colours kept; no data: black)",
                   fontsize="medium")
    figure.suptitle(f"{title}\n{balance.describe()}" if title else balance.describe(), fontsize="medium")
    closes = [figure.add_subplot(grid[row, column]) for row in (0, 1) for column in (1, 2)]
    star = colour_star(red, green, blue, x=x, y=y, balance=balance)
    if star is None:
        for axes in closes:
            axes.set_axis_off()
        closes[0].text(0.5, 0.5, "no unsaturated star to show close up", ha="center", va="center",
                       transform=closes[0].transAxes)
        return figure

    half = CLOSE_UP_HALF
    column, row = int(np.rint(star[0])), int(np.rint(star[1]))
    box = (slice(row - half, row + half + 1), slice(column - half, column + half + 1))
    extent = (column - half - 0.5, column + half + 0.5, row - half - 0.5, row + half + 0.5)
    full.add_patch(Rectangle((extent[0], extent[2]), 2 * half + 1, 2 * half + 1, fill=False,
                             edgecolor="#ffd43b", linewidth=1.0))
    # Its own stretch, from the sky to its peak and nearly linear: the field's would show the core as one
    # flat colour, hiding a checkerboard.
    close_up = colour_picture(*(np.asarray(plane, dtype=float)[box] for plane in (red, green, blue)),
                              black=0.0, white_fraction=1.0, stretch=CLOSE_UP_SOFTENING, balance=balance)
    closes[0].imshow(close_up, origin="lower", interpolation="nearest", extent=extent)
    for axes, name, plane, sky in zip(closes[1:], CHANNELS, (red, green, blue), balance.sky):
        cut = np.asarray(plane, dtype=float)[box] - sky
        axes.imshow(cut, origin="lower", interpolation="nearest", extent=extent, cmap="gray", vmin=0.0,
                    vmax=max(float(cut.max()), 1e-12))
        axes.set_title(f"{name} alone (linear, sky to peak)", fontsize="small")
    planes = dict(zip(CHANNELS, (red, green, blue)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # a star too faint in a channel: said in the title
        offsets = channel_offsets(planes, [star[0]], [star[1]], reference="G", min_snr=5.0,
                                  errors=None if errors is None else dict(zip(CHANNELS, errors)))
    for axes in closes:
        for name in CHANNELS if len(offsets) else ():
            colour, marker = CHANNEL_STYLE[name]
            axes.plot(offsets[f"x_{name}"], offsets[f"y_{name}"], linestyle="none", marker=marker, color=colour,
                      markersize=10, markeredgewidth=1.5, label=f"{name} centroid")
        axes.set_xlim(extent[:2])
        axes.set_ylim(extent[2:])
        axes.tick_params(labelsize="small")
        axes.xaxis.set_major_locator(MaxNLocator(5, integer=True))
        axes.yaxis.set_major_locator(MaxNLocator(5, integer=True))
    if len(offsets):
        closes[0].legend(fontsize="x-small", loc="upper right", framealpha=0.5)
        first = offsets.iloc[0]
        shifts = ", ".join(f"{name}-G ({first[f'dx_{name}']:+.3f}, {first[f'dy_{name}']:+.3f}) px"
                           if np.isfinite(first[f"dx_{name}"]) else f"too faint in {name} for a centroid"
                           for name in ("R", "B"))
    else:
        shifts = "no centroid in G"
    closes[0].set_title(f"({star[0]:.1f}, {star[1]:.1f}) in colour, sky to peak\n{shifts}", fontsize="small")
    return figure


def plot_colour(path, red, green, blue, *, x=None, y=None, errors=None, title: str = ""):
    """Write ``colour_figure`` as a PNG at ``path``, atomically, and return the path."""
    return save_figure(colour_figure(red, green, blue, x=x, y=y, errors=errors, title=title), path)


def _nearest_other(x_all, y_all, x, y) -> np.ndarray:
    """Distance from each (x, y) to the nearest other of the points (x_all, y_all); inf without one."""
    from scipy.spatial import cKDTree

    if len(x_all) < 2:
        return np.full(len(x), np.inf)
    points = np.column_stack([np.nan_to_num(x, nan=-1e9), np.nan_to_num(y, nan=-1e9)])
    distance, _ = cKDTree(np.column_stack([x_all, y_all])).query(points, k=2)
    return distance[:, 1]  # the first is the point itself


def _flat_topped(plane, row: int, column: int) -> bool:
    """Whether the peak near pixel (row, column) has 4 or more of its 8 neighbours within ``FLAT_TOP`` of
    it: the plateau of a saturated star (an unsaturated Gaussian needs a FWHM of some 12 px for that)."""
    ny, nx = plane.shape
    if not (2 <= row < ny - 2 and 2 <= column < nx - 2):
        return False
    near = plane[row - 2:row + 3, column - 2:column + 3]
    inner = np.where(np.isfinite(near[1:4, 1:4]), near[1:4, 1:4], -np.inf)
    top_row, top_column = np.unravel_index(np.argmax(inner), inner.shape)
    peak = inner[top_row, top_column]
    if not (np.isfinite(peak) and peak > 0):
        return False
    around = near[top_row:top_row + 3, top_column:top_column + 3]
    return int(np.sum(around >= (1 - FLAT_TOP) * peak)) - 1 >= 4
