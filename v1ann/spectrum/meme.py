"""MEME: a broken power law fitted to unbiased signal eigenmoments (Pospisil & Pillow 2025).

Written here from the paper (PNAS 2025, "Revisiting the high-dimensional geometry of
population responses in visual cortex") and its code (dp4846/meme_v1_bpl,
``src/eig_mom.py``):

1. **Eigenmoments.** In each repeat half, stimuli are paired (0, 1), (2, 3), ... and each
   pair's difference over sqrt(2) kept: rows of mean zero whose covariance is the signal
   covariance ``S`` of i.i.d. stimuli (plus noise). With ``A = Y1 Y2^T`` (m x m, the two
   halves) and ``F`` its strict upper triangle, ``tr(F^(p-1) A) / C(m, p)`` sums ``A`` over
   cycles of distinct stimuli, each stimulus met once in each half, so the noise cancels in
   expectation: an unbiased estimate of ``tr(S^p)`` (Kong & Valiant 2017), p = 1..k.
2. **Fit.** A continuous broken power law ``lambda_n`` over ranks 1..n_neurons whose
   moments ``sum(lambda_n**p)`` match the estimates by generalised least squares, the
   residuals whitened by the moments' covariance over a bootstrap of stimuli (10 k log k
   resamples, as published). The break is searched over the published grid (ranks 2..48
   by 2, then log-spaced to n_neurons). One power law and one break are both fitted; the
   break is kept when it lowers chi-squared by more than the 95 % quantile of chi2(2).
3. **Exponent.** v1ann's estimand: the published weighted log-log fit of the fitted
   spectrum over the fit range (for one power law, its exponent).
4. **Interval.** Parametric bootstrap as published: recordings simulated from the fitted
   spectrum (i.i.d. Gaussian stimuli, random orientation) and refitted; the estimate
   +- z times their standard deviation (robust: median absolute deviation, see below).

Where this differs from the published code, and why:

- the moments are computed in units of the top eigenvalue's scale and standardised by
  their bootstrap standard deviation before whitening: the published raw moments span
  ~10^28 at 10,000 neurons and their covariance cannot be inverted in float64;
- every fit starts at slope 1 (published: 0.01, far from any V1 spectrum);
- bootstrap replicates reuse the recording's weights (published: 230 new resamples per
  replicate, 230 times the cost, for a weighting that only changes efficiency);
- replicate noise is resampled from the recording's own repeat differences (rows in a
  random order, random signs) instead of a Gaussian with an estimated N x N covariance;
- the replicates' spread is their median absolute deviation (times 1.4826), not their
  standard deviation: one replicate in another basin of the break search otherwise sets
  the whole interval.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import scipy.optimize
import scipy.stats
import torch

from v1ann._loglog import clip_fit_range, wls_loglog
from v1ann._progress import progress_bar
from v1ann._utils import make_rng, resolve_device
from v1ann.errors import InvalidInputError
from v1ann.recording.simulate import sampled_signal

__all__ = ["MemeResult", "meme_alpha", "signal_eigenmoments"]

N_MOMENTS = 10  # as published (k_moms_fit)
N_REPLICATES = 20  # parametric bootstrap replicates, as published (n_bs)
BREAK_CHI2_LEVEL = 0.95
MAX_SLOPE = 20.0


@dataclass(frozen=True)
class MemeResult:
    """Output of :func:`meme_alpha`.

    Attributes
    ----------
    alpha : float
        Published fit of the fitted spectrum over ``fit_range`` (v1ann's estimand).
    alpha_ci : tuple of float or None
        ``alpha +- z * sd``, ``sd`` the parametric-bootstrap replicates' robust standard deviation.
    spectrum : ndarray
        The fitted signal spectrum over ranks 1..n_neurons, in the data's units.
    slopes : tuple of float
        Exponents of the pieces (one, or two with a break).
    break_rank : float or None
        Last rank of the first piece, when the break is kept.
    chi2 : dict
        Chi-squared of the fits: ``{"single": ..., "broken": ...}``.
    moments : ndarray
        Estimated ``tr(S**p)``, p = 1..k, in the data's units.
    replicates : ndarray
        Bootstrap exponents (empty without an interval).
    sd : float
        Robust standard deviation of the replicates (NaN without an interval).
    broken_ci : dict or None
        Where the break is kept and an interval asked for: intervals of ``alpha_1``,
        ``alpha_2`` and ``break_rank`` (+- z robust sd of the replicates' best broken fits;
        the break's on a log scale).
    """

    alpha: float
    alpha_ci: tuple[float, float] | None
    spectrum: np.ndarray
    slopes: tuple[float, ...]
    break_rank: float | None
    chi2: dict
    moments: np.ndarray
    replicates: np.ndarray
    sd: float = float("nan")
    broken_ci: dict | None = None


def signal_eigenmoments(first, second, n_moments: int = N_MOMENTS, *, device="cpu") -> np.ndarray:
    """Unbiased estimates of ``tr(S**p)``, p = 1..n_moments, from two repeat halves.

    ``first``, ``second``: (stimulus, neuron) responses of two independent repeats (or
    repeat means). ``S`` is the signal covariance over stimuli drawn i.i.d.; see the module
    docstring. The last stimulus is dropped when their number is odd.

    >>> rng = np.random.default_rng(0)
    >>> signal = rng.standard_normal((2000, 3)) * [3.0, 2.0, 1.0]   # eigenvalues 9, 4, 1
    >>> a, b = (signal + rng.standard_normal((2000, 3)) for _ in range(2))
    >>> np.round(signal_eigenmoments(a, b, 2) / [9 + 4 + 1, 81 + 16 + 1], 1)
    array([1., 1.])
    """
    gram = _cross_gram(first, second, device)
    return _moments_from_gram(gram, np.arange(gram.shape[0]), n_moments)


def meme_alpha(
    cross_gram,
    noise_pool,
    *,
    fit_range,
    n_moments: int = N_MOMENTS,
    n_weight_samples: int | None = None,
    ci: float | None = 0.95,
    n_replicates: int = N_REPLICATES,
    seed=None,
    device="auto",
    progress: bool = True,
) -> MemeResult:
    """MEME's exponent of the signal spectrum (module docstring).

    Use it through ``v1ann.estimate_alpha(recording, method="meme")``.

    Parameters
    ----------
    cross_gram : ndarray, (stimulus, stimulus)
        ``A @ B.T`` of the two repeat halves ``A``, ``B`` (stimulus, neuron), summed over
        neurons (the off-diagonal block of :func:`v1ann.spectrum.gram.repeat_gram`).
    noise_pool : ndarray, (stimulus, neuron)
        ``(A - B) / sqrt(2)``: the noise the bootstrap replicates draw from.
    fit_range : (int, int)
        Ranks of the published fit of the fitted spectrum (clipped to n_neurons).
    n_moments : int
        Eigenmoments matched (published: 10).
    n_weight_samples : int, optional
        Bootstrap resamples of stimuli for the weights; default ``10 k log k`` (230).
    ci : float or None
        Interval level; None skips the parametric bootstrap.
    n_replicates : int
        Parametric-bootstrap recordings (published: 20).
    seed, device, progress
        As elsewhere in v1ann.
    """
    gram = np.asarray(cross_gram, dtype=np.float64)
    n_stimuli, n_neurons = noise_pool.shape
    if n_stimuli < 2 * n_moments + 2:
        raise InvalidInputError(
            f"MEME needs more stimuli than twice its {n_moments} moments (pairs of stimuli); got {n_stimuli}"
        )
    lo, hi = clip_fit_range(fit_range, n_neurons)
    rng = make_rng(seed)
    dev = resolve_device(device)
    moments = _moments_from_gram(gram, np.arange(n_stimuli), n_moments)
    scale = _scale(moments)
    units = scale ** np.arange(1, n_moments + 1)
    n_weight_samples = n_weight_samples or int(10 * n_moments * np.log(n_moments))
    boot = np.stack([
        _moments_from_gram(gram, rng.integers(0, n_stimuli, n_stimuli), n_moments)
        for _ in progress_bar(range(n_weight_samples), progress=progress, desc="MEME weights")
    ])
    weights = _Weights(boot / units)
    fit = _fit_moments(moments / units, weights, n_neurons)
    spectrum = fit.spectrum * scale
    alpha = wls_loglog(spectrum, lo, hi)[0]
    replicates, interval, sd, broken_ci = np.empty(0), None, float("nan"), None
    if ci is not None:
        runs = [_replicate_alpha(spectrum, noise_pool, weights, units, (lo, hi), rng, dev)
                for _ in progress_bar(range(int(n_replicates)), progress=progress, desc="MEME bootstrap")]
        replicates = np.array([a for a, _ in runs])
        z = scipy.stats.norm.ppf(0.5 + ci / 2)
        sd = _robust_sd(replicates)
        interval = (alpha - z * sd, alpha + z * sd)
        if fit.break_rank is not None:  # the break is kept: intervals for its parameters too
            params = np.array([b for _, b in runs if b is not None])
            params[:, 2] = np.log(params[:, 2])  # the break on a log scale, like the grid
            centre = np.array([fit.slopes[0], fit.slopes[1], np.log(fit.break_rank)])
            half = z * np.array([_robust_sd(params[:, j]) for j in range(3)])
            low, high = centre - half, centre + half
            broken_ci = {"alpha_1": (low[0], high[0]), "alpha_2": (low[1], high[1]),
                         "break_rank": (float(np.exp(low[2])), float(np.exp(high[2])))}
    return MemeResult(alpha=float(alpha), alpha_ci=interval, spectrum=spectrum, slopes=fit.slopes,
                      break_rank=fit.break_rank, chi2=fit.chi2, moments=moments, replicates=replicates,
                      sd=sd, broken_ci=broken_ci)


def _robust_sd(values: np.ndarray) -> float:
    """Median absolute deviation x 1.4826: one replicate whose break search lands in another
    basin (slope 14 among slopes near 2, 700 x 2,500, alpha = 2) would otherwise set the
    whole interval."""
    return float(scipy.stats.median_abs_deviation(values, scale="normal"))


def _cross_gram(first, second, device) -> np.ndarray:
    """(P, P) float64 ``first @ second.T``: every pair-difference Gram is a combination of it."""
    a = torch.as_tensor(np.asarray(first), dtype=torch.float64, device=device)
    b = torch.as_tensor(np.asarray(second), dtype=torch.float64, device=device)
    if a.shape != b.shape or a.ndim != 2:
        raise InvalidInputError(f"the two repeat halves must be (stimulus, neuron) of one shape; got {tuple(a.shape)}, "
                                f"{tuple(b.shape)}")
    if not (torch.isfinite(a).all() and torch.isfinite(b).all()):
        raise InvalidInputError("responses hold NaN or Inf; MEME needs finite responses")
    return (a @ b.T).cpu().numpy()


def _moments_from_gram(gram: np.ndarray, order: np.ndarray, n_moments: int) -> np.ndarray:
    """Kong-Valiant moments of the pair differences of stimuli ``order`` (pairs in that order)."""
    i, j = order[0:-1:2], order[1::2]
    m = min(i.size, j.size)
    i, j = i[:m], j[:m]
    # (y1_i - y1_j) . (y2_k - y2_l) / 2 for pairs (i, j) and (k, l)
    a = 0.5 * (gram[np.ix_(i, i)] - gram[np.ix_(i, j)] - gram[np.ix_(j, i)] + gram[np.ix_(j, j)])
    upper = np.triu(a, 1)
    out = np.empty(n_moments)
    out[0] = np.trace(a) / m
    power = upper
    for p in range(2, n_moments + 1):
        out[p - 1] = np.sum(power * a.T) / math.comb(m, p)  # tr(F^(p-1) A)
        if p < n_moments:
            power = power @ upper
    return out


def _scale(moments: np.ndarray) -> float:
    """The top eigenvalue's order of magnitude (sqrt of tr(S^2)), so scaled moments stay near 1."""
    if not moments[0] > 0:
        raise InvalidInputError(
            f"the estimated signal variance tr(S) = {moments[0]:.3g} is not positive: the repeats share no "
            "stimulus-driven variance"
        )
    return float(np.sqrt(moments[1])) if moments[1] > 0 else float(moments[0])


class _Weights:
    """Whitening of moment residuals: standardised by the bootstrap sd, then by the correlation's inverse root."""

    def __init__(self, boot: np.ndarray):
        self.sd = boot.std(axis=0, ddof=1)
        if not np.all(self.sd > 0):
            raise InvalidInputError("the eigenmoments do not vary over bootstrap resamples: too few stimuli")
        values, vectors = np.linalg.eigh(np.corrcoef(boot.T))
        values = np.maximum(values, values.max() * 1e-10)
        self.matrix = (vectors / np.sqrt(values)) @ vectors.T

    def residuals(self, model: np.ndarray, estimate: np.ndarray) -> np.ndarray:
        return self.matrix @ ((model - estimate) / self.sd)

    def jacobian(self, model_jacobian: np.ndarray) -> np.ndarray:
        return self.matrix @ (model_jacobian / self.sd[:, None])


@dataclass(frozen=True)
class _Fit:
    spectrum: np.ndarray
    slopes: tuple
    break_rank: float | None
    chi2: dict
    broken: tuple | None  # (alpha_1, alpha_2, break rank) of the best broken fit, kept or not


class _MomentModel:
    """Moments ``sum(lambda_n**p)`` of ``log lambda_n = log_c1 - sum_j alpha_j * piece_j(n)``, with Jacobian.

    ``piece_j(n)`` is the log-rank travelled on piece j (from 0 at rank 1, continuous at
    the breaks), so the spectrum is the continuous broken power law with ``lambda_1 = c1``.
    """

    def __init__(self, n_neurons: int, breaks, n_moments: int):
        log_rank = np.log(np.arange(1, n_neurons + 1, dtype=float))
        edges = [0.0] + [float(np.log(b)) for b in breaks] + [np.inf]
        self.pieces = np.stack([np.clip(log_rank, lo, hi) - lo for lo, hi in zip(edges, edges[1:])])
        self.powers = np.arange(1, n_moments + 1, dtype=float)

    def log_spectrum(self, params: np.ndarray) -> np.ndarray:
        return params[0] - params[1:] @ self.pieces

    def moments(self, params: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The moments and their derivatives by ``params`` (n_moments, n_params)."""
        log_values = self.log_spectrum(params)
        terms = np.exp(self.powers[:, None] * log_values[None, :])  # (k, n)
        moments = terms.sum(axis=1)
        jac = np.empty((self.powers.size, params.size))
        jac[:, 0] = self.powers * moments
        jac[:, 1:] = -(self.powers[:, None] * (terms @ self.pieces.T))
        return moments, jac


def _fit_one(estimate, weights, n_neurons, breaks) -> tuple[scipy.optimize.OptimizeResult, _MomentModel]:
    model = _MomentModel(n_neurons, breaks, estimate.size)
    ranks = np.arange(1, n_neurons + 1, dtype=float)
    # start at slope 1 with the first moment matched
    x0 = np.array([np.log(max(estimate[0], 1e-12) / np.sum(1.0 / ranks))] + [1.0] * (len(breaks) + 1))
    lower = [-np.inf] + [0.0] * (len(breaks) + 1)
    upper = [np.inf] + [MAX_SLOPE] * (len(breaks) + 1)
    result = scipy.optimize.least_squares(
        lambda x: weights.residuals(model.moments(x)[0], estimate),
        x0, jac=lambda x: weights.jacobian(model.moments(x)[1]),
        bounds=(lower, upper), method="trf", x_scale="jac",
    )
    return result, model


def _break_grid(n_neurons: int) -> list[int]:
    """Published break candidates: 2..48 by 2, then 26 log-spaced ranks from 50 to n_neurons."""
    grid = list(range(2, 50, 2)) + [int(b) for b in np.logspace(np.log10(50), np.log10(n_neurons), 26)]
    return sorted({b for b in grid if b < n_neurons - 1})


def _fit_moments(estimate: np.ndarray, weights: _Weights, n_neurons: int) -> _Fit:
    single, model = _fit_one(estimate, weights, n_neurons, [])
    chi2 = {"single": float(2 * single.cost)}
    best, best_breaks, broken_params = (single, model), [], None
    broken = [(_fit_one(estimate, weights, n_neurons, [b]), [b]) for b in _break_grid(n_neurons)]
    if broken:
        (res, res_model), breaks = min(broken, key=lambda rb: rb[0][0].cost)
        chi2["broken"] = float(2 * res.cost)
        broken_params = (float(res.x[1]), float(res.x[2]), float(breaks[0]))
        if chi2["single"] - chi2["broken"] > scipy.stats.chi2.ppf(BREAK_CHI2_LEVEL, 2):
            best, best_breaks = (res, res_model), breaks
    result, model = best
    spectrum = np.exp(model.log_spectrum(result.x))
    return _Fit(spectrum, tuple(float(s) for s in result.x[1:]), float(best_breaks[0]) if best_breaks else None, chi2,
                broken_params)


def _replicate_alpha(spectrum, noise_pool, weights, units, fit_range, rng, device) -> tuple[float, tuple | None]:
    """MEME's exponent, and its best broken fit, on one recording simulated from the fitted
    spectrum (module docstring, 4)."""
    n_stimuli, n_neurons = noise_pool.shape
    # the signal alone: a whole simulated recording would also draw noise and its shown spectrum
    signal = sampled_signal(n_stimuli, spectrum, rng)
    halves = []
    for _ in range(2):
        rows = rng.permutation(n_stimuli)
        signs = rng.choice(np.array([-1.0, 1.0], dtype=np.float32), size=(n_stimuli, 1))
        halves.append(signal + signs * noise_pool[rows])
    gram = _cross_gram(halves[0], halves[1], device)
    moments = _moments_from_gram(gram, np.arange(n_stimuli), units.size)
    fit = _fit_moments(moments / units, weights, n_neurons)
    return wls_loglog(fit.spectrum, *fit_range)[0], fit.broken
