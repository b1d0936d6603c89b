"""cvpca-matched: the bias-corrected exponent recovers the simulated truth where the
published fit does not."""

import numpy as np
import pytest
import scipy.optimize
import scipy.stats

import v1ann
from v1ann.errors import InvalidInputError
from v1ann.recording.preprocessing import mean_center
from v1ann.spectrum.gram import repeat_gram
from v1ann.spectrum.matched import noise_halves
from v1ann.spectrum.matched.interval import effective_dof

# 400 stimuli x 1,500 neurons, ranks 6..100: small enough for a test, noisy enough that the
# published fit is clearly biased for steep spectra.
SIZE = dict(n_stimuli=400, n_neurons=1500)
FIT_RANGE = (5, 100)
TOLERANCE = 0.1  # |alpha_hat - alpha| for one recording at this size (study: docs/validation.md)


@pytest.fixture(scope="module")
def steep():
    return v1ann.simulate_recording(2.0, noise_scale=1.0, seed=3, **SIZE)


def test_total_signal_variance_is_unbiased(steep):
    _, total = noise_halves(repeat_gram(steep, progress=False))
    # simulate_recording scales the signal to variance 1 per neuron
    assert total == pytest.approx(SIZE["n_neurons"], rel=0.03)


def test_matched_recovers_steep_alpha_where_published_fit_is_biased(steep):
    kwargs = dict(fit_range=FIT_RANGE, n_shuffles=3, seed=0, progress=False)
    published = v1ann.estimate_alpha(steep, method="cvpca", nonpositive="truncate", ci=None, **kwargs)
    matched = v1ann.estimate_alpha(steep, method="cvpca-matched", **kwargs)
    assert published.alpha < 2.0 - 0.25  # the noise bias this estimator exists to remove
    assert matched.alpha == pytest.approx(2.0, abs=TOLERANCE)
    lo, hi = matched.alpha_ci
    assert lo < 2.0 < hi and hi - lo < 0.5
    assert matched.attrs["alpha_published"] == pytest.approx(published.alpha, abs=0.1)


@pytest.mark.slow
@pytest.mark.parametrize("alpha, noise", [(1.0, 2.0), (0.6, 0.5)])
def test_matched_recovers_shallow_alpha(alpha, noise):
    ds = v1ann.simulate_recording(alpha, noise_scale=noise, seed=5, **SIZE)
    fit = v1ann.estimate_alpha(ds, method="cvpca-matched", fit_range=FIT_RANGE, n_shuffles=3, seed=1,
                               progress=False)
    assert fit.alpha == pytest.approx(alpha, abs=TOLERANCE)
    assert fit.alpha_ci[0] < fit.alpha < fit.alpha_ci[1]


@pytest.mark.slow
def test_expected_curve_and_offset_describe_the_model(steep):
    fit = v1ann.estimate_alpha(steep, method="cvpca-matched", fit_range=FIT_RANGE, n_shuffles=2, seed=0,
                               progress=False)
    expected = fit.predicted.values[: FIT_RANGE[1]]
    observed = fit.spectrum.values[: FIT_RANGE[1]]
    # the model's expected cvPCA spectrum follows the data to within 30 % at well-measured ranks
    ratio = expected[5:40] / observed[5:40]
    assert np.median(np.abs(np.log(ratio))) < 0.3
    assert np.isnan(fit.predicted.values[FIT_RANGE[1]:]).all()


def test_pure_noise_has_no_spectrum_to_match():
    rng = np.random.default_rng(0)
    noise_only = rng.standard_normal((2, 300, 800)).astype(np.float32)
    with pytest.raises(InvalidInputError, match="no signal|share no variance"):
        v1ann.estimate_alpha(noise_only, method="cvpca-matched", fit_range=(5, 80), n_shuffles=2,
                             seed=0, progress=False)


