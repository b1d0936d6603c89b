"""estimate_alpha: one API for recordings, repeat arrays, activations and tensors."""

import numpy as np
import pytest
import torch
import xarray as xr

import v1ann
from v1ann.errors import InvalidInputError, V1AnnError, V1AnnWarning

FIT = dict(fit_range=(5, 80), n_shuffles=2, seed=0, progress=False)


@pytest.fixture(scope="module")
def recording():
    return v1ann.simulate_recording(1.2, n_stimuli=300, n_neurons=900, noise_scale=0.5, seed=2)


def test_same_answer_for_recording_dataarray_ndarray_and_tensor(recording):
    responses = v1ann.stimulus_responses(recording)
    fits = [
        v1ann.estimate_alpha(x, method="cvpca", ci=None, **FIT)
        for x in (recording, responses, responses.values, torch.from_numpy(responses.values))
    ]
    assert len({f.alpha for f in fits}) == 1
    assert fits[0].method == "cvpca" and fits[0].n_stimuli == 300 and fits[0].n_neurons == 900
    assert fits[0].alpha == pytest.approx(1.2, abs=0.25)


def test_same_answer_for_activation_dataarray_ndarray_and_tensor():
    rng = np.random.default_rng(0)
    x = (rng.standard_normal((500, 400)) * np.arange(1, 401.0) ** -0.5).astype(np.float32)
    da = xr.DataArray(x, dims=("stimulus", "unit"))
    fits = [v1ann.estimate_alpha(v, ci=None, **FIT) for v in (da, x, torch.from_numpy(x))]
    assert {f.method for f in fits} == {"pca"}
    assert len({round(f.alpha, 10) for f in fits}) == 1
    assert fits[0].alpha == pytest.approx(1.0, abs=0.1)


def test_auto_picks_matched_for_repeats_and_interval_is_reported(recording):
    fit = v1ann.estimate_alpha(recording, **FIT)
    assert fit.method == "cvpca-matched"
    assert fit.alpha_ci[0] < fit.alpha < fit.alpha_ci[1]
    assert fit.to_dict()["alpha_ci"] == list(fit.alpha_ci)


def test_published_interval_over_shuffles(recording):
    fit = v1ann.estimate_alpha(recording, method="cvpca", ci=0.9, **{**FIT, "n_shuffles": 4})
    assert fit.alpha_ci[0] <= fit.alpha <= fit.alpha_ci[1]
    assert fit.attrs["ci_method"] == "bootstrap over shuffles"


def test_input_is_not_modified(recording):
    responses = v1ann.stimulus_responses(recording).values
    before = responses.copy()
    v1ann.estimate_alpha(responses, **FIT)
    np.testing.assert_array_equal(responses, before)


def test_one_repeat_is_refused(recording):
    one = v1ann.stimulus_responses(recording).values[:1]
    with pytest.raises(V1AnnError, match="1 repeat"):
        v1ann.estimate_alpha(one, **FIT)


@pytest.mark.parametrize("method", ["cvpca", "cvpca-matched"])
def test_fit_range_longer_than_the_spectrum_is_fitted_to_the_last_rank(recording, method):
    n_ranks = v1ann.stimulus_responses(recording).sizes["stimulus"]
    fit = v1ann.estimate_alpha(recording, method=method, **{**FIT, "fit_range": (11, 5000)})
    assert fit.fit_range == (11, n_ranks) and fit.attrs["fit_range_requested"] == [11, 5000]
    same = v1ann.estimate_alpha(recording, method=method, **{**FIT, "fit_range": (11, n_ranks)})
    # the same computation twice; threaded BLAS may differ in the last bit
    assert fit.alpha == pytest.approx(same.alpha, rel=1e-12) and "fit_range_requested" not in same.attrs


def test_fit_range_starting_past_the_spectrum_is_refused_before_any_work(recording, monkeypatch):
    monkeypatch.setattr("v1ann.spectrum.estimate.repeat_gram", lambda *a, **k: pytest.fail("computed"))
    with pytest.raises(InvalidInputError, match=r"starts at rank 400 but the spectrum has \d+ ranks"):
        v1ann.estimate_alpha(recording, **{**FIT, "fit_range": (399, 500)})


