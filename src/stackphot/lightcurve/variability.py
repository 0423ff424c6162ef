"""Which stars vary, and how: expected noise, a variability table of the whole field, periods and transits.

- ``expected_noise``: the fractional noise a constant star should show (photons of star and sky, read
  noise, scintillation).
- ``variability_table``: every star's scatter against the ensemble, its expected noise, a chi-squared
  against a constant, and a flag for the stars that vary beyond their noise.
- ``period_search``: the best Lomb-Scargle period in a range.
- ``fit_transit``: a box search over mid-time and duration, refined by a least-squares trapezoid.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from stackphot.numerics import MAD_TO_SIGMA

__all__ = ["expected_noise", "fit_transit", "period_search", "variability_table"]

# Scintillation (Young 1967, D in cm, altitude in m): 0.09 D^(-2/3) X^(7/4) exp(-h/8000) (2t)^(-1/2),
# times 1.5, the median empirical correction of Osborn et al. (2015, MNRAS 452, 1707): Young's formula
# underestimates the scintillation at most observatories.
YOUNG = 0.09
OSBORN_CORRECTION = 1.5
SCALE_HEIGHT = 8000.0


def expected_noise(flux, *, sky_per_pixel, n_pixels, gain, read_noise, exptime=None, diameter=None,
                   airmass=None, altitude=None) -> np.ndarray:
    """The fractional noise of an aperture flux: photons of the star and the sky, read noise, scintillation.

    ``sigma / flux = sqrt(N + n_pixels (S + R**2)) / N (+) sigma_scint`` with ``N = gain * flux`` and
    ``S = gain * sky_per_pixel`` in electrons, ``(+)`` meaning in quadrature. Every argument broadcasts,
    so ``flux[n_frames, n_stars]`` with per-frame ``sky_per_pixel[n_frames, 1]`` and ``airmass[n_frames, 1]``
    gives the noise per frame and star. The noise of the annulus sky estimate is neglected (it is small
    for an annulus much larger than the aperture).

    Parameters
    ----------
    flux : array_like
        The star's aperture flux (ADU, sky subtracted).
    sky_per_pixel : array_like
        The sky under the aperture (ADU per pixel).
    n_pixels : array_like
        The aperture's area (pixels).
    gain : float
        Electrons per ADU.
    read_noise : float
        Electrons per pixel.
    exptime : array_like, optional
        Exposure time (s); needed for scintillation only.
    diameter : float, optional
        The telescope's aperture (m). Scintillation is included only when both it and ``exptime`` are given.
    airmass : array_like, optional
        Needed with ``diameter``.
    altitude : float, optional
        The site's altitude (m); sea level (the largest scintillation) when None.

    Returns
    -------
    numpy.ndarray
        ``sigma / flux``; NaN where the flux is not positive or NaN.

    Raises
    ------
    ValueError
        When ``diameter`` is given without ``exptime`` or ``airmass``.
    """
    electrons = np.asarray(flux, dtype=float) * gain
    variance = electrons + np.asarray(n_pixels) * (np.asarray(sky_per_pixel) * gain + read_noise**2)
    with np.errstate(invalid="ignore", divide="ignore"):
        fraction = np.where(electrons > 0, np.sqrt(variance) / electrons, np.nan)
    if diameter is None:
        return fraction
    if exptime is None or airmass is None:
        raise ValueError("scintillation needs the exposure time and the airmass as well as the diameter")
    return np.hypot(fraction, scintillation(diameter=diameter, exptime=exptime, airmass=airmass, altitude=altitude))


def scintillation(*, diameter: float, exptime, airmass, altitude: float | None = None) -> np.ndarray:
    """Scintillation's fractional noise (Young 1967, times Osborn et al. 2015's 1.5) of a telescope of
    ``diameter`` (m) in exposures of ``exptime`` (s) at ``airmass``, at a site ``altitude`` m up (sea level when
    None); broadcasts."""
    return (OSBORN_CORRECTION * YOUNG * (100.0 * diameter) ** (-2.0 / 3.0)
            * np.asarray(airmass, dtype=float) ** 1.75 * np.exp(-(altitude or 0.0) / SCALE_HEIGHT)
            / np.sqrt(2.0 * np.asarray(exptime, dtype=float)))


def variability_table(flux, flux_err, flags, *, reference, reference_err=None, expected=None,
                      nsigma: float = 5.0, min_ratio: float = 1.5) -> pd.DataFrame:
    """Every star's scatter against the ensemble, its expected noise, and whether it varies beyond it.

    Each star's flux is divided by the ensemble ``reference`` (``ensemble_curve``) and by its median, in
    the frames where it is good (finite, positive error, unflagged, reference finite).

    The rule: a star is ``variable`` when **both**

    - a constant fits its light curve badly: the chi-squared of the weighted mean has a p-value below the
      one-sided Gaussian tail of ``nsigma`` (5 sigma: p < 2.9e-7). With correct errors the p-value of a
      constant star is uniform, so this alone flags a fraction p of them (none in any real field); and
    - its robust scatter (1.4826 MAD) exceeds ``min_ratio`` times the expected noise. The chi-squared is
      sensitive to the few frames a cosmic ray or a satellite spoils and to errors a little too small for
      the brightest stars; the MAD ignores the former and the margin absorbs the latter, so a star is
      flagged only when the bulk of its frames scatter beyond the noise model.

    Parameters
    ----------
    flux, flux_err : numpy.ndarray, (n_frames, n_stars)
        Per-frame fluxes and errors; NaN where unmeasured.
    flags : numpy.ndarray of int, (n_frames, n_stars)
        Nonzero where doubtful: such frames are left out for that star.
    reference : numpy.ndarray, (n_frames,)
        The ensemble's curve (near 1).
    reference_err : numpy.ndarray, (n_frames,), optional
        Its fractional error, added in quadrature to every star's; zero when None (then the chi-squared
        of the brightest stars, whose own errors approach the ensemble's, is overestimated).
    expected : array_like, (n_frames, n_stars) or (n_stars,), optional
        Each star's expected fractional noise (``expected_noise``); the measured ``flux_err / flux`` when
        None. The reference's error is added in quadrature either way.
    nsigma : float
        The chi-squared threshold as a one-sided Gaussian significance.
    min_ratio : float
        The least ratio of robust scatter to expected noise for a variable.

    Returns
    -------
    pandas.DataFrame
        One row per star (index: star number) with ``n_good``, ``median_flux``, ``mag`` (instrumental,
        ``-2.5 log10 median_flux``, NaN where not positive), ``rms`` (fractional), ``expected``
        (fractional, median over the good frames), ``chi2_red``, ``p_value``, ``ratio``
        (``rms / expected``) and ``variable``. Statistics need two good frames: below that they are NaN
        and the star is not variable.
    """
    from scipy import stats  # here, not above: the light-curve jobs that never test spare 0.3 s of import

    flux = np.asarray(flux, dtype=float)
    err = np.asarray(flux_err, dtype=float)
    ref = np.asarray(reference, dtype=float)[:, None]
    ref_frac = np.zeros_like(ref) if reference_err is None else np.asarray(reference_err, dtype=float)[:, None]
    good = (np.isfinite(flux) & np.isfinite(err) & (err > 0) & (np.asarray(flags) == 0)
            & np.isfinite(ref) & (ref > 0) & np.isfinite(ref_frac))
    n_good = good.sum(axis=0)
    with warnings.catch_warnings(), np.errstate(invalid="ignore", divide="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)  # stars never measured give all-NaN columns
        median_flux = np.nanmedian(np.where(good, flux, np.nan), axis=0)
        rel = np.where(good, flux / ref, np.nan)
        scale = np.nanmedian(rel, axis=0)
        relative = rel / scale
        # Fractional errors of the relative curve: the star's and the reference's, in quadrature.
        sigma = np.where(good, np.hypot(err / ref / np.abs(scale), relative * ref_frac), np.nan)
        deviation = relative - np.nanmedian(relative, axis=0)
        rms = MAD_TO_SIGMA * np.nanmedian(np.abs(deviation), axis=0)
        w = 1.0 / sigma**2
        mean = np.nansum(w * relative, axis=0) / np.nansum(w, axis=0)
        chi2 = np.nansum(w * (relative - mean) ** 2, axis=0)
        dof = n_good - 1
        chi2_red = np.where(dof > 0, chi2 / dof, np.nan)
        p_value = np.where(dof > 0, stats.chi2.sf(chi2, np.maximum(dof, 1)), np.nan)
        own = sigma if expected is None else np.where(
            good, np.hypot(np.broadcast_to(np.asarray(expected, dtype=float), flux.shape), ref_frac), np.nan)
        typical = np.nanmedian(own, axis=0)
        ratio = rms / typical
        mag = np.where(median_flux > 0, -2.5 * np.log10(median_flux), np.nan)
    variable = (p_value < stats.norm.sf(nsigma)) & (ratio > min_ratio)
    table = pd.DataFrame({"n_good": n_good, "median_flux": median_flux, "mag": mag, "rms": rms,
                          "expected": typical, "chi2_red": chi2_red, "p_value": p_value, "ratio": ratio,
                          "variable": variable})
    table.index.name = "star"
    return table


def _finite(*arrays):
    """The arrays restricted to the points where all are finite, as floats."""
    arrays = [np.asarray(a, dtype=float) for a in arrays]
    keep = np.all([np.isfinite(a) for a in arrays], axis=0)
    return [a[keep] for a in arrays]


def period_search(t, y, dy, *, min_period: float, max_period: float) -> tuple[float, float]:
    """The period of the highest Lomb-Scargle peak between two periods, to better than 1e-4 of itself.

    A grid ten times denser than the peak's width ``1 / baseline`` finds the peak; a second grid around it,
    spaced by at most 1e-4 of the frequency and a fiftieth of the first grid's step, places it.

    Parameters
    ----------
    t : array_like
        Times (days).
    y, dy : array_like
        Values (magnitudes or relative flux) and their errors. Points where any of t, y, dy is NaN are
        ignored.
    min_period, max_period : float
        The search range (days). Aliases outside it (e.g. at one cycle per day from nightly sampling)
        are not seen, so choose it with them in mind.

    Returns
    -------
    period : float
        Days.
    power : float
        The peak's normalised Lomb-Scargle power (0 to 1).

    Raises
    ------
    ValueError
        With fewer than three finite points or a range that is not ``0 < min_period < max_period``.
    """
    from astropy.timeseries import LombScargle

    t, y, dy = _finite(t, y, dy)
    if t.size < 3 or not 0 < min_period < max_period:
        raise ValueError(f"a period search needs 3 points and 0 < min_period < max_period ({t.size} points, "
                         f"{min_period}..{max_period})")
    periodogram = LombScargle(t, y, dy)
    low, high = 1.0 / max_period, 1.0 / min_period
    step = 0.1 / np.ptp(t)
    coarse = np.linspace(low, high, int(np.ceil((high - low) / step)) + 1)
    best = coarse[np.argmax(periodogram.power(coarse, assume_regular_frequency=True))]
    fine_step = min(step / 50.0, 1e-4 * best)
    fine = np.arange(max(low, best - 2 * step), min(high, best + 2 * step) + fine_step, fine_step)
    power = periodogram.power(fine, method="cython")
    peak = int(np.argmax(power))
    return float(1.0 / fine[peak]), float(power[peak])


def _trapezoid(t, baseline, depth, mid, duration, slope):
    """Relative flux of a trapezoidal transit: ``duration`` from first to last contact, the ingress
    ``slope * duration / 2`` long (so ``0 < slope <= 1`` always keeps a trapezoid or a vee)."""
    shape = np.clip((duration / 2.0 - np.abs(t - mid)) / (slope * duration / 2.0), 0.0, 1.0)
    return baseline * (1.0 - depth * shape)


def _box_search(t, y, w, durations, mids):
    """The (mid, duration) of the box that lowers the chi-squared most, and the box's depth and baseline."""
    cumulative_w = np.concatenate([[0.0], np.cumsum(w)])
    cumulative_wy = np.concatenate([[0.0], np.cumsum(w * y)])
    best = (-np.inf, None)
    for duration in durations:
        lo = np.searchsorted(t, mids - duration / 2.0, side="left")
        hi = np.searchsorted(t, mids + duration / 2.0, side="right")
        w_in = cumulative_w[hi] - cumulative_w[lo]
        w_out = cumulative_w[-1] - w_in
        with np.errstate(invalid="ignore", divide="ignore"):
            mean_in = (cumulative_wy[hi] - cumulative_wy[lo]) / w_in
            mean_out = (cumulative_wy[-1] - cumulative_wy[hi] + cumulative_wy[lo]) / w_out
            gain = (mean_out - mean_in) ** 2 * w_in * w_out / (w_in + w_out)
        # At least three points in and out, and a dip, not a bump.
        gain = np.where((hi - lo >= 3) & (t.size - (hi - lo) >= 3) & (mean_in < mean_out), gain, -np.inf)
        k = int(np.argmax(gain))
        if gain[k] > best[0]:
            best = (gain[k], (mids[k], duration, 1.0 - mean_in[k] / mean_out[k], mean_out[k]))
    return best


