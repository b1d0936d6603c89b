"""cvpca-shape: a broken power law matched by simulation recovers the estimand where one
power law does not describe the signal, and keeps one power law where it does."""

import numpy as np
import pytest

import v1ann
from v1ann.errors import InvalidInputError
from v1ann.recording.preprocessing import mean_center
from v1ann.recording.simulate import broken_power_law_spectrum, true_alpha
from v1ann.spectrum.matched import shape_matched_alpha

SIZE = dict(n_stimuli=400, n_neurons=1500, noise_scale=1.0)
FIT = dict(method="cvpca-shape", fit_range=(5, 100), n_shuffles=4, progress=False)
TOLERANCE = 0.06  # one recording at this size; the study's numbers are in docs/validation.md


@pytest.fixture(scope="module")
def flat_head():
    """V1's reported shape: a flatter head (0.5) breaking to 1.2 at rank 25."""
    spectrum = broken_power_law_spectrum([0.5, 1.2], [25], SIZE["n_neurons"])
    return mean_center(v1ann.simulate_recording(spectrum=spectrum, seed=4, **SIZE))


def test_broken_spectrum_is_recognised_and_recovered(flat_head):
    truth = true_alpha(flat_head["true_signal_spectrum"].values, FIT["fit_range"])  # 0.829 here
    fit = v1ann.estimate_alpha(flat_head, seed=0, **FIT)
    matched = v1ann.estimate_alpha(flat_head, **{**FIT, "method": "cvpca-matched"}, seed=0)
    assert fit.alpha == pytest.approx(truth, abs=TOLERANCE)
    assert abs(matched.alpha - truth) > abs(fit.alpha - truth)  # the shape is what one power law misses
    assert not fit.attrs["one_power_law"] and fit.attrs["p_one_power_law"] < 0.05
    alpha_1, alpha_2 = fit.attrs["broken_slopes"]
    assert alpha_1 == pytest.approx(0.5, abs=0.1) and alpha_2 == pytest.approx(1.2, abs=0.3)
    assert 25 / 1.5 < fit.attrs["broken_break_rank"] < 25 * 1.5
    assert fit.alpha_ci[0] <= fit.alpha <= fit.alpha_ci[1]


def test_one_power_law_is_kept_when_it_fits():
    rec = mean_center(v1ann.simulate_recording(1.0, seed=2, **SIZE))
    fit = v1ann.estimate_alpha(rec, seed=1, **FIT)
    assert fit.attrs["one_power_law"]
    assert fit.alpha == fit.attrs["alpha_one_power_law"]
    assert fit.alpha == pytest.approx(1.0, abs=TOLERANCE)
    low, high = fit.alpha_ci
    assert low < 1.0 < high and high - low < 0.2
    # the curve drawn is the fitted model's expected cvPCA spectrum, close to the data
    ratio = fit.predicted.values[5:60] / fit.spectrum.values[5:60]
    assert np.median(np.abs(np.log(ratio))) < 0.2


def test_the_same_seed_gives_the_same_estimate():
    rec = mean_center(v1ann.simulate_recording(1.5, n_stimuli=200, n_neurons=600, seed=0))
    kwargs = {**FIT, "fit_range": (5, 60)}
    first, second = (v1ann.estimate_alpha(rec, seed=3, **kwargs) for _ in range(2))
    # up to round-off: threaded LAPACK's last bit depends on memory alignment (another seed moves
    # alpha by ~1e-2)
    assert first.alpha == pytest.approx(second.alpha, rel=1e-9)
    assert first.alpha_ci == pytest.approx(second.alpha_ci, rel=1e-9)


def test_no_shared_variance_is_refused():
    noise = np.random.default_rng(0).standard_normal((50, 80))
    with pytest.raises(InvalidInputError, match="share no variance"):
        shape_matched_alpha(np.ones(20), np.ones(20), noise, noise @ noise.T, 0.0, (2, 20))