def test_distance_minimiser_finds_the_global_minimum_among_wiggles():
    from v1ann.spectrum.matched.objective import minimise_distance, scan_grid

    calls = []

    def wiggly(alpha):  # basin at 2.0, local minima every 0.1 around it
        calls.append(alpha)
        return 10 * (alpha - 2.0) ** 2 + 0.3 * (1 - np.cos(2 * np.pi * (alpha - 2.0) / 0.1))

    # started from a root 0.13 below the truth, as T1's root was at 2,800 x 10,000
    alpha = minimise_distance(wiggly, scan_grid(1.87), tol=1e-3)
    assert alpha == pytest.approx(2.0, abs=5e-3)
    assert len(calls) < 25


def _two_basins(truth=3.0, wrong=3.55, depth_wrong=4.0):
    """``at(alpha, orientation)`` whose mean Q has a basin at ``truth`` (depth 5) and a slightly
    deeper one at ``wrong``, and whose F falls through zero at ``truth`` with a bump above it
    that crosses zero again at 3.33, as at 2,800 x 10,000, alpha = 3, noise/signal 4."""

    def at(alpha, orientation=0):
        f = 0.6 * (truth - alpha) + 0.25 * np.exp(-(((alpha - 3.2) / 0.08) ** 2)) + 0.002 * orientation
        q = min(5 + 200 * (alpha - truth) ** 2, depth_wrong + 200 * (alpha - wrong) ** 2, 30.0)
        return f, 1.0, 0.0, q, None

    return at


def test_where_q_has_two_basins_the_one_where_f_vanishes_wins():
    from v1ann.spectrum.matched.objective import (
        mean_distance,
        minimise_distance,
        penalised_distance_minimum,
        scan_grid,
    )

    at = _two_basins()
    # Q alone, scanned from the root of F at 3.33, goes to the deeper, wrong basin
    q_only = minimise_distance(lambda a: mean_distance(at, a, 4), scan_grid(3.33), 1e-3)
    assert q_only == pytest.approx(3.55, abs=0.01)
    alpha, grid, basin, _ = penalised_distance_minimum(at, 3.33, 4, sd_f=0.02, quantile=4.3, tol=1e-3)
    assert alpha == pytest.approx(3.0, abs=0.01)
    assert grid == scan_grid(3.33)  # the slope's grid is the first scan, not the grown one
    # every orientation agrees that the wrong basin is worse once F's penalty is added
    assert basin[1] < 3.3


def test_a_deeper_basin_of_q_where_f_rejects_it_does_not_win():
    from v1ann.spectrum.matched.objective import penalised_distance_minimum

    # alpha = 3, noise/signal 2, 2,000 neurons, seed 8 (docs/changelog.md): mean Q 4.3 at 3.07
    # and 2.3 at 3.52, where mean F is 2.35 of its standard deviations from zero
    def at(alpha, orientation=0):
        f = 0.1 * (-0.04 - 5.13 * (alpha - 3.07))
        q = min(4.3 + 200 * (alpha - 3.07) ** 2, 2.3 + 200 * (alpha - 3.52) ** 2)
        return f, 1.0, 0.0, q, None

    alpha, *_ = penalised_distance_minimum(at, 3.3, 4, sd_f=0.1, quantile=4.3, tol=1e-3)
    assert alpha == pytest.approx(3.07, abs=0.01)


@pytest.mark.parametrize("scatter, spans", [(2.0, True), (0.5, False)])
def test_basin_spans_a_second_minimum_only_where_the_orientations_cannot_tell_them_apart(scatter, spans):
    from v1ann.spectrum.matched.interval import basin

    offsets = scatter * np.array([-3.0, -1.0, 1.0, 3.0])

    def at(alpha, orientation=0):  # mean J 5 at 3.0, 8 at 3.35; the second basin's Q varies by orientation
        near_second = abs(alpha - 3.35) < 0.1
        q = min(5 + 200 * (alpha - 3.0) ** 2, 8 + 200 * (alpha - 3.35) ** 2) + near_second * offsets[orientation]
        return 0.0, 1.0, 0.0, q, None

    searched = [round(2.8 + 0.04 * i, 2) for i in range(20)]  # 2.80 .. 3.56
    lo, hi = basin(at, 3.0, searched, 4, penalty=lambda a: 0.0, level=0.95)
    assert lo == pytest.approx(3.0)  # the basin at the estimate is narrow and clearly bounded
    assert (hi > 3.35) if spans else (hi == pytest.approx(3.0))


