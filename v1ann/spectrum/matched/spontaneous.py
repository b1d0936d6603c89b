"""``svca-matched``: the exponent whose simulated SVCA spectrum matches the observed one.

Where private noise dominates a component, SVCA's train-time singular vectors tilt toward
noise and its reliable variance falls, so the published fit of the SVCA spectrum runs steep
(+0.2 to +2.8 on simulated activity, docs/spectra-estimators.md); and where the shared
signal has about as many dimensions as a neuron set, the cross-covariance of two halves is
not the spectrum of the whole even without noise. Both depend on sizes and on a noise level
the recording shows, so they are removed by simulation, as ``cvpca-matched`` does for
cvPCA. The model: a shared signal with eigenvalues ``lambda_n ∝ n^-alpha`` over all
``min(n_time - 1, n_neurons)`` dimensions, oriented at random over neurons and white over
time, plus private noise of variance ``rho`` times the mean shared variance in every
neuron. SVCA of the model at the recording's sizes (time points, train/test split, both
neuron sets) gives its expected reliable variance ``r(theta)`` and total variance
``t(theta)``; ``theta = (alpha, log rho)`` minimises one objective over ranks 1..hi::

    Q(theta) = sum_k (1/k) [((R_k - a r_k) / T_k)**2 + ((T_k - a t_k) / T_k)**2]

with ``R``, ``T`` the observed spectra and ``a = sum T / sum t`` (SVCA is blind to the
activity's scale). The total variance carries the noise level, the reliable variance the
slope. The interval is a linearisation at the fit, with the residuals' covariance measured
on fresh simulated recordings of the fitted model (as ``cvpca-shape``), and ``t`` with
their degrees of freedom. Assumes one power law, private noise of one variance in every
neuron, independent over time (docs/spectra-estimators.md: how well it works).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.optimize
import scipy.stats
import torch

from v1ann._progress import finish, progress_bar
from v1ann._utils import make_rng, resolve_device
from v1ann.errors import InvalidInputError
from v1ann.recording.simulate import power_law_spectrum
from v1ann.spectrum.matched.shape import _jacobian

__all__ = ["SpontaneousResult", "svca_matched_alpha"]

N_ORIENTATIONS = 2  # simulated recordings averaged in the fitted mean (common random numbers)
N_REPLICATES = 16  # fresh simulated recordings that measure the residuals' covariance
ALPHA_BOUNDS = (0.02, 6.0)
LOG_RHO_BOUNDS = (np.log(1e-4), np.log(1e3))
STEPS = np.array([0.02, 0.05])  # finite-difference steps of (alpha, log rho)
MAX_STEPS = 30
# the coarse grid whose best point starts the fit: Q has separate basins where a steeper
# slope trades off against more noise
START_ALPHAS = (0.3, 0.5, 0.75, 1.1, 1.6, 2.3, 3.3)
START_NOISE_RATIOS = (0.02, 0.1, 0.4, 1.5, 6.0, 25.0, 100.0)
N_STARTS = 2  # fits from the best grid points; the one with the smallest Q is kept
XTOL = 1e-3  # relative step at which the fit stops (alpha to ~1e-3)


@dataclass(frozen=True)
class SpontaneousResult:
    """Output of :func:`svca_matched_alpha`.

    Attributes
    ----------
    alpha : float
        Exponent of the fitted shared spectrum.
    alpha_ci : tuple of float
        ``alpha +- t * alpha_sd``, ``t`` with ``n_replicates - 1`` degrees of freedom.
    alpha_sd : float
        Standard deviation of ``alpha`` from the linearisation (module docstring).
    noise_ratio : float
        Fitted private noise variance per neuron / mean shared variance per neuron.
    expected : ndarray
        Expected SVCA reliable variance of the fitted model, ranks 1..hi, in the observed
        spectrum's units.
    p_model : float
        Goodness of fit: the chance that a fresh recording of the fitted model lies farther
        from its mean (in ``Q``, the part the fit cannot absorb; a scaled chi-squared matched
        to the fresh recordings) than the observed spectrum lies from its fit. Small: the
        model (one power law, one noise variance) does not describe the recording.
    n_simulations : int
        Simulated SVCA spectra computed.
    """

    alpha: float
    alpha_ci: tuple[float, float]
    alpha_sd: float
    noise_ratio: float
    expected: np.ndarray
    p_model: float
    n_simulations: int


class SpontaneousSimulator:
    """SVCA spectra of ``power-law shared signal + private noise`` at a recording's sizes.

    One instance draws the time courses, loadings and noise once (common random numbers), so
    its spectra are smooth functions of ``(alpha, rho)``. Sizes: train and test time
    points, and the two neuron sets (neurons in neither set do not enter SVCA).
    """

    def __init__(self, n_train: int, n_test: int, n_set1: int, n_set2: int, n_components: int, rng, device):

        self.n_set1, self.n_components = n_set1, n_components
        n_neurons = n_set1 + n_set2
        self.rank = min(n_train + n_test - 1, n_neurons)
        gen = torch.Generator().manual_seed(int(rng.integers(2**62)))

        def gaussian(*shape):
            return torch.randn(*shape, generator=gen, dtype=torch.float64)

        loadings, _ = torch.linalg.qr(gaussian(n_neurons, self.rank))  # orthonormal columns
        self.parts = []
        for n_time in (n_train, n_test):
            courses, noise = gaussian(n_time, self.rank), gaussian(n_time, n_neurons)
            # centred over the segment's time points, as SVCA centres each neuron
            courses -= courses.mean(0)
            noise -= noise.mean(0)
            self.parts.append((courses.to(device), noise.to(device)))
        self.loadings = loadings.T.contiguous().to(device)  # (rank, n_neurons)
        self.total = float(n_neurons)  # eigenvalues sum to n_neurons: shared variance 1 per neuron

    def spectra(self, alpha: float, log_rho: float) -> tuple[np.ndarray, np.ndarray]:
        """Reliable and total variance, ranks 1..n_components."""
        lam = torch.as_tensor(power_law_spectrum(alpha, self.rank, total=self.total), dtype=torch.float64,
                              device=self.loadings.device)
        mixing = lam.sqrt()[:, None] * self.loadings
        sd = float(np.exp(0.5 * log_rho))
        (train_courses, train_noise), (test_courses, test_noise) = self.parts
        train = train_courses @ mixing + sd * train_noise
        test = test_courses @ mixing + sd * test_noise
        return svca_of(train, test, self.n_set1, self.n_components)


def svca_of(train: torch.Tensor, test: torch.Tensor, n_set1: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    """SVCA of (time, neuron) activity already centred over each segment: the first
    ``n_set1`` neurons form set 1, the rest set 2 (the same moments as :func:`v1ann.svca`)."""
    u, _, vh = torch.linalg.svd(train[:, :n_set1].T @ train[:, n_set1:], full_matrices=False)
    p1, p2 = test[:, :n_set1] @ u[:, :k], test[:, n_set1:] @ vh[:k].T
    p1, p2 = p1 - p1.mean(0), p2 - p2.mean(0)
    reliable = (p1 * p2).mean(0)
    total = 0.5 * ((p1 * p1).mean(0) + (p2 * p2).mean(0))
    return reliable.cpu().numpy(), total.cpu().numpy()


def svca_matched_alpha(
    reliable,
    total,
    sizes: dict,
    fit_range: tuple[int, int],
    *,
    ci: float = 0.95,
    seed=None,
    device="auto",
    progress: bool = True,
) -> SpontaneousResult:
    """Exponent of the power-law shared spectrum whose simulated SVCA spectrum matches.

    Parameters
    ----------
    reliable, total : array-like (K,)
        The observed SVCA spectra (:func:`v1ann.svca`: values and ``total_variance``).
    sizes : dict
        ``n_train``, ``n_test``, ``n_set1``, ``n_set2`` of that SVCA (its attrs).
    fit_range : (int, int)
        0-based ``(lo, hi)``; ranks 1..hi enter the objective (the exponent is that of one
        power law, so ``lo`` does not change it).
    ci : float
        Interval level.
    seed : int, Generator or None
    device : str or torch.device
    progress : bool

    Returns
    -------
    SpontaneousResult

    Raises
    ------
    InvalidInputError
        If the reliable variance over the fit range sums to zero or less (no shared signal).
    """
    reliable, total = np.asarray(reliable, dtype=np.float64), np.asarray(total, dtype=np.float64)
    hi = min(fit_range[1], reliable.size)  # the objective runs over ranks 1..hi
    if not reliable[:hi].sum() > 0:
        raise InvalidInputError(f"SVCA: components 1..{hi} have no reliable variance in sum; no shared signal to fit")
    rng, dev = make_rng(seed), resolve_device(device)
    dims = (sizes["n_train"], sizes["n_test"], sizes["n_set1"], sizes["n_set2"], hi)
    steps = len(START_ALPHAS) * len(START_NOISE_RATIOS) + N_STARTS * MAX_STEPS * 3 + N_REPLICATES
    bar = progress_bar(total=steps, desc="svca-matched", progress=progress)
    simulators = [SpontaneousSimulator(*dims, rng, dev) for _ in range(N_ORIENTATIONS)]
    weight = np.tile(1.0 / (np.arange(1, hi + 1) * total[:hi] ** 2), 2)  # reliable, then total
    cache: dict[tuple[float, float], tuple[np.ndarray, np.ndarray]] = {}

    def model(theta) -> tuple[np.ndarray, np.ndarray]:
        key = (float(theta[0]), float(theta[1]))
        if key not in cache:
            pairs = [sim.spectra(*key) for sim in simulators]
            cache[key] = tuple(np.mean([p[i] for p in pairs], axis=0) for i in range(2))
            bar.update(1)
        return cache[key]

    def residual_of(observed_reliable, observed_total, theta, spectra=None) -> np.ndarray:
        r, t = model(theta) if spectra is None else spectra
        scale = observed_total.sum() / t.sum()
        return np.sqrt(weight) * np.concatenate([observed_reliable - scale * r, observed_total - scale * t])

    def residual(theta):
        return residual_of(reliable[:hi], total[:hi], theta)

    lower, upper = np.array([ALPHA_BOUNDS[0], LOG_RHO_BOUNDS[0]]), np.array([ALPHA_BOUNDS[1], LOG_RHO_BOUNDS[1]])
    fits = []
    for start in _grid_starts(residual_of, simulators[0], reliable[:hi], total[:hi], bar):
        start = np.clip(start, lower + 1e-6, upper - 1e-6)
        fits.append(scipy.optimize.least_squares(residual, start, bounds=(lower, upper), x_scale=STEPS, xtol=XTOL,
                                                 diff_step=STEPS / np.maximum(1, np.abs(start)), max_nfev=MAX_STEPS))
    fitted = min(fits, key=lambda f: f.cost)
    theta = fitted.x
    jac = _jacobian(residual, theta, STEPS)

    # the residuals' covariance: fresh recordings of the fitted model, in the observed units;
    # the fitted mean carries 1/N_ORIENTATIONS of one recording's scatter
    mean_r, mean_t = model(theta)
    scale = total[:hi].sum() / mean_t.sum()
    # each draw's residual as if it were the observed recording (its own scale a included)
    draws = []
    for _ in range(N_REPLICATES):
        r, t = SpontaneousSimulator(*dims, rng, dev).spectra(*theta)
        draws.append(residual_of(scale * r, scale * t, theta))
        bar.update(1)
    finish(bar)
    draws = np.array(draws)
    draws = (draws - draws.mean(axis=0)) * np.sqrt(1 + 1 / N_ORIENTATIONS)
    g = np.linalg.pinv(jac, rcond=1e-8)
    spread = draws @ g.T  # (replicates, parameters): how each draw moves theta
    alpha_sd = float(np.sqrt(np.mean(spread[:, 0] ** 2)))
    # the fit absorbs two of the observed residual's dimensions; the observed residual holds
    # one recording's scatter and the fitted mean's, as the scaled draws do
    observed_q = float(np.sum(fitted.fun ** 2))
    draw_q = np.sum((draws - spread @ jac.T) ** 2, axis=1)
    p_model = _scaled_chi2_sf(observed_q, draw_q)
    quantile = scipy.stats.t.ppf(0.5 + ci / 2, df=N_REPLICATES - 1)
    alpha = float(theta[0])
    return SpontaneousResult(
        alpha=alpha,
        alpha_ci=(alpha - quantile * alpha_sd, alpha + quantile * alpha_sd),
        alpha_sd=alpha_sd,
        noise_ratio=float(np.exp(theta[1])),
        expected=scale * mean_r,
        p_model=p_model,
        n_simulations=len(START_ALPHAS) * len(START_NOISE_RATIOS) + len(cache) * N_ORIENTATIONS + N_REPLICATES,
    )


def _grid_starts(residual_of, simulator, reliable, total, bar) -> list[np.ndarray]:
    """The :data:`N_STARTS` points of the coarse grid where one simulated recording fits best."""
    scored = []
    for alpha in START_ALPHAS:
        for ratio in START_NOISE_RATIOS:
            theta = (alpha, np.log(ratio))
            scored.append((float(np.sum(residual_of(reliable, total, theta, simulator.spectra(*theta)) ** 2)), theta))
            bar.update(1)
    scored.sort(key=lambda pair: pair[0])
    return [np.array(theta) for _, theta in scored[:N_STARTS]]


def _scaled_chi2_sf(observed: float, draws: np.ndarray) -> float:
    """P(Q >= observed) for ``Q ~ g chi2(k)`` matched to the draws' mean and variance
    (a rank among a few draws could not go below 1 / (draws + 1))."""
    mean, var = float(np.mean(draws)), float(np.var(draws, ddof=1))
    if not (mean > 0 and var > 0):
        return 1.0
    scale, dof = var / (2 * mean), 2 * mean**2 / var
    return float(scipy.stats.chi2.sf(observed / scale, dof))
