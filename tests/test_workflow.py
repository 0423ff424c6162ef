"""End to end: the workflow on a small synthetic frame set with known truth, through Snakemake."""

import numpy as np
import pandas as pd
import pytest
import yaml
from astropy.io import fits

from stackphot.stack import combine
from stackphot.io import CubeRows
from stackphot.simulate import SimulationConfig, simulate_frame_set
from workflow_helpers import run_snakemake, snakemake_command

pytestmark = pytest.mark.workflow

SIMULATION = {"shape": [300, 360], "n_frames": 5, "seed": 5, "n_cluster_stars": 500, "n_field_stars": 250,
              "cluster_scale_radius": 50.0, "cluster_max_radius": 200.0, "cosmic_rays_per_frame": 25.0,
              "max_offset": 20.0, "pixel_scale": 0.9, "rotation": 35.0}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """The workflow with the default sigma_clip stack (the state the tests read), then what a sum stack would
    rerun (a dry run) and the sum of its cube (the rule's function)."""
    work = tmp_path_factory.mktemp("workflow")
    (work / "sim.yaml").write_text(yaml.safe_dump(SIMULATION))
    config = {"datasets": {"tiny": {"simulate": "sim.yaml"}}, "stack": {"method": "sigma_clip"}}
    run_snakemake(work, config)
    rerun = run_snakemake(work, {**config, "stack": {"method": "sum"}}, "--dry-run")
    with CubeRows(work / "results/tiny/aligned_cube.fits") as cube:
        summed = combine(cube, method="sum").image
    return {"work": work, "results": work / "results/tiny", "sum": summed,
            "sigma_clip": fits.getdata(work / "results/tiny/stack.fits"), "rerun_log": rerun.stdout + rerun.stderr,
            "truth": simulate_frame_set(SimulationConfig.from_mapping(SIMULATION))}


def test_every_product_is_written(run):
    results = run["results"]
    for name in ("frames.csv", "shifts.csv", "aligned_cube.fits", "stack.fits", "registration_accuracy.csv",
                 "register/reference.fits", "register/batch_0001.csv"):
        assert (results / name).is_file(), name
    for frame in ("frame_001", "frame_005"):
        for stage in ("ingest/{}.fits", "background/{}.sub.fits", "background/{}.sky.fits", "aligned/{}.fits"):
            assert (results / stage.format(frame)).is_file()
    frames = pd.read_csv(results / "frames.csv")
    assert list(frames.frame) == [f"frame_00{i}" for i in range(1, 6)]
    assert (frames.exptime == 5.0).all() and (frames.gain == 1.5).all()


def test_changing_the_stack_method_reruns_only_the_stack(run):
    assert "rule stack_frames" in run["rerun_log"] and "reason: Params have changed" in run["rerun_log"]
    for rule in ("ingest_frames", "subtract_backgrounds", "measure_shifts", "align_frames", "build_cube"):
        assert f"rule {rule}" not in run["rerun_log"] and f"\n{rule} " not in run["rerun_log"]


def test_a_second_run_with_nothing_changed_runs_no_job(run):
    config = {"datasets": {"tiny": {"simulate": "sim.yaml"}}, "stack": {"method": "sigma_clip"}}
    again = run_snakemake(run["work"], config)
    assert "Nothing to be done" in again.stdout + again.stderr


