"""The one training recipe: a built-in network, its inputs standardised, a regularized layer, a held-out α.

``v1ann train``, :func:`v1ann.sweep` and ``v1ann demo`` all train through
:func:`train_network`, so a network trained from the shell, in a sweep or in the demo is
the same network for the same settings. The recipe's defaults are the ones that reach
their targets in docs/training.md: :class:`~v1ann.nn.SpectralRegularizer`'s and
:func:`~v1ann.nn.train`'s own defaults (``loglog`` penalty, strength 30, ranks 11..500, weight
norm on the layers feeding the regularized ones, the basis refreshed every 8 steps), with
inputs standardised by the training pixels' statistics inside the model.
"""

from __future__ import annotations

import inspect
import json
import os
from dataclasses import dataclass
from typing import Sequence

import torch
import xarray as xr
from torch import nn

from v1ann._checks import check_option
from v1ann._loglog import DEFAULT_FIT_RANGE, fit_range_pair
from v1ann._utils import resolve_device
from v1ann.errors import InvalidInputError
from v1ann.nn import models
from v1ann.nn.probe import layer_alphas
from v1ann.nn.regularizer import METHOD_DEFAULTS, SpectralRegularizer
from v1ann.nn.train import train
from v1ann.spectrum.powerlaw import PowerLawFit


@dataclass(frozen=True)
class TrainedNetwork:
    """What :func:`train_network` produced.

    Attributes
    ----------
    model : nn.Module
        The trained network (on the training device).
    history : xarray.Dataset
        The training history (see :func:`v1ann.nn.train`).
    heldout : dict of str to PowerLawFit
        Each measured layer's exponent on the held-out images (:func:`v1ann.nn.probe.layer_alphas`).
    config : dict
        JSON-ready description of the run: the architecture (``arch``, ``arch_kwargs``, as
        :func:`v1ann.nn.models.save_run` needs), every setting, ``measured_layers``
        (``layers`` where given, else the regularized layers, else the representation
        layers), ``heldout_alpha`` (as ``heldout``) and ``heldout_alpha_train_basis`` (the held-out images' variances
        along the training images' components: free of the steep bias a PCA of few images
        has on shallow spectra, but reading steep spectra low; docs/training.md,
        *Measuring a layer's alpha*).
    """

    model: nn.Module
    history: xr.Dataset
    heldout: dict[str, PowerLawFit]
    config: dict

    @property
    def heldout_spectra(self) -> dict[str, xr.DataArray]:
        """Layer name → normalised PCA spectrum on the held-out images."""
        return {name: fit.spectrum for name, fit in self.heldout.items()}


def standardising_stats(images: torch.Tensor) -> dict[str, list[float]]:
    """Per-channel mean and std of training images (N, C, H, W), for the model's ``Normalize``."""
    return {"mean": images.mean(dim=(0, 2, 3)).tolist(), "std": images.std(dim=(0, 2, 3)).clamp_min(1e-6).tolist()}


def shape_kwargs(arch: str, *, hidden=None, channels=None) -> dict:
    """The built-in model's size arguments from :func:`train_network`'s ``hidden`` and ``channels``.

    An MLP takes ``hidden`` as its widths (default: :func:`v1ann.nn.models.mlp`'s); a CNN takes
    one width, its dense layer's, and ``channels`` for its conv blocks, which only a CNN has.

    >>> shape_kwargs("cnn", hidden=[1000], channels=[8, 16])
    {'hidden': 1000, 'channels': [8, 16]}
    """
    kwargs = {}
    if hidden is not None:
        hidden = [int(h) for h in hidden]
        if arch == "cnn" and len(hidden) != 1:
            raise InvalidInputError(f"hidden: a CNN has one dense hidden layer, got widths {hidden}")
        kwargs["hidden"] = hidden if arch == "mlp" else hidden[0]
    elif arch == "mlp":
        kwargs["hidden"] = list(inspect.signature(models.mlp).parameters["hidden"].default)
    if channels is not None:
        if arch != "cnn":
            raise InvalidInputError("channels applies to arch='cnn' only")
        kwargs["channels"] = [int(c) for c in channels]
    return kwargs


