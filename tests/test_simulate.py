"""The simulator is the ground truth: its spectrum, noise level and layout must be exact."""

from __future__ import annotations

import numpy as np
import pytest

import v1ann
from v1ann.errors import InvalidInputError
from v1ann.recording.simulate import power_law_spectrum


def _signal_spectrum(signal: np.ndarray) -> np.ndarray:
    centred = signal.astype(np.float64) - signal.mean(axis=0)
    return np.linalg.eigvalsh(centred.T @ centred / signal.shape[0])[::-1]


@pytest.mark.parametrize("alpha", [0.5, 1.0, 1.6])
@pytest.mark.parametrize("shape", [(300, 500), (400, 150)])
def test_noiseless_signal_has_exactly_the_power_law_spectrum(alpha, shape):
    n_stimuli, n_neurons = shape
    ds = v1ann.simulate_recording(alpha, n_stimuli=n_stimuli, n_neurons=n_neurons, noise_scale=0, seed=3)
    rank = min(n_stimuli - 1, n_neurons)
    truth = ds["true_signal_spectrum"]
    assert truth.dims == ("rank",) and truth["rank"].values.tolist() == list(range(1, rank + 1))
    np.testing.assert_allclose(truth.values, power_law_spectrum(alpha, rank, total=n_neurons))
    signal = v1ann.stimulus_responses(ds).values[0]
    measured = _signal_spectrum(signal)[:rank]
    np.testing.assert_allclose(measured, truth.values, rtol=1e-4, atol=1e-6 * truth.values[0])
    assert ds.attrs["true_alpha"] == alpha


def test_repeats_share_the_signal_and_noise_is_fresh():
    ds = v1ann.simulate_recording(1.0, n_stimuli=200, n_neurons=300, n_repeats=3, seed=0)
    x = v1ann.stimulus_responses(ds).values
    assert x.shape == (3, 200, 300)
    assert not np.allclose(x[0], x[1])
    quiet = v1ann.stimulus_responses(v1ann.simulate_recording(1.0, n_stimuli=200, n_neurons=300, n_repeats=3, noise_scale=0, seed=0)).values
    np.testing.assert_array_equal(quiet[0], quiet[2])


@pytest.mark.parametrize("noise", ["gaussian", "poisson", "multiplicative"])
def test_noise_scale_is_noise_over_signal_variance(noise):
    ds = v1ann.simulate_recording(1.0, n_stimuli=600, n_neurons=800, noise_scale=2.0, noise=noise, seed=1)
    x = v1ann.stimulus_responses(ds).values.astype(np.float64)
    noise_variance = ((x[0] - x[1]) ** 2).sum() / 2 / x.shape[1]
    signal_variance = float(ds["true_signal_spectrum"].sum())
    assert noise_variance / signal_variance == pytest.approx(2.0, rel=0.03)
    if noise == "poisson":
        np.testing.assert_array_equal(x, np.round(x))
        assert x.min() >= 0


def test_noise_covariance_follows_noise_alpha():
    n_neurons = 200
    ds = v1ann.simulate_recording(1.0, n_stimuli=50, n_neurons=n_neurons, noise_alpha=0.8, n_spont=40000, seed=2)
    spont = ds["spont"].values.astype(np.float64)
    measured = np.linalg.eigvalsh(spont.T @ spont / spont.shape[0])[::-1]
    expected = power_law_spectrum(0.8, n_neurons, total=float(ds["true_signal_spectrum"].sum()))
    np.testing.assert_allclose(measured[:20], expected[:20], rtol=0.05)


def test_same_seed_same_recording_and_blanks():
    a = v1ann.simulate_recording(1.2, n_stimuli=40, n_neurons=30, seed=5, n_blanks=3)
    b = v1ann.simulate_recording(1.2, n_stimuli=40, n_neurons=30, seed=5, n_blanks=3)
    np.testing.assert_array_equal(a["trial_response"].values, b["trial_response"].values)
    assert int(a["is_blank"].sum()) == 6
    assert v1ann.stimulus_responses(a).shape == (2, 40, 30)


@pytest.mark.parametrize("noise", ["gaussian", "poisson"])
def test_noise_seed_redraws_the_noise_of_the_same_signal(noise):
    kw = dict(n_stimuli=200, n_neurons=100, noise=noise, noise_scale=1.0)

    def responses(**extra):
        return v1ann.stimulus_responses(v1ann.simulate_recording(1.0, **kw, **extra)).values.astype(float)

    a, a_again, b = responses(seed=5, noise_seed=9), responses(seed=5, noise_seed=9), responses(seed=5, noise_seed=10)
    np.testing.assert_array_equal(a, a_again)
    # same signal, fresh noise: the difference is noise only (variance 2 x noise = 2 x signal
    # here); different seeds differ in signal too (2 x (signal + noise))
    fresh_noise = np.var(a - b)
    fresh_all = np.var(a - responses(seed=6, noise_seed=10))
    if noise == "gaussian":
        assert fresh_all / fresh_noise == pytest.approx(2.0, rel=0.15)
    else:
        assert fresh_all > 1.3 * fresh_noise


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"alpha": -1}, "alpha"),
        ({"alpha": 1, "n_stimuli": 1}, "n_stimuli"),
        ({"alpha": 1, "noise": "laplace"}, "Invalid value for the 'noise' parameter"),
        ({"alpha": 1, "noise_scale": float("nan")}, "noise_scale"),
        ({"alpha": 1, "noise": "poisson", "noise_scale": 0}, "poisson"),
    ],
)
def test_bad_arguments_raise(kwargs, match):
    with pytest.raises(InvalidInputError, match=match):
        v1ann.simulate_recording(**{"n_stimuli": 20, "n_neurons": 10, **kwargs})