def test_killed_while_stacking_then_rerun_on_1_core_in_batches_gives_the_same_bytes(run, tmp_path):
    """Against the fixture's clean run (2 cores, one frame per job, the warm worker): 1 core, batches of 3 and 2
    frames, no worker, the whole run sent SIGKILL as the stack job starts, unlocked and rerun. Every product is
    byte-identical and the raw frames are untouched."""
    import hashlib
    import os
    import signal
    import subprocess
    import time

    (tmp_path / "sim.yaml").write_text(yaml.safe_dump(SIMULATION))
    config = {"datasets": {"tiny": {"simulate": "sim.yaml"}}, "run": {"batch_size": 3, "worker": False}}
    command, env = snakemake_command(tmp_path, config, "--cores", "1")
    started = tmp_path / "logs/tiny/stack_frames.log"
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               start_new_session=True)
    while not started.exists() and process.poll() is None:
        time.sleep(0.02)
    assert process.poll() is None, "the run ended before the stack job started"
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    batches = sorted(path.name for path in (tmp_path / "logs/tiny/ingest_frames").iterdir())
    assert batches == ["batch_0001.log", "batch_0002.log"]  # frames 1-3, then 4-5
    stack = tmp_path / "results/tiny/stack.fits"
    assert not stack.exists() or stack.read_bytes() == (run["results"] / "stack.fits").read_bytes()
    raw = {path: hashlib.sha256(path.read_bytes()).hexdigest() for path in (tmp_path / "data/tiny").glob("*.fits")}
    run_snakemake(tmp_path, config, "--unlock")
    rerun = run_snakemake(tmp_path, config, "--cores", "1")
    assert "stack_frames" in rerun.stderr and "simulate_tiny" not in rerun.stderr
    ours, theirs = tmp_path / "results/tiny", run["results"]

    def products(results):
        """Every product but the batches' shift tables, which are cut by batch: shifts.csv holds their rows."""
        return sorted(path.relative_to(results) for path in results.rglob("*")
                      if path.is_file() and not path.match("register/batch_*.csv"))

    assert products(ours) == products(theirs)
    assert len(list((ours / "register").glob("batch_*.csv"))) == 2
    assert [str(name) for name in products(theirs) if (ours / name).read_bytes() != (theirs / name).read_bytes()] == []
    assert raw == {path: hashlib.sha256(path.read_bytes()).hexdigest() for path in raw}


def test_shifts_match_the_truth(run):
    shifts = pd.read_csv(run["results"] / "shifts.csv")
    assert list(shifts.columns[:3]) == ["frame", "dy", "dx"]
    accuracy = pd.read_csv(run["results"] / "registration_accuracy.csv")
    rms = np.sqrt((accuracy.error_dy**2 + accuracy.error_dx**2).mean())
    print(f"workflow shift error RMS {rms:.4f} px")
    assert rms < 0.05
    assert (shifts.correlation > 0.5).all()


def test_frame_quality_gives_each_frame_its_stars_and_fwhm(run):
    quality = pd.read_csv(run["results"] / "frame_quality.csv")
    true_fwhm = np.array(run["truth"].fwhm)
    print("frame FWHM measured / true:", np.round(quality.fwhm.to_numpy() / true_fwhm, 3))
    np.testing.assert_allclose(quality.fwhm, true_fwhm, rtol=0.1)
    assert np.argmin(quality.fwhm) == np.argmin(true_fwhm)  # the sharpest frame is told apart
    assert (quality.n_stars > 50).all()
    assert quality.accepted.all()


def test_uncovered_pixels_are_nan_and_counted(run):
    truth = run["truth"].transforms
    with fits.open(run["results"] / "aligned_cube.fits") as cube, fits.open(run["results"] / "stack.fits") as stack:
        data = cube[0].data
        assert data.shape == (5, 300, 360)
        for plane, (dy, dx) in zip(data, truth[["dy", "dx"]].to_numpy()):
            # Shifted right by dx > 0, the first columns have no data: NaN, not zero.
            edge = plane[:, : int(np.floor(dx))] if dx >= 1 else plane[:, int(np.ceil(dx)) :] if dx <= -1 else None
            if edge is not None:
                assert np.isnan(edge).all()
        coverage = stack["COVERAGE"].data
        np.testing.assert_array_equal(coverage, np.isfinite(data).sum(axis=0))
        np.testing.assert_array_equal(cube["COVERAGE"].data, coverage)
        assert coverage.max() == 5 and (coverage == 0).mean() < 1e-3
        assert np.array_equal(np.isnan(stack[0].data), coverage == 0)


