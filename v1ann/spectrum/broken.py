"""Broken power laws, model comparison and automatic fit-range selection.

Pospisil & Pillow (PNAS 2025) found that mouse V1 spectra are better described by a
power law whose exponent changes at a break rank than by one exponent. The broken power
law here is continuous at the break::

    log v(r) = b - alpha1 log r                                    r <= r_b
    log v(r) = b - alpha1 log r_b - alpha2 (log r - log r_b)       r >  r_b

fitted, like the published single power law, by least squares in log-log space with
weights ``1/rank``: for a fixed break the model is linear in ``(b, alpha1, alpha2)``, so
the break is found by profiling (a grid in log-rank, then a bounded 1-D refinement).

:func:`compare_powerlaw_models` tabulates both fits with AIC, BIC (Gaussian log-likelihood
of the weighted log residuals) and a cross-validated error over interleaved rank folds.
Neighbouring ranks of a spectrum have correlated errors, so AIC/BIC overstate the
evidence for the larger model; prefer differences that the cross-validated error agrees with.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.optimize

from v1ann._loglog import (
    DEFAULT_FIT_RANGE,
    MIN_SEGMENT,
    clip_fit_range,
    rank_weights,
    weighted_lstsq,
    weighted_r2,
)
from v1ann.errors import InvalidInputError
from v1ann.spectrum.powerlaw import spectrum_values

__all__ = ["BrokenPowerLawFit", "fit_broken_powerlaw", "compare_powerlaw_models"]



@dataclass(frozen=True)
class BrokenPowerLawFit:
    """Continuous two-exponent power law fitted to a normalised spectrum.

    Attributes
    ----------
    alpha1, alpha2 : float
        Exponents below and above the break.
    break_rank : float
        1-based rank where the exponent changes (not necessarily an integer).
    offset : float
        ``log`` of the model at rank 1.
    fit_range : tuple of int
        0-based half-open index range fitted.
    r2 : float
        Weighted R^2 in log space.
    rss : float
        Weighted residual sum of squares of ``log`` variance.
    predicted : ndarray, (n_ranks,)
        Model over all ranks 1..n (normalised like the spectrum).
    """

    alpha1: float
    alpha2: float
    break_rank: float
    offset: float
    fit_range: tuple[int, int]
    r2: float
    rss: float
    predicted: np.ndarray

    def to_dict(self) -> dict:
        return {
            "alpha1": self.alpha1, "alpha2": self.alpha2, "break_rank": self.break_rank,
            "offset": self.offset, "fit_range": list(self.fit_range), "r2": self.r2,
        }


def _design(log_rank: np.ndarray, log_break: float) -> np.ndarray:
    return np.column_stack([np.ones_like(log_rank), -log_rank, -np.maximum(log_rank - log_break, 0.0)])


def _positive_log(values: np.ndarray, lo: int, hi: int) -> np.ndarray:
    segment = values[lo:hi]
    bad = np.flatnonzero(segment <= 0)
    if bad.size:
        raise InvalidInputError(
            f"spectrum has {bad.size} zero/negative value(s) inside fit_range ({lo}, {hi}), "
            f"first at rank {lo + bad[0] + 1}; fit a range that ends before it"
        )
    return np.log(segment)


def fit_broken_powerlaw(spectrum, *, fit_range=DEFAULT_FIT_RANGE) -> BrokenPowerLawFit:
    """Fit a continuous broken power law (two exponents, one break) to a spectrum.

    Parameters
    ----------
    spectrum : DataArray, ndarray, tensor or sequence, (n_ranks,)
        Variance per component by rank; normalised to sum 1 first.
    fit_range : (int, int)
        0-based half-open index range (default ranks 12..500).

    Returns
    -------
    BrokenPowerLawFit

    Raises
    ------
    InvalidInputError
        NaN/Inf, all-zero spectrum, range too long or too short (needs
        ``2 * MIN_SEGMENT`` ranks), or zero/negative values inside the range.
    """

    values, _ = spectrum_values(spectrum)
    normalised = values / values.sum()
    lo, hi = clip_fit_range(fit_range, values.size)
    if hi - lo < 2 * MIN_SEGMENT:
        raise InvalidInputError(f"fit_range ({lo}, {hi}) is too short for a broken power law "
                                f"(needs {2 * MIN_SEGMENT} ranks)")
    y = _positive_log(normalised, lo, hi)
    log_rank, w = rank_weights(lo, hi)
    bounds = (log_rank[MIN_SEGMENT - 1], log_rank[-MIN_SEGMENT])

    def rss(log_break):
        return weighted_lstsq(_design(log_rank, log_break), y, w)[1]

    grid = np.linspace(*bounds, 40)
    start = grid[int(np.argmin([rss(b) for b in grid]))]
    step = grid[1] - grid[0]
    best = scipy.optimize.minimize_scalar(
        rss, bounds=(max(bounds[0], start - step), min(bounds[1], start + step)), method="bounded"
    )
    log_break = float(best.x) if best.fun <= rss(start) else float(start)
    coef, resid = weighted_lstsq(_design(log_rank, log_break), y, w)
    r2 = weighted_r2(y, resid, w)
    all_log_rank = np.log(np.arange(1, values.size + 1, dtype=np.float64))
    predicted = np.exp(_design(all_log_rank, log_break) @ coef)
    return BrokenPowerLawFit(
        alpha1=float(coef[1]), alpha2=float(coef[1] + coef[2]), break_rank=float(np.exp(log_break)),
        offset=float(coef[0]), fit_range=(lo, hi), r2=float(r2), rss=resid, predicted=predicted,
    )


def compare_powerlaw_models(spectrum, *, fit_range=DEFAULT_FIT_RANGE, n_folds: int = 5) -> pd.DataFrame:
    """Single vs broken power law on one spectrum: AIC, BIC and cross-validated error.

    Parameters
    ----------
    spectrum : DataArray, ndarray, tensor or sequence, (n_ranks,)
    fit_range : (int, int)
        0-based half-open index range compared.
    n_folds : int
        Interleaved folds over ranks (rank ``i`` is held out in fold ``i % n_folds``).

    Returns
    -------
    pandas.DataFrame
        One row per model (``"power law"``, ``"broken power law"``), columns ``alpha``,
        ``alpha2``, ``break_rank``, ``n_params``, ``rss``, ``aic``, ``bic``, ``cv_rmse``
        (weighted RMS of held-out log residuals), ``delta_aic``, ``delta_bic`` (relative
        to the best model; lower is better).
    """
    values, _ = spectrum_values(spectrum)
    normalised = values / values.sum()
    lo, hi = clip_fit_range(fit_range, values.size)
    y = _positive_log(normalised, lo, hi)
    n = hi - lo
    log_rank, w = rank_weights(lo, hi)
    (single_offset, single_alpha), single_rss = weighted_lstsq(
        np.column_stack([np.ones_like(log_rank), -log_rank]), y, w
    )
    broken = fit_broken_powerlaw(normalised, fit_range=(lo, hi))
    rows = []
    # Gaussian log-likelihood of weighted residuals; the variance is one more parameter
    for name, k, rss, a1, a2, brk in (
        ("power law", 3, single_rss, single_alpha, np.nan, np.nan),
        ("broken power law", 5, broken.rss, broken.alpha1, broken.alpha2, broken.break_rank),
    ):
        nll = 0.5 * n * np.log(rss / np.sum(w))
        rows.append({"model": name, "alpha": a1, "alpha2": a2, "break_rank": brk, "n_params": k,
                     "rss": rss, "aic": 2 * nll + 2 * k, "bic": 2 * nll + k * np.log(n)})
    rows[0]["cv_rmse"], rows[1]["cv_rmse"] = _cross_validated(normalised, lo, hi, int(n_folds))
    table = pd.DataFrame(rows).set_index("model")
    table["delta_aic"] = table["aic"] - table["aic"].min()
    table["delta_bic"] = table["bic"] - table["bic"].min()
    return table


def _cross_validated(normalised, lo, hi, n_folds):
    """Weighted RMS of held-out log residuals for the single and broken power law."""
    if n_folds < 2:
        raise InvalidInputError(f"n_folds must be >= 2, got {n_folds}")
    log_rank, w = rank_weights(lo, hi)
    y = np.log(normalised[lo:hi])
    errors = np.zeros((2, hi - lo))
    fold = np.arange(hi - lo) % n_folds
    for k in range(n_folds):
        train, test = fold != k, fold == k
        single = np.column_stack([np.ones_like(log_rank), -log_rank])
        coef, _ = weighted_lstsq(single[train], y[train], w[train])
        errors[0, test] = y[test] - single[test] @ coef
        coef, log_break = _broken_on_subset(log_rank[train], y[train], w[train])
        errors[1, test] = y[test] - _design(log_rank[test], log_break) @ coef
    return [float(np.sqrt(np.sum(w * e**2) / np.sum(w))) for e in errors]


def _broken_on_subset(log_rank, y, w):
    """(coef, log_break) of the broken fit to arbitrary (log_rank, y, w) points (grid search)."""
    grid = np.linspace(log_rank[MIN_SEGMENT - 1], log_rank[-MIN_SEGMENT], 60)
    fits = [(weighted_lstsq(_design(log_rank, b), y, w), b) for b in grid]
    (coef, _), log_break = min(fits, key=lambda f: f[0][1])
    return coef, log_break
