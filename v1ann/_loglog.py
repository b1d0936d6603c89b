"""The weighted log-log fit behind every exponent, and the fit range it runs over.

Stringer et al. (2019) regress ``log(variance)`` on ``-log(rank)`` by least squares with
weights ``1 / rank`` over ranks 12..500. Every fit in v1ann (single and broken power
laws, the bias-corrected estimator's inner fit, automatic ranges, r²) goes through
:func:`weighted_lstsq` and :func:`weighted_r2` here, so they cannot drift apart.

Fit ranges are 0-based, half-open index pairs: ``(11, 500)`` fits ranks 12..500, or the
name of a published window (:data:`FIT_WINDOWS`). One rule for data with fewer ranks
than the range asks (:func:`clip_fit_range`): the stop is lowered to the number of
ranks, and the call fails if fewer than two ranks remain.
"""

from __future__ import annotations

import numpy as np

from v1ann.errors import InvalidInputError

DEFAULT_FIT_RANGE = (11, 500)  # ranks 12..500, as in the published notebook
# The windows of Stringer et al.'s own code (MouseLand/stringer-pachitariu-et-al-2018b), which
# differ: users comparing with a figure choose the one that made it.
FIT_WINDOWS = {
    "notebook": (11, 500),  # ranks 12..500: python/powerlaws.ipynb, np.arange(11, 500) (0-based)
    "matlab": (10, 500),  # ranks 11..500: mainfigs/fig3.m and powerlaws/*.m, 11:500 (1-based)
    "matlab-fig2": (9, 500),  # ranks 10..500: mainfigs/fig2.m, 10:500
}
MIN_SEGMENT = 5  # ranks on each side of a break, and the shortest piece a range may have


def named_fit_range(fit_range, name: str = "fit_range"):
    """The pair behind a name of :data:`FIT_WINDOWS`; anything else (a pair, ``"auto"``) unchanged.

    >>> named_fit_range("matlab")
    (10, 500)
    """
    if not isinstance(fit_range, str) or fit_range == "auto":
        return fit_range
    if fit_range not in FIT_WINDOWS:
        choices = ", ".join(repr(k) for k in FIT_WINDOWS)
        raise InvalidInputError(f"{name}={fit_range!r} is not a fit window; use (lo, hi), 'auto' or one of {choices}")
    return FIT_WINDOWS[fit_range]


def fit_range_pair(fit_range, name: str = "fit_range") -> tuple[int, int]:
    """``(lo, hi)`` as ints, refused unless two integers with ``0 <= lo`` and ``hi - lo >= 2``.

    Checked before any work, so a reversed or fractional range fails at once. A name of
    :data:`FIT_WINDOWS` gives its pair.

    >>> fit_range_pair((11.0, 500)), fit_range_pair("matlab-fig2")
    ((11, 500), (9, 500))
    """
    fit_range = named_fit_range(fit_range, name)
    try:
        values = tuple(fit_range)
    except TypeError:
        values = ()
    if len(values) != 2 or not all(isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)
                                   and float(v).is_integer() for v in values):
        raise InvalidInputError(f"{name} must be two integers (lo, hi), got {fit_range!r}")
    lo, hi = (int(v) for v in values)
    if lo < 0 or hi - lo < 2:
        raise InvalidInputError(f"{name}={fit_range!r} must satisfy 0 <= lo and hi - lo >= 2 (lo first)")
    return lo, hi


def clip_fit_range(fit_range, n_ranks: int, name: str = "fit_range") -> tuple[int, int]:
    """The one rule for a spectrum with fewer ranks than ``fit_range`` asks.

    The stop is lowered to ``n_ranks``; the call fails if fewer than two ranks remain.
    Every fit applies it (published, bias-corrected, broken, per layer), and reports the
    range it used (``fit.fit_range``; the asked one in ``attrs["fit_range_requested"]``).

    >>> clip_fit_range((11, 500), 300)
    (11, 300)
    >>> clip_fit_range((11, 500), 12)
    Traceback (most recent call last):
    ...
    v1ann.errors.InvalidInputError: fit_range=(11, 500) starts at rank 12 but the spectrum has 12 ranks; ...
    """
    lo, hi = fit_range_pair(fit_range, name)
    n_ranks = int(n_ranks)
    if n_ranks - lo < 2:
        raise InvalidInputError(
            f"{name}={(lo, hi)!r} starts at rank {lo + 1} but the spectrum has {n_ranks} ranks; "
            f"fit a range that starts lower, e.g. ({max(n_ranks // 10, 0)}, {n_ranks}), or use more "
            "stimuli and neurons"
        )
    return lo, min(hi, n_ranks)


