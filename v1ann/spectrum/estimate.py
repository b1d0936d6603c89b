"""``estimate_alpha``: one entry point from data to a power-law exponent.

What the input is decides the spectrum:

* a recording Dataset, a DataArray with a ``repeat`` dim, or a 3-D array/tensor
  (``repeat``, ``stimulus``, ``neuron``): trial-to-trial noise is present, so the signal
  spectrum is estimated by cross-validated PCA (:func:`v1ann.cvpca`);
* a (``stimulus``, ``unit``) DataArray or a 2-D array/tensor (network activations,
  noise-free): the PCA spectrum (:func:`v1ann.pca_spectrum`);
* a spontaneous recording (a Dataset with ``activity``) or a (``time``, ``neuron``)
  DataArray: the reliable variance of shared components (:func:`v1ann.svca`);
* a spectrum already computed (1-D over ``rank``: a DataArray, array or tensor): the
  published fit of it (:func:`v1ann.fit_powerlaw`).

Methods:

============== ============================================================================
``"auto"``     for repeats ``"cvpca-matched"``, refitted as ``"cvpca-shape"`` where its test
               rejects one power law; ``"pca"`` for activations, ``"svca"`` for
               spontaneous activity, ``"wls"`` for a spectrum
``"cvpca"``    published: cvPCA spectrum + weighted log-log fit (Stringer et al. 2019)
``"cvpca-matched"`` noise-bias-corrected exponent (:mod:`v1ann.spectrum.matched`)
``"cvpca-shape"`` the same correction with a broken-power-law signal and a test of one
               power law against it (:mod:`v1ann.spectrum.matched.shape`)
``"meme"``     a broken power law fitted to unbiased signal eigenmoments (Pospisil &
               Pillow 2025; :mod:`v1ann.spectrum.meme`)
``"pca"``      PCA spectrum + weighted log-log fit
``"pca-cv"``   PCA cross-validated over stimuli + weighted log-log fit
``"svca"``     SVCA spectrum + weighted log-log fit (biased steep where noise dominates:
               docs/spectra-estimators.md)
``"svca-matched"`` the exponent whose simulated SVCA spectrum matches the observed one
               (:mod:`v1ann.spectrum.matched.spontaneous`)
``"wls"``      the weighted log-log fit of the given spectrum
============== ============================================================================
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from typing import NamedTuple

import numpy as np
import xarray as xr

from v1ann._checks import check_int, check_option
from v1ann._docs import fill_doc
from v1ann._loglog import (
    DEFAULT_FIT_RANGE,
    clip_fit_range,
    fit_range_pair,
    named_fit_range,
    rank_weights,
    requested_range,
    weighted_r2,
)
from v1ann._threads import uses_thread_budget
from v1ann._utils import make_rng
from v1ann.errors import InvalidInputError, V1AnnWarning, collected_warnings, warn
from v1ann.recording.schema import stimulus_responses
from v1ann.spectrum.bootstrap import (
    alpha_ci_jackknife,
    alpha_ci_over_shuffles,
    alpha_ci_over_stimuli,
)
from v1ann.spectrum.cvpca import (
    PUBLISHED_MAX_COMPONENTS,
    cvpca_from_gram,
    shuffle_masks,
    warn_if_uncentred,
)
from v1ann.spectrum.gram import REPEAT_DIMS, repeat_gram
from v1ann.spectrum.matched import (
    cvpca_matched_alpha,
    noise_halves,
    shape_matched_alpha,
    svca_matched_alpha,
)
from v1ann.spectrum.meme import meme_alpha
from v1ann.spectrum.pca import pca_spectrum
from v1ann.spectrum.powerlaw import (
    NONPOSITIVE_RULES,
    PowerLawFit,
    fit_powerlaw,
    make_fit,
    poor_fit_message,
)
from v1ann.spectrum.svca import svca

__all__ = ["estimate_alpha", "METHODS"]

METHODS = ("auto", "cvpca", "cvpca-matched", "cvpca-shape", "meme", "pca", "pca-cv", "svca", "svca-matched", "wls")
# the methods each kind of input allows; the first is what "auto" picks
METHODS_FOR = {
    "repeats": ("cvpca-matched", "cvpca", "cvpca-shape", "meme"),
    "activations": ("pca", "pca-cv"),
    "spontaneous": ("svca", "svca-matched"),
    "spectrum": ("wls",),
}
KIND_TEXT = {
    "repeats": "responses with repeats",
    "activations": "(stimulus, unit) activations",
    "spontaneous": "(time, neuron) spontaneous activity",
    "spectrum": "a spectrum",
}
CI_METHODS = ("shuffles", "stimuli", "jackknife")


@uses_thread_budget
@fill_doc
def estimate_alpha(
    x,
    *,
    method: str = "auto",
    fit_range=DEFAULT_FIT_RANGE,
    n_shuffles: int = 10,
    seed=None,
    ci: float | None = 0.95,
    device="auto",
    ci_method: str | None = None,
    n_bootstrap: int | None = None,
    nonpositive: str | None = None,
    progress: bool = True,
) -> PowerLawFit:
    """Power-law exponent of the eigenspectrum of ``x``, with a confidence interval.

    Parameters
    ----------
    x : xarray.Dataset, xarray.DataArray, ndarray or torch.Tensor
        A stimulus recording; responses (``repeat``, ``stimulus``, ``neuron``) as a
        DataArray or 3-D array; activations (``stimulus``, ``unit``) as a DataArray or
        2-D array/tensor; a spontaneous recording (``activity``) or (``time``, ``neuron``)
        DataArray; or a spectrum (1-D, by rank). A bare 2-D numpy array is read as
        activations with a :class:`~v1ann.errors.V1AnnWarning` saying so, since a
        recording's (trial, neuron) matrix has the same shape and would be silently misread.
    method : {"auto", "cvpca", "cvpca-matched", "cvpca-shape", "meme", "pca", "pca-cv", "svca", "svca-matched", "wls"}
        See the module docstring. ``"auto"`` picks ``"cvpca-matched"`` for data with
        repeats (it removes the noise bias of the published fit; docs/validation.md) and,
        where its test rejects one power law (``p_model`` < 0.05), fits the recording again
        with ``"cvpca-shape"``, whose broken power law removes most of the bias a flatter
        or steeper head leaves in one law (``method`` then reads ``"cvpca-shape"``; the
        refit costs about 15 times the first fit at 700 stimuli, tens of minutes at 2,800 on
        two CPU cores; ``"cvpca-matched"`` skips it); ``"pca"`` for activations,
        ``"svca"`` for spontaneous activity (the published fit, which warns where noise
        makes it steep) and ``"wls"`` for a spectrum. ``"svca"``
        and ``"wls"`` give no interval (``alpha_ci`` is None). ``"svca-matched"`` removes
        SVCA's noise bias and has an interval, at the cost of ~125 simulated SVCAs of the
        recording's size (~10 s for 1,200 time points × 600 neurons, ~3 min for 4,000 ×
        2,000 on 2 cores; docs/spectra-estimators.md), which is why it is not the default.
    %(fit_range)s
        ``"auto"`` selects the range (published fit only, see :func:`v1ann.fit_powerlaw`).
    n_shuffles : int
        cvPCA repeat swaps averaged.
    %(seed)s
    ci : float or None
        Level of ``alpha_ci``; None skips the interval.
    %(device)s
    ci_method : {"shuffles", "stimuli", "jackknife"}, optional
        Resampling for the published fits (:mod:`v1ann.spectrum.bootstrap`). Default:
        ``"shuffles"`` for ``"cvpca"``; for PCA of activations ``"jackknife"`` (stimulus
        groups left out in turn: no replicate loses rank, so layers shown fewer stimuli
        than ~800 get an interval too, and the interval always contains the estimate).
        ``"cvpca-matched"`` has its own interval (simulated scatter plus repeat noise),
        ``"meme"`` its parametric bootstrap.
    n_bootstrap : int, optional
        Bootstrap resamples (default 1000 over shuffles, 100 over stimuli, 20 simulated
        recordings for ``"meme"``).
    nonpositive : {"raise", "truncate", "abs"}, optional
        Rule for zero/negative variances in the fit range (published fits). Default
        ``"truncate"`` for SVCA (its reliable variance crosses zero where noise takes
        over; the fit ends there) and ``"raise"`` otherwise.
    %(progress)s

    Returns
    -------
    PowerLawFit
        ``method`` names the estimator; ``attrs`` hold ``ci_level``, ``ci_method``,
        ``warnings`` (the messages of every :class:`~v1ann.errors.V1AnnWarning` issued
        about this fit: uncentred input, a poor r², ...), ``fit_range_requested`` when the
        data had fewer ranks than asked and, for ``"cvpca-matched"``, ``alpha_published``,
        ``alpha_sd``, ``slope_mismatch``, ``p_model`` and ``one_power_law`` (its test of
        one power law: how much steeper the spectrum is inside the fit range than the
        fitted model, that difference's p-value, and whether it is at least 0.05; a
        warning below, unless ``"auto"`` refits); after that refit, ``refit_from``,
        ``matched_alpha`` and ``matched_alpha_ci`` (the rejected one-law fit), its
        ``p_model`` and ``slope_mismatch``, with ``cvpca-shape``'s own keys
        (``one_power_law``, False: the refit keeps the broken law whatever its own test's
        ``p_one_power_law``; ``broken_slopes``, ``broken_break_rank`` and their
        intervals); for ``"meme"``, ``meme_slopes``, ``meme_break_rank``,
        ``one_power_law`` (False when a break fits the moments better), the chi-squared
        of both fits and, where the break is kept, ``alpha_1_ci``, ``alpha_2_ci`` and
        ``break_rank_ci``; for SVCA, ``reliable_fraction`` and, for ``"svca-matched"``,
        ``alpha_published``, ``noise_ratio``, ``alpha_sd`` and ``p_model`` (its
        goodness-of-fit test; a warning below 0.05).

    Warns
    -----
    V1AnnWarning
        Responses not centred over stimuli; an r² below
        :data:`~v1ann.spectrum.powerlaw.POOR_R2` (one power law is a poor summary); a
        model test that rejects one power law (``"cvpca-matched"``, ``"svca-matched"``).

    Raises
    ------
    InvalidInputError
        One repeat, NaN/Inf, an all-zero input or spectrum, a fit range that starts past
        the spectrum's ranks, or a method that does not fit the input. Checked before the
        spectrum is computed.

    Examples
    --------
    >>> import v1ann
    >>> rec = v1ann.simulate_recording(alpha=1.0, n_stimuli=200, n_neurons=400, seed=0)
    >>> fit = v1ann.estimate_alpha(rec, fit_range=(5, 100), seed=0, progress=False)
    >>> fit.method, round(fit.alpha, 2)
    ('cvpca-matched', 1.02)
    >>> published = v1ann.estimate_alpha(rec, method="cvpca", fit_range=(5, 100), ci=None, seed=0, progress=False)
    >>> round(published.alpha, 2)  # the published fit, biased low by the noise
    0.84
    """
    check_option("method", method, METHODS)
    check_int(n_shuffles, "n_shuffles")
    check_int(n_bootstrap, "n_bootstrap", allow_none=True)
    if nonpositive is not None:
        check_option("nonpositive", nonpositive, NONPOSITIVE_RULES)
    fit_range = named_fit_range(fit_range)
    if not isinstance(fit_range, str):
        fit_range_pair(fit_range)  # before any work: a reversed range fails at once
    if ci is not None and not 0 < ci < 1:
        raise InvalidInputError(f"ci must be in (0, 1) or None, got {ci!r}")
    if ci_method is not None:
        check_option("ci_method", ci_method, CI_METHODS)
    with collected_warnings() as messages:
        kind = _input_kind(x)
        allowed = METHODS_FOR[kind]
        # for repeats "auto" is cvpca-matched that refits a broken law where one law fails
        refit_broken = kind == "repeats" and method == "auto"
        method = allowed[0] if method == "auto" else method
        if method not in allowed:
            raise InvalidInputError(
                f"method={method!r} does not apply to {KIND_TEXT[kind]}; use {' or '.join(allowed)}"
            )
        if kind == "repeats":
            fit = _from_repeats(x, method, fit_range, n_shuffles, seed, ci, device, ci_method,
                                n_bootstrap, nonpositive or "raise", progress, refit_broken=refit_broken)
        elif kind == "activations":
            fit = _from_activations(x, method, fit_range, seed, ci, device, ci_method, n_bootstrap,
                                    nonpositive or "raise", progress)
        elif kind == "spontaneous":
            fit = _from_spontaneous(x, method, fit_range, seed, ci, device, nonpositive or "truncate", progress)
        else:
            fit = fit_powerlaw(x, fit_range=fit_range, nonpositive=nonpositive or "raise")
        # svca-matched judges its model by a goodness-of-fit test instead: the log r2 of a
        # noisy SVCA spectrum is low whenever noise is high, whatever the fit
        poor = poor_fit_message(fit) if fit.method != "svca-matched" else None
        if poor:
            warn(poor)
    return dataclasses.replace(fit, attrs={**fit.attrs, "warnings": messages})


def _input_kind(x) -> str:
    """``"repeats"``, ``"activations"``, ``"spontaneous"`` or ``"spectrum"`` (module docstring)."""
    if isinstance(x, xr.Dataset):
        return "spontaneous" if "activity" in x.data_vars and "trial" not in x.dims else "repeats"
    if isinstance(x, xr.DataArray):
        dims = set(x.dims)
        if "repeat" in dims:
            return "repeats"
        for kind, expected in (("activations", {"stimulus", "unit"}), ("spontaneous", {"time", "neuron"})):
            if dims == expected:
                return kind
        if x.ndim == 1:
            return "spectrum"
        raise InvalidInputError(
            f"x has dims {x.dims}; expected ('repeat', 'stimulus', 'neuron') responses, ('stimulus', 'unit') "
            "activations, ('time', 'neuron') spontaneous activity or a 1-D spectrum over 'rank'"
        )
    ndim = getattr(x, "ndim", None)
    if ndim == 3:
        return "repeats"
    if ndim == 1:
        return "spectrum"
    if ndim == 2:
        if isinstance(x, np.ndarray):
            # a (trial, neuron) matrix of a recording is 2-D too, and its PCA spectrum is not its signal's
            warn(f"x is a bare {x.shape[0]} x {x.shape[1]} array, read as noise-free (stimulus, unit) "
                 "activations and fitted by PCA; for a recording's (trial, neuron) responses build a recording "
                 "(v1ann.recording.make_recording(responses, stimulus_ids)) or pass (repeat, stimulus, neuron) "
                 "responses; for spontaneous activity a DataArray with dims ('time', 'neuron'). A DataArray "
                 "with dims ('stimulus', 'unit') says it is activations.")
        return "activations"
    raise InvalidInputError(
        f"x must be a recording, a DataArray, a 1-D spectrum, or a 2-D (stimulus, unit) / 3-D (repeat, "
        f"stimulus, neuron) array or tensor; got {type(x).__name__} with ndim={ndim}"
    )


MODEL_TEST_LEVEL = 0.05  # cvpca-matched and svca-matched warn when their model test rejects at this level
RELIABLE_FRACTION = 0.8  # below it, SVCA's exponent runs steep (docs/spectra-estimators.md)


def _from_spontaneous(x, method, fit_range, seed, ci, device, nonpositive, progress) -> PowerLawFit:
    """The published fit of the SVCA spectrum of (time, neuron) activity (no interval), or
    ``svca-matched``'s exponent and interval.

    ``attrs["reliable_fraction"]``: the median over the fitted ranks of reliable / total
    variance. On simulated activity the published exponent ran steep as it fell (about +0.1
    at 0.7, +0.3 at 0.35; docs/spectra-estimators.md), so below :data:`RELIABLE_FRACTION` a
    warning says so and names ``svca-matched``.
    """
    if isinstance(fit_range, str):
        raise InvalidInputError("fit_range='auto' applies to a spectrum; pass (lo, hi) for SVCA")
    rng = make_rng(seed)
    spectrum = svca(x, seed=rng.integers(2**32), device=device, progress=progress)
    total = spectrum["total_variance"].values
    if method == "svca":
        fit = fit_powerlaw(spectrum, fit_range=fit_range, nonpositive=nonpositive,
                           n_neurons=spectrum.attrs["n_neurons"])
        lo, hi = fit.fit_range
        reliable = _reliable_fraction(spectrum.values, total, lo, hi)
        if reliable < RELIABLE_FRACTION:
            warn(f"SVCA: only {reliable:.0%} of the variance of components {lo + 1}..{hi} is reliable (median), so "
                 f"private noise dominates them and alpha = {fit.alpha:.3f} is likely too steep (on simulated "
                 "activity +0.1 at 70 %, +0.3 at 35 %: docs/spectra-estimators.md); use method='svca-matched', "
                 "fit lower ranks or record longer")
        return dataclasses.replace(fit, method="svca", attrs={
            **fit.attrs, "n_time": spectrum.attrs["n_time"], "split": spectrum.attrs["split"],
            "reliable_fraction": reliable,
            "ci_method": "none: the published fit has no interval; method='svca-matched' has one"})
    return _svca_matched(spectrum, total, fit_range, nonpositive, ci, rng, device, progress)


def _svca_matched(spectrum, total, fit_range, nonpositive, ci, rng, device, progress) -> PowerLawFit:
    """``svca-matched`` as a PowerLawFit: the published line through the fitted model's
    expected SVCA spectrum, the published fit reported beside it."""
    try:  # reported beside the matched exponent, which needs no positive spectrum
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", V1AnnWarning)
            published = fit_powerlaw(spectrum, fit_range=fit_range, nonpositive=nonpositive)
        published_alpha, published_range = published.alpha, list(published.fit_range)
    except InvalidInputError:
        published_alpha, published_range = None, None
    # the published fit stops where reliable variance first crosses zero; the matched spectra
    # run over every rank asked, negative ones included, so its range is the one asked
    lo, hi = clip_fit_range(fit_range, spectrum.size)
    result = svca_matched_alpha(spectrum.values, total, spectrum.attrs, (lo, hi), ci=ci if ci is not None else 0.95,
                                seed=rng, device=device, progress=progress)
    if result.p_model < MODEL_TEST_LEVEL:
        warn(f"svca-matched: fresh recordings of the fitted model (one power law, one private noise variance) "
             f"scatter less than this one departs from it (p = {result.p_model:.2f}), so alpha = {result.alpha:.3f} "
             "comes from a model that does not describe the recording: look at the spectrum "
             "(v1ann.plot.powerlaw_fit), fit a shorter range")
    unit = float(spectrum.values.sum())
    if not unit > 0:  # noise can leave more negative than positive reliable variance
        unit = float(spectrum.values[spectrum.values > 0].sum())
    normalised, expected = spectrum.values / unit, result.expected / unit
    log_rank, w = rank_weights(lo, hi)
    positive = expected[lo:hi] > 0
    offset = float(np.sum((w * (np.log(np.where(positive, expected[lo:hi], 1.0)) + result.alpha * log_rank))[positive])
                   / np.sum(w[positive]))
    fit = make_fit(
        result.alpha, offset, (lo, hi), _weighted_r2(normalised, expected, lo, hi), "svca-matched", normalised,
        alpha_ci=result.alpha_ci if ci is not None else None, n_neurons=spectrum.attrs["n_neurons"],
        attrs={"n_time": spectrum.attrs["n_time"], "split": spectrum.attrs["split"],
               "reliable_fraction": _reliable_fraction(spectrum.values, total, lo, hi),
               "alpha_published": published_alpha, "fit_range_published": published_range,
               "alpha_sd": result.alpha_sd, "noise_ratio": result.noise_ratio, "n_simulations": result.n_simulations,
               "p_model": result.p_model, "ci_level": ci, "ci_method": "linearised: fresh simulated recordings of the fitted model, t interval"},
    )
    curve = np.full(normalised.size, np.nan)
    curve[:hi] = expected
    fit.predicted.values[:] = curve
    fit.predicted.attrs["description"] = "expected SVCA reliable variance of the fitted model"
    return fit


def _reliable_fraction(reliable, total, lo, hi) -> float:
    """Median over ranks lo+1..hi of reliable / total variance."""
    return float(np.median(reliable[lo:hi] / np.where(total[lo:hi] > 0, total[lo:hi], np.inf)))


def _repeat_responses(x):
    """(repeat, stimulus, neuron) responses behind ``x`` (recording, DataArray or array)."""
    if isinstance(x, xr.Dataset):

        return stimulus_responses(x)
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    return x


def _from_repeats(x, method, fit_range, n_shuffles, seed, ci, device, ci_method, n_bootstrap,
                  nonpositive, progress, *, refit_broken=False) -> PowerLawFit:

    rng = make_rng(seed)
    responses = _repeat_responses(x)
    requested = {}
    if not isinstance(fit_range, str):  # before any work: a range the data cannot give fails now
        _, n_stimuli, n_neurons = responses.shape
        asked, fit_range = fit_range, clip_fit_range(fit_range, min(PUBLISHED_MAX_COMPONENTS, n_stimuli, n_neurons - 1))
        requested = requested_range(asked, fit_range)
    gram = repeat_gram(responses, device=device, progress=progress)
    largest = float(gram.gram.abs().max())
    if not math.isfinite(largest):
        raise InvalidInputError(
            f"responses ({gram.source}) are too large: their stimulus covariance overflows float64; "
            "rescale them (alpha does not change)"
        )
    if not largest > 0:
        raise InvalidInputError(f"responses ({gram.source}) are all zero: there is no spectrum")
    if method == "meme":  # its own statistics of the Gram; no cvPCA spectrum
        return _meme(responses, gram, fit_range, ci, n_bootstrap, rng, device, progress,
                     {"n_stimuli": gram.n_stimuli, "n_neurons": gram.n_neurons}, requested)
    warn_if_uncentred(gram)
    n_components = min(PUBLISHED_MAX_COMPONENTS, gram.n_stimuli, gram.n_neurons - 1)
    masks = shuffle_masks(int(n_shuffles), gram.n_stimuli, rng)
    signal, noise = cvpca_from_gram(gram, masks, n_components, progress=progress)
    spectrum = signal.mean(0)
    sizes = {"n_stimuli": gram.n_stimuli, "n_neurons": gram.n_neurons}
    if method == "cvpca":
        fit = fit_powerlaw(spectrum, fit_range=fit_range, nonpositive=nonpositive, **sizes)
        attrs = {**fit.attrs, **requested, "n_shuffles": int(n_shuffles)}
        interval = None
        if ci is not None:
            ci_method = ci_method or "shuffles"
            interval = _cvpca_interval(signal, gram, fit.fit_range, ci, ci_method,
                                       n_bootstrap, nonpositive, rng, progress)
            attrs.update(ci_level=ci, ci_method=f"bootstrap over {ci_method}")
        return dataclasses.replace(fit, method="cvpca", alpha_ci=interval, attrs=attrs)
    inputs = _simulation_inputs(responses, gram, signal, noise.mean(0), fit_range)
    if method == "cvpca-shape":
        fit = _shape(inputs, ci, rng, device, progress, sizes)
    else:
        fit = _matched(inputs, ci, rng, device, progress, sizes, warn_biased=not refit_broken)
        if refit_broken and not fit.attrs["one_power_law"]:
            fit = _refit_broken(fit, inputs, ci, rng, device, progress, sizes)
    return dataclasses.replace(fit, attrs={**fit.attrs, **requested})


def _refit_broken(matched, inputs, ci, rng, device, progress, sizes) -> PowerLawFit:
    """``cvpca-shape`` on a recording whose ``cvpca-matched`` test rejected one power law,
    with the rejected fit kept in ``attrs`` (``refit_from`` and the ``matched_*`` keys)."""
    # one law was rejected: shape's own test not rejecting it too is no evidence for it
    fit = _shape(inputs, ci, rng, device, progress, sizes, allow_single=False)
    rejected = matched.attrs
    kept = {
        "refit_from": "cvpca-matched",
        "matched_alpha": matched.alpha,
        "matched_alpha_ci": None if matched.alpha_ci is None else list(matched.alpha_ci),
        "alpha_published": rejected["alpha_published"],
        "slope_mismatch": rejected["slope_mismatch"],
        "p_model": rejected["p_model"],
    }
    return dataclasses.replace(fit, attrs={**fit.attrs, **kept})


def _shape(inputs, ci, rng, device, progress, sizes, allow_single: bool = True) -> PowerLawFit:
    """``cvpca-shape`` as a PowerLawFit: the published line through its fitted signal spectrum."""
    spectrum, total_signal, (lo, hi) = inputs.spectrum, inputs.total_signal, inputs.fit_range
    result = shape_matched_alpha(spectrum, inputs.noise_variance, inputs.noise, inputs.noise_gram, total_signal,
                                 (lo, hi), ci=ci if ci is not None else 0.95, shuffle_spectra=inputs.shuffle_spectra,
                                 allow_single=allow_single, seed=rng, device=device, progress=progress)
    unit = _normalising_total(spectrum, total_signal)
    normalised = spectrum / unit
    fitted = result.spectrum / unit
    top = min(hi, fitted.size)  # the model has min(P - 1, N) ranks, cvPCA up to min(P, N - 1)
    log_rank, w = rank_weights(lo, top)
    offset = float(np.sum(w * (np.log(fitted[lo:top]) + result.alpha * log_rank)) / np.sum(w))
    expected = result.expected / unit
    attrs = {
        "one_power_law": result.one_power_law,
        "p_one_power_law": result.p_single,
        "alpha_one_power_law": result.alpha_single,
        "broken_slopes": list(result.slopes),
        "broken_break_rank": result.break_rank,
        **{f"{name}_ci": list(bounds) for name, bounds in result.broken_ci.items()},
        "alpha_sd": result.alpha_sd,
        "n_simulations": result.n_simulations,
        "ci_level": ci,
    }
    if ci is not None:
        attrs["ci_method"] = "linearised: simulated orientations + repeat noise + shuffle spread, t interval"
    fit = make_fit(result.alpha, offset, (lo, hi), _weighted_r2(normalised, expected, lo, hi), "cvpca-shape",
                   normalised, alpha_ci=result.alpha_ci if ci is not None else None, attrs=attrs, **sizes)
    curve = np.full(normalised.size, np.nan)
    curve[:hi] = expected
    fit.predicted.values[:] = curve
    fit.predicted.attrs["description"] = "expected cvPCA spectrum of the fitted model"
    return fit


def _meme(responses, gram, fit_range, ci, n_bootstrap, rng, device, progress, sizes, requested) -> PowerLawFit:
    """MEME's exponent as a PowerLawFit: its fitted spectrum, and the published line through it."""
    if isinstance(fit_range, str):
        raise InvalidInputError("fit_range='auto' applies to the published fit (method='cvpca')")
    full = gram.gram.detach().cpu().numpy()
    p = gram.n_stimuli
    result = meme_alpha(full[:p, p:], _noise_half(responses, centre=False), fit_range=fit_range, ci=ci,
                        n_replicates=n_bootstrap or 20, seed=rng, device=device, progress=progress)
    lo, hi = clip_fit_range(fit_range, result.spectrum.size)
    normalised = result.spectrum / result.spectrum.sum()
    log_rank, w = rank_weights(lo, hi)
    offset = float(np.sum(w * (np.log(normalised[lo:hi]) + result.alpha * log_rank)) / np.sum(w))
    r2 = _weighted_r2(normalised, np.exp(offset) * np.arange(1, normalised.size + 1) ** -result.alpha, lo, hi)
    attrs = {
        "meme_slopes": list(result.slopes),
        "meme_break_rank": result.break_rank,
        "one_power_law": result.break_rank is None,
        "chi2_single": result.chi2["single"],
        "chi2_broken": result.chi2.get("broken"),
        "n_moments": int(result.moments.size),
        "ci_level": ci,
        **requested,
    }
    if ci is not None:
        attrs.update(ci_method=f"parametric bootstrap ({result.replicates.size} simulated recordings), "
                               "estimate +- z robust sd", alpha_sd=result.sd)
    if result.broken_ci is not None:
        attrs.update({f"{name}_ci": [float(v) for v in bounds] for name, bounds in result.broken_ci.items()})
    fit = make_fit(result.alpha, offset, (lo, hi), r2, "meme", normalised, alpha_ci=result.alpha_ci,
                   attrs=attrs, **sizes)
    fit.spectrum.attrs["description"] = "MEME's fitted signal spectrum (not an empirical spectrum)"
    return fit


