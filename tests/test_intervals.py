"""Every interval estimate_alpha returns contains its own estimate, for every method and resampling."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import xarray as xr

import v1ann
from v1ann.errors import InvalidInputError

FIT = {"fit_range": (5, 80), "seed": 0, "progress": False}


@pytest.fixture(scope="module")
def recording():
    return v1ann.simulate_recording(1.0, n_stimuli=200, n_neurons=400, noise_scale=1.0, seed=3)


@pytest.fixture(scope="module")
def layer():
    """A random tanh layer on 220 white-noise images: the fit range runs up to 0.7 of the
    stimuli, where duplicated stimuli of a bootstrap shift the spectrum far."""
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(100, 400), torch.nn.Tanh())
    with torch.no_grad():
        values = net(torch.randn(220, 100)).numpy()
    return xr.DataArray(values, dims=("stimulus", "unit"))


@pytest.mark.parametrize("method, ci_method", [("cvpca", "shuffles"), ("cvpca", "stimuli"), ("cvpca-matched", None),
                                               ("cvpca-shape", None)])
def test_recording_intervals_contain_their_estimate(recording, method, ci_method):
    fit = v1ann.estimate_alpha(recording, method=method, ci_method=ci_method, n_shuffles=4, n_bootstrap=30, **FIT)
    low, high = fit.alpha_ci
    assert low <= fit.alpha <= high, (fit.alpha, fit.alpha_ci)


@pytest.mark.parametrize("method", ["pca", "pca-cv"])
@pytest.mark.parametrize("ci_method", ["jackknife", "stimuli"])
@pytest.mark.parametrize("stop", [60, 150])
def test_layer_intervals_contain_their_estimate(layer, method, ci_method, stop):
    if method == "pca-cv" and stop > 100:
        stop = 100  # pca-cv fits on half the stimuli
    fitting = 110 if method == "pca-cv" else 220  # stimuli that fit the components
    if ci_method == "stimuli" and stop > 0.6 * fitting:
        with pytest.raises(InvalidInputError, match="jackknife"):  # before the bootstrap, not in it
            v1ann.estimate_alpha(layer, method=method, ci_method=ci_method, **{**FIT, "fit_range": (5, stop)})
        return
    fit = v1ann.estimate_alpha(layer, method=method, ci_method=ci_method, n_bootstrap=30,
                               **{**FIT, "fit_range": (5, stop)})
    low, high = fit.alpha_ci
    assert low <= fit.alpha <= high, (fit.alpha, fit.alpha_ci)
    assert high - low < 1.0  # an interval, not the whole axis


def test_the_interval_is_the_spread_laid_about_the_estimate():
    from v1ann.spectrum.bootstrap import interval_about

    replicates = np.random.default_rng(0).normal(1.5, 0.1, size=2000)  # shifted well above the estimate
    low, high = interval_about(1.0, replicates, ci=0.9)
    spread = np.quantile(replicates, [0.05, 0.95])
    assert low < 1.0 < high
    assert high - low == pytest.approx(spread[1] - spread[0])