def _trapezoid_grid(t, y, w, mid, duration, cadence):
    """The best trapezoid on a grid around a box: mid-time +-5% of the duration in quarter cadences,
    durations 0.85-1.35 times the box's (a box sits inside a trapezoid's slopes), ingress slopes 0-0.85.

    For given mid-time, duration and slope the model ``baseline + a * shape`` is linear, so each grid point
    is solved exactly; the chi-squared surface of a trapezoid has kinks at every sample, where a local
    optimiser alone stalls minutes from the minimum.
    """
    mids = mid + np.arange(-0.05 * duration, 0.05 * duration + cadence / 8.0, cadence / 4.0)
    durations = duration * np.linspace(0.85, 1.35, 26)
    centre, width = np.meshgrid(mids, durations, indexing="ij")
    centre, width = centre.ravel()[:, None], width.ravel()[:, None]
    sums_w, sums_y, sums_yy = w.sum(), w @ y, w @ y**2
    best = (np.inf, None)
    for slope in (0.0, 0.03, 0.06, 0.1, 0.15, 0.2, 0.3, 0.4, 0.55, 0.7, 0.85):
        edge = width / 2.0 - np.abs(t[None, :] - centre)
        shape = (edge >= 0).astype(float) if slope == 0 else np.clip(edge / (slope * width / 2.0), 0.0, 1.0)
        sums_s, sums_ss, sums_sy = shape @ w, shape**2 @ w, shape @ (w * y)
        with np.errstate(invalid="ignore", divide="ignore"):
            det = sums_w * sums_ss - sums_s**2
            baseline = (sums_ss * sums_y - sums_s * sums_sy) / det
            a = (sums_w * sums_sy - sums_s * sums_y) / det
            chi2 = np.where(det > 0, sums_yy - baseline * sums_y - a * sums_sy, np.inf)
        k = int(np.argmin(chi2))
        if chi2[k] < best[0]:
            best = (chi2[k], [baseline[k], -a[k] / baseline[k], centre[k, 0], width[k, 0], slope])
    return best[1]


