"""Bootstrap intervals of alpha over shuffles and over stimuli."""

import numpy as np
import pytest

from v1ann.errors import InvalidInputError
from v1ann.spectrum.bootstrap import (
    alpha_ci_over_shuffles,
    alpha_ci_over_stimuli,
    interval_about,
)


def test_shuffle_interval_brackets_the_mean_fit_and_scales_with_scatter(rng):
    r = np.arange(1, 301.0)
    narrow = r**-1.2 * np.exp(rng.normal(0, 0.02, (10, r.size)))
    wide = r**-1.2 * np.exp(rng.normal(0, 0.2, (10, r.size)))
    lo_n, hi_n = alpha_ci_over_shuffles(narrow, (5, 200), n_bootstrap=300, seed=0)
    lo_w, hi_w = alpha_ci_over_shuffles(wide, (5, 200), n_bootstrap=300, seed=0)
    assert lo_n < 1.2 < hi_n
    assert hi_w - lo_w > 3 * (hi_n - lo_n)


def test_stimulus_bootstrap_of_activations_covers_the_sample_exponent():
    from v1ann import fit_powerlaw, pca_spectrum

    rng = np.random.default_rng(1)
    x = rng.standard_normal((400, 300)) * np.arange(1, 301.0) ** -0.6  # variance ~ rank**-1.2
    point = fit_powerlaw(pca_spectrum(x, device="cpu"), fit_range=(3, 60)).alpha
    lo, hi = alpha_ci_over_stimuli(x, (3, 60), n_bootstrap=25, seed=0, progress=False)
    assert lo < point < hi
    assert 0.02 < hi - lo < 0.5


def test_stimulus_bootstrap_of_cvpca_gram():
    from v1ann import fit_powerlaw, simulate_recording
    from v1ann.spectrum.cvpca import cvpca_from_gram, shuffle_masks
    from v1ann.spectrum.gram import repeat_gram

    gram = repeat_gram(simulate_recording(1.0, n_stimuli=200, n_neurons=400, noise_scale=0.5, seed=0), progress=False)
    signal, _ = cvpca_from_gram(gram, shuffle_masks(2, 200, 0), 60, progress=False)
    point = fit_powerlaw(signal.mean(0), fit_range=(3, 40)).alpha
    lo, hi = alpha_ci_over_stimuli(gram, (3, 40), n_bootstrap=30, seed=0, progress=False)
    assert lo < point < hi
    assert hi - lo < 0.6


def test_interval_errors():
    with pytest.raises(InvalidInputError, match="n_shuffles >= 2"):
        alpha_ci_over_shuffles(np.ones((1, 100)))
    with pytest.raises(InvalidInputError, match="ci must be"):
        interval_about(2.0, [1.0, 2.0, 3.0], ci=1.5)
    with pytest.raises(InvalidInputError, match="fewer than 2"):
        interval_about(1.0, [np.nan, 1.0])