@pytest.mark.parametrize("n_stimuli, n_neurons", [(30, 80), (80, 30)])
def test_small_recordings_use_the_ranks_there_are(n_stimuli, n_neurons):
    # the model has min(P - 1, N) ranks and cvPCA min(P, N - 1): the fit range ends inside both
    rec = mean_center(v1ann.simulate_recording(1.0, n_stimuli=n_stimuli, n_neurons=n_neurons, seed=0))
    fit = v1ann.estimate_alpha(rec, method="cvpca-shape", n_shuffles=3, seed=0, progress=False)
    assert np.isfinite(fit.alpha) and fit.alpha_ci[0] <= fit.alpha <= fit.alpha_ci[1]
    assert fit.fit_range[1] <= min(n_stimuli, n_neurons)


def test_the_default_refits_a_broken_spectrum_and_keeps_the_one_law_fit(flat_head):
    # from rank 11 the head's share of the total drags one law off (over ranks 6.. its
    # interval is wide enough to cover, and the test keeps it)
    kwargs = {**FIT, "fit_range": (10, 100)}
    truth = true_alpha(flat_head["true_signal_spectrum"].values, kwargs["fit_range"])
    default = v1ann.estimate_alpha(flat_head, seed=0, **{**kwargs, "method": "auto"})
    matched = v1ann.estimate_alpha(flat_head, seed=0, **{**kwargs, "method": "cvpca-matched"})
    assert not matched.attrs["one_power_law"]
    # one law is 0.065 off here; its interval, decided by Q, covered the truth only once it
    # became the minimiser's (2026-12-08: [0.764, 1.046], before [0.854, 0.955])
    assert abs(matched.alpha - truth) > 0.05
    assert default.method == "cvpca-shape" and default.attrs["refit_from"] == "cvpca-matched"
    # the same random draws up to the refit: the one-law fit kept is cvpca-matched's (up to
    # round-off, which threaded LAPACK leaves and the distance search carries to ~3e-7)
    assert default.attrs["matched_alpha"] == pytest.approx(matched.alpha, abs=1e-5)
    assert default.attrs["p_model"] == pytest.approx(matched.attrs["p_model"], rel=1e-3)
    assert default.alpha == pytest.approx(truth, abs=TOLERANCE)
    assert default.alpha_ci[0] <= truth <= default.alpha_ci[1]
    # the refit says so instead of warning that its estimate is biased
    assert not any("is biased" in w for w in default.attrs["warnings"])


def test_the_default_keeps_cvpca_matched_where_one_power_law_fits():
    rec = mean_center(v1ann.simulate_recording(1.0, seed=2, **SIZE))
    fit = v1ann.estimate_alpha(rec, seed=1, **{**FIT, "method": "auto"})
    assert fit.method == "cvpca-matched" and fit.attrs["one_power_law"]
    assert "refit_from" not in fit.attrs


def test_allow_single_false_reports_the_broken_law_where_the_test_keeps_one(simulation_inputs):
    rec = mean_center(v1ann.simulate_recording(1.5, n_stimuli=200, n_neurons=600, seed=0))
    fit_range = (5, 60)
    inputs = simulation_inputs(rec, 3, fit_range)
    kept, broken = (shape_matched_alpha(inputs.spectrum, inputs.noise_variance, inputs.noise, inputs.noise_gram,
                                        inputs.total_signal, fit_range, shuffle_spectra=inputs.shuffle_spectra,
                                        allow_single=allow, seed=1)
                    for allow in (True, False))
    assert kept.one_power_law and kept.alpha == kept.alpha_single
    # the same fits and test; only the model reported differs
    assert not broken.one_power_law and broken.p_single == kept.p_single
    assert broken.slopes == kept.slopes
    assert broken.alpha == pytest.approx(true_alpha(broken.spectrum, fit_range), abs=1e-12)
    assert broken.alpha_ci[0] <= broken.alpha <= broken.alpha_ci[1]
