"""Forced photometry of a frame at the stack catalog's positions: frames with stars placed by a known transform."""

import math
import time

import numpy as np
import pytest

from conftest import gaussian_star
from stackphot.defects import spikes
from stackphot.geometry import Transform
from stackphot.lightcurve.forced import COSMIC, forced_photometry, frame_positions, source_disks
from stackphot.photometry import CROWDED_SKY, EDGE, NEIGHBOUR, NONFINITE, SATURATED, measure_apertures

SHAPE = (1024, 1024)
CENTRE = (511.5, 511.5)
ROTATION, DY, DX = 2.5, 13.27, -8.61  # degrees counter-clockwise, then the shift (px)
GAIN, SKY_RMS = 2.0, 10.0
FWHM_PER_SIGMA = 2 * math.sqrt(2 * math.log(2))


def frame_to_reference(x, y):
    """Where frame pixels land on the reference, written out by hand: rotation about CENTRE, then the shift."""
    c, s = math.cos(math.radians(ROTATION)), math.sin(math.radians(ROTATION))
    u, v = np.asarray(x) - CENTRE[0], np.asarray(y) - CENTRE[1]
    return c * u - s * v + CENTRE[0] + DX, s * u + c * v + CENTRE[1] + DY


TRANSFORM = Transform.about(CENTRE, rotation=ROTATION, scale=1.0, dy=DY, dx=DX)


def effective_sigma(sigma):
    """A pixel-integrated Gaussian as exact-overlap apertures see it (tests/test_photometry.py): sigma^2 + 1/6."""
    return math.sqrt(sigma**2 + 1.0 / 6.0)


def render(shape, x, y, flux, sigma):
    """Noiseless pixel-integrated Gaussian stars at frame positions (x, y), each over a window of 8 sigma."""
    model = np.zeros(shape)
    half = int(math.ceil(8 * sigma))
    size = 2 * half + 1
    for xi, yi, fi in zip(x, y, flux):
        cx, cy = int(round(xi)), int(round(yi))
        y0, x0 = max(cy - half, 0), max(cx - half, 0)
        y1, x1 = min(cy + half + 1, shape[0]), min(cx + half + 1, shape[1])
        if y1 <= y0 or x1 <= x0:
            continue
        star = gaussian_star((size, size), yi - (cy - half), xi - (cx - half), flux=fi, sigma=sigma)
        model[y0:y1, x0:x1] += star[y0 - (cy - half) : y1 - (cy - half), x0 - (cx - half) : x1 - (cx - half)]
    return model


def observe(rng, model):
    """A background-subtracted frame of ``model`` (electrons) in ADU, with Poisson and sky noise, and its ERR."""
    data = rng.poisson(model) / GAIN + rng.normal(0.0, SKY_RMS, model.shape)
    return data, np.sqrt(SKY_RMS**2 + model / GAIN**2)


def grid_field(rng, *, sigma, n_side=20, spacing=48):
    """Isolated stars on a jittered grid of the frame, the catalog as the reference frame sees them."""
    centre = (np.arange(n_side) + 0.5) * spacing + (SHAPE[0] - n_side * spacing) / 2
    yf, xf = (g.ravel() + rng.uniform(-0.5, 0.5, n_side**2) for g in np.meshgrid(centre, centre, indexing="ij"))
    flux_e = np.exp(rng.uniform(np.log(3e3), np.log(1e5), xf.size))
    data, error = observe(rng, render(SHAPE, xf, yf, flux_e, sigma))
    x_ref, y_ref = frame_to_reference(xf, yf)
    return data, error, xf, yf, x_ref, y_ref, flux_e / GAIN


@pytest.fixture(scope="module")
def field():
    return grid_field(np.random.default_rng(20261207), sigma=1.5)


def test_frame_positions_invert_the_transform():
    xf, yf = np.array([0.0, 100.25, 1023.0]), np.array([5.5, 700.0, 1023.0])
    x, y = frame_positions(TRANSFORM, *frame_to_reference(xf, yf))
    np.testing.assert_allclose(x, xf, atol=1e-9)
    np.testing.assert_allclose(y, yf, atol=1e-9)
    assert np.isnan(frame_positions(Transform.unknown(), [1.0], [2.0])[0]).all()


