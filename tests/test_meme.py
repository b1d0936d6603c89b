"""MEME (Pospisil & Pillow 2025) as estimate_alpha(method="meme"), on its own design and v1ann's."""

import numpy as np
import pytest

import v1ann
from v1ann.errors import InvalidInputError
from v1ann.recording.simulate import broken_power_law_spectrum
from v1ann.spectrum.meme import _moments_from_gram, signal_eigenmoments


def _direct_moments(first, second, n_moments):
    """The published estimator, written out: pair differences, then Kong & Valiant's sums."""
    from math import comb

    m = first.shape[0] // 2
    y1 = (first[0:2 * m:2] - first[1:2 * m:2]) / np.sqrt(2)
    y2 = (second[0:2 * m:2] - second[1:2 * m:2]) / np.sqrt(2)
    a = y1 @ y2.T
    f = np.triu(a, 1)
    out, power = [], np.eye(m)
    for p in range(1, n_moments + 1):
        out.append(np.trace(power @ a) / comb(m, p))
        power = power @ f
    return np.array(out)


def test_moments_match_a_direct_implementation_of_the_published_estimator():
    rng = np.random.default_rng(0)
    first, second = rng.standard_normal((2, 61, 30))  # odd: the last stimulus is dropped
    assert np.allclose(signal_eigenmoments(first, second, 5), _direct_moments(first, second, 5), rtol=1e-10)


def test_moments_are_unbiased_where_noise_is_large():
    rng = np.random.default_rng(1)
    eigenvalues = np.array([4.0, 2.0, 1.0, 0.5])
    estimates = []
    for _ in range(200):
        signal = rng.standard_normal((200, 4)) * np.sqrt(eigenvalues)
        first, second = (signal + 2 * rng.standard_normal((200, 4)) for _ in range(2))
        estimates.append(signal_eigenmoments(first, second, 3))
    truth = [np.sum(eigenvalues**p) for p in (1, 2, 3)]
    mean, sem = np.mean(estimates, 0), np.std(estimates, 0) / np.sqrt(len(estimates))
    assert np.all(np.abs(mean - truth) < 4 * sem), (mean, truth, sem)


def test_gram_indexing_equals_pairing_the_rows():
    rng = np.random.default_rng(2)
    first, second = rng.standard_normal((2, 40, 12))
    order = rng.permutation(40)
    expected = _direct_moments(first[order], second[order], 4)
    assert np.allclose(_moments_from_gram(first @ second.T, order, 4), expected, rtol=1e-10)


@pytest.fixture(scope="module")
def meme_design_fits():
    """MEME on its own design (i.i.d. stimuli): a power law and a broken one."""
    fits = {}
    for name, kwargs in {"power law": dict(alpha=1.2),
                         "broken": dict(spectrum=broken_power_law_spectrum([0.4, 1.5], [12], 800))}.items():
        rec = v1ann.simulate_recording(n_stimuli=800, n_neurons=800, noise_scale=1.0, stimuli="sampled", seed=3,
                                       **kwargs)
        fit = v1ann.estimate_alpha(rec, method="meme", fit_range=(11, 200), n_bootstrap=10, seed=0, progress=False)
        fits[name] = (rec, fit)
    return fits


def test_meme_recovers_the_estimand_on_its_own_design(meme_design_fits):
    for name, (rec, fit) in meme_design_fits.items():
        truth = v1ann.recording.simulate.true_alpha(rec["true_signal_spectrum"].values, (11, 200))
        assert abs(fit.alpha - truth) < 0.06, (name, fit.alpha, truth)
        lo, hi = fit.alpha_ci
        assert lo <= fit.alpha <= hi and hi - lo < 0.5


def test_meme_tells_a_broken_spectrum_from_one_power_law(meme_design_fits):
    assert meme_design_fits["power law"][1].attrs["one_power_law"] is True
    broken = meme_design_fits["broken"][1]
    assert broken.attrs["one_power_law"] is False
    flat, steep = broken.attrs["meme_slopes"]
    assert flat < 0.8 < 1.2 < steep
    assert broken.attrs["chi2_single"] > broken.attrs["chi2_broken"]
    # intervals for each parameter of the broken law, around the estimates and the truth
    for name, value, truth in (("alpha_1", flat, 0.4), ("alpha_2", steep, 1.5),
                               ("break_rank", broken.attrs["meme_break_rank"], 12)):
        lo, hi = broken.attrs[f"{name}_ci"]
        assert lo <= value <= hi, name
        assert lo <= truth <= hi, (name, lo, hi)


def test_meme_result_is_a_power_law_fit_with_its_provenance(meme_design_fits):
    fit = meme_design_fits["power law"][1]
    assert fit.method == "meme" and fit.fit_range == (11, 200)
    assert fit.spectrum.sizes["rank"] == 800 and np.isclose(float(fit.spectrum.sum()), 1.0)
    summary = fit.to_dict()
    assert summary["ci_method"].startswith("parametric bootstrap")
    assert summary["details"]["n_moments"] == 10


def test_meme_refuses_what_it_cannot_fit():
    rec = v1ann.simulate_recording(1.0, n_stimuli=200, n_neurons=300, seed=0)
    with pytest.raises(InvalidInputError, match="auto"):
        v1ann.estimate_alpha(rec, method="meme", fit_range="auto", progress=False)
    small = v1ann.simulate_recording(1.0, n_stimuli=15, n_neurons=30, seed=0)
    with pytest.raises(InvalidInputError, match="MEME needs more stimuli"):
        v1ann.estimate_alpha(small, method="meme", fit_range=(1, 10), progress=False)
    responses = v1ann.stimulus_responses(rec).values
    opposite = np.stack([responses[0], -responses[0]])  # the repeats share nothing but a sign
    with pytest.raises(InvalidInputError, match="share no"):
        v1ann.estimate_alpha(opposite, method="meme", fit_range=(11, 100), ci=None, progress=False)
