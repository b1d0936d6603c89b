"""Shared fixtures. Tests make their own small data; nothing touches the network."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
# CI clones the repo with shared/ beside it; the package ships its own copy too.
SHARED_SPECTRUM = REPO.parent / "shared" / "data" / "stringer2019_natimg2800_cvpca_spectrum.csv"

os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture(scope="session")
def stringer_spectrum_path() -> Path:
    """The real Stringer 2019 cvPCA spectrum (published alpha 0.97336)."""
    if SHARED_SPECTRUM.exists():
        return SHARED_SPECTRUM
    from v1ann._resources import STRINGER_SPECTRUM, data_file

    return data_file(STRINGER_SPECTRUM)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)