def _cvpca_interval(signal, gram, fit_range, ci, ci_method, n_bootstrap, nonpositive, rng, progress):

    if ci_method == "shuffles":
        if signal.shape[0] < 2:
            raise InvalidInputError("a bootstrap over shuffles needs n_shuffles >= 2")
        return alpha_ci_over_shuffles(signal, fit_range, n_bootstrap=n_bootstrap or 1000, ci=ci,
                                      seed=rng, nonpositive=nonpositive)
    return alpha_ci_over_stimuli(gram, fit_range, n_bootstrap=n_bootstrap or 100, ci=ci, seed=rng,
                                 nonpositive=nonpositive, progress=progress)


def _matched(inputs, ci, rng, device, progress, sizes, *, warn_biased=True) -> PowerLawFit:
    spectrum, total_signal, (lo, hi) = inputs.spectrum, inputs.total_signal, inputs.fit_range
    result = cvpca_matched_alpha(
        spectrum, inputs.noise_variance, inputs.noise, inputs.noise_gram, total_signal, (lo, hi),
        shuffle_spectra=inputs.shuffle_spectra, ci=ci if ci is not None else 0.95, seed=rng, device=device,
        progress=progress,
    )
    if warn_biased and result.p_model < MODEL_TEST_LEVEL:
        warn(f"cvpca-matched: one power law does not describe the recording: inside the fit range the spectrum is "
             f"{abs(result.slope_mismatch):.2f} {'steeper' if result.slope_mismatch > 0 else 'flatter'} than one "
             f"power law of its total variance allows (p = {result.p_model:.2g}), as with a broken spectrum, so "
             f"alpha = {result.alpha:.3f} is biased; method='cvpca-shape' fits a broken power law")
    unit = _normalising_total(spectrum, total_signal)
    normalised = spectrum / unit
    # offset: the signal power law the estimator infers, lambda_n = T n**-alpha / sum(n**-alpha)
    # (n = 1..min(P-1, N)), in the units of the normalised spectrum
    n_signal = min(sizes["n_stimuli"] - 1, sizes["n_neurons"])
    norm = np.sum(np.arange(1, n_signal + 1, dtype=np.float64) ** -result.alpha)
    offset = float(np.log(total_signal / (norm * unit)))
    expected = result.expected / unit
    r2 = _weighted_r2(normalised, expected, lo, hi)
    fit = make_fit(
        result.alpha, offset, (lo, hi), r2, "cvpca-matched", normalised,
        alpha_ci=result.alpha_ci if ci is not None else None, **sizes,
        attrs={
            "alpha_published": result.alpha_published,
            "alpha_sd": result.alpha_sd,
            **{f"alpha_sd_{k}": v for k, v in result.sd_parts.items()},
            "ci_level": ci,
            "ci_method": ("repeat noise + simulated orientations + noise realisation (shuffle spread), "
                          "t on their Welch-Satterthwaite degrees of freedom"),
            "n_shuffles": int(inputs.shuffle_spectra.shape[0]),
            "n_evaluations": result.n_evaluations,
            "matched_by": result.criterion,
            "slope_mismatch": result.slope_mismatch,
            "p_model": result.p_model,
            "one_power_law": result.p_model >= MODEL_TEST_LEVEL,
        },
    )
    # the fitted curve is the expected cvPCA spectrum at alpha (bent by noise), known up to hi
    curve = np.full(normalised.size, np.nan)
    curve[:hi] = expected
    fit.predicted.values[:] = curve
    fit.predicted.attrs["description"] = "expected cvPCA spectrum of the fitted model"
    return fit


