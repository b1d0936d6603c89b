"""``cvpca_matched_alpha``: the search, its fallback and the interval, sharing one set of simulations."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.stats

from v1ann._loglog import DEFAULT_FIT_RANGE, weighted_lstsq
from v1ann._progress import finish, progress_bar
from v1ann._utils import make_rng, resolve_device
from v1ann.errors import InvalidInputError
from v1ann.spectrum.matched.interval import (
    ALPHA_MAX,
    ALPHA_MIN,
    SLOPE_HALF_WIDTH,
    effective_dof,
    minimiser_coefficients,
    secant_slope,
)
from v1ann.spectrum.matched.objective import (
    Evaluation,
    Score,
    find_root,
    penalised_distance_minimum,
    scan_grid,
)
from v1ann.spectrum.matched.simulation import Simulator


@dataclass(frozen=True)
class MatchedResult:
    """Output of :func:`cvpca_matched_alpha`.

    Attributes
    ----------
    alpha : float
        Bias-corrected exponent.
    alpha_ci : tuple of float
        Interval at ``ci`` level: ``alpha +- t * alpha_sd``, t with the Welch-Satterthwaite
        degrees of freedom of ``alpha_sd``'s parts
        (:func:`~v1ann.spectrum.matched.interval.effective_dof`). Where ``Q`` decides it is
        widened to every scanned exponent that fits about as well as ``alpha`` (another basin
        the simulations cannot tell apart; :func:`~v1ann.spectrum.matched.interval.basin`).
    alpha_sd : float
        Its standard error: ``F``'s scatter through ``F``'s slope where the root decides, the
        minimiser's linearisation where ``Q`` decides
        (:func:`~v1ann.spectrum.matched.interval.minimiser_coefficients`).
    alpha_published : float
        The published fit of the observed spectrum (positive ranks only) for comparison.
    expected : ndarray, (hi,)
        Expected cvPCA spectrum at ``alpha`` (same units as the observed one).
    n_evaluations : int
        Simulated spectra computed (each one P x P eigendecomposition).
    criterion : str
        ``"root"`` (root of the linear statistic ``T1``) or ``"distance"`` (minimum of
        ``Q``, used where the root's expected spectrum misfits the observed one); see the
        module docstring.
    sd_parts : dict of str to float
        ``alpha_sd`` split into its sources, each a standard deviation in alpha:
        ``"repeat_noise"``, ``"orientation"`` (simulated signal orientations) and
        ``"noise_realisation"`` (spread over shuffles; 0 without per-shuffle spectra).
        ``alpha_sd`` is their root sum of squares.
    slope_mismatch : float
        How much steeper the observed spectrum is than the expected one inside the fit
        range, their levels left free (:meth:`Score.slope_coefficients`) and read blind to
        the fitted exponent (:func:`_slope_check`); about 0 where one power law describes
        the recording.
    p_model : float
        Two-sided p-value of ``slope_mismatch`` against the scatter the model predicts
        (:func:`_slope_check`): small when one power law of the recording's total variance
        cannot give the slope seen inside the range, as with a broken spectrum.
    """

    alpha: float
    alpha_ci: tuple[float, float]
    alpha_sd: float
    alpha_published: float
    expected: np.ndarray
    n_evaluations: int
    criterion: str
    sd_parts: dict
    slope_mismatch: float
    p_model: float


def cvpca_matched_alpha(
    spectrum,
    noise_variance,
    noise,
    noise_gram,
    total_signal: float,
    fit_range=DEFAULT_FIT_RANGE,
    *,
    shuffle_spectra=None,
    n_seeds: int = 3,
    ci: float = 0.95,
    seed=None,
    device="auto",
    tol: float = 2e-3,
    max_steps: int = 12,
    progress: bool = False,
) -> MatchedResult:
    """Bias-corrected alpha of a cvPCA spectrum by matching simulated expected spectra.

    Parameters
    ----------
    spectrum : ndarray, (n_components,)
        Observed cvPCA signal variance (mean over shuffles), response² per stimulus.
    noise_variance : ndarray, (n_components,)
        Per-stimulus noise variance along each component (``cvpca(...).noise_variance``).
    noise : ndarray, (n_stimuli, n_neurons)
        One half's noise, ``(A - B) / sqrt(2)`` (see :func:`v1ann.spectrum.gram`). Not modified.
    noise_gram : ndarray, (n_stimuli, n_stimuli)
        ``noise @ noise.T``.
    total_signal : float
        Total signal variance, response² per stimulus summed over neurons.
    fit_range : (int, int)
        0-based half-open range of ranks compared.
    shuffle_spectra : ndarray, (n_shuffles, n_components), optional
        The per-shuffle cvPCA spectra whose mean is ``spectrum``
        (``cvpca(..., keep_shuffles=True)``). Their spread measures how much the
        recording's particular noise moves the estimate (module docstring, step 5);
        without them (or with one shuffle) the interval leaves that source out and is
        too narrow where noise dominates (docs/validation.md).
    n_seeds : int
        Extra independent signal orientations simulated at the solution (>= 2): they
        average out the simulation's own scatter and measure it for the interval.
    ci : float
        Interval level.
    seed : int, Generator or None
        Random orientations.
    device : str
        Where eigendecompositions run (``"auto"``: CUDA when available).
    tol : float
        Precision in alpha of the root search and of the distance minimisation.
    max_steps : int
        At most this many simulated spectra in the first (root) search; the distance scan
        adds about 20 more.
    progress : bool
        Show a progress bar.

    Returns
    -------
    MatchedResult
    """
    # One function on purpose: the search, its fallback and the interval share the simulators
    # and every evaluation (the cache).
    lo, hi = fit_range
    spectrum = np.asarray(spectrum, dtype=np.float64)
    noise_variance = np.asarray(noise_variance, dtype=np.float64)
    if int(n_seeds) < 2:
        raise InvalidInputError(f"n_seeds must be >= 2 to estimate the interval, got {n_seeds}")
    if not total_signal > 0:
        raise InvalidInputError(
            f"the repeats share no variance (total signal variance {total_signal:.3g} <= 0): "
            "there is no signal spectrum to fit"
        )
    positive = spectrum[lo:hi] > 0
    if positive.sum() < 3:
        raise InvalidInputError(
            f"fewer than 3 positive cvPCA values inside fit_range {fit_range}: no signal there"
        )
    shuffles = _check_shuffle_spectra(shuffle_spectra, spectrum, hi)
    alpha_pub, offset = _published_on_positive(spectrum, lo, hi)
    ranks = np.arange(1, hi + 1, dtype=np.float64)
    observed_fit = np.exp(offset) * ranks ** (-alpha_pub) * spectrum.sum()
    n_stimuli = noise.shape[0]
    repeat_noise_var = (np.maximum(spectrum[:hi], 0) + noise_variance[:hi]) * noise_variance[:hi] / n_stimuli
    score = Score(observed_fit, noise_variance[:hi], repeat_noise_var, lo, hi)

    rng = make_rng(seed)
    dev = resolve_device(device)
    bar = progress_bar(total=max_steps + n_seeds + 2, desc="cvpca-matched", progress=progress)

    def evaluate(sim, alpha):
        """``(T1 mismatch, its scale, kappa, Q, expected spectrum)`` at ``alpha``."""
        bar.update()
        model = sim.expected(alpha)
        kappa = sim.mean_log_rank(alpha)
        scale = score.information(kappa)
        residual = spectrum[:hi] - model
        return Evaluation(float(score(residual, kappa)) / scale, scale, kappa, score.distance(residual), model)

    # orientation 0 drives the root search; 1..n_seeds are extra, independent orientations
    sims = [Simulator(noise, noise_gram, total_signal, hi, rng, dev) for _ in range(1 + n_seeds)]
    cache = {}

    def at(alpha, orientation=0):
        key = (float(alpha), orientation)
        if key not in cache:
            cache[key] = evaluate(sims[orientation], key[0])
        return cache[key]

    root = find_root(at, float(np.clip(alpha_pub, ALPHA_MIN, ALPHA_MAX)), tol, max_steps)
    residuals = np.asarray([at(root, o)[0] for o in range(len(sims))])
    # scatter of T1 across signal orientations (the search's own orientation excluded)
    between = residuals[1:].var(ddof=1)
    _, scale, kappa, _, _ = at(root)
    # Var(T1 observed) = repeat noise (analytic) + scatter across signal orientations (the
    # simulated mean adds scatter / seeds) + the noise realisation (module docstring, step
    # 5). The expected spectrum is common to every shuffle, so it drops out of the spread.
    variances = {
        "repeat_noise": score.noise_var(kappa) / scale**2,
        "orientation": between * (1 + 1 / residuals.size),
        "noise_realisation": float(np.var(score(shuffles, kappa), ddof=1)) / scale**2 if len(shuffles) > 1 else 0.0,
    }
    dofs = {"repeat_noise": np.inf, "orientation": n_seeds - 1, "noise_realisation": max(len(shuffles) - 1, 0)}
    sd_f = float(np.sqrt(sum(variances.values())))
    # The distance search reaches every exponent F does not reject even on the few-draw
    # part's own degrees of freedom (wide on purpose: a search, not the interval).
    quantile = scipy.stats.t.ppf(0.5 + ci / 2, df=n_seeds - 1)
    # The root is kept while its expected spectrum fits the observed one as well as the
    # model's own scatter allows, E[Q] = sum_i w_i v_i = sum of 1/rank over the fit range
    # (module docstring, step 4).
    by_distance = at(root)[3] > float(np.sum(1.0 / np.arange(lo + 1, hi + 1)))
    if by_distance:
        bar.total += len(sims) * (len(scan_grid(root)) + 8)  # the first scan, in every orientation, and Brent
        bar.refresh()
        found = penalised_distance_minimum(at, root, len(sims), sd_f, quantile, tol, level=ci)
        alpha, basin = found.alpha, found.basin
        at_estimate = [at(alpha, o)[4] for o in range(len(sims))]
        expected = np.mean(at_estimate, axis=0)
        # alpha minimises Q (plus F's penalty): its error is the minimiser's linearisation
        # dotted with each source of scatter, in alpha units (interval.minimiser_coefficients)
        derivative = np.polyfit(found.grid, [np.mean([at(a, o)[4][lo:hi] for o in range(len(sims))], axis=0)
                                             for a in found.grid], 1)[0]
        _, scale_hat, kappa_hat, _, _ = at(alpha)
        influence = minimiser_coefficients(score.weight, derivative, score.coefficients(kappa_hat) / scale_hat,
                                           found.penalty_variance)
        # every orientation enters the minimised mean alike, so all of them measure its scatter
        per_orientation = np.array([m[lo:hi] @ influence for m in at_estimate])
        alpha_variances = {
            "repeat_noise": float(np.sum(influence**2 * score.repeat_noise_var)),
            "orientation": float(per_orientation.var(ddof=1)) * (1 + 1 / len(sims)),
            "noise_realisation": float(np.var(shuffles[:, lo:hi] @ influence, ddof=1)) if len(shuffles) > 1 else 0.0,
        }
        dofs["orientation"] = len(sims) - 1
        direction = score.weight * derivative  # the residual is orthogonal to dm/dalpha in Q's weights
    else:
        at_estimate = [at(root, o)[4] for o in range(len(sims))]  # the test of one law reads them at the root
        expected = np.mean(at_estimate, axis=0)
        # average the search's orientation with the extra ones: F(alpha) falls at `slope`
        slope = max(secant_slope(at, root), 1e-3)
        alpha = float(root + residuals.mean() / slope)
        basin = (alpha, alpha)
        # the root's error is F's scatter through its slope
        alpha_variances = {k: v / slope**2 for k, v in variances.items()}
        a, b = max(root - SLOPE_HALF_WIDTH, ALPHA_MIN), min(root + SLOPE_HALF_WIDTH, ALPHA_MAX)
        derivative = (at(b)[4] - at(a)[4])[lo:hi] / (b - a)
        direction = score.coefficients(kappa)
    mismatch, p_model = _slope_check(spectrum, at_estimate, score, shuffles, derivative, direction)
    finish(bar)  # its total counted the most steps the search may take
    sd_parts = {k: float(np.sqrt(v)) for k, v in alpha_variances.items()}
    sd = float(np.sqrt(sum(alpha_variances.values())))
    interval_quantile = scipy.stats.t.ppf(0.5 + ci / 2, df=effective_dof([(alpha_variances[k], dofs[k])
                                                                           for k in alpha_variances]))
    n_evaluations = len(cache)
    return MatchedResult(
        alpha=alpha,
        alpha_ci=(min(alpha - interval_quantile * sd, basin[0]), max(alpha + interval_quantile * sd, basin[1])),
        alpha_sd=sd,
        alpha_published=float(alpha_pub),
        expected=expected,
        n_evaluations=n_evaluations,
        criterion="distance" if by_distance else "root",
        sd_parts=sd_parts,
        slope_mismatch=mismatch,
        p_model=p_model,
    )


def _slope_check(spectrum: np.ndarray, expected: list[np.ndarray], score: Score, shuffles: np.ndarray,
                 derivative: np.ndarray, direction: np.ndarray):
    """``(slope_mismatch, p)``: the observed spectrum's slope inside the fit range against
    the expected spectra's, one per orientation (the first, the search's, included).

    The exponent was fitted to the same spectrum, which removes from the residual the part
    of its scatter that looks like a change of exponent: to first order the estimate moves
    by ``direction . e / direction . dm`` for a scatter ``e`` (``direction``: the
    coefficients of the statistic the estimate zeroes; ``dm = derivative``, the expected
    spectrum's change per unit of exponent). So the slope is read with the coefficients
    ``g - (g . dm / direction . dm) direction``, blind to the fitted exponent, and its
    scatter is that of the residual, not of the error (without this the test's p-values on
    one power law ran 0.20-0.99: docs/validation.md).

    Its variance has the same three parts as ``F``'s: the second repeat's noise
    (analytic), the scatter across the extra orientations (times ``1 + 1/n`` for the mean
    of ``n``) and the spread over shuffles; the p-value is Student's t with
    Welch-Satterthwaite degrees of freedom, because the orientation part is estimated from
    a few draws. No simulation beyond the estimate's: the orientations are those already
    evaluated at the estimate (at the root, where the root decides).
    """
    coefficients = score.slope_coefficients()
    along = float(direction @ derivative)
    if abs(along) > 0:
        coefficients = coefficients - (coefficients @ derivative) / along * direction
    per_orientation = np.array([(spectrum[score.lo : score.hi] - m[score.lo : score.hi]) @ coefficients
                                for m in expected])
    parts = [(float(np.sum(coefficients**2 * score.repeat_noise_var)), np.inf),
             (float(per_orientation[1:].var(ddof=1)) * (1 + 1 / per_orientation.size), per_orientation.size - 2)]
    if len(shuffles) > 1:
        parts.append((float(np.var(shuffles[:, score.lo : score.hi] @ coefficients, ddof=1)), len(shuffles) - 1))
    variance = sum(v for v, _ in parts)
    mismatch = float(per_orientation.mean())
    p = float(2 * scipy.stats.t.sf(abs(mismatch) / np.sqrt(variance), effective_dof(parts))) if variance > 0 else 1.0
    return mismatch, p


def _check_shuffle_spectra(shuffle_spectra, spectrum: np.ndarray, hi: int) -> np.ndarray:
    """Per-shuffle spectra as a (n_shuffles, hi) float64 array (empty rows when absent)."""
    if shuffle_spectra is None:
        return np.empty((0, hi))
    shuffles = np.asarray(shuffle_spectra, dtype=np.float64)
    if shuffles.ndim != 2 or shuffles.shape[1] < hi:
        raise InvalidInputError(
            f"shuffle_spectra must be (n_shuffles, n_components >= {hi}), got shape {shuffles.shape}"
        )
    if not np.all(np.isfinite(shuffles[:, :hi])):
        raise InvalidInputError("shuffle_spectra holds NaN or infinite values inside the fit range")
    if not np.allclose(shuffles[:, :hi].mean(0), spectrum[:hi], rtol=1e-6, atol=1e-12 * np.abs(spectrum[:hi]).max()):
        raise InvalidInputError("shuffle_spectra must average to spectrum (the same recording's shuffles)")
    return shuffles[:, :hi]


def _published_on_positive(spectrum: np.ndarray, lo: int, hi: int) -> tuple[float, float]:
    """Published WLS fit of the normalised spectrum using only its positive ranks in range."""
    normalised = spectrum / spectrum.sum()
    keep = np.flatnonzero(normalised[lo:hi] > 0) + lo
    ranks = keep + 1.0
    x = np.column_stack([-np.log(ranks), np.ones_like(ranks)])
    (alpha, offset), _ = weighted_lstsq(x, np.log(normalised[keep]), 1.0 / ranks)
    return float(alpha), float(offset)