def fit_transit(t, y, dy, *, durations=None) -> dict:
    """A transit's depth, mid-time and duration from a relative-flux light curve.

    First a box search (as BLS, for one event): every mid-time on a grid a quarter of the shortest trial
    duration apart, every trial duration, the box's depth the weighted mean in and out of it; the pair
    that lowers the chi-squared most wins. Then a trapezoid (baseline, depth, mid-time, duration, ingress)
    on a grid around that box, refined by least squares: it places the edges to a fraction of the cadence
    and does not bias the depth low when the ingress is long.

    Parameters
    ----------
    t, y, dy : array_like
        Times (days), relative flux and its errors; NaN points are ignored.
    durations : array_like, optional
        Trial durations of the box (days); by default 40 steps, evenly in log, from three cadences (or
        1% of the time span, whichever is longer) to half the time span.

    Returns
    -------
    dict
        ``depth`` (fraction of the baseline, at the flat bottom), ``depth_err``, ``mid_time`` (days, as
        ``t``), ``mid_time_err``, ``duration`` (first to last contact, days), ``duration_err``,
        ``ingress`` (days), ``baseline``, ``snr`` (depth / depth_err), ``chi2_red`` and ``delta_chi2``
        (the box's improvement over a constant). Errors from the fit's covariance, scaled up by
        ``sqrt(chi2_red)`` when that exceeds 1; for a near-box (ingress under a cadence) the mid-time
        error is understated, since the samples place an edge only within a cadence. With no dip at all,
        a warning and NaN everywhere.

    Raises
    ------
    ValueError
        With fewer than ten finite points.
    """
    t, y, dy = _finite(t, y, dy)
    keep = dy > 0
    order = np.argsort(t[keep])
    t, y, dy = t[keep][order], y[keep][order], dy[keep][order]
    if t.size < 10:
        raise ValueError(f"a transit fit needs at least 10 finite points, not {t.size}")
    span, cadence = np.ptp(t), np.median(np.diff(t))
    if durations is None:
        durations = np.geomspace(max(3 * cadence, span / 100.0), span / 2.0, 40)
    durations = np.asarray(durations, dtype=float)
    mids = np.arange(t[0], t[-1], durations.min() / 4.0)
    delta_chi2, box = _box_search(t, y, 1.0 / dy**2, durations, mids)
    names = ("depth", "depth_err", "mid_time", "mid_time_err", "duration", "duration_err", "ingress",
             "baseline", "snr", "chi2_red", "delta_chi2")
    if box is None:
        warnings.warn("no dip found in the light curve", stacklevel=2)
        return dict.fromkeys(names, np.nan)
    start = _trapezoid_grid(t, y, 1.0 / dy**2, box[0], box[1], cadence)
    baseline, depth, origin, duration, _ = start
    # Times from the grid's mid-time: finite-difference steps scale with a parameter's size, and a step
    # relative to a JD (2.46e6) would be most of an hour.
    start[2] = 0.0
    lower = [0.0, 0.0, -duration / 2.0, 0.5 * duration, 1e-3 * cadence / duration]
    # Inside the bounds: a box (slope 0) becomes the steepest trapezoid, which samples cannot tell from it.
    start[1], start[4] = min(max(depth, 0.0), 1.0), max(start[4], lower[4])
    upper = [np.inf, 1.0, duration / 2.0, 2.0 * duration, 1.0]
    from scipy import optimize

    result = optimize.least_squares(lambda p: (_trapezoid(t - origin, *p) - y) / dy, start,
                                    bounds=(lower, upper),
                                    x_scale=[baseline * 1e-3, max(depth, 1e-4), cadence, cadence, 0.1])
    baseline, depth, offset, duration, slope = result.x
    mid = origin + offset
    ingress = slope * duration / 2.0
    chi2_red = 2.0 * result.cost / max(t.size - 5, 1)
    covariance = np.linalg.pinv(result.jac.T @ result.jac) * max(chi2_red, 1.0)
    errors = np.sqrt(np.diag(covariance))
    return {"depth": float(depth), "depth_err": float(errors[1]), "mid_time": float(mid),
            "mid_time_err": float(errors[2]), "duration": float(duration), "duration_err": float(errors[3]),
            "ingress": float(ingress), "baseline": float(baseline), "snr": float(depth / errors[1]),
            "chi2_red": float(chi2_red), "delta_chi2": float(delta_chi2)}