def test_positions_are_where_the_stars_are(field):
    data, error, xf, yf, x_ref, y_ref, _ = field
    table = forced_photometry(data, x=x_ref, y=y_ref, ids=np.arange(xf.size), transform=TRANSFORM, radii=[8],
                              annulus=(12, 20), error=error)
    assert np.max(np.hypot(table["x"] - xf, table["y"] - yf)) < 0.01
    np.testing.assert_array_equal(table["x_ref"], x_ref)
    # The light itself is centred there: the first moment of the noiseless stars within 8 px.
    model = render(SHAPE, xf, yf, np.full(xf.size, 1e4), 1.5)
    for xi, yi in zip(table["x"][:20], table["y"][:20]):
        cy, cx = int(round(yi)), int(round(xi))
        box = model[cy - 8 : cy + 9, cx - 8 : cx + 9]
        rows, cols = np.indices(box.shape)
        assert abs((box * cols).sum() / box.sum() + cx - 8 - xi) < 0.01
        assert abs((box * rows).sum() / box.sum() + cy - 8 - yi) < 0.01


def test_fluxes_at_a_large_radius_are_true_within_their_errors(field):
    data, error, xf, yf, x_ref, y_ref, flux = field
    table = forced_photometry(data, x=x_ref, y=y_ref, ids=np.arange(xf.size), transform=TRANSFORM, radii=[3, 8],
                              annulus=(12, 20), error=error)
    # Isolated, on the frame, no defects: no flag at all, COSMIC included, though Poisson noise tops every star.
    assert (table["flags"] == 0).all()
    pull = (table["flux_r8"] - flux) / table["flux_err_r8"]  # 8 px is 5.2 sigma: 1e-6 of the light outside
    print(f"pull at r=8 over {pull.size} stars: mean {pull.mean():+.3f}, std {pull.std():.3f}")
    assert abs(pull.mean()) < 0.2
    assert abs(pull.std() - 1) < 0.2
    # The peak above the sky is the star's brightest pixel: its central pixel's share of a Gaussian, at most.
    most = flux * math.erf(0.5 / (math.sqrt(2) * 1.5)) ** 2
    assert np.all(table["peak"] < most + 5 * np.hypot(SKY_RMS, np.sqrt(most / GAIN)))
    assert np.median(table["peak"] / most) > 0.8


def test_fwhm_scaled_radii_follow_the_seeing():
    rng = np.random.default_rng(7)
    fractions = {}
    for sigma in (1.2, 2.4):
        data, error, xf, _, x_ref, y_ref, flux = grid_field(rng, sigma=sigma, n_side=12, spacing=80)
        fwhm = FWHM_PER_SIGMA * sigma
        table = forced_photometry(data, x=x_ref, y=y_ref, ids=np.arange(xf.size), transform=TRANSFORM, radii=[4],
                                  annulus=(16, 26), error=error, fwhm=fwhm, fwhm_radii=(0.5, 1.0, 2.0))
        expected_columns = {"flux_r4", "flux_err_r4", "flux_f0.5", "flux_err_f0.5", "flux_f1", "flux_f2", "flux_err_f2"}
        assert expected_columns <= set(table)
        direct = measure_apertures(data, table["x"], table["y"], radii=[fwhm], annulus=(16, 26), error=error)
        np.testing.assert_array_equal(table["flux_f1"], direct[f"flux_r{fwhm:g}"])
        np.testing.assert_array_equal(table["flux_err_f1"], direct[f"flux_err_r{fwhm:g}"])
        fractions[sigma] = {k: np.median(table[f"flux_f{k:g}"] / flux) for k in (0.5, 1.0)}
        fractions[sigma]["r4"] = np.median(table["flux_r4"] / flux)
        # A Gaussian holds 1 - 2^(-4 k^2) of its light within k FWHM, whatever the seeing (pixels widen it a bit).
        for k in (0.5, 1.0):
            expected = 1 - math.exp(-((k * fwhm) ** 2) / (2 * effective_sigma(sigma) ** 2))
            assert fractions[sigma][k] == pytest.approx(expected, abs=0.01)
    # Fixed radii do not follow it: 4 px holds much less of the wider stars' light; scaled radii do.
    assert fractions[1.2][0.5] == pytest.approx(fractions[2.4][0.5], abs=0.03)
    assert fractions[2.4]["r4"] < fractions[1.2]["r4"] - 0.2


