"""Power-law fits of eigenspectra: ``variance_n ~ n**-alpha``.

The default reproduces the fit of Stringer et al. (2019) exactly: the spectrum is
normalised to sum 1 over all its ranks, then ``log(variance)`` is regressed on
``-log(rank)`` by least squares with weights ``1 / rank`` over the 0-based indices
``fit_range = (11, 500)`` (ranks 12..500). The slope is alpha.

Zero or negative values inside the fit range (cvPCA variances can be negative where noise
dominates) have no logarithm. The published code took ``log(abs(variance))`` silently;
here the rule is explicit (``nonpositive``):

* ``"raise"`` (default): :class:`InvalidInputError` naming the offending ranks.
* ``"truncate"``: the fit range ends before the first non-positive value; one
  :class:`V1AnnWarning` says how many ranks were dropped.
* ``"abs"``: the published behaviour, ``log(abs(variance))``, with a warning counting
  the ranks affected (exact zeros still raise). Only for reproducing published numbers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import xarray as xr

from v1ann._checks import check_option
from v1ann._docs import fill_doc
from v1ann._loglog import (
    DEFAULT_FIT_RANGE,
    auto_fit_range,
    clip_fit_range,
    named_fit_range,
    requested_range,
    wls_loglog,
)
from v1ann._utils import check_finite
from v1ann.errors import InvalidInputError, warn

__all__ = ["PowerLawFit", "fit_powerlaw", "spectrum_values"]

NONPOSITIVE_RULES = ("raise", "truncate", "abs")


@dataclass(frozen=True)
class PowerLawFit:
    """Result of a power-law fit ``variance(rank) = exp(offset) * rank**-alpha``.

    Attributes
    ----------
    alpha : float
        Exponent (positive for a decaying spectrum).
    offset : float
        Intercept of ``log(normalised variance)`` at rank 1 (natural log).
    fit_range : tuple of int
        0-based, half-open ``(lo, hi)`` index range actually fitted (ranks ``lo+1..hi``).
    r2 : float
        Weighted coefficient of determination of the log-log fit.
    alpha_ci : tuple of float or None
        Confidence interval of alpha (level in ``attrs["ci_level"]``), when computed.
    method : str
        Estimator that produced alpha (``"wls"``, ``"cvpca-matched"``, ...).
    spectrum : xarray.DataArray
        The spectrum normalised to sum 1, over ``rank`` (1-based).
    predicted : xarray.DataArray
        The fitted curve ``exp(offset) * rank**-alpha`` over the same ranks.
    n_stimuli, n_neurons : int or None
        Size of the data behind the spectrum, when known.
    attrs : dict
        Provenance and method details (e.g. ``ci_level``, ``ci_method``, ``alpha_published``).
    """

    alpha: float
    offset: float
    fit_range: tuple[int, int]
    r2: float
    alpha_ci: tuple[float, float] | None
    method: str
    spectrum: xr.DataArray
    predicted: xr.DataArray
    n_stimuli: int | None = None
    n_neurons: int | None = None
    attrs: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary: everything ``v1ann fit`` prints, and the method's details.

        Keys: ``alpha``, ``alpha_ci``, ``ci_level``, ``ci_method``, ``fit_range`` (0-based,
        half-open), ``ranks`` (first and last rank fitted), ``r2``, ``method``,
        ``n_stimuli``, ``n_neurons``, ``warnings`` (messages) and ``details`` (the other
        ``attrs`` that JSON can hold, e.g. ``alpha_published``, ``fit_range_requested``).
        """
        lo, hi = (int(v) for v in self.fit_range)
        shown = {"ci_level", "ci_method", "warnings"}
        return {
            "alpha": float(self.alpha),
            "alpha_ci": None if self.alpha_ci is None else [float(v) for v in self.alpha_ci],
            "ci_level": self.attrs.get("ci_level") if self.alpha_ci is not None else None,
            "ci_method": self.attrs.get("ci_method") if self.alpha_ci is not None else None,
            "fit_range": [lo, hi],
            "ranks": [lo + 1, hi],
            "r2": float(self.r2),
            "method": self.method,
            "n_stimuli": None if self.n_stimuli is None else int(self.n_stimuli),
            "n_neurons": None if self.n_neurons is None else int(self.n_neurons),
            "warnings": [str(m) for m in self.attrs.get("warnings", [])],
            "details": {k: _json_value(v) for k, v in self.attrs.items()
                        if k not in shown and _json_value(v) is not None},
        }

    def __repr__(self) -> str:
        ci = "" if self.alpha_ci is None else f" [{self.alpha_ci[0]:.3f}, {self.alpha_ci[1]:.3f}]"
        lo, hi = self.fit_range
        return (
            f"PowerLawFit(alpha={self.alpha:.4f}{ci}, ranks {lo + 1}..{hi}, "
            f"r2={self.r2:.3f}, method={self.method!r})"
        )


