"""Shared fixtures: where the real data lives, and small synthetic frames."""

from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"


@pytest.fixture
def shared_data():
    """The real frames in ../shared/data (read where they are, never copied); skipped when absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data not available: {SHARED_DATA} does not exist (it sits beside the project in CI)")
    return SHARED_DATA


def gaussian_star(shape, y0, x0, *, flux=1000.0, sigma=1.5):
    """A pixel-integrated circular Gaussian star (exact to the pixel, through error functions)."""
    from scipy.special import erf

    def integrated(n, centre):
        edges = np.arange(n + 1) - 0.5 - centre
        return np.diff(0.5 * erf(edges / (np.sqrt(2) * sigma)))

    return flux * np.outer(integrated(shape[0], y0), integrated(shape[1], x0))


@pytest.fixture
def rng():
    return np.random.default_rng(20261124)