def test_fwhm_columns_without_a_measured_fwhm_and_a_shared_radius(field):
    data, error, _, _, x_ref, y_ref, _ = field
    options = dict(x=x_ref[:10], y=y_ref[:10], ids=np.arange(10), transform=TRANSFORM, annulus=(12, 20), error=error)
    unmeasured = forced_photometry(data, radii=[4], fwhm=float("nan"), fwhm_radii=(1.5,), **options)
    assert unmeasured["flux_f1.5"].isna().all() and unmeasured["flux_err_f1.5"].isna().all()
    assert (unmeasured["flags_f1.5"] == -1).all() and (unmeasured["flags"] == unmeasured["flags_r4"]).all()
    without = forced_photometry(data, radii=[4], fwhm_radii=(1.5,), **options)
    assert not any(name.startswith("flux_f") for name in without)
    shared = forced_photometry(data, radii=[4], fwhm=4.0, fwhm_radii=(1,), **options)
    np.testing.assert_array_equal(shared["flux_f1"], shared["flux_r4"])
    np.testing.assert_array_equal(shared["flags_f1"], shared["flags_r4"])
    # A scaled aperture (14 px) reaching the annulus (12-20 px) takes one moved out, its width kept: 17.5-25.5 px.
    # The 4 px aperture keeps the configured annulus: the same sky, flux and flags as when measured alone.
    moved = forced_photometry(data, radii=[4], fwhm=4.0, fwhm_radii=(3.5,), **options)
    direct = forced_photometry(data, radii=[14], **{**options, "annulus": (17.5, 25.5)})
    alone = forced_photometry(data, radii=[4], **options)
    np.testing.assert_array_equal(moved["flux_f3.5"], direct["flux_r14"])
    np.testing.assert_array_equal(moved["flags_f3.5"], direct["flags_r14"])
    for column in ("bkg", "bkg_err", "flux_r4", "flux_err_r4", "flags_r4"):
        np.testing.assert_array_equal(moved[column], alone[column])
    assert not np.array_equal(moved["bkg"], direct["bkg"])
    with pytest.raises(ValueError, match="fwhm_radii"):
        forced_photometry(data, radii=[4], fwhm=4.0, fwhm_radii=(1, 1.0), **options)
    with pytest.raises(ValueError, match="no transform"):
        forced_photometry(data, radii=[4], **{**options, "transform": Transform.unknown()})


def test_stars_off_the_frame_get_edge_and_nan_fluxes():
    rng = np.random.default_rng(11)
    xf = np.array([-30.0, 2.0, 1021.5, 500.0, 300.0, 700.0])
    yf = np.array([400.0, 600.0, 300.0, 1100.0, 300.0, 700.0])
    data, error = observe(rng, render(SHAPE, xf, yf, np.full(xf.size, 2e4), 1.5))
    table = forced_photometry(data, x=frame_to_reference(xf, yf)[0], y=frame_to_reference(xf, yf)[1],
                              ids=np.arange(6), transform=TRANSFORM, radii=[3, 6], annulus=(10, 15), error=error)
    edge = (table["flags"] & EDGE) > 0
    np.testing.assert_array_equal(edge, [True, True, True, True, False, False])
    assert table.loc[edge, ["flux_r6", "flux_err_r6"]].isna().all().all()
    assert np.isnan(table["flux_r3"][0]) and np.isnan(table["peak"][0])  # wholly off: no data at all
    assert np.isnan(table["flux_r3"][3]) and np.isnan(table["bkg"][3])
    assert table.loc[~edge, "flux_r6"].notna().all()


def cosmic_field(rng):
    """Nine faint stars (FWHM 3.5 px) on a 3 x 3 grid of the frame, their frame data and error."""
    xf, yf = (g.ravel() + 0.3 for g in np.meshgrid([200.0, 500.0, 800.0], [200.0, 500.0, 800.0]))
    data, error = observe(rng, render(SHAPE, xf, yf, np.full(xf.size, 6e3), 1.5))
    return data, error, xf, yf


def measure(data, error, xf, yf, **options):
    x_ref, y_ref = frame_to_reference(xf, yf)
    return forced_photometry(data, x=x_ref, y=y_ref, ids=np.arange(xf.size), transform=TRANSFORM, radii=[3, 6],
                             annulus=(10, 15), error=error, **options)