def _json_value(value):
    """``value`` as JSON can hold it (numbers, strings, lists of them), or None."""
    if isinstance(value, (bool, str)) or value is None:
        return value
    if isinstance(value, (int, float, np.integer, np.floating)):
        return float(value) if isinstance(value, (float, np.floating)) else int(value)
    if isinstance(value, (list, tuple, np.ndarray)):
        items = [_json_value(v) for v in value]
        return items if all(i is not None for i in items) else None
    return None


def spectrum_values(spectrum, name: str = "spectrum") -> tuple[np.ndarray, dict]:
    """A 1-D float64 copy of ``spectrum`` and its attrs, validated (finite, not all zero).

    ``spectrum`` is a DataArray over ``rank`` (or any 1-D dim), an ndarray, a torch tensor
    or a sequence, ordered by rank.
    """
    attrs: dict = {}
    if isinstance(spectrum, xr.DataArray):
        if spectrum.ndim != 1:
            raise InvalidInputError(f"{name} must be 1-D over 'rank', got dims {spectrum.dims}")
        attrs = dict(spectrum.attrs)
        values = spectrum.values
    elif hasattr(spectrum, "detach"):  # torch tensor
        values = spectrum.detach().cpu().numpy()
    else:
        values = np.asarray(spectrum)
    if values.dtype == object or not np.issubdtype(values.dtype, np.number):
        raise InvalidInputError(f"{name} must hold numbers, got dtype {values.dtype}")
    values = np.array(values, dtype=np.float64).reshape(-1) if values.ndim <= 1 else None
    if values is None:
        raise InvalidInputError(f"{name} must be 1-D (variance per rank)")
    if values.size == 0:
        raise InvalidInputError(f"{name} is empty")
    check_finite(values, name)
    if not np.any(values != 0):
        raise InvalidInputError(f"{name} is all zero: there is no variance to fit")
    return values, attrs


def _nonpositive(values: np.ndarray, lo: int, hi: int, rule: str, attrs: dict) -> tuple[np.ndarray, int]:
    """Apply the ``nonpositive`` rule; returns the values to take logs of and the new ``hi``."""
    bad = np.flatnonzero(values[lo:hi] <= 0) + lo
    if bad.size == 0:
        return values, hi
    ranks = ", ".join(str(i + 1) for i in bad[:8]) + (" ..." if bad.size > 8 else "")
    if rule == "raise":
        if "numerical_rank" in attrs:  # a PCA spectrum: exact zeros are a rank-deficient layer
            advice = (f"the activations have numerical rank {attrs['numerical_rank']} (dead units or a "
                      "bottleneck); fit ranks below it, or pass nonpositive='truncate'")
        else:
            advice = ("fit a shorter range, pass nonpositive='truncate' to stop the range before the "
                      "first one, or use estimate_alpha(method='cvpca-matched') on the responses, which models them")
        raise InvalidInputError(
            f"spectrum has {bad.size} zero/negative value(s) inside fit_range ({lo}, {hi}) "
            f"at rank(s) {ranks}; their log is undefined: {advice}"
        )
    if rule == "truncate":
        new_hi = int(bad[0])
        if new_hi - lo < 2:
            raise InvalidInputError(
                f"spectrum is non-positive at rank {bad[0] + 1}, right at the start of "
                f"fit_range ({lo}, {hi}); nothing is left to fit"
            )
        warn(f"fit range truncated from ({lo}, {hi}) to ({lo}, {new_hi}): rank {bad[0] + 1} "
            f"is the first of {bad.size} non-positive value(s); {hi - new_hi} rank(s) dropped")
        return values, new_hi
    zeros = bad[values[bad] == 0]
    if zeros.size:
        raise InvalidInputError(
            f"spectrum is exactly zero at rank(s) {', '.join(str(i + 1) for i in zeros[:8])} inside "
            f"fit_range ({lo}, {hi}); even nonpositive='abs' has no logarithm there"
        )
    warn(f"log(abs(variance)) taken at {bad.size} non-positive value(s) inside the fit range "
        f"(rank(s) {ranks}), as the published code did")
    return np.abs(values), hi


