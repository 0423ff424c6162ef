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


def shared_set(name):
    """One real set's folder in ../shared/data, for a module's fixture (which cannot use the function-scoped
    ``shared_data``); skipped when absent."""
    folder = SHARED_DATA / name
    if not folder.is_dir():
        pytest.skip(f"real data not available: {folder} does not exist")
    return folder


def gaussian_star(shape, y0, x0, *, flux=1000.0, sigma=1.5):
    """A pixel-integrated circular Gaussian star (exact to the pixel, through error functions)."""
    from stars import integrated_gaussian

    return flux * np.outer(integrated_gaussian(shape[0], y0, sigma), integrated_gaussian(shape[1], x0, sigma))


@pytest.fixture
def rng():
    return np.random.default_rng(20261124)