def test_f_that_is_rough_near_the_truth_does_not_overrule_a_clear_minimum_of_q():
    from v1ann.spectrum.matched.objective import penalised_distance_minimum

    def at_with(steps):  # F biased by -0.035 at Q's minimum (2,800 x 2,000, alpha = 2, noise/signal 0.5)
        def at(alpha, orientation=0):
            f = 1.1 * (2.02 - alpha) - 0.035 + steps * np.sign(np.sin(2 * np.pi * alpha / 0.08))
            return f, 1.0, 0.0, 2 + 300 * (alpha - 2.02) ** 2, None
        return at

    # F stepped by +-0.04 is trusted only as far as its roughness allows: Q's minimum stands
    rough, *_ = penalised_distance_minimum(at_with(0.04), 1.9, 4, sd_f=0.008, quantile=4.3, tol=1e-3)
    assert rough == pytest.approx(2.02, abs=0.01)
    # the same bias on a smooth F is believed, and pulls the estimate toward F's zero (1.988)
    smooth, *_ = penalised_distance_minimum(at_with(0.0), 1.9, 4, sd_f=0.008, quantile=4.3, tol=1e-3)
    assert smooth < 2.0


def test_scan_grows_only_while_f_is_consistent_with_zero_and_within_bounds():
    from v1ann.spectrum.matched.objective import (
        ALPHA_MIN,
        GROWTH_LIMIT,
        SCAN_STEP,
        grow_while_consistent,
        scan_grid,
    )

    grid = scan_grid(2.0)  # 1.8 .. 2.2
    grown = grow_while_consistent(lambda a: 2.0 - a, grid, threshold=0.3)
    # |F| <= 0.3 from 1.72 to 2.28; the first point past each end (|F| = 0.32) is the edge
    assert grown[0] == pytest.approx(1.68) and grown[-1] == pytest.approx(2.32)
    assert np.allclose(np.diff(grown), SCAN_STEP)
    # a flat F stops at GROWTH_LIMIT beyond the first scan, and never below ALPHA_MIN
    flat = grow_while_consistent(lambda a: 0.0, scan_grid(0.3), threshold=0.1)
    assert flat[0] >= ALPHA_MIN and flat[-1] <= 0.5 + GROWTH_LIMIT + 1e-9
    assert flat[-1] > 0.5 + GROWTH_LIMIT - SCAN_STEP


def test_scan_grows_past_a_single_point_where_f_bumps_out_of_its_threshold():
    from v1ann.spectrum.matched.objective import grow_while_consistent, scan_grid

    # F within 0.127 everywhere except a bump of +0.136 at 3.20, the first scan's lower edge
    # (2,800 x 10,000, alpha = 3, noise/signal 4, seed 6); beyond 2.88 it rises out for good
    def f(alpha):
        return 0.136 if abs(alpha - 3.2) < 1e-6 else (0.0 if alpha > 2.9 else 0.5)

    grown = grow_while_consistent(f, scan_grid(3.4), threshold=0.127)
    assert grown[0] == pytest.approx(2.88)
    # two points out in a row end the growth
    two = grow_while_consistent(lambda a: 0.136 if a < 3.21 else 0.0, scan_grid(3.4), threshold=0.127)
    assert two[0] == pytest.approx(3.2)


def test_slope_at_the_root_spans_the_steps_of_a_stepped_estimating_function():
    from v1ann.spectrum.matched.interval import secant_slope
    from v1ann.spectrum.matched.objective import find_root

    def stepped(alpha):  # falls at 1 on average, in steps of 0.008 every 0.008 of alpha
        return (-(np.floor((alpha - 0.5) / 0.008) + 0.5) * 0.008,)

    root = find_root(stepped, 0.45, tol=1e-4, max_steps=40)
    assert abs(stepped(root - 1e-3)[0] - stepped(root + 1e-3)[0]) / 2e-3 > 3  # a local secant overshoots
    assert secant_slope(stepped, root) == pytest.approx(1.0, rel=0.1)


