"""The real OGLE-IV time series of an LMC Cepheid (../shared/data/cepheid_ogle: 98 nightly I-band frames, one
of them 180 s among 150 s ones) through the workflow, against that project's own light curve of the star."""

import numpy as np
import pytest
from astropy.table import Table
from astropy.timeseries import LombScargle

from conftest import shared_set
from workflow_helpers import run_snakemake

pytestmark = pytest.mark.shared

# Las Campanas, where the Warsaw telescope stands (the headers name the observatory, not where it is).
LAS_CAMPANAS = {"latitude": -29.0146, "longitude": -70.6926, "elevation": 2380.0}
GROUP = "150s"  # the 97 frames of 150 s; the one of 180 s is a group of its own, no time series


def cepheid_in(catalog, reference):
    """The catalog source at which that project's own star positions (``reference``: the Cepheid, then its
    comparison stars, in its own frame's pixels) land on catalog sources, moved by where the Cepheid is."""
    offsets = reference[1:] - reference[0]
    best, best_hits = None, 0
    for source in catalog.itertuples():
        moved = np.array([source.x, source.y]) + offsets
        distance = np.hypot(catalog.x.to_numpy()[:, None] - moved[:, 0], catalog.y.to_numpy()[:, None] - moved[:, 1])
        hits = int((distance.min(axis=0) < 1.0).sum())
        if hits > best_hits:
            best, best_hits = source, hits
    return best, best_hits


@pytest.fixture(scope="module")
def cepheid(tmp_path_factory):
    import pandas as pd

    folder = shared_set("cepheid_ogle")
    work = tmp_path_factory.mktemp("cepheid")
    # The default apertures, fixed and scaled by each frame's FWHM: the light curve takes the one its comparison
    # stars scatter least in. The cutouts are flat-fielded already and the stars' annuli take their sky: a
    # constant background will do.
    settings = {"observatory": LAS_CAMPANAS, "lightcurve": {},
                "background": {"method": "constant"}, "detect": {"residual_pass": False}}
    # Two jobs per per-frame stage: the products are the same whatever the batches, the Python starts fewer.
    config = {"datasets": {"cepheid": {"path": str(folder), "settings": settings}}, "run": {"batch_size": 49}}
    results = work / "results" / "cepheid" / GROUP
    run_snakemake(work, config, f"results/cepheid/{GROUP}/catalog.csv")
    source, hits = cepheid_in(pd.read_csv(results / "catalog.csv"), np.loadtxt(folder / "coordinates.dat"))
    assert hits >= 2, "that project's comparison stars are not among the catalog's"
    settings["lightcurve"]["targets"] = [{"name": "cepheid", "x": float(source.x), "y": float(source.y)}]
    run_snakemake(work, config, f"results/cepheid/{GROUP}/lightcurves/cepheid.csv")
    table = Table.read(results / "lightcurves" / "cepheid.ecsv", format="ascii.ecsv")
    variability = pd.read_csv(results / "lightcurves" / "variability.csv")
    return table.to_pandas(), table.meta, np.loadtxt(folder / "cepheid.dat"), variability


def period_of(t, y):
    frequency, power = LombScargle(t, y).autopower(minimum_frequency=1 / 30, maximum_frequency=1 / 1.5,
                                                   samples_per_peak=50)
    return 1 / frequency[np.argmax(power)]


def fourier_amplitude(t, y, period, terms=4):
    """Peak-to-peak of a Fourier series fitted to the curve, over its mean: the amplitude, whatever the scale."""
    def design(phase):
        return np.column_stack([np.ones_like(phase)] + [f(k * phase) for k in range(1, terms + 1)
                                                        for f in (np.sin, np.cos)])
    coefficients, *_ = np.linalg.lstsq(design(2 * np.pi * t / period), y, rcond=None)
    model = design(np.linspace(0, 2 * np.pi, 1000)) @ coefficients
    return (model.max() - model.min()) / coefficients[0]


def test_the_cepheid_has_the_reference_curves_period_and_amplitude(cepheid):
    curve, meta, reference, _ = cepheid
    good = np.isfinite(curve["rel_flux"])
    period = period_of(curve["bjd_tdb"][good].to_numpy(), curve["rel_flux"][good].to_numpy())
    reference_period = period_of(reference[:, 1], reference[:, 0])
    amplitude = fourier_amplitude(curve["bjd_tdb"][good].to_numpy(), curve["rel_flux"][good].to_numpy(), period)
    reference_amplitude = fourier_amplitude(reference[:, 1], reference[:, 0], reference_period)
    print(f"{good.sum()} of {len(curve)} frames against {len(meta['comparison_ids'])} comparison stars: period "
          f"{period:.4f} d (reference {reference_period:.4f} d), amplitude {amplitude:.4f} of the mean flux "
          f"(reference {reference_amplitude:.4f})")
    assert good.sum() >= 0.9 * len(curve)
    assert period == pytest.approx(reference_period, rel=0.005)
    assert amplitude == pytest.approx(reference_amplitude, rel=0.05)


def test_the_variability_search_finds_the_cepheid(cepheid):
    _, meta, _, table = cepheid
    print(f"{int(table['variable'].sum())} of {len(table)} stars flagged variable")
    assert table.set_index("id").loc[meta["target_id"], "variable"]


def test_the_check_star_is_flat_within_its_errors(cepheid):
    curve, meta, _, _ = cepheid
    level = np.nanmedian(curve["check_rel_flux"])
    relative, error = curve["check_rel_flux"] / level, curve["check_rel_flux_err"] / level
    good = np.isfinite(relative)
    slope, intercept = np.polyfit(curve["bjd_tdb"][good], relative[good], 1, w=1 / error[good])
    chi2 = np.sum(((relative[good] - 1) / error[good]) ** 2) / (good.sum() - 1)
    # The errors propagated from the error maps, before the ensemble's scale.
    spread, propagated = relative[good].std(), np.nanmedian(error) / meta["error_scale"]
    trend = slope * np.ptp(curve["bjd_tdb"][good])
    print(f"{meta['flux_column']} (comparison scatter {meta['comparison_scatter']}), errors scaled by "
          f"{meta['error_scale']}: check star {meta['check_id']} scatter {spread:.4f} against errors "
          f"{np.nanmedian(error):.4f} ({propagated:.4f} propagated), reduced chi-squared {chi2:.2f}, change over the "
          f"{np.ptp(curve['bjd_tdb'][good]):.0f} days {trend:+.4f}")
    assert spread < 1.5 * propagated and abs(trend) < 3 * np.nanmedian(error)
    # The scale is the ensemble's own excess scatter, not a free fudge: OGLE's error maps are close.
    assert 1.0 <= meta["error_scale"] < 1.5
