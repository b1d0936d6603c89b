"""Resampling confidence intervals of a power-law exponent.

Three resampling schemes:

* **over shuffles** (:func:`alpha_ci_over_shuffles`): cvPCA averages random swaps of the
  repeats; resampling the per-shuffle spectra with replacement measures how much alpha
  depends on which swaps were drawn. Cheap (no new eigendecomposition), but blind to the
  sampling of stimuli and of noise, so it is narrow.
* **over stimuli** (:func:`alpha_ci_over_stimuli`): the stimuli are a sample of images;
  resampling them with replacement and recomputing the spectrum measures the sampling
  error of alpha. For cvPCA the stimulus Gram matrix is resampled, not the responses
  (each replicate costs one n_stimuli x n_stimuli eigendecomposition per shuffle).
  Duplicated stimuli lower the number of distinct ones, which by itself shifts every
  replicate's spectrum, so the replicates' spread is used about the full-data estimate
  ``a`` and their own shift is dropped: ``(a - (q_hi - m), a + (m - q_lo))`` (``q`` quantiles,
  ``m`` the median of the replicates). It always contains ``a``, where the *basic*
  interval ``(2 a - q_hi, 2 a - q_lo)`` moves with the shift and can exclude it. Keep the
  fit range well below ~0.6 n_stimuli.
* **jackknife over stimulus groups** (:func:`alpha_ci_jackknife`, the default for network
  layers): the stimuli are split into ``g`` groups, each left out once; no stimulus is
  duplicated, so no replicate loses rank (a bootstrap of a 600-stimulus layer has only
  ~380 distinct stimuli, too few for ranks up to 500). The interval is the estimate ± a
  Student t quantile (``g - 1`` degrees of freedom) times the delete-a-group jackknife
  standard error, so it always contains the estimate; it costs ``g`` eigendecompositions
  (10 by default, against 100 for the bootstrap).

Both bootstraps return the replicates' central spread laid about the full-data estimate
(:func:`interval_about`): the percentile interval where the replicates centre on it.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.stats
import torch

from v1ann._loglog import DEFAULT_FIT_RANGE, clip_fit_range
from v1ann._progress import progress_bar
from v1ann._utils import make_rng
from v1ann.errors import InvalidInputError
from v1ann.spectrum.cvpca import cvpca_from_gram, shuffle_masks
from v1ann.spectrum.gram import RepeatGram
from v1ann.spectrum.pca import cv_halves, split_spectrum
from v1ann.spectrum.powerlaw import fit_powerlaw

__all__ = ["alpha_ci_jackknife", "alpha_ci_over_shuffles", "alpha_ci_over_stimuli", "interval_about"]


def interval_about(point: float, replicates, ci: float = 0.95) -> tuple[float, float]:
    """The central ``ci`` spread of finite ``replicates`` laid about ``point``.

    ``(point - (q_hi - m), point + (m - q_lo))`` with ``q`` the replicates' quantiles and
    ``m`` their median: the percentile interval where the replicates centre on ``point``,
    and one that contains ``point`` even where resampling shifts them (module docstring).

    >>> interval_about(1.0, [1.1, 1.2, 1.3], ci=0.5)
    (0.95, 1.05)
    """
    samples = np.asarray(replicates, dtype=np.float64)
    samples = samples[np.isfinite(samples)]
    if samples.size < 2:
        raise InvalidInputError("fewer than 2 usable bootstrap replicates; cannot form an interval")
    if not 0 < ci < 1:
        raise InvalidInputError(f"ci must be in (0, 1), got {ci!r}")
    q_lo, middle, q_hi = np.quantile(samples, [(1 - ci) / 2, 0.5, (1 + ci) / 2])
    return float(point - (q_hi - middle)), float(point + (middle - q_lo))


def alpha_ci_over_shuffles(
    shuffle_spectra,
    fit_range=DEFAULT_FIT_RANGE,
    *,
    n_bootstrap: int = 1000,
    ci: float = 0.95,
    seed=None,
    nonpositive: str = "raise",
) -> tuple[float, float]:
    """Interval of alpha from resampling cvPCA shuffles.

    Parameters
    ----------
    shuffle_spectra : array-like or DataArray, (n_shuffles, n_ranks)
        Per-shuffle spectra, e.g. ``cvpca(..., keep_shuffles=True)``.
    fit_range, nonpositive
        As in :func:`v1ann.fit_powerlaw`.
    n_bootstrap : int
        Resamples.
    ci : float
        Interval level.
    seed : int, Generator or None

    Returns
    -------
    (float, float)
        The replicates' spread about the fit of the mean spectrum (:func:`interval_about`).
    """
    spectra = np.asarray(getattr(shuffle_spectra, "values", shuffle_spectra), dtype=np.float64)
    if spectra.ndim != 2 or spectra.shape[0] < 2:
        raise InvalidInputError(
            f"shuffle_spectra must be (n_shuffles >= 2, n_ranks), got shape {spectra.shape}"
        )
    lo, hi = clip_fit_range(fit_range, spectra.shape[1])
    rng = make_rng(seed)
    picks = rng.integers(0, spectra.shape[0], size=(int(n_bootstrap), spectra.shape[0]))
    # averaging then normalising; only the fit range's shape matters for alpha
    alphas = [
        fit_powerlaw(spectra[idx].mean(0), fit_range=(lo, hi), nonpositive=nonpositive).alpha for idx in picks
    ]
    point = fit_powerlaw(spectra.mean(0), fit_range=(lo, hi), nonpositive=nonpositive).alpha
    return interval_about(point, alphas, ci)


def alpha_ci_over_stimuli(
    data,
    fit_range=DEFAULT_FIT_RANGE,
    *,
    n_bootstrap: int = 100,
    n_shuffles: int = 1,
    ci: float = 0.95,
    seed=None,
    nonpositive: str = "raise",
    cv_seed: int | None = None,
    progress: bool = True,
) -> tuple[float, float]:
    """Interval of alpha from resampling stimuli with replacement.

    Parameters
    ----------
    data : RepeatGram or array-like (n_stimuli, n_units)
        A :class:`v1ann.spectrum.gram.RepeatGram` (cvPCA; see :func:`repeat_gram`) or
        noise-free activations (PCA spectrum, :func:`v1ann.pca_spectrum`).
    fit_range, nonpositive
        As in :func:`v1ann.fit_powerlaw`.
    n_bootstrap : int
        Resamples (each one eigendecomposition per shuffle).
    n_shuffles : int
        cvPCA shuffles per resample.
    ci : float
        Interval level.
    seed : int, Generator or None
    cv_seed : int, optional
        Activations only: the estimate is cross-validated PCA with the halves of
        :func:`~v1ann.spectrum.pca.cv_halves` for this seed (``estimate_alpha(method="pca-cv")``);
        every replicate keeps each stimulus in its half.
    progress : bool
        Show a progress bar.

    Returns
    -------
    (float, float)
        The replicates' spread about the full-data estimate, which it always contains
        (module docstring).

    Raises
    ------
    InvalidInputError
        Activations whose fit range ends past 0.6 of the stimuli that fit the components:
        a resample holds ~63 % distinct stimuli, so its spectrum ends before the range
        does (use :func:`alpha_ci_jackknife`).
    """

    rng = make_rng(seed)
    lo, hi = (int(v) for v in fit_range)
    if isinstance(data, RepeatGram):
        n_stimuli = data.n_stimuli
        spectrum_of = _cvpca_resampler(data, hi, n_shuffles, rng)
    else:

        values = np.asarray(getattr(data, "values", data), dtype=np.float64)
        if values.ndim != 2:
            raise InvalidInputError(f"data must be (stimulus, unit), got shape {values.shape}")
        n_stimuli, n_units = values.shape
        in_fit = _fitting_stimuli(n_stimuli, cv_seed)
        n_fit = int(in_fit.sum())
        if hi > min(0.6 * n_fit, n_units):
            raise InvalidInputError(
                f"fit_range ends at rank {hi}, but a bootstrap resample of {n_fit} stimuli fitting the components "
                f"holds ~{0.632 * n_fit:.0f} distinct ones, so its spectrum ends before that; use "
                "ci_method='jackknife' or a fit range ending below 0.6 of them"
            )

        def spectrum_of(idx):
            fit_rows = idx[in_fit[idx]]
            test_rows = None if cv_seed is None else idx[~in_fit[idx]]
            return split_spectrum(values, fit_rows, test_rows, min(hi, fit_rows.size - 1, n_units))

    point = fit_powerlaw(spectrum_of(np.arange(n_stimuli)), fit_range=(lo, hi), nonpositive=nonpositive).alpha
    alphas = []
    for _ in progress_bar(range(int(n_bootstrap)), desc="bootstrap over stimuli", progress=progress):
        idx = np.sort(rng.integers(0, n_stimuli, size=n_stimuli))
        alphas.append(fit_powerlaw(spectrum_of(idx), fit_range=(lo, hi), nonpositive=nonpositive).alpha)
    return interval_about(point, alphas, ci)


def _fitting_stimuli(n_stimuli: int, cv_seed: int | None) -> np.ndarray:
    """Mask of the stimuli that fit the components: all of them, or the first half of
    :func:`~v1ann.spectrum.pca.cv_halves` for a cross-validated estimate."""
    if cv_seed is None:
        return np.ones(n_stimuli, dtype=bool)
    mask = np.zeros(n_stimuli, dtype=bool)
    mask[cv_halves(n_stimuli, cv_seed)[0]] = True
    return mask


def _cvpca_resampler(gram, n_components: int, n_shuffles: int, rng):
    """cvPCA spectrum of the stimuli ``idx`` (with repeats), from the full Gram matrix."""


    n = gram.n_stimuli

    def spectrum_of(idx):
        rows = torch.as_tensor(np.concatenate([idx, idx + n]), device=gram.gram.device)
        sub = RepeatGram(
            gram.gram[rows[:, None], rows[None, :]], gram.sums[rows], n,
            gram.n_neurons, gram.n_repeats, gram.source,
        )
        masks = shuffle_masks(n_shuffles, n, rng)
        signal, _ = cvpca_from_gram(sub, masks, n_components, progress=False)
        return signal.mean(0)

    return spectrum_of


def alpha_ci_jackknife(
    values,
    fit_range=DEFAULT_FIT_RANGE,
    *,
    n_groups: int = 10,
    ci: float = 0.95,
    seed=None,
    nonpositive: str = "raise",
    cv_seed: int | None = None,
    progress: bool = True,
) -> tuple[float, float] | None:
    """Delete-a-group jackknife interval of alpha for noise-free (stimulus, unit) activations.

    Parameters
    ----------
    values : array-like (n_stimuli, n_units)
    fit_range, nonpositive
        As in :func:`v1ann.fit_powerlaw`.
    n_groups : int
        Groups of stimuli, each left out once. Raised, up to leave-one-out, where leaving
        out a tenth would leave fewer stimuli than the fit range needs ranks.
    ci : float
        Interval level.
    seed : int, Generator or None
        Assigns stimuli to groups.
    cv_seed : int, optional
        The estimate is cross-validated PCA with the halves of
        :func:`~v1ann.spectrum.pca.cv_halves` for this seed; each replicate leaves the
        group out of both halves.
    progress : bool

    Returns
    -------
    (float, float) or None
        ``alpha ± t_{g-1} · se``; None where even leave-one-out has too few ranks.
    """
    values = np.asarray(getattr(values, "values", values), dtype=np.float64)
    if values.ndim != 2:
        raise InvalidInputError(f"activations must be (stimulus, unit), got shape {values.shape}")
    n_stimuli, n_units = values.shape
    lo, hi = (int(v) for v in fit_range)
    in_fit = _fitting_stimuli(n_stimuli, cv_seed)
    n_fit = int(in_fit.sum())
    if n_units < n_fit - 1 and hi <= n_units:
        groups = int(n_groups)  # the units, not the stimuli, limit the ranks
    else:
        # leaving out ceil(n/g) stimuli must keep hi + 1 of those that fit the components
        spare = n_fit - hi - 1
        if spare < 1:
            return None
        groups = max(int(n_groups), math.ceil(n_fit / spare))
    groups = min(groups, n_stimuli)
    labels = make_rng(seed).permutation(n_stimuli) % groups

    def alpha_without(group):
        kept = labels != group
        fit_rows = np.flatnonzero(kept & in_fit)
        test_rows = None if cv_seed is None else np.flatnonzero(kept & ~in_fit)
        spectrum = split_spectrum(values, fit_rows, test_rows, min(hi, fit_rows.size - 1, n_units))
        return fit_powerlaw(spectrum, fit_range=(lo, hi), nonpositive=nonpositive).alpha

    point = alpha_without(None)
    replicates = np.array([alpha_without(g) for g in progress_bar(range(groups), desc="jackknife over stimuli",
                                                                   progress=progress)])
    se = math.sqrt((groups - 1) / groups * float(np.sum((replicates - replicates.mean()) ** 2)))
    half = float(scipy.stats.t.ppf(0.5 + ci / 2, groups - 1)) * se
    return point - half, point + half