def test_root_search_walks_past_a_wrong_sign_far_below_the_truth():
    from v1ann.spectrum.matched.objective import find_root

    # The shape seen at 2,800 x 10,000, alpha = 3, noise/signal 4 (seed 6): negative from
    # 0.05 to 0.95 (an increasing jump at 0.95, not a root), positive up to the root at 3.
    def wrong_sign_below(alpha):
        return (-2.0 - alpha if alpha < 0.95 else 3.0 - alpha,)

    assert find_root(wrong_sign_below, 0.93, tol=1e-4, max_steps=40) == pytest.approx(3.0, abs=1e-3)
    # negative everywhere: no exponent, and the error says so
    with pytest.raises(InvalidInputError, match="no exponent"):
        find_root(lambda a: (-1.0 - a,), 0.93, tol=1e-4, max_steps=40)
    # positive only at the top bound: an increasing crossing only, still no exponent
    with pytest.raises(InvalidInputError, match="no exponent"):
        find_root(lambda a: (1.0 if a >= 7.9 else -1.0,), 0.93, tol=1e-4, max_steps=40)


def test_matched_fit_reports_its_criterion(steep):
    fit = v1ann.estimate_alpha(steep, method="cvpca-matched", fit_range=FIT_RANGE, n_shuffles=3, seed=0,
                               progress=False)
    assert fit.attrs["matched_by"] in ("root", "distance")
    assert fit.attrs["n_evaluations"] >= 10


@pytest.fixture(scope="module")
def matched_inputs(steep, simulation_inputs):
    return simulation_inputs(steep, 4, FIT_RANGE)


def _matched(inputs, shuffle_spectra):
    from v1ann.spectrum.matched import cvpca_matched_alpha

    return cvpca_matched_alpha(inputs.spectrum, inputs.noise_variance, inputs.noise, inputs.noise_gram,
                               inputs.total_signal, FIT_RANGE, shuffle_spectra=shuffle_spectra, seed=0)


def test_interval_adds_the_noise_realisation_from_the_shuffle_spread(matched_inputs):
    signal = matched_inputs.shuffle_spectra
    mean = signal.mean(0)
    without = _matched(matched_inputs, None)
    spread = _matched(matched_inputs, signal)
    doubled = _matched(matched_inputs, mean + 2 * (signal - mean))
    identical = _matched(matched_inputs, np.repeat(mean[None], len(signal), axis=0))
    # the term changes the interval only, never the estimate (where the root decides; where
    # Q decides, F's variance also sets how strongly F is held to zero)
    assert spread.criterion == without.criterion == "root"
    assert spread.alpha == pytest.approx(without.alpha, rel=1e-9)  # up to LAPACK round-off
    assert doubled.alpha == pytest.approx(without.alpha, rel=1e-9)
    assert without.sd_parts["noise_realisation"] == 0
    assert identical.sd_parts["noise_realisation"] == pytest.approx(0, abs=1e-12)
    assert spread.sd_parts["noise_realisation"] > 0
    # a standard deviation of the shuffles' spread: twice the spread, twice the term
    assert doubled.sd_parts["noise_realisation"] == pytest.approx(2 * spread.sd_parts["noise_realisation"], rel=1e-9)
    for result in (without, spread, doubled):
        parts = np.array(list(result.sd_parts.values()))
        assert result.alpha_sd == pytest.approx(np.sqrt(np.sum(parts**2)), rel=1e-12)
    assert spread.sd_parts["repeat_noise"] == without.sd_parts["repeat_noise"]
    assert spread.alpha_sd > without.alpha_sd


def test_interval_quantile_has_the_welch_satterthwaite_degrees_of_freedom(matched_inputs):
    signal = matched_inputs.shuffle_spectra
    for shuffles in (None, signal):
        result = _matched(matched_inputs, shuffles)
        assert result.criterion == "root"  # no second basin widens it
        n_shuffles = 0 if shuffles is None else len(shuffles)
        variances = {k: (v * v, d) for (k, v), d in
                     zip(result.sd_parts.items(), (np.inf, 3 - 1, max(n_shuffles - 1, 0)))}
        # the few-draw orientation part alone would give t(2) = 4.30; the others pull it down
        dof = effective_dof(list(variances.values()))
        assert 2 <= dof
        half_width = scipy.stats.t.ppf(0.975, dof) * result.alpha_sd
        assert np.subtract(result.alpha_ci, result.alpha) == pytest.approx([-half_width, half_width], rel=1e-9)