class SimulationInputs(NamedTuple):
    """What the simulation-matched estimators take from one recording (built once, shared by
    ``cvpca-matched`` and the default's ``cvpca-shape`` refit)."""

    spectrum: np.ndarray  # (n_components,) mean cvPCA spectrum over shuffles
    shuffle_spectra: np.ndarray  # (n_shuffles, n_components)
    noise_variance: np.ndarray  # (n_components,) per-stimulus noise variance along each component
    fit_range: tuple[int, int]  # clipped to the spectrum
    noise: np.ndarray  # (n_stimuli, n_neurons) one half's noise, float32
    noise_gram: np.ndarray  # (n_stimuli, n_stimuli) its Gram, float64
    total_signal: float


def _simulation_inputs(responses, gram, shuffle_spectra, noise_variance, fit_range) -> SimulationInputs:
    if isinstance(fit_range, str):
        raise InvalidInputError("fit_range='auto' applies to the published fit (method='cvpca')")
    spectrum = shuffle_spectra.mean(0)
    noise_gram, total_signal = noise_halves(gram)
    return SimulationInputs(spectrum, shuffle_spectra, noise_variance, clip_fit_range(fit_range, spectrum.size),
                            _noise_half(responses), noise_gram, total_signal)


def _normalising_total(spectrum: np.ndarray, total_signal: float) -> float:
    """The observed spectrum's sum, or the unbiased total signal variance where noise drives
    that sum to zero or below (a trial gain shared by all neurons can)."""
    observed = float(spectrum.sum())
    return observed if observed > 0 else float(total_signal)