def test_nan_is_refused(recording):
    responses = v1ann.stimulus_responses(recording).values.copy()
    responses[0, 3, 7] = np.nan
    with pytest.raises(InvalidInputError, match="NaN"):
        v1ann.estimate_alpha(responses, **FIT)


def test_all_zero_is_refused():
    with pytest.raises(InvalidInputError, match="all zero"):
        v1ann.estimate_alpha(np.zeros((2, 200, 300), dtype=np.float32), **FIT)


def test_method_must_fit_the_input(recording):
    with pytest.raises(InvalidInputError, match="does not apply"):
        v1ann.estimate_alpha(recording, method="pca", **FIT)
    with pytest.raises(InvalidInputError, match="Invalid value for the 'method' parameter"):
        v1ann.estimate_alpha(recording, method="magic", **FIT)
    with pytest.raises(InvalidInputError, match="dims"):
        v1ann.estimate_alpha(xr.DataArray(np.ones((3, 4)), dims=("trial", "cell")), **FIT)


def test_a_rank_deficient_layer_is_refused_not_read_as_a_steep_power_law():
    # 20 independent directions among 300 units: ranks beyond 20 are rounding noise (~1e-16)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 20)) @ rng.normal(size=(20, 300))
    with pytest.raises(InvalidInputError, match="numerical rank 20"):
        v1ann.estimate_alpha(x, fit_range=(5, 100), ci=None)
    with pytest.warns(V1AnnWarning, match="truncated"):
        fit = v1ann.estimate_alpha(x, fit_range=(5, 100), ci=None, nonpositive="truncate")
    assert fit.fit_range == (5, 20) and fit.alpha < 2


def test_the_default_call_on_a_600_stimulus_layer_gives_an_interval_around_its_estimate():
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    net = v1ann.nn.models.mlp(hidden=(1000,))
    acts = v1ann.nn.activations(net, torch.rand(600, 1, 28, 28), progress=False)["act1"]
    fit = v1ann.estimate_alpha(acts, seed=0, progress=False)
    assert fit.fit_range == (11, 500)
    low, high = fit.alpha_ci
    assert low < fit.alpha < high and fit.attrs["ci_method"] == "jackknife over stimuli"


def test_a_bare_2d_array_is_read_as_activations_with_a_warning_saying_so():
    # a recording's (trial, neuron) matrix has this shape too: it must not be misread silently
    x = np.random.default_rng(0).normal(size=(200, 100)) * np.arange(1, 101.0) ** -0.5
    with pytest.warns(V1AnnWarning, match="read as noise-free"):
        v1ann.estimate_alpha(x, fit_range=(5, 50), ci=None)
    labelled = xr.DataArray(x, dims=("stimulus", "unit"))
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error", V1AnnWarning)
        v1ann.estimate_alpha(labelled, fit_range=(5, 50), ci=None)


def test_one_call_for_every_kind_of_input():
    rec = v1ann.simulate_spontaneous(1.0, n_time=1200, n_neurons=600, n_shared=100, noise_scale=0.0, seed=0)
    spont = v1ann.estimate_alpha(rec["activity"], fit_range=(5, 60), progress=False)
    assert spont.method == "svca" and spont.alpha_ci is None and "none" in spont.attrs["ci_method"]
    matched = v1ann.estimate_alpha(rec["activity"], method="svca-matched", fit_range=(5, 60), seed=0, progress=False)
    assert matched.alpha_ci[0] <= matched.alpha <= matched.alpha_ci[1]
    spectrum = np.arange(1, 600.0) ** -1.3
    for given in (spectrum, xr.DataArray(spectrum, dims="rank"), torch.from_numpy(spectrum)):
        fit = v1ann.estimate_alpha(given, progress=False)
        assert fit.method == "wls" and fit.alpha == pytest.approx(1.3)
    with pytest.raises(InvalidInputError, match="does not apply to a spectrum"):
        v1ann.estimate_alpha(spectrum, method="cvpca")