@pytest.mark.parametrize("bad, message", [
    (lambda s: s[:, :50], "n_components >= 100"),
    (lambda s: s[0], "shape"),
    (lambda s: s * 1.5, "average to spectrum"),
    (lambda s: np.where(np.arange(s.shape[1]) == 20, np.nan, s), "NaN"),
])
def test_shuffle_spectra_must_belong_to_the_spectrum(matched_inputs, bad, message):
    with pytest.raises(InvalidInputError, match=message):
        _matched(matched_inputs, bad(matched_inputs.shuffle_spectra))


def test_estimate_alpha_reports_the_parts_of_its_interval(steep):
    fit = v1ann.estimate_alpha(steep, method="cvpca-matched", fit_range=FIT_RANGE, n_shuffles=3, seed=0,
                               progress=False)
    parts = [fit.attrs[f"alpha_sd_{k}"] for k in ("repeat_noise", "orientation", "noise_realisation")]
    assert fit.attrs["alpha_sd_noise_realisation"] > 0
    assert fit.attrs["alpha_sd"] == pytest.approx(np.sqrt(np.sum(np.square(parts))), rel=1e-12)


def test_simulated_spectra_in_float32_match_float64(steep, monkeypatch):
    """The simulator decomposes in float32 (matched.simulation.EIGH_DTYPE): its expected
    spectrum must agree with the float64 decomposition's over the fit range, and the
    estimate with it, at this size (measured at 2,800 stimuli: docs/changelog.md)."""
    import torch

    from v1ann.spectrum.matched import simulation

    noise_gram, total = noise_halves(repeat_gram(steep, progress=False))
    A, B = v1ann.stimulus_responses(steep).values
    noise = (A - B) / np.sqrt(2)
    expected = {}
    for dtype in (torch.float64, torch.float32):
        monkeypatch.setattr(simulation, "EIGH_DTYPE", dtype)
        sim = simulation.Simulator(noise, noise_gram, total, FIT_RANGE[1], np.random.default_rng(0), torch.device("cpu"))
        expected[dtype] = sim.expected(2.0)
    lo, hi = FIT_RANGE
    # single ranks differ where neighbouring bulk components trade places (5e-3 measured here)...
    relative = np.abs(expected[torch.float32][lo:hi] / expected[torch.float64][lo:hi] - 1)
    assert 0 < relative.max() < 1e-2
    # ...but the exponent they carry does not move
    alphas = {dtype: v1ann.fit_powerlaw(spectrum, fit_range=FIT_RANGE).alpha for dtype, spectrum in expected.items()}
    assert alphas[torch.float32] == pytest.approx(alphas[torch.float64], abs=1e-4)


def test_model_test_reads_the_slope_inside_the_range_and_ignores_its_level():
    from v1ann.spectrum.matched.objective import Score

    lo, hi = 10, 200
    ranks = np.arange(1, hi + 1, dtype=np.float64)
    fit = ranks**-1.0
    score = Score(fit, 0.3 * fit, 1e-4 * fit**2, lo, hi)
    coefficients = score.slope_coefficients()
    steeper = fit * ranks**-0.01  # a tiny extra slope
    assert (steeper - fit)[lo:hi] @ coefficients == pytest.approx(0.01, rel=0.05)
    assert (0.2 * fit)[lo:hi] @ coefficients == pytest.approx(0.0, abs=1e-12)


def test_one_power_law_passes_the_model_test(steep):
    fit = v1ann.estimate_alpha(steep, method="cvpca-matched", fit_range=FIT_RANGE, seed=0, progress=False)
    assert fit.attrs["p_model"] > 0.05 and fit.attrs["one_power_law"] is True
    assert not any("one power law does not describe" in w for w in fit.attrs["warnings"])