def _noise_half(responses, *, centre: bool = True) -> np.ndarray:
    """``(A - B) / sqrt(2)``: (stimulus, neuron) noise of one repeat half, float32.

    ``centre``: each stimulus centred across neurons, as the published cvPCA does.
    """

    data = responses.transpose(*REPEAT_DIMS).data if isinstance(responses, xr.DataArray) else responses
    n_repeats = data.shape[0]
    half = n_repeats // 2
    first = np.asarray(data[:half], dtype=np.float32).mean(0)
    second = np.asarray(data[half:], dtype=np.float32).mean(0)
    # the published cvPCA centres every stimulus across neurons
    noise = (first - second) / np.float32(np.sqrt(2.0))
    if centre:
        noise -= noise.mean(axis=1, keepdims=True)
    return noise


def _weighted_r2(observed, predicted, lo, hi) -> float:
    """Weighted (1/rank) R^2 of the model curve in log space over the positive ranks."""
    keep = (observed[lo:hi] > 0) & (predicted[lo:hi] > 0)
    if keep.sum() < 3:
        return float("nan")
    y = np.log(observed[lo:hi][keep])
    w = rank_weights(lo, hi)[1][keep]
    return weighted_r2(y, float(np.sum(w * (y - np.log(predicted[lo:hi][keep])) ** 2)), w)