def test_stack_header_tells_how_it_was_made(run):
    header = fits.getheader(run["results"] / "stack.fits")
    assert header["NCOMBINE"] == 5 and header["STACKMTH"] == "sigma_clip"
    assert header["TEXPTIME"] == 25.0 and header["EXPTIME"] == 5.0  # a mean's pixels hold one frame's exposure
    assert header["BUNIT"] == "adu" and header["DATE-OBS"].startswith("2024-06-14T22:30:00")
    history = "\n".join(header["HISTORY"])
    for i in range(1, 6):
        assert f"input frame_00{i}.fits" in history
    assert "shift frame_002.fits: dy" in history and "software: stackphot" in history and "photutils" in history
    assert any("Stack of 5 frames" in line for line in header["COMMENT"])
    assert all(len(card.image) == 80 for card in header.cards)


def isolated_bright_stars(stars, shape, *, margin=25, separation=12.0):
    """Unsaturated bright stars far from the edges and from any other star of note."""
    inside = stars[(stars.x > margin) & (stars.x < shape[1] - margin) & (stars.y > margin) & (stars.y < shape[0] - margin)]
    chosen = []
    for star in inside[(inside.flux > 3e3) & (inside.flux < 1.5e5)].itertuples():
        distance = np.hypot(stars.x - star.x, stars.y - star.y)
        if not ((distance > 0) & (distance < separation) & (stars.flux > 0.02 * star.flux)).any():
            chosen.append((star.x, star.y))
    return np.array(chosen)


def median_fwhm(image, positions):
    from photutils.psf import fit_fwhm

    return float(np.median(fit_fwhm(np.nan_to_num(image), xypos=positions, fit_shape=9)))


def test_stacking_keeps_stars_sharp(run):
    truth = run["truth"]
    positions = isolated_bright_stars(truth.stars, SIMULATION["shape"])
    assert len(positions) >= 10
    stack_fwhm = median_fwhm(run["sigma_clip"], positions)
    single = []
    for frame, (dy, dx) in zip(truth.transforms.frame, truth.transforms[["dy", "dx"]].to_numpy()):
        data = fits.getdata(run["results"] / "background" / f"{frame}.sub.fits")
        single.append(median_fwhm(data, positions - [dx, dy]))  # the stars where this frame saw them
    print(f"FWHM: stack {stack_fwhm:.3f} px, single frames {np.round(single, 3)} (truth {np.round(truth.fwhm, 3)})")
    assert stack_fwhm == pytest.approx(np.median(single), rel=0.05)


def test_sigma_clip_removes_the_cosmic_rays_that_sum_keeps(run):
    truth = run["truth"]
    rays = truth.cosmic_rays.merge(truth.transforms, on="frame")
    ny, nx = SIMULATION["shape"]
    y = np.round(rays.y + rays.dy).astype(int)
    x = np.round(rays.x + rays.dx).astype(int)
    inside = (y >= 2) & (y < ny - 2) & (x >= 2) & (x < nx - 2)
    y, x, adu = y[inside], x[inside], rays.adu[inside].to_numpy()
    assert len(adu) > 50
    mean_of_sum = run["sum"][y, x] / 5
    clipped = run["sigma_clip"][y, x]
    # sum keeps each ray: a fifth of its charge (spread a little by the interpolation) stays in the pixel.
    kept = mean_of_sum - clipped > 0.2 * adu / 5
    print(f"cosmic-ray pixels: {kept.mean():.1%} of {len(adu)} kept by sum")
    assert kept.mean() > 0.95
    with fits.open(run["results"] / "stack.fits") as stack:
        error = stack["ERR"].data[y, x] * np.sqrt(5)  # one frame's error from the mean's
    with fits.open(run["results"] / "aligned_cube.fits") as cube:
        median = np.nanmedian(cube[0].data[:, y, x], axis=0)
    clean = np.abs(clipped - median) < 5 * error / np.sqrt(5)
    print(f"cosmic-ray pixels: {clean.mean():.1%} clean in the sigma_clip stack")
    assert clean.mean() > 0.95