def test_model_test_is_blind_to_the_fitted_exponent():
    # The exponent was fitted to the same spectrum: a residual along the expected spectrum's
    # change per unit of exponent is what the fit absorbs, so it must not count as misfit,
    # while a change of slope that the fit cannot absorb still does.
    from v1ann.spectrum.matched.estimator import _slope_check
    from v1ann.spectrum.matched.objective import Score

    lo, hi = 10, 200
    ranks = np.arange(1, hi + 1, dtype=np.float64)
    fit = ranks**-1.0
    score = Score(fit, 0.3 * fit, 1e-4 * fit**2, lo, hi)
    kappa = 2.0
    derivative = (fit * (kappa - np.log(ranks)))[lo:hi]
    direction = score.coefficients(kappa)
    rng = np.random.default_rng(0)
    expected = [fit * (1 + 0.01 * rng.standard_normal(hi)) for _ in range(4)]
    observed = fit * ranks**-0.05
    shuffles = np.empty((0, hi))
    base, _ = _slope_check(observed, expected, score, shuffles, derivative, direction)
    shifted = [m.copy() for m in expected]
    for m in shifted:
        m[lo:hi] += 0.3 * derivative  # the same expected spectra at another exponent
    moved, _ = _slope_check(observed, shifted, score, shuffles, derivative, direction)
    assert moved == pytest.approx(base, abs=1e-9)
    assert abs(base) > 0.01  # the extra slope still shows


def test_where_q_decides_the_interval_is_the_minimisers_with_welch_satterthwaite_t():
    rec = mean_center(v1ann.simulate_recording(3.0, n_stimuli=300, n_neurons=1000, noise_scale=2.0, seed=0))
    fit = v1ann.estimate_alpha(rec, method="cvpca-matched", fit_range=(5, 100), n_shuffles=3, seed=0, progress=False)
    assert fit.attrs["matched_by"] == "distance"
    parts = {k: fit.attrs[f"alpha_sd_{k}"] for k in ("repeat_noise", "orientation", "noise_realisation")}
    assert fit.attrs["alpha_sd"] == pytest.approx(np.sqrt(sum(v * v for v in parts.values())), rel=1e-12)
    # every one of the 1 + 3 orientations measures the scatter of the minimised mean
    dof = effective_dof([(parts["repeat_noise"] ** 2, np.inf), (parts["orientation"] ** 2, 3),
                         (parts["noise_realisation"] ** 2, 3 - 1)])
    half_width = scipy.stats.t.ppf(0.975, dof) * fit.attrs["alpha_sd"]
    # the basin may widen it further
    assert fit.alpha_ci[0] <= fit.alpha - half_width + 1e-12 and fit.alpha_ci[1] >= fit.alpha + half_width - 1e-12


def test_minimiser_coefficients_give_the_move_of_the_penalised_least_squares_minimum():
    from v1ann.spectrum.matched.interval import minimiser_coefficients

    rng = np.random.default_rng(0)
    n = 40
    base, derivative = rng.normal(size=n), rng.normal(size=n)
    weight, c, variance = rng.uniform(0.5, 2.0, n), rng.normal(size=n), 0.3
    observed = base + 1.5 * derivative  # the model m(alpha) = base + alpha * derivative fits at 1.5

    def minimum(s):
        j = lambda a: weight @ (s - base - a * derivative) ** 2 + (c @ (s - base - a * derivative)) ** 2 / variance  # noqa: E731
        return scipy.optimize.minimize_scalar(j, bounds=(0, 3), method="bounded", options={"xatol": 1e-12}).x

    influence = minimiser_coefficients(weight, derivative, c, variance)
    e = 0.01 * rng.normal(size=n)
    assert minimum(observed) == pytest.approx(1.5, abs=1e-8)
    assert minimum(observed + e) - 1.5 == pytest.approx(influence @ e, rel=1e-5)
    # without the penalty's rank-one term the move differs: the penalty is part of the minimiser
    assert abs(minimiser_coefficients(weight, derivative, 0 * c, variance) @ e - influence @ e) > 1e-4
