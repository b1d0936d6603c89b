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


# --- families that are not one power law (issue 22) ---------------------------------------

def test_any_spectrum_is_simulated_exactly_and_scored_by_its_published_fit():
    from v1ann.recording.simulate import broken_power_law_spectrum, true_alpha

    shape = broken_power_law_spectrum([0.5, 1.2], [16], 400)
    ds = v1ann.simulate_recording(spectrum=shape, n_stimuli=300, n_neurons=400, noise_scale=0, seed=3)
    truth = ds["true_signal_spectrum"].values
    np.testing.assert_allclose(truth, shape[:299] * 400 / shape[:299].sum())
    measured = _signal_spectrum(v1ann.stimulus_responses(ds).values[0])[:299]
    np.testing.assert_allclose(measured, truth, rtol=1e-4, atol=1e-6 * truth[0])
    # the estimand is the published fit of that spectrum, not either piece's exponent
    expected = v1ann.fit_powerlaw(truth, fit_range=(11, 500)).alpha
    assert ds.attrs["true_alpha"] == pytest.approx(expected, abs=1e-12)
    assert 0.5 < ds.attrs["true_alpha"] < 1.2 and ds.attrs["true_alpha_fit_range"] == [11, 299]
    assert true_alpha(power_law_spectrum(1.7, 900), (3, 40)) == pytest.approx(1.7, abs=1e-12)


def test_broken_power_law_is_continuous_with_its_slopes():
    from v1ann.recording.simulate import broken_power_law_spectrum

    s = broken_power_law_spectrum([2.0, 1.0, 0.3], [30, 300], 2000)
    slope = -np.diff(np.log(s)) / np.diff(np.log(np.arange(1, 2001)))
    np.testing.assert_allclose(slope[:28], 2.0)
    np.testing.assert_allclose(slope[31:298], 1.0)
    np.testing.assert_allclose(slope[301:], 0.3)
    assert s.sum() == pytest.approx(1.0)
    with pytest.raises(InvalidInputError, match="one finite exponent"):
        broken_power_law_spectrum([1.0], [10], 100)
    with pytest.raises(InvalidInputError, match="increasing"):
        broken_power_law_spectrum([1.0, 2.0, 3.0], [50, 10], 100)


def test_modulated_poisson_keeps_the_signal_and_adds_a_shared_gain():
    kwargs = dict(n_stimuli=100, n_neurons=300, n_repeats=40, noise_scale=1.0, seed=4)
    plain = v1ann.stimulus_responses(v1ann.simulate_recording(1.0, noise="poisson", **kwargs)).values
    gained = v1ann.stimulus_responses(
        v1ann.simulate_recording(1.0, noise="modulated-poisson", gain_sd=0.5, **kwargs)).values
    # same rates: the means over 40 repeats agree to their sampling error
    assert np.corrcoef(plain.mean(0).ravel(), gained.mean(0).ravel())[0, 1] > 0.9
    # the gain is shared by all neurons of a trial: the population total fluctuates far more
    def spread(x):
        return (x.sum(2) - x.sum(2).mean(0)).std()
    assert spread(gained) > 3 * spread(plain)


def test_heteroscedastic_neurons_spread_the_noise_but_not_its_total():
    kwargs = dict(n_stimuli=400, n_neurons=300, noise_scale=1.0, noise_alpha=0.0, seed=5)
    x = v1ann.stimulus_responses(v1ann.simulate_recording(1.0, noise_spread=0.7, **kwargs)).values.astype(float)
    per_neuron = ((x[0] - x[1]) ** 2).mean(0) / 2
    assert np.std(np.log(per_neuron) / 2) == pytest.approx(0.7, rel=0.15)
    assert per_neuron.sum() == pytest.approx(300, rel=0.1)
    # the signal is untouched: the repeats still share 300 units of variance per stimulus
    assert (x[0] * x[1]).sum(1).mean() == pytest.approx(300, rel=0.1)


def test_sampled_stimuli_come_from_the_population_spectrum():
    ds = v1ann.simulate_recording(1.5, n_stimuli=3000, n_neurons=60, noise_scale=0, stimuli="sampled", seed=6)
    assert ds["true_signal_spectrum"].sizes["rank"] == 60  # the population's ranks, not the stimuli's
    measured = _signal_spectrum(v1ann.stimulus_responses(ds).values[0])
    np.testing.assert_allclose(measured[:5], ds["true_signal_spectrum"].values[:5], rtol=0.1)
    assert not np.allclose(measured[:5], ds["true_signal_spectrum"].values[:5], rtol=1e-4)  # a sample, not exact


@pytest.mark.parametrize("kwargs, match", [
    (dict(alpha=1.0, spectrum=np.ones(100)), "either alpha"),
    (dict(), "either alpha"),
    (dict(spectrum=np.ones(10)), "at least 49"),
    (dict(spectrum=-np.ones(100)), "positive"),
    (dict(alpha=1.0, noise="poisson", noise_spread=0.5), "noise_spread applies"),
    (dict(alpha=1.0, stimuli="random"), "stimuli"),
])
def test_bad_family_arguments_raise(kwargs, match):
    with pytest.raises(InvalidInputError, match=match):
        v1ann.simulate_recording(n_stimuli=50, n_neurons=60, **kwargs)


def test_published_fit_windows_by_name():
    spectrum = np.arange(1, 1001.0) ** -1.0
    assert v1ann.fit_powerlaw(spectrum, fit_range="matlab").fit_range == (10, 500)
    assert v1ann.fit_powerlaw(spectrum, fit_range="matlab-fig2").fit_range == (9, 500)
    assert v1ann.estimate_alpha(spectrum, fit_range="notebook").fit_range == (11, 500)
    with pytest.raises(InvalidInputError, match="'notebook', 'matlab', 'matlab-fig2'"):
        v1ann.fit_powerlaw(spectrum, fit_range="python")
