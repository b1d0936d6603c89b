"""The exponent of a network's layers: the one measurement behind ``train``, ``compare``, sweeps and the demo.

A layer's α is the published power-law fit (:func:`v1ann.fit_powerlaw`, ranks 12..500 by
default) of the PCA spectrum of its activations on the inputs given — held-out inputs
when you want a held-out α. Layers of networks carry no trial noise, so no bias
correction and no interval are computed: the spread over seeds or inputs is the
uncertainty worth reporting.
"""

from __future__ import annotations

from typing import Sequence

from torch import nn

from v1ann.nn.activations import activations
from v1ann.spectrum.loglog import DEFAULT_FIT_RANGE, clip_fit_range
from v1ann.spectrum.pca import pca_spectrum
from v1ann.spectrum.powerlaw import PowerLawFit, fit_powerlaw


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
        has (:func:`v1ann.spectrum.loglog.clip_fit_range`), and the range ends before the
        first zero variance (dead units). Layers with fewer than ``fit_range[0] + 2`` ranks
        are left out.
    device : str
    progress : bool

    Returns
    -------
    dict
        Layer name → :class:`~v1ann.PowerLawFit` (its ``spectrum`` is the layer's
        normalised PCA spectrum).

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
        spectrum = pca_spectrum(values, device=device)
        n_ranks = spectrum.sizes["rank"]
        if n_ranks >= int(fit_range[0]) + 2:
            fits[name] = fit_powerlaw(spectrum, fit_range=clip_fit_range(fit_range, n_ranks), nonpositive="truncate")
    return fits
