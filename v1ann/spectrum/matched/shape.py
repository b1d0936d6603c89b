"""``cvpca-shape``: a broken power law whose simulated cvPCA spectrum matches the observed one.

``cvpca-matched`` ties every rank's amplitude to one exponent, so a flatter head or a tail
that bends drags it far off (docs/validation.md). Here the signal spectrum is a continuous
broken power law ``lambda(theta)``, ``theta = (alpha_1, alpha_2, log break)``, summing to
the recording's unbiased total signal variance (a free amplitude traded off against the
slope where noise dominates: +0.05 at noise/signal 4 for alpha = 1), and ``theta`` minimises one objective, the weighted
squared distance between the observed cvPCA spectrum ``s`` and the expected one ``m``
(:class:`~v1ann.spectrum.matched.simulation.Simulator`: the recording's own noise plus the
model's signal, averaged over random orientations) over ranks 1..hi::

    Q(theta) = sum_i w_i (s_i - m_i(theta))**2,    w_i = 1 / (i v_i)

``v_i`` is the per-rank variance of ``s`` (a relative scatter, the scatter of components
that are mostly noise, the second repeat's noise); ``1/i`` because neighbouring ranks share
their errors, as in the published fit. One power law (``alpha_1 = alpha_2``) is fitted the
same way. The exponent is the estimand: the published fit of the fitted spectrum over the
fit range.

The interval and the model comparison come from one linearisation at the fit: the estimate
moves by ``(J^T J)^-1 J^T sqrt(w) (ds - dm)`` when the spectra move by ``ds`` and ``dm``.
Their covariance is simulated, not assumed: fresh random orientations of the fitted signal
against the recording's noise (the observed spectrum's own orientation, and 1/n of it for
the fitted mean of n orientations) plus the second repeat's noise (analytic, independent
across ranks). The same draws give the null distribution of ``Q_single - Q_broken``; the
broken law is kept when the observed difference is beyond its 95th percentile: a test at
5 %, not a threshold read from data. Assumes a signal oriented at random with respect to
the noise and noise independent across repeats (docs/validation.md: where it fails).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.optimize
import scipy.stats

from v1ann._progress import finish, progress_bar
from v1ann._utils import make_rng, resolve_device
from v1ann.errors import InvalidInputError
from v1ann.recording.simulate import broken_power_law_spectrum, true_alpha
from v1ann.spectrum.matched.simulation import Simulator

__all__ = ["ShapeResult", "shape_matched_alpha"]

N_ORIENTATIONS = 2  # orientations averaged in the fitted mean
N_REPLICATES = 24  # fresh orientations that measure the spectra's covariance
N_NULL_DRAWS = 4000  # Gaussian draws of the model comparison's null distribution
TEST_LEVEL = 0.05
ALPHA_BOUNDS = (0.0, 8.0)
BREAK_STARTS = (8.0, 30.0, 100.0)  # the break search starts here (those below hi / 2)
MAX_STEPS = 15  # least-squares steps per start
# Finite-difference steps of the Jacobian (alpha_1, alpha_2, log break): the expected
# spectrum steps where noise components trade ranks with signal ones, so a derivative must
# span many steps (as matched.interval.SLOPE_HALF_WIDTH).
STEPS = np.array([0.05, 0.05, 0.1])
RELATIVE_SCATTER = 0.1  # as matched.objective


@dataclass(frozen=True)
class ShapeResult:
    """Output of :func:`shape_matched_alpha`.

    Attributes
    ----------
    alpha : float
        Published fit, over the fit range, of the fitted signal spectrum (the model kept).
    alpha_ci : tuple of float
        ``alpha +- t * alpha_sd`` (t with ``n_replicates - 1`` degrees of freedom).
    alpha_sd : float
        Standard deviation of ``alpha`` from the linearisation (module docstring).
    spectrum : ndarray
        The kept model's signal spectrum, ranks 1..K, response² per stimulus.
    expected : ndarray
        Its expected cvPCA spectrum, ranks 1..hi.
    one_power_law : bool
        Whether one power law was kept: the test did not reject it at 5 % and
        ``allow_single`` was true.
    p_single : float
        p-value of one power law against the broken law.
    alpha_single : float
        Exponent of the one-power-law fit.
    slopes : tuple of float
        ``(alpha_1, alpha_2)`` of the broken fit.
    break_rank : float
        Its break (a rank, continuous).
    broken_ci : dict
        ``alpha_1``, ``alpha_2``, ``break_rank`` -> interval at the same level.
    n_simulations : int
        Expected spectra simulated.
    """

    alpha: float
    alpha_ci: tuple[float, float]
    alpha_sd: float
    spectrum: np.ndarray
    expected: np.ndarray
    one_power_law: bool
    p_single: float
    alpha_single: float
    slopes: tuple[float, float]
    break_rank: float
    broken_ci: dict
    n_simulations: int


def shape_matched_alpha(
    spectrum,
    noise_variance,
    noise,
    noise_gram,
    total_signal: float,
    fit_range,
    *,
    ci: float = 0.95,
    n_orientations: int = N_ORIENTATIONS,
    n_replicates: int = N_REPLICATES,
    shuffle_spectra=None,
    allow_single: bool = True,
    seed=None,
    device="auto",
    progress: bool = False,
) -> ShapeResult:
    """Exponent of a broken-power-law signal whose expected cvPCA spectrum matches ``spectrum``.

    Parameters
    ----------
    spectrum, noise_variance : ndarray, (n_components,)
        Observed cvPCA signal and noise variance per component (mean over shuffles).
    noise : ndarray, (n_stimuli, n_neurons)
        One half's noise, ``(A - B) / sqrt(2)``. Not modified.
    noise_gram : ndarray, (n_stimuli, n_stimuli)
        ``noise @ noise.T``.
    total_signal : float
        Total signal variance, response² per stimulus summed over neurons.
    fit_range : (int, int)
        0-based half-open ranks of the estimand; ranks 1..hi are matched.
    ci : float
        Interval level.
    n_orientations, n_replicates : int
        Orientations averaged in the fitted mean; fresh ones that measure the covariance.
    shuffle_spectra : ndarray, (n_shuffles, n_components), optional
        Per-shuffle spectra whose mean is ``spectrum``: their spread adds the noise
        realisation to the interval.
    allow_single : bool
        Report one power law where the test does not reject it. False always reports the
        broken law (``p_single`` is still computed): for a recording whose one power law
        another test already rejected (the default's refit after ``cvpca-matched``'s
        test), where this test failing to reject on the same data is no evidence for it.
    seed : int, Generator or None
        Random orientations.
    device : str
        Where eigendecompositions run (``"auto"``: CUDA when available).
    progress : bool
        Show a progress bar.

    Returns
    -------
    ShapeResult
    """
    lo, hi = fit_range
    s = np.asarray(spectrum, dtype=np.float64)[:hi]
    nv = np.asarray(noise_variance, dtype=np.float64)[:hi]
    if not total_signal > 0:
        raise InvalidInputError(
            f"the repeats share no variance (total signal variance {total_signal:.3g} <= 0): "
            "there is no signal spectrum to fit"
        )
    if int(n_replicates) < 3 or int(n_orientations) < 1:
        raise InvalidInputError(f"need n_replicates >= 3 and n_orientations >= 1, got {n_replicates}, {n_orientations}")
    n_stimuli = noise.shape[0]
    rank = min(n_stimuli - 1, noise.shape[1])
    repeat = (np.maximum(s, 0) + nv) * nv / n_stimuli  # the second repeat's noise, per rank
    level = np.maximum(s, 0.05 * nv)
    variance = level**2 * (RELATIVE_SCATTER**2 + (nv / (level + nv)) ** 2) + repeat
    sqrt_w = np.sqrt(1.0 / variance / np.arange(1, hi + 1))
    rng, dev = make_rng(seed), resolve_device(device)
    bar = progress_bar(total=(4 * MAX_STEPS + 10) * 4 * n_orientations + 2 * n_replicates, desc="cvpca-shape",
                       progress=progress)
    sims = [Simulator(noise, noise_gram, total_signal, hi, rng, dev) for _ in range(n_orientations)]
    cache: dict[tuple, np.ndarray] = {}

    def signal_spectrum(theta) -> np.ndarray:
        # clipped: a finite difference at a bound steps just outside it
        slopes = [max(float(theta[0]), 0.0), max(float(theta[1]), 0.0)]
        return broken_power_law_spectrum(slopes, [float(np.exp(max(theta[2], 0.0)))], rank, total=total_signal)

    def model(theta) -> np.ndarray:
        key = tuple(np.round(theta, 10))
        if key not in cache:
            lam = signal_spectrum(theta)
            cache[key] = np.mean([sim.expected_for(lam) for sim in sims], axis=0)
            bar.update(len(sims))
        return cache[key]

    def residual(theta) -> np.ndarray:
        return sqrt_w * (s - model(theta))

    def single_theta(x):
        return np.array([x[0], x[0], np.log(2.0)])

    single = _least_squares(lambda x: residual(single_theta(x)), [_slope(s, lo, hi)], ALPHA_BOUNDS, STEPS[:1])
    breaks = [b for b in BREAK_STARTS if b < hi / 2] or [max(2.0, hi / 4)]
    # from the data's local slopes, and from the single fit (the nested model then fits at
    # least as well as one power law)
    starts = [[_slope(s, 0, int(b)), _slope(s, int(b), hi), np.log(b)] for b in breaks]
    starts.append([single.x[0], single.x[0], np.log(breaks[len(breaks) // 2])])
    broken = min((_least_squares(residual, x0, _broken_bounds(hi), STEPS) for x0 in starts), key=lambda r: r.cost)
    jac_single = _jacobian(lambda x: residual(single_theta(x)), single.x, STEPS[:1])
    jac_broken = _jacobian(residual, broken.x, STEPS)

    # covariance of the residual spectrum: fresh orientations at each fit, + repeat noise
    lam_single, lam_broken = signal_spectrum(single_theta(single.x)), signal_spectrum(broken.x)
    at_single, at_broken = [], []
    for _ in range(int(n_replicates)):
        sim = Simulator(noise, noise_gram, total_signal, hi, rng, dev)
        at_single.append(sim.expected_for(lam_single))
        at_broken.append(sim.expected_for(lam_broken))
        bar.update(2)
    finish(bar)
    # the residual's covariance as low-rank factors (sqrt(w)-scaled): the observed spectrum's
    # orientation and 1/n of it for the fitted mean; the second repeat's noise; the noise
    # realisation, from the spread over shuffles
    scale = np.sqrt((1 + 1 / n_orientations) / (n_replicates - 1))
    repeat_sd = sqrt_w * np.sqrt(repeat)
    realisation = np.zeros((hi, 0))
    if shuffle_spectra is not None and len(shuffle_spectra) > 1:
        shuffles = np.asarray(shuffle_spectra, dtype=np.float64)[:, :hi]
        realisation = sqrt_w[:, None] * (shuffles - shuffles.mean(0)).T / np.sqrt(len(shuffles) - 1)
    factors_single = np.hstack([sqrt_w[:, None] * (np.array(at_single) - np.mean(at_single, axis=0)).T * scale,
                                realisation])
    factors_broken = np.hstack([sqrt_w[:, None] * (np.array(at_broken) - np.mean(at_broken, axis=0)).T * scale,
                                realisation])

    p_single = _p_single(2 * (single.cost - broken.cost), jac_single, jac_broken, factors_single, repeat_sd, rng)
    one_power_law = bool(allow_single) and p_single >= TEST_LEVEL
    quantile = scipy.stats.t.ppf(0.5 + ci / 2, df=n_replicates - 1)
    cov_single = _sandwich(jac_single, factors_single, repeat_sd)
    cov_broken = _sandwich(jac_broken, factors_broken, repeat_sd)
    alpha_single = float(single.x[0])

    def estimand(theta):
        return true_alpha(signal_spectrum(theta), (lo, hi))

    gradient = _jacobian(lambda x: np.atleast_1d(estimand(x)), broken.x, STEPS).ravel()
    sd_broken_parts = np.sqrt(np.maximum(np.diag(cov_broken), 0.0))
    if one_power_law:
        alpha, sd, lam = alpha_single, float(np.sqrt(cov_single[0, 0])), lam_single
        expected = model(single_theta(single.x))
    else:
        alpha, lam, expected = float(estimand(broken.x)), lam_broken, model(broken.x)
        sd = float(np.sqrt(max(gradient @ cov_broken @ gradient, 0.0)))
    log_break = broken.x[2]
    return ShapeResult(
        alpha=alpha,
        alpha_ci=(alpha - quantile * sd, alpha + quantile * sd),
        alpha_sd=sd,
        spectrum=lam,
        expected=expected,
        one_power_law=bool(one_power_law),
        p_single=float(p_single),
        alpha_single=alpha_single,
        slopes=(float(broken.x[0]), float(broken.x[1])),
        break_rank=float(np.exp(log_break)),
        broken_ci={
            "alpha_1": _interval(broken.x[0], quantile * sd_broken_parts[0]),
            "alpha_2": _interval(broken.x[1], quantile * sd_broken_parts[1]),
            # a break the data cannot place spans every rank, not past them
            "break_rank": tuple(float(v) for v in np.exp(np.clip(
                _interval(log_break, quantile * sd_broken_parts[2]), 0.0, np.log(rank)))),
        },
        n_simulations=len(cache) * n_orientations + 2 * int(n_replicates),
    )


def _least_squares(residual, x0, bounds, steps):
    """Bounded least squares from ``x0`` (clipped inside), finite differences of size ``steps``."""
    lower, upper = (np.broadcast_to(b, len(x0)).astype(float) for b in bounds)
    x0 = np.clip(np.asarray(x0, dtype=float), lower + 1e-6, upper - 1e-6)
    # diff_step is relative to max(1, |x|): the absolute step is `steps` near 1
    return scipy.optimize.least_squares(residual, x0, bounds=(lower, upper), diff_step=steps / np.maximum(1, np.abs(x0)),
                                        x_scale=steps, max_nfev=MAX_STEPS, method="trf")


def _broken_bounds(hi: int):
    return ([ALPHA_BOUNDS[0], ALPHA_BOUNDS[0], np.log(2.0)], [ALPHA_BOUNDS[1], ALPHA_BOUNDS[1], np.log(hi)])


def _slope(s: np.ndarray, lo: int, hi: int) -> float:
    """Published-fit slope of the positive values of ``s[lo:hi]`` (a start), 1 if too few."""
    ranks = np.arange(lo + 1, hi + 1)
    keep = s[lo:hi] > 0
    if keep.sum() < 3:
        return 1.0
    slope = -np.polyfit(np.log(ranks[keep]), np.log(s[lo:hi][keep]), 1, w=1 / np.sqrt(ranks[keep]))[0]
    return float(np.clip(slope, 0.05, 6.0))


def _jacobian(func, x, steps) -> np.ndarray:
    """Central differences of ``func`` at ``x``, one column per parameter."""
    columns = []
    for k, h in enumerate(steps[: len(x)]):
        up, down = np.array(x, dtype=float), np.array(x, dtype=float)
        up[k] += h
        down[k] -= h
        columns.append((func(up) - func(down)) / (2 * h))
    return np.stack(columns, axis=1)


def _sandwich(jac, factors, repeat_sd) -> np.ndarray:
    """Covariance of the fitted parameters: ``G Sigma G^T`` with ``G = pinv(J)``,
    ``Sigma = F F^T + diag(repeat_sd**2)``."""
    g = np.linalg.pinv(jac, rcond=1e-8)
    go = g @ factors
    gr = g * repeat_sd
    return go @ go.T + gr @ gr.T


def _column_space(jac) -> np.ndarray:
    u, sv, _ = np.linalg.svd(jac, full_matrices=False)
    return u[:, sv > 1e-8 * max(sv.max(), 1e-300)]


def _p_single(observed_drop, jac_single, jac_broken, factors, repeat_sd, rng) -> float:
    """p-value of ``Q_single - Q_broken`` under one power law, from Gaussian draws of the residuals."""
    basis_single, basis_broken = _column_space(jac_single), _column_space(jac_broken)
    draws = factors @ rng.standard_normal((factors.shape[1], N_NULL_DRAWS))
    draws += repeat_sd[:, None] * rng.standard_normal((repeat_sd.size, N_NULL_DRAWS))
    null = (basis_broken.T @ draws) ** 2
    null = null.sum(0) - ((basis_single.T @ draws) ** 2).sum(0)
    return float((1 + np.sum(null >= observed_drop)) / (N_NULL_DRAWS + 1))


def _interval(value: float, half_width: float) -> tuple[float, float]:
    return float(value - half_width), float(value + half_width)