def test_the_stack_wcs_gives_each_star_the_sky_position_every_frame_gives_it(run):
    """Sky positions from the catalog (stack WCS at the found centroid) against the truth: a star's true pixel
    position on frame_004, through frame_004's own WCS. Each simulated frame's WCS follows its offset."""
    from astropy.wcs import WCS

    from stackphot.detect import cross_match

    truth = run["truth"]
    catalog = pd.read_csv(run["results"] / "catalog.csv")
    stars = pd.DataFrame(isolated_bright_stars(truth.stars, SIMULATION["shape"]), columns=["x", "y"])
    index, _ = cross_match(stars.x, stars.y, catalog.x, catalog.y, radius=1.0)
    found = catalog.iloc[index[index >= 0]]
    stars = stars[index >= 0]
    dy, dx = truth.transforms.iloc[3][["dy", "dx"]]
    frame = WCS(truth.headers[3])
    true_ra, true_dec = frame.pixel_to_world_values(stars.x - dx, stars.y - dy)
    offset = np.hypot((found.ra.to_numpy() - true_ra) * np.cos(np.radians(true_dec)), found.dec.to_numpy() - true_dec)
    offset_arcsec = offset * 3600
    print(f"{len(found)} bright stars: sky offset median {np.median(offset_arcsec):.3f}, max {offset_arcsec.max():.3f}"
          " arcsec (0.9 arcsec pixels)")
    assert len(found) >= 8
    assert np.median(offset_arcsec) < 0.05 and offset_arcsec.max() < 0.15  # centroid errors, well under a pixel

    # An aligned frame's WCS is the reference's: its pixels hold the reference's sky.
    aligned = WCS(fits.getheader(run["results"] / "aligned/frame_004.fits"))
    reference = WCS(fits.getheader(run["results"] / "stack.fits"))
    assert np.hypot(dy, dx) > 5  # unmoved, the frame's WCS would be this far off
    np.testing.assert_allclose(aligned.pixel_to_world_values(100.0, 200.0), reference.pixel_to_world_values(100.0, 200.0),
                               rtol=0, atol=0.1 / 3600)  # the measured shift's error (< 0.05 px) in arcsec, and more


def moffat_fraction(radius, fwhm, beta):
    """Fraction of a Moffat star's flux within ``radius``: 1 - (1 + r^2/alpha^2)^(1 - beta)."""
    from stackphot.numerics import moffat_alpha

    return 1 - (1 + radius**2 / moffat_alpha(fwhm, beta) ** 2) ** (1 - beta)


@pytest.fixture(scope="module")
def stack_truth(run):
    """True stars on the stack with their own signal-to-noise there: the true flux within 1.5 FWHM over the
    stack's noise in that aperture (a neighbour's light is not signal)."""
    from photutils.aperture import CircularAperture, aperture_photometry

    truth = run["truth"]
    with fits.open(run["results"] / "stack.fits") as stack:
        error = stack["ERR"].data.astype(float)
    stars = truth.stars
    ny, nx = error.shape
    stars = stars[(stars.x > 10) & (stars.x < nx - 11) & (stars.y > 10) & (stars.y < ny - 11)].reset_index(drop=True)
    radius = 1.5 * np.mean(truth.fwhm)
    apertures = CircularAperture(np.column_stack([stars.x, stars.y]), r=radius)
    noise = aperture_photometry(error**2, apertures)["aperture_sum"].value ** 0.5
    fraction = np.mean([moffat_fraction(radius, fwhm, truth.config.moffat_beta) for fwhm in truth.fwhm])
    stars["snr"] = stars.flux * fraction / noise
    return stars


def test_the_catalog_is_complete_and_clean(run, stack_truth):
    from stackphot.detect import cross_match

    catalog = pd.read_csv(run["results"] / "catalog.csv")
    stars = stack_truth
    # A star within the finder's minimum separation (5 px) of a brighter one is one blend to any finder:
    # it is judged as part of the brighter one.
    blended = np.zeros(len(stars), bool)
    for i, star in stars.iterrows():
        close = np.hypot(stars.x - star.x, stars.y - star.y)
        blended[i] = ((close > 0) & (close < 5.0) & (stars.flux > star.flux)).any()
    sample = stars[(stars.snr > 10) & ~blended]
    index, _ = cross_match(sample.x, sample.y, catalog.x, catalog.y, radius=1.5)
    completeness = (index >= 0).mean()
    matched, _ = cross_match(catalog.x, catalog.y, run["truth"].stars.x, run["truth"].stars.y, radius=1.5)
    false_fraction = (matched < 0).mean()
    print(f"completeness {completeness:.3f} of {len(sample)} stars with SNR > 10; "
          f"{(matched < 0).sum()} of {len(catalog)} catalog entries ({false_fraction:.2%}) match no true star")
    assert len(sample) > 100
    assert completeness >= 0.95
    assert false_fraction <= 0.01