def _from_activations(x, method, fit_range, seed, ci, device, ci_method, n_bootstrap, nonpositive,
                      progress) -> PowerLawFit:

    ci_method = ci_method or "jackknife"
    if ci is not None and ci_method not in ("jackknife", "stimuli"):
        raise InvalidInputError("activations have no shuffles; use ci_method='jackknife' or 'stimuli'")
    rng = make_rng(seed)
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    # pca-cv: one split, drawn here, that the interval's replicates keep too
    cv_seed = int(rng.integers(2**32)) if method == "pca-cv" else None
    spectrum = pca_spectrum(x, cross_validated=cv_seed is not None, seed=cv_seed, device=device)
    fit = fit_powerlaw(spectrum, fit_range=fit_range, nonpositive=nonpositive,
                       n_stimuli=spectrum.attrs.get("n_stimuli"))
    fit = dataclasses.replace(fit, n_neurons=spectrum.attrs.get("n_units"), method=method)
    if ci is not None:
        values = x.transpose("stimulus", "unit").values if isinstance(x, xr.DataArray) else np.asarray(x)
        if ci_method == "jackknife":
            interval = alpha_ci_jackknife(values, fit.fit_range, ci=ci, seed=rng, nonpositive=nonpositive,
                                          cv_seed=cv_seed, progress=progress)
        else:
            interval = alpha_ci_over_stimuli(values, fit.fit_range, n_bootstrap=n_bootstrap or 100, ci=ci,
                                             cv_seed=cv_seed, seed=rng, nonpositive=nonpositive, progress=progress)
        if interval is None:
            warn(f"no interval: the fit range ends at rank {fit.fit_range[1]}, the last one "
                f"{values.shape[0]} stimuli allow, so no stimulus can be left out")
        else:
            fit = dataclasses.replace(fit, alpha_ci=interval,
                                      attrs={**fit.attrs, "ci_level": ci, "ci_method": f"{ci_method} over stimuli"})
    return fit