def test_a_cosmic_ray_flags_its_star_only():
    data, error, xf, yf = cosmic_field(np.random.default_rng(3))
    assert (measure(data, error, xf, yf)["flags"] == 0).all()
    hit = data.copy()
    # A single pixel of 5000 ADU 2 px right of star 1 and 1 px up: the brightest pixel of that faint star's
    # aperture (its core is ~350 ADU), so "not the brightest pixel" alone would have let it pass.
    hit[int(yf[1]) + 1, int(xf[1]) + 2] += 5000
    # A 2-pixel streak in star 5's aperture, 4 px from its centre.
    hit[int(yf[5]) - 1, int(xf[5]) - 4 : int(xf[5]) - 2] += 1500
    hit[50, 50] += 5000  # far from every star: flags nothing
    table = measure(hit, error, xf, yf)
    np.testing.assert_array_equal(table["flags"] & COSMIC > 0, np.isin(np.arange(9), [1, 5]))
    assert (table["flags"] & ~COSMIC == 0).all()
    assert table["peak"][1] > 4500
    # Without an error map the frame's own noise sets the threshold: the same stars are flagged.
    no_error = measure(hit, None, xf, yf)
    np.testing.assert_array_equal(no_error["flags"], table["flags"])
    assert no_error["flux_err_r3"].isna().all()


@pytest.mark.parametrize("offset", [0.0, 0.3, -0.45])
def test_a_sharp_bright_star_is_no_cosmic_ray_but_a_hit_beside_it_is(offset):
    rng = np.random.default_rng(5)
    xf, yf = np.array([400.0 + offset]), np.array([600.0 - offset / 2])
    sigma = 1.5 / FWHM_PER_SIGMA  # FWHM 1.5 px
    data, error = observe(rng, render(SHAPE, xf, yf, np.array([4e5]), sigma))
    # Its core is a spike, and so are the core's 4 neighbours once it is found: the rule has a cross to tell apart.
    found = spikes(data, error)
    assert found[600, 400] and found[599:602, 399:402].sum() == 5 and found[590:611, 390:411].sum() == 5
    table = measure(data, error, xf, yf)
    assert table["flags"][0] == 0
    data[603, 398] += 5000  # a hit within 4 px of the core, dimmer than it
    assert measure(data, error, xf, yf)["flags"][0] == COSMIC
    data[597, 400] += 5000  # a 2-pixel streak 3 px from the core: a hit
    data[603, 398] -= 5000
    data[597, 401] += 5000
    assert measure(data, error, xf, yf)["flags"][0] == COSMIC


def test_saturated_pixels_flag_their_star():
    data, error, xf, yf = cosmic_field(np.random.default_rng(9))
    saturated = np.zeros(SHAPE, bool)
    saturated[int(round(yf[4])), int(round(xf[4]))] = True
    mask = np.zeros(SHAPE, np.uint8)
    mask[int(round(yf[7])) + 4, int(round(xf[7]))] = 16  # a masked pixel: NaN fluxes, NONFINITE, no spike
    table = measure(data, error, xf, yf, saturated=saturated, mask=mask)
    np.testing.assert_array_equal(table["flags"], np.where(np.arange(9) == 4, SATURATED, 0)
                                  + np.where(np.arange(9) == 7, NONFINITE, 0))
    assert np.isfinite(table["flux_r6"][4]) and np.isnan(table["flux_r6"][7]) and np.isfinite(table["flux_r3"][7])
    # The masked pixel, 4 px out, is in the 6 px aperture only; the saturated one, the star's centre, in both.
    np.testing.assert_array_equal(table["flags_r6"], table["flags"])
    np.testing.assert_array_equal(table["flags_r3"], np.where(np.arange(9) == 4, SATURATED, 0))


def test_neighbours_and_an_empty_catalog():
    data, error, xf, yf = cosmic_field(np.random.default_rng(2))
    xf, yf = np.append(xf, xf[0] + 8), np.append(yf, yf[0])
    table = measure(data, error, xf, yf)
    assert set(np.flatnonzero(table["flags"] & NEIGHBOUR)) == {0, 9}
    assert not (table["flags"] & CROWDED_SKY).any()
    empty = forced_photometry(data, x=[], y=[], ids=[], transform=TRANSFORM, radii=[3], annulus=(5, 8),
                              fwhm=3.0, fwhm_radii=(1.5,))
    assert empty.empty and {"id", "x", "y", "x_ref", "y_ref", "flux_r3", "flux_f1.5", "flags", "flags_r3", "flags_f1.5",
                            "peak"} <= set(empty)