def requested_range(fit_range, used: tuple[int, int]) -> dict:
    """``{"fit_range_requested": [lo, hi]}`` when :func:`clip_fit_range` shortened the range, else ``{}``."""
    asked = [int(v) for v in named_fit_range(fit_range)]
    return {} if tuple(asked) == tuple(used) else {"fit_range_requested": asked}


def weighted_lstsq(x: np.ndarray, y: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, float]:
    """Coefficients of ``y ≈ x @ coef`` by least squares with weights ``w``, and the weighted RSS."""
    xw = x * w[:, None]
    coef = np.linalg.solve(x.T @ xw, xw.T @ y)
    return coef, float(np.sum(w * (y - x @ coef) ** 2))


def weighted_r2(y: np.ndarray, rss: float, w: np.ndarray) -> float:
    """Weighted coefficient of determination of a fit of ``y`` with residual sum ``rss`` (NaN if y is flat)."""
    total = float(np.sum(w * (y - np.sum(w * y) / np.sum(w)) ** 2))
    return 1.0 - rss / total if total > 0 else float("nan")


def rank_weights(lo: int, hi: int) -> tuple[np.ndarray, np.ndarray]:
    """``(log(rank), 1/rank)`` over ranks ``lo+1..hi``."""
    ranks = np.arange(lo + 1, hi + 1, dtype=np.float64)
    return np.log(ranks), 1.0 / ranks


def wls_loglog(values: np.ndarray, lo: int, hi: int) -> tuple[float, float, float]:
    """The published fit: ``log(values[lo:hi])`` on ``-log(rank)``, weights ``1/rank``.

    ``values`` must be positive over ``[lo, hi)``. Returns ``(alpha, offset, r2)``.

    >>> ranks = np.arange(1, 101.0)
    >>> alpha, offset, r2 = wls_loglog(ranks ** -1.5, 10, 100)
    >>> round(alpha, 6), round(r2, 6)
    (1.5, 1.0)
    """
    log_rank, w = rank_weights(lo, hi)
    y = np.log(values[lo:hi])
    (alpha, offset), rss = weighted_lstsq(np.column_stack([-log_rank, np.ones_like(log_rank)]), y, w)
    return float(alpha), float(offset), weighted_r2(y, rss, w)


def auto_fit_range(normalised, *, tolerance: float = 0.1, min_decades: float = 1.0) -> tuple[int, int]:
    """The widest rank range (in log-rank) that one power law describes.

    Candidate ranges start at one of ~12 log-spaced ranks below ``n / 10`` and end at one
    of ~12 log-spaced ranks up to ``n``; among those spanning at least ``min_decades`` with
    only positive values, the widest whose weighted RMS residual of ``log`` variance is at
    most ``tolerance`` (0.1 = 10 %) wins; ties go to the smaller residual.

    Parameters
    ----------
    normalised : ndarray, (n_ranks,)
        The spectrum (any positive scale).
    tolerance : float
        Largest acceptable RMS deviation from the line, in natural-log units.
    min_decades : float
        Shortest acceptable range, in decades of rank.

    Returns
    -------
    (int, int)
        0-based half-open ``fit_range``.

    Raises
    ------
    InvalidInputError
        If no candidate range qualifies.
    """
    values = np.asarray(normalised, dtype=np.float64)
    n = values.size
    starts = np.unique(np.geomspace(1, max(n / 10, 2), 12).astype(int)) - 1
    best = None
    for lo in starts:
        stops = np.unique(np.geomspace((lo + 1) * 10 ** min_decades, n, 12).astype(int))
        for hi in stops[(stops <= n) & (stops - lo >= 2 * MIN_SEGMENT)]:
            segment = values[lo:hi]
            if np.any(segment <= 0):
                continue
            log_rank, w = rank_weights(lo, hi)
            _, rss = weighted_lstsq(np.column_stack([-log_rank, np.ones_like(log_rank)]), np.log(segment), w)
            rms = float(np.sqrt(rss / np.sum(w)))
            span = np.log10(hi / (lo + 1))
            if rms <= tolerance and (best is None or (span, -rms) > (best[0], -best[1])):
                best = (span, rms, int(lo), int(hi))
    if best is None:
        raise InvalidInputError(
            f"no range of >= {min_decades} decade(s) of ranks is a power law within "
            f"{tolerance} (log units); pass fit_range explicitly"
        )
    return best[2], best[3]
