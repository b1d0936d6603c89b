"""The interval: how far the exponent may be from the estimate, given the scatter of ``F``.

Where the root decides, the variance of ``F`` (repeat noise, simulated orientations, noise
realisation) maps to α through ``dF/dα`` (:func:`secant_slope`). Where ``Q`` decides, the
same three sources enter through the minimiser's own linearisation
(:func:`minimiser_coefficients`), and the interval also reaches every searched exponent the
orientations cannot tell from the estimate (:func:`basin`). Both take Student's t on the
Welch-Satterthwaite degrees of freedom of the sum (:func:`effective_dof`).
"""

from __future__ import annotations

import numpy as np
import scipy.stats

ALPHA_MIN, ALPHA_MAX = 0.05, 8.0  # exponents searched: every search, scan and secant stays inside

# Half-width of the secant that gives dF/dalpha at the root. F steps by up to ~0.008 within
# 0.002 of alpha where noise components trade ranks with signal ones (2,800 x 10,000,
# alpha = 0.5: a local secant of ~4-5), so the secant must span many such steps; on that
# recording +-0.02 gave 1.30, +-0.05 1.15, and a line fitted through 11 points in +-0.05
# 1.17.
SLOPE_HALF_WIDTH = 0.05


def effective_dof(parts) -> float:
    """Welch-Satterthwaite degrees of freedom of a sum of variance estimates.

    ``parts`` holds ``(variance, dof)`` pairs; an analytic part has ``dof = inf``. A sum
    dominated by a part estimated from a few draws (the simulated orientations) keeps that
    part's few degrees of freedom; one dominated by analytic or well-sampled parts
    approaches the normal quantile. A t quantile on the few-draw part's own degrees of
    freedom alone covered 96/96 one-power-law recordings (docs/validation.md).

    >>> round(effective_dof([(1.0, 2), (0.0, 9)]), 6)
    2.0
    >>> effective_dof([(1.0, float("inf"))])
    inf
    """
    variance = sum(v for v, _ in parts)
    estimated = sum(v**2 / d for v, d in parts if np.isfinite(d) and d > 0)
    return float(variance**2 / estimated) if estimated > 0 else np.inf


def basin(at, alpha: float, searched: list[float], n_orientations: int, penalty, level: float):
    """``(lowest, highest)`` of ``alpha`` and the ``searched`` exponents whose ``J`` is not
    significantly above ``J`` at ``alpha``.

    ``J_o = Q_o + penalty`` is compared orientation by orientation (the orientations are
    independent simulations, so the differences are paired), by a one-sided t test at
    ``level``. Where noise dominates a steep spectrum ``Q`` can have a second basin that the
    data do not rule out: at 2,800 x 10,000, alpha = 3, noise/signal 2, seed 0, the
    estimate is 3.002 and mean ``Q`` has a second basin at 3.39-3.43, where one of the
    four orientations reads 8.1 against 2.1-5.8; the interval reaches 3.387. The
    reference is the refined minimum, which is deeper than any grid point, so a second
    basin sampled only on the grid is at a disadvantage: at seed 6 of the same cell the
    truth's basin was not reached (docs/validation.md). Costs no simulation: every
    searched exponent was simulated in every orientation.
    """

    def j(a):
        return np.array([at(a, o)[3] for o in range(n_orientations)]) + penalty(a)

    best = j(alpha)
    t = scipy.stats.t.ppf(level, n_orientations - 1)
    kept = [alpha]
    for a in searched:
        diff = j(a) - best
        if diff.mean() <= t * diff.std(ddof=1) / np.sqrt(n_orientations):
            kept.append(a)
    return min(kept), max(kept)


def minimiser_coefficients(weight, derivative, penalty_coefficients, penalty_variance: float) -> np.ndarray:
    """Coefficients ``a`` with ``alpha_hat - alpha ~ a . e`` when the observed spectrum moves by ``e``,
    for the ``alpha`` that minimises ``J = sum_i w_i (s_i - m_i(alpha))**2 + (c . (s - m(alpha)))**2 / v``.

    The Gauss-Newton step of ``J``: with ``d = dm/dalpha`` and ``W = diag(w) + c c^T / v``,
    ``a = W d / (d^T W d)``. So the estimate's variance is a sum over the sources of ``e``
    (``a`` dotted with each), as ``F``'s is where the root decides; ``F``'s own variance
    mapped by ``F``'s slope is not the minimiser's: where ``F`` is flat and stepped (the
    reason ``Q`` decides) it overstated the scatter 1.7-5x (docs/validation.md).

    >>> minimiser_coefficients(np.ones(2), np.array([1.0, 0.0]), np.zeros(2), 1.0).tolist()
    [1.0, 0.0]
    """
    weight, derivative = np.asarray(weight, dtype=np.float64), np.asarray(derivative, dtype=np.float64)
    c = np.asarray(penalty_coefficients, dtype=np.float64)
    weighted = weight * derivative + c * (c @ derivative) / penalty_variance
    return weighted / float(derivative @ weighted)


def secant_slope(func, root: float, lower=ALPHA_MIN, upper=ALPHA_MAX) -> float:
    """``-dF/dalpha`` as the secant of ``F = func(alpha)[0]`` over ``root +- SLOPE_HALF_WIDTH``.

    Not the secant of the search's last two steps: ``F`` steps where a noise component
    trades ranks with a signal component, and a secant across one step can be several
    times the slope that maps the interval's variances to alpha (docs/validation.md).
    """
    a, b = max(root - SLOPE_HALF_WIDTH, lower), min(root + SLOPE_HALF_WIDTH, upper)
    return float((func(a)[0] - func(b)[0]) / (b - a))