def train_network(
    train_set,
    test_set,
    *,
    target_alpha: float | PowerLawFit | None = None,
    arch: str = "mlp",
    hidden: Sequence[int] | None = None,
    channels: Sequence[int] | None = None,
    activation: str = "tanh",
    method: str = "loglog",
    strength: float | None = None,
    tau: int | None = None,
    n_components: int | str | None = None,
    weight_norm: bool | str = "auto",
    basis_every: int | str | None = "auto",
    layers: Sequence[str] | None = None,
    epochs: int = 20,
    batch_size: int = 128,
    lr: float = 2e-3,
    fit_range=DEFAULT_FIT_RANGE,
    seed: int = 0,
    device: str = "auto",
    checkpoint_dir: str | os.PathLike | None = None,
    resume: bool = True,
    progress: bool = True,
) -> TrainedNetwork:
    """Build a built-in network, train it (towards ``target_alpha`` when given), measure held-out α.

    Parameters
    ----------
    train_set, test_set : TensorDataset of (images (N, C, H, W) in [0, 1], labels)
        E.g. :func:`v1ann.nn.load_training_data`. The test images give the held-out α.
    target_alpha : float or PowerLawFit, optional
        Target exponent (a fit: its ``alpha``); None trains without the regularizer.
    arch : {"mlp", "cnn"}
    hidden : sequence of int, optional
        Hidden widths of the MLP (default: :func:`v1ann.nn.models.mlp`'s, one layer of 2000), or
        the one width of the CNN's dense layer (default: :func:`v1ann.nn.models.cnn`'s, 128).
    channels : sequence of int, optional
        Output channels of the CNN's conv blocks (default: :func:`v1ann.nn.models.cnn`'s,
        32 and 64); MLP: not allowed.
    activation : str
        Hidden nonlinearity (:mod:`v1ann.nn.models`).
    method, strength, tau, n_components : regularizer settings
        See :class:`v1ann.nn.SpectralRegularizer` (None: the method's defaults);
        ``n_components`` is capped at each regularized layer's width.
    weight_norm, basis_every :
        As in :func:`v1ann.nn.train` (``"auto"``: the recipe for ``loglog``, the published
        code's habits otherwise); regularized runs only.
    layers : sequence of str, optional
        Layers to regularize and measure (a vanilla run measures them too, for comparison);
        default the model's representation layers.
    epochs, batch_size, lr, seed, device, checkpoint_dir, resume, progress :
        As in :func:`v1ann.nn.train`.
    fit_range : (int, int)
        Rank range of the held-out α (clipped to the layer's ranks).

    Returns
    -------
    TrainedNetwork
    """
    check_option("arch", arch, models.BUILDERS)
    check_option("method", method, METHOD_DEFAULTS)
    fit_range = fit_range_pair(fit_range)  # before training: a bad range must not cost the run
    target = target_alpha.alpha if isinstance(target_alpha, PowerLawFit) else target_alpha
    images, labels = train_set.tensors
    arch_kwargs = {"in_shape": list(images.shape[1:]), "n_classes": int(labels.max()) + 1,
                   "activation": activation, **standardising_stats(images)}
    arch_kwargs.update(shape_kwargs(arch, hidden=hidden, channels=channels))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = models.build(arch, **arch_kwargs)
    regularizer = None
    if target is not None:
        regularizer = SpectralRegularizer(  # n_components is capped at each layer's width there
            float(target), layers=list(layers) if layers else None, tau=tau, strength=strength, method=method,
            n_components=n_components,
        )
    regularized = regularizer is not None
    history = train(
        model, train_set, test_set, regularizer=regularizer, epochs=epochs, batch_size=batch_size, lr=lr,
        weight_norm=weight_norm if regularized else False, basis_every=basis_every if regularized else None,
        device=device, seed=seed, checkpoint_dir=checkpoint_dir, resume=resume, progress=progress,
    )
    run_config = json.loads(history.attrs["config"])
    reg_config = run_config["regularizer"] or {}
    measured = list(layers) if layers else (regularizer.layers if regularized else model.representation_layers)
    heldout = layer_alphas(model, test_set.tensors[0], layers=list(measured), fit_range=fit_range,
                           device=device, progress=progress)
    in_train_basis = layer_alphas(model, test_set.tensors[0], basis=images, layers=list(measured),
                                  fit_range=fit_range, device=device, progress=False)
    config = {
        "arch": arch, "arch_kwargs": arch_kwargs, "target_alpha": target, "method": method,
        "strength": reg_config.get("strength"), "tau": reg_config.get("tau", METHOD_DEFAULTS[method]["tau"]),
        "n_components": reg_config.get("n_components"), "weight_norm": bool(run_config.get("weight_norm")),
        "basis_every": run_config["basis_every"], "layers": list(layers) if layers else None,
        "epochs": epochs, "batch_size": batch_size, "lr": lr, "seed": seed, "fit_range": list(fit_range),
        "device": str(resolve_device(device)), "measured_layers": list(measured),
        "heldout_alpha": {name: fit.alpha for name, fit in heldout.items()},
        "heldout_alpha_train_basis": {name: fit.alpha for name, fit in in_train_basis.items()},
    }
    return TrainedNetwork(model=model, history=history, heldout=heldout, config=config)
