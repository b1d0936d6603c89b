"""The interval: how far the exponent may be from the estimate, given the scatter of ``F``.

The variance of ``F`` (repeat noise, simulated orientations, noise realisation) maps to α
through ``dF/dα`` (:func:`secant_slope`), with Student's t on the degrees of freedom of
that sum where the root decides (:func:`effective_dof`); where ``Q`` decides, t keeps the
orientation part's degrees of freedom and the interval also reaches every searched
exponent the orientations cannot tell from the estimate (:func:`basin`).
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


def secant_slope(func, root: float, lower=ALPHA_MIN, upper=ALPHA_MAX) -> float:
    """``-dF/dalpha`` as the secant of ``F = func(alpha)[0]`` over ``root +- SLOPE_HALF_WIDTH``.

    Not the secant of the search's last two steps: ``F`` steps where a noise component
    trades ranks with a signal component, and a secant across one step can be several
    times the slope that maps the interval's variances to alpha (docs/validation.md).
    """
    a, b = max(root - SLOPE_HALF_WIDTH, lower), min(root + SLOPE_HALF_WIDTH, upper)
    return float((func(a)[0] - func(b)[0]) / (b - a))


