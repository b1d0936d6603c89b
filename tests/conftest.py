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


@pytest.fixture(scope="session")
def simulation_inputs():
    """Builder ``(recording, n_shuffles, fit_range, seed=0) -> SimulationInputs``: what the
    simulation-matched estimators take, made as ``estimate_alpha`` makes it."""
    from v1ann.recording import stimulus_responses
    from v1ann.spectrum.cvpca import cvpca_from_gram, shuffle_masks
    from v1ann.spectrum.estimate import _simulation_inputs
    from v1ann.spectrum.gram import repeat_gram

    def build(recording, n_shuffles, fit_range, seed=0):
        gram = repeat_gram(recording, progress=False)
        masks = shuffle_masks(n_shuffles, gram.n_stimuli, seed)
        signal, noise_variance = cvpca_from_gram(gram, masks, fit_range[1], progress=False)
        return _simulation_inputs(stimulus_responses(recording), gram, signal, noise_variance.mean(0), fit_range)

    return build