def test_a_defect_between_two_apertures_flags_only_the_larger():
    """Radii of 4 and 9 px: a cosmic-ray hit 6.2 px from star 1 (nearest point of its pixel), a saturated pixel
    5.8 px from star 4, and star 6 at 6 px from the frame's left edge: each spoils the 9 px aperture only."""
    rng = np.random.default_rng(13)
    xf, yf = (g.ravel() + 0.3 for g in np.meshgrid([200.0, 500.0, 800.0], [200.0, 500.0, 800.0]))
    xf[6] = 6.0
    data, error = observe(rng, render(SHAPE, xf, yf, np.full(xf.size, 6e3), 1.5))
    data[int(yf[1]), int(xf[1]) + 7] += 5000
    saturated = np.zeros(SHAPE, bool)
    saturated[int(yf[4]) - 6, int(xf[4])] = True
    x_ref, y_ref = frame_to_reference(xf, yf)
    table = forced_photometry(data, x=x_ref, y=y_ref, ids=np.arange(9), transform=TRANSFORM, radii=[4, 9],
                              annulus=(12, 18), error=error, saturated=saturated)
    expected = np.zeros(9, int)
    expected[[1, 4, 6]] = [COSMIC, SATURATED, EDGE]
    np.testing.assert_array_equal(table["flags_r9"], expected)
    np.testing.assert_array_equal(table["flags"], expected)  # the largest aperture's, as before
    assert (table["flags_r4"] == 0).all()
    assert np.isnan(table["flux_r9"][6]) and np.isfinite(table["flux_r4"]).all()


@pytest.mark.parametrize("offset", [0.0, 0.3, -0.45])
def test_a_hit_outshining_a_sharp_star_leaves_its_core_to_the_smaller_aperture(offset):
    """A hit brighter than a sharp star's core 5 px from it is the 6 px aperture's brightest pixel, but not the
    3 px one's: there the core is the brightest, and its cross of spikes is the star's, no cosmic ray."""
    rng = np.random.default_rng(5)
    xf, yf = np.array([400.0 + offset]), np.array([600.0 - offset / 2])
    data, error = observe(rng, render(SHAPE, xf, yf, np.array([4e5]), 1.5 / FWHM_PER_SIGMA))
    data[600, 405] += 1e5  # the core is at most 6.4e4 ADU
    table = measure(data, error, xf, yf)
    assert table["peak"][0] > 9e4
    assert table["flags_r6"][0] == COSMIC and table["flags"][0] == COSMIC and table["flags_r3"][0] == 0


@pytest.mark.parametrize("radius", [0.5, 1.0, 3.7, 9.0, 18.0])
def test_source_disks_are_the_positions_dilated_by_a_disk(radius):
    """Against the straightforward way: the positions' pixels on a padded image, dilated by the disk."""
    from scipy import ndimage

    rng = np.random.default_rng(7)
    shape, reach = (100, 140), math.ceil(radius)
    x, y = rng.uniform(-25, shape[1] + 25, 30), rng.uniform(-25, shape[0] + 25, 30)
    x[3] = np.nan
    padded = np.zeros((shape[0] + 2 * reach, shape[1] + 2 * reach), bool)
    finite = np.isfinite(x)
    rows, columns = np.rint(y[finite]).astype(int) + reach, np.rint(x[finite]).astype(int) + reach
    inside = (rows >= 0) & (rows < padded.shape[0]) & (columns >= 0) & (columns < padded.shape[1])
    padded[rows[inside], columns[inside]] = True
    offsets = np.arange(-reach, reach + 1)
    disk = offsets[:, None] ** 2 + offsets[None, :] ** 2 <= radius**2
    expected = ndimage.binary_dilation(padded, structure=disk)[reach:-reach, reach:-reach]
    disks = source_disks(shape, x, y, radius)
    assert 0 < disks.sum() < disks.size and np.array_equal(disks, expected)


def test_cpu_time_of_2000_stars_on_a_1024_frame():
    rng = np.random.default_rng(2000)
    xf, yf = rng.uniform(10, 1014, 2000), rng.uniform(10, 1014, 2000)
    data, error = observe(rng, render(SHAPE, xf, yf, np.exp(rng.uniform(np.log(2e3), np.log(2e5), 2000)), 1.5))
    x_ref, y_ref = frame_to_reference(xf, yf)
    options = dict(x=x_ref, y=y_ref, ids=np.arange(2000), transform=TRANSFORM, radii=[3, 5, 8], annulus=(10, 15),
                   error=error, mask=np.zeros(SHAPE, np.uint8), saturated=data > 3e4, fwhm=3.53, fwhm_radii=(1.0, 2.0),
                   mask_sources=7.06)  # as the workflow: disks of twice the FWHM out of the annuli
    forced_photometry(data, **options)  # the imports of the first call are not the frame's cost
    start = time.process_time()
    table = forced_photometry(data, **options)
    cpu = time.process_time() - start
    print(f"forced photometry: 2000 stars, 1024 x 1024, 5 radii, stars masked in the annuli: {cpu:.2f} s of CPU")
    assert len(table) == 2000
