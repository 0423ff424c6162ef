"""What the figures share: a figure on the Agg canvas, PNGs written atomically, and the display stretch
(astropy's zscale and asinh stretch, with the asinh softening chosen so the sky's noise shows at a set grey)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from stackphot.io import atomic_write

NAN_COLOR = "#2b4c7e"  # pixels without data (NaN) in a displayed image
ZSCALE_BRIGHTNESS = 0.3  # grey level of the top of the zscale range in the asinh display


def new_figure(width: float, height: float):
    """A matplotlib Figure on the Agg canvas with constrained layout."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def save_figure(figure, path, *, dpi: int = 110) -> Path:
    """Write a figure as PNG atomically (a killed job leaves no partial image) and return the path."""
    with atomic_write(path) as temporary:
        figure.savefig(temporary, format="png", dpi=dpi)
    return Path(path)


def display_limits(data, *, contrast: float = 0.25, upper_percentile: float = 99.95):
    """Black level, the top of the zscale range and the white level of an astronomical image.

    ``black`` and ``zscale_top`` are IRAF's zscale limits (astropy ``ZScaleInterval``), the range in which
    the sky and its noise are seen; ``white`` is the ``upper_percentile`` of the pixels, so that the cores
    of bright stars are not all one white. NaN and infinite pixels are ignored.

    Returns
    -------
    (black, zscale_top, white) : tuple of float
        Increasing; ``(0, 1, 1)`` for an image without finite pixels.
    """
    from astropy.visualization import ZScaleInterval

    values = np.asarray(data, dtype=float)
    values = values[np.isfinite(values)]
    if values.size == 0:
        return 0.0, 1.0, 1.0
    black, top = (float(v) for v in ZScaleInterval(contrast=contrast).get_limits(values))
    if not top > black:  # a flat image
        top = black + 1.0
    white = max(float(np.percentile(values, upper_percentile)), top)
    return black, top, white


def asinh_stretch(data, *, black: float, white: float, softening: float) -> np.ndarray:
    """Map values to [0, 1]: 0 at ``black``, 1 at ``white``, ``asinh(t / softening) / asinh(1 / softening)``.

    ``t`` is the value's fraction of the way from black to white (astropy's ``ManualInterval``, clipped);
    the stretch is astropy's ``AsinhStretch`` with ``a = softening``: linear for ``t`` well below
    ``softening`` and logarithmic above it, so faint sky noise and bright stars are both seen. NaN stays NaN.
    """
    from astropy.visualization import AsinhStretch, ManualInterval

    if not white > black:
        raise ValueError(f"white ({white}) must be above black ({black})")
    if not softening > 0:
        raise ValueError(f"softening must be positive, not {softening}")
    # float64 first: the interval keeps a float32 image's precision otherwise
    fraction = ManualInterval(black, white)(np.asarray(data, dtype=float))
    return AsinhStretch(softening)(fraction, out=fraction)


def asinh_softening(fraction: float, brightness: float) -> float:
    """Softening with which ``asinh_stretch`` shows a value ``fraction`` of the way from black to white at
    ``brightness`` (both in (0, 1)).

    The stretch of ``fraction`` grows from ``fraction`` (linear, large softening) to 1 (small softening), so
    a ``brightness`` at or below ``fraction`` gives the linear limit, softening 1e6.
    """
    if not (0 < fraction < 1 and 0 < brightness < 1):
        raise ValueError(f"fraction and brightness must lie in (0, 1), not {fraction}, {brightness}")
    if brightness <= fraction:
        return 1e6

    def excess(log_softening):
        softening = np.exp(log_softening)
        return np.arcsinh(fraction / softening) / np.arcsinh(1 / softening) - brightness

    # Bisection in log softening (the excess falls as the softening grows): scipy.optimize's import alone would
    # cost every plot job a third of a second.
    low, high = np.log(1e-9), np.log(1e6)
    while high - low > 1e-10:
        middle = 0.5 * (low + high)
        low, high = (middle, high) if excess(middle) > 0 else (low, middle)
    return float(np.exp(0.5 * (low + high)))


def display_stretch(data, *, contrast: float = 0.25, upper_percentile: float = 99.95,
                    zscale_brightness: float = ZSCALE_BRIGHTNESS):
    """An image ready to show: black at the zscale lower limit, white at a high percentile, asinh between.

    The asinh softening puts the top of the zscale range (the sky and its noise) at ``zscale_brightness``
    grey, so the noise, faint stars and bright cores all show.

    Returns
    -------
    stretched : 2D array
        Values in [0, 1] (NaN where the data are not finite).
    limits : (black, zscale_top, white)
        From ``display_limits``, in the data's units.
    """
    black, top, white = display_limits(data, contrast=contrast, upper_percentile=upper_percentile)
    if white > top:
        softening = asinh_softening((top - black) / (white - black), zscale_brightness)
    else:  # no pixel above the zscale range: linear
        softening = 1e6
    return asinh_stretch(data, black=black, white=white, softening=softening), (black, top, white)


def show_image(axes, stretched, **kwargs):
    """imshow of an image in [0, 1], origin lower so that pixel (x, y) is drawn at data point (x, y)."""
    from matplotlib import colormaps

    cmap = colormaps["gray"].with_extremes(bad=NAN_COLOR)
    return axes.imshow(stretched, origin="lower", cmap=cmap, vmin=0.0, vmax=1.0, interpolation="nearest",
                       **kwargs)


def percentile_limits(image, low: float = 1.0, high: float = 99.0) -> tuple[float, float]:
    """The ``low`` and ``high`` percentiles of the finite pixels (astropy's ``AsymmetricPercentileInterval``),
    widened to one unit around a flat image's value; ``(0, 1)`` without finite pixels."""
    from astropy.visualization import AsymmetricPercentileInterval

    values = np.asarray(image, dtype=float)  # float64, as the percentiles were always taken
    if not np.isfinite(values).any():
        return 0.0, 1.0
    vmin, vmax = (float(v) for v in AsymmetricPercentileInterval(low, high).get_limits(values))
    return (vmin, vmax) if vmax > vmin else (vmin - 0.5, vmin + 0.5)