@fill_doc
def fit_powerlaw(
    spectrum,
    *,
    fit_range=DEFAULT_FIT_RANGE,
    method: str = "wls",
    nonpositive: str = "raise",
    n_stimuli: int | None = None,
    n_neurons: int | None = None,
) -> PowerLawFit:
    """Fit ``variance ~ rank**-alpha`` to an eigenspectrum.

    Parameters
    ----------
    spectrum : xarray.DataArray, ndarray, torch.Tensor or sequence, shape (n_ranks,)
        Variance per component ordered by rank 1, 2, ... (e.g. :func:`v1ann.cvpca`). Only
        the shape matters: the spectrum is normalised to sum 1 before fitting.
    fit_range : (int, int) or "auto"
        0-based half-open index range ``(lo, hi)``; ``(11, 500)`` fits ranks 12..500 as
        published. A spectrum with fewer than ``hi`` ranks is fitted up to its last one. ``"auto"`` chooses the range by :func:`v1ann._loglog.auto_fit_range`
        (the longest stretch of ranks that one power law describes).
    method : {"wls"}
        ``"wls"``: the published weighted least squares (weights ``1/rank``) in log-log.
        Bias-corrected estimators live in :func:`v1ann.estimate_alpha`, which needs the
        responses and not only their spectrum.
    nonpositive : {"raise", "truncate", "abs"}
        What to do with zero/negative variances inside the fit range (module docstring).
    n_stimuli, n_neurons : int, optional
        Size of the data; default: ``spectrum.attrs`` when present.

    Returns
    -------
    PowerLawFit
        ``alpha_ci`` is None (see :mod:`v1ann.spectrum.bootstrap` for intervals).

    Raises
    ------
    InvalidInputError
        NaN/Inf, an all-zero spectrum, a fit range that starts within two ranks of the
        spectrum's end (a longer one is clipped: :func:`~v1ann._loglog.clip_fit_range`), or
        non-positive values inside the range with ``nonpositive="raise"``.

    Examples
    --------
    >>> import numpy as np, v1ann
    >>> fit = v1ann.fit_powerlaw(np.arange(1, 1001.0) ** -1.2)
    >>> round(fit.alpha, 3), fit.fit_range
    (1.2, (11, 500))
    """
    values, attrs = spectrum_values(spectrum)
    if method != "wls":
        raise InvalidInputError(
            f"fit_powerlaw method={method!r} is unknown; use 'wls' (bias-corrected "
            "estimators: estimate_alpha(method='cvpca-matched'))"
        )
    check_option("nonpositive", nonpositive, NONPOSITIVE_RULES)
    values = values / np.abs(values).max()  # so that the sum cannot overflow; the shape is all that matters
    total = values.sum()
    if not total > 0:
        raise InvalidInputError(
            f"spectrum sums to {total:.3g} (after scaling its largest value to 1); a variance spectrum "
            "must have a positive total"
        )
    normalised = values / total
    fit_range = named_fit_range(fit_range)
    if isinstance(fit_range, str):
        if fit_range != "auto":
            raise InvalidInputError(f"fit_range must be (lo, hi) or 'auto', got {fit_range!r}")
        lo, hi = auto_fit_range(normalised)
        attrs = {**attrs, "fit_range_rule": "auto"}
    else:
        lo, hi = clip_fit_range(fit_range, values.size)
    logged, hi = _nonpositive(normalised, lo, hi, nonpositive, attrs)
    if not isinstance(fit_range, str):
        attrs = {**attrs, **requested_range(fit_range, (lo, hi))}
    alpha, offset, r2 = wls_loglog(logged, lo, hi)
    return make_fit(
        alpha, offset, (lo, hi), r2, method, normalised,
        n_stimuli=n_stimuli if n_stimuli is not None else attrs.get("n_stimuli"),
        n_neurons=n_neurons if n_neurons is not None else attrs.get("n_neurons"),
        attrs={k: v for k, v in attrs.items() if k in ("method", "source", "fit_range_rule", "fit_range_requested")},
    )


POOR_R2 = 0.9  # weighted r² below which one power law is a poor summary of the fitted ranks


def poor_fit_message(fit: PowerLawFit) -> str | None:
    """What to tell the user when ``fit``'s r² is below :data:`POOR_R2` (None when it is not).

    >>> import numpy as np
    >>> poor_fit_message(fit_powerlaw(np.arange(1, 600.0) ** -1.0)) is None
    True
    """
    if not fit.r2 < POOR_R2:  # NaN (a flat spectrum) is reported elsewhere
        return None
    lo, hi = fit.fit_range
    return (
        f"one power law describes ranks {lo + 1}..{hi} poorly (r2 = {fit.r2:.2f} < {POOR_R2}), so alpha "
        f"= {fit.alpha:.3f} summarises the spectrum badly: look at it (v1ann.plot.powerlaw_fit, v1ann fit "
        "--plot), fit a shorter range or a broken power law (v1ann.fit_broken_powerlaw)"
    )


def make_fit(alpha, offset, fit_range, r2, method, normalised, *, alpha_ci=None,
             n_stimuli=None, n_neurons=None, attrs=None) -> PowerLawFit:
    """Assemble a :class:`PowerLawFit` with its spectrum and predicted curve over ``rank``."""
    ranks = np.arange(1, normalised.size + 1)
    spectrum = xr.DataArray(normalised, dims=("rank",), coords={"rank": ranks}, name="variance",
                            attrs={"normalisation": "sum 1"})
    predicted = xr.DataArray(np.exp(offset) * ranks ** (-float(alpha)), dims=("rank",),
                             coords={"rank": ranks}, name="predicted")
    attrs = dict(attrs or {})
    spectral_method = attrs.pop("method", None)
    if spectral_method is not None:
        attrs["spectrum_method"] = spectral_method
    return PowerLawFit(
        alpha=float(alpha), offset=float(offset), fit_range=(int(fit_range[0]), int(fit_range[1])),
        r2=float(r2), alpha_ci=None if alpha_ci is None else (float(alpha_ci[0]), float(alpha_ci[1])),
        method=method, spectrum=spectrum, predicted=predicted,
        n_stimuli=None if n_stimuli is None else int(n_stimuli),
        n_neurons=None if n_neurons is None else int(n_neurons), attrs=attrs,
    )
