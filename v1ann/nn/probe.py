"""The exponent of a network's layers: the one measurement behind ``train``, the recipe, sweeps and the demo.

A layer's α is the published power-law fit (:func:`v1ann.fit_powerlaw`, ranks 12..500 by
default, the stop lowered to the ranks the layer has) of the PCA spectrum of its
activations: on held-out inputs after training (:func:`layer_alphas`), and on the training
subset after every epoch (:class:`SpectrumProbe`, or the regularizer's own basis spectrum).
Layers of networks carry no trial noise, so no bias correction and no interval are
computed: the spread over seeds or inputs is the uncertainty worth reporting.
"""

from __future__ import annotations

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
from v1ann.spectrum.powerlaw import PowerLawFit


@uses_thread_budget
def layer_alphas(
    model: nn.Module,
    inputs,
    *,
    layers: Sequence | None = None,
    fit_range=DEFAULT_FIT_RANGE,
    device: str = "auto",
    progress: bool = True,
) -> dict[str, PowerLawFit]:
    """Power-law fit of each layer's PCA spectrum on ``inputs``.

    Parameters
    ----------
    model : nn.Module
    inputs : tensor, array, Dataset or DataLoader
        What :func:`v1ann.nn.activations` accepts.
    layers : sequence of str or nn.Module, optional
        Default ``model.representation_layers`` (else every leaf module).
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
        (``method="pca"``, no interval); its ``spectrum`` is the layer's normalised PCA spectrum.

    Examples
    --------
    >>> import torch, v1ann
    >>> net = v1ann.nn.models.mlp(hidden=(64,))
    >>> fits = layer_alphas(net, torch.rand(100, 1, 28, 28), fit_range=(2, 50), progress=False)
    >>> sorted(fits)
    ['act1']
    """
    acts = activations(model, inputs, layers=layers, device=device, progress=progress)
    fits = {}
    for name, values in acts.items():
        n_ranks = min(values.sizes["stimulus"] - 1, values.sizes["unit"])  # of a centred PCA
        if n_ranks >= int(fit_range[0]) + 2:
            fits[name] = estimate_alpha(values, method="pca", fit_range=clip_fit_range(fit_range, n_ranks), ci=None,
                                        nonpositive="truncate", device=device, progress=False)
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
