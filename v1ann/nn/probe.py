"""The exponent of a network's layers: the one measurement behind ``train``, the recipe, sweeps and the demo.

A layer's α is the published power-law fit (:func:`v1ann.fit_powerlaw`, ranks 12..500 by
default, the stop lowered to the ranks the layer has) of the PCA spectrum of its
activations: on held-out inputs after training (:func:`layer_alphas`), and on the training
subset after every epoch (:class:`SpectrumProbe`, or the regularizer's own basis spectrum).
Layers of networks carry no trial noise, so no bias correction and no interval are
computed: the spread over seeds or inputs is the uncertainty worth reporting.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Sequence

import numpy as np
import torch
from torch import nn

from v1ann._loglog import DEFAULT_FIT_RANGE, clip_fit_range, wls_loglog
from v1ann._threads import uses_thread_budget
from v1ann.nn.activations import activations
from v1ann.nn.hooks import HookedLayers, layer_covariances
from v1ann.spectrum.estimate import estimate_alpha
from v1ann.spectrum.pca import pca_spectrum
from v1ann.spectrum.powerlaw import PowerLawFit, fit_powerlaw


@uses_thread_budget
def layer_alphas(
    model: nn.Module,
    inputs,
    *,
    layers: Sequence | None = None,
    basis=None,
    fit_range=DEFAULT_FIT_RANGE,
    device: str = "auto",
    progress: bool = True,
) -> dict[str, PowerLawFit]:
    """Power-law fit of each layer's PCA spectrum on ``inputs``.

    A PCA spectrum of few inputs is steeper than the layer's: its top eigenvalues are biased
    up and its last ones down. On the same trained MLP (784-1000-10, mnist5k) the training
    digits read 1.08 with 1,000 of them and 1.01 with all 4,000 (target 1), 0.70 and 0.55
    (target 0.5). ``basis`` removes that: the components come from other inputs (the
    training set) and the variance along each is measured on ``inputs`` (held-out),
    :func:`v1ann.pca_spectrum`'s ``fit_on``. It reads steep spectra low instead (variance
    of the large components leaks into the estimated small ones: 0.08-0.23 at alpha 3-4 on
    those networks), so neither reading is right at both ends (docs/training.md,
    *Measuring a layer's alpha*).

    Parameters
    ----------
    model : nn.Module
    inputs : tensor, array, Dataset or DataLoader
        What :func:`v1ann.nn.activations` accepts.
    layers : sequence of str or nn.Module, optional
        Default ``model.representation_layers`` (else every leaf module).
    basis : tensor, array, Dataset or DataLoader, optional
        Inputs whose activations fit the principal directions (e.g. the training inputs);
        default: those of ``inputs`` themselves (the plain PCA spectrum).
    fit_range : (int, int)
        0-based half-open rank range; its stop is lowered to the number of ranks the layer
        has (:func:`v1ann._loglog.clip_fit_range`), and the range ends before the
        first zero variance (dead units). Layers with fewer than ``fit_range[0] + 2`` ranks
        are left out.
    device : str
    progress : bool

    Returns
    -------
    dict
        Layer name → :class:`~v1ann.PowerLawFit` from :func:`v1ann.estimate_alpha`
        (``method="pca"``, no interval; with ``basis``, :func:`v1ann.fit_powerlaw` of
        the ``fit_on`` spectrum, ``method="pca-basis"``); its ``spectrum`` is the
        layer's normalised spectrum.

    Examples
    --------
    >>> import torch, v1ann
    >>> net = v1ann.nn.models.mlp(hidden=(64,))
    >>> fits = layer_alphas(net, torch.rand(100, 1, 28, 28), fit_range=(2, 50), progress=False)
    >>> sorted(fits)
    ['act1']
    """
    acts = activations(model, inputs, layers=layers, device=device, progress=progress)
    fitted_on = None if basis is None else activations(model, basis, layers=list(acts), device=device,
                                                        progress=progress)
    fits = {}
    for name, values in acts.items():
        fit_stimuli = values.sizes["stimulus"] if fitted_on is None else fitted_on[name].sizes["stimulus"]
        n_ranks = min(fit_stimuli - 1, values.sizes["unit"])  # of a centred PCA
        if n_ranks < int(fit_range[0]) + 2:
            continue
        ranks = clip_fit_range(fit_range, n_ranks)
        if fitted_on is None:
            fits[name] = estimate_alpha(values, method="pca", fit_range=ranks, ci=None, nonpositive="truncate",
                                        device=device, progress=False)
        else:
            spectrum = pca_spectrum(values, fit_on=fitted_on[name], device=device)
            fit = fit_powerlaw(spectrum, fit_range=ranks, nonpositive="truncate")
            fits[name] = dataclasses.replace(fit, method="pca-basis", n_neurons=values.sizes["unit"])
    return fits


def spectrum_alpha(spectrum: np.ndarray, fit_range=DEFAULT_FIT_RANGE) -> float:
    """The published fit's α of a layer's eigenvalues (descending), NaN where it cannot be fitted.

    The range is clipped to the spectrum and ends before its first non-positive value
    (dead units); fewer than two ranks left give NaN.

    >>> round(spectrum_alpha(np.arange(1, 101.0) ** -2), 6)
    2.0
    """
    values = np.asarray(spectrum, dtype=np.float64)
    lo, hi = int(fit_range[0]), min(int(fit_range[1]), values.size)
    dead = np.flatnonzero(values[lo:hi] <= 0)
    hi = lo + int(dead[0]) if dead.size else hi
    if hi - lo < 2:
        return math.nan
    return wls_loglog(values / values.sum(), lo, hi)[0]


class SpectrumProbe(HookedLayers):
    """Measures the exponent of layers during training, without changing them.

    Parameters
    ----------
    layers : str, nn.Module or a sequence of them, optional
        Default ``model.representation_layers``.
    fit_range : (int, int)
        As in :func:`spectrum_alpha`.

    Examples
    --------
    >>> import torch, v1ann
    >>> net = v1ann.nn.models.mlp(hidden=(64,))
    >>> probe = SpectrumProbe().attach(net)
    >>> probe.update(net, torch.rand(200, 1, 28, 28))
    >>> sorted(probe.alphas)
    ['act1']
    """

    def __init__(self, layers=None, *, fit_range=DEFAULT_FIT_RANGE):
        self.layers = layers
        self.fit_range = tuple(int(i) for i in fit_range)
        self.spectra: dict[str, np.ndarray] = {}

    @torch.no_grad()
    def update(self, model: nn.Module, data, *, batch_size: int = 1024) -> None:
        """Each layer's covariance eigenvalues (descending) over ``data``, the model in eval mode."""
        for name, (cov, _) in layer_covariances(self._recorder, data, batch_size=batch_size).items():
            self.spectra[name] = torch.linalg.eigvalsh(cov).flip(0).clamp_min(0).cpu().numpy()

    @property
    def alphas(self) -> dict[str, float]:
        """Layer name → α of its latest spectrum (:func:`spectrum_alpha`)."""
        return {name: spectrum_alpha(values, self.fit_range) for name, values in self.spectra.items()}