def test_photometry_errors_are_honest(run, stack_truth):
    from stackphot.detect import cross_match
    from stackphot.photometry import CROWDED_SKY, EDGE, NONFINITE, SATURATED

    photometry = pd.read_csv(run["results"] / "photometry.csv")
    stars = stack_truth
    isolated = np.array([not ((np.hypot(stars.x - s.x, stars.y - s.y) < 10) & (stars.flux > 0.02 * s.flux)
                              & (stars.index != i)).any() for i, s in stars.iterrows()])
    index, _ = cross_match(stars.x, stars.y, photometry.x, photometry.y, radius=1.0)
    usable = isolated & (index >= 0)
    measured = photometry.iloc[index[usable]]
    # CROWDED_SKY: the annulus is too crowded to leave other sources out, and the flag says its sky is biased.
    clean = (measured["flags"].to_numpy() & (EDGE | NONFINITE | SATURATED | CROWDED_SKY)) == 0
    measured, true_flux = measured[clean], stars.flux[usable][clean].to_numpy()  # a mean of frames
    snr = (measured.flux / measured.flux_err).to_numpy()
    # The aperture fraction of the stack's PSF (the frames' seeing, broadened a little by the alignment's
    # interpolation), from its bright stars; the errors are then judged on the fainter ones.
    fraction = np.median(measured.flux.to_numpy()[snr >= 100] / true_flux[snr >= 100])
    faint = (snr > 10) & (snr < 100)
    pulls = (measured.flux.to_numpy()[faint] - fraction * true_flux[faint]) / measured.flux_err.to_numpy()[faint]
    print(f"aperture fraction {fraction:.4f} from {(snr >= 100).sum()} bright stars; {pulls.size} stars with "
          f"10 < SNR < 100: pull mean {np.mean(pulls):.3f}, std {np.std(pulls):.3f}")
    assert (snr >= 100).sum() >= 5 and pulls.size >= 25
    assert abs(np.mean(pulls)) < 0.5
    assert 0.8 <= np.std(pulls) <= 1.25


def test_the_report_shows_every_figure(run):
    """snakemake --report on the finished run: one self-contained HTML file with every figure."""
    report = run["work"] / "report.html"
    config = {"datasets": {"tiny": {"simulate": "sim.yaml"}}, "stack": {"method": "sigma_clip"}}
    run_snakemake(run["work"], config, "--report", str(report))
    text = report.read_text()
    for name in ("stack.png", "registration.png", "background.png", "frame_quality.html", "curve_of_growth.png"):
        assert f'"filename": "{name}"' in text, name
    assert text.count("data:image/png") >= 4 and "data:text/html" in text
    assert 'src="http' not in text


def test_ecsv_products_round_trip_with_their_units(run):
    import astropy.units as u
    from astropy.table import Table

    catalog = Table.read(run["results"] / "catalog.ecsv")
    photometry = Table.read(run["results"] / "photometry.ecsv")
    assert catalog["x"].unit == u.pix and catalog["flux"].unit == u.adu
    assert photometry["flux"].unit == u.adu and photometry["flux_err_r4"].unit == u.adu
    assert photometry["mag"].unit == u.mag
    assert photometry.meta["flux_unit"] == "adu" and photometry.meta["annulus_px"] == [12.0, 18.0]
    as_csv = pd.read_csv(run["results"] / "photometry.csv")
    # A NaN flux (an aperture holding an uncovered pixel) comes back from the ECSV as a masked value; the CSV
    # holds 6 decimals, the ECSV every digit.
    np.testing.assert_allclose(np.ma.filled(photometry["flux"], np.nan), as_csv.flux.to_numpy(), rtol=0, atol=1e-6)
