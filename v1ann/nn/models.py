"""Small reference networks whose hidden representations can be measured and regularized.

Every model takes pixels in [0, 1], shape ``(batch, C, H, W)``, and starts with a
:class:`Normalize` module, so that adversarial attacks (which clip to [0, 1]) work in
pixel space while the network still sees standardised inputs.

Models are ``nn.Sequential`` with named children (names as in ``model.named_modules()``):

``mlp(hidden=(h1, h2, ...))``
    ``normalize → flatten → fc1 → act1 → fc2 → act2 → … → readout``;
    ``model.representation_layers == ["act1", "act2", …]``.

``cnn(channels=(c1, c2, ...), hidden=h)``
    ``normalize → conv1 → act1 → pool1 → conv2 → act2 → pool2 → … → flatten → fc → act_fc → readout``;
    ``model.representation_layers == ["pool1", "pool2", …, "act_fc"]``
    (the pooled feature maps, flattened to ``C·H·W`` units, and the dense hidden layer).

``representation_layers`` are the hidden representations that
:class:`~v1ann.nn.SpectralRegularizer`, ``compare`` and ``sweep`` use by default.
"""

from __future__ import annotations

import inspect
import json
import os
from collections import OrderedDict
from pathlib import Path
from typing import Sequence

import torch
from torch import nn

from v1ann._checks import check_option
from v1ann._utils import atomic_path, write_json
from v1ann.errors import DataFileError, InvalidInputError

ACTIVATIONS = {"tanh": nn.Tanh, "relu": nn.ReLU, "gelu": nn.GELU}


class Normalize(nn.Module):
    """Per-channel standardisation ``(x - mean) / std`` of pixel inputs.

    Parameters
    ----------
    mean, std : float or sequence of float, one per channel
        Statistics of the pixels, in pixel units ([0, 1] scale). Stored as buffers, so
        they move with the model and are saved in its ``state_dict``.
    """

    def __init__(self, mean: float | Sequence[float] = 0.5, std: float | Sequence[float] = 0.5):
        super().__init__()
        mean_t = torch.as_tensor(mean, dtype=torch.float32).reshape(-1, 1, 1)
        std_t = torch.as_tensor(std, dtype=torch.float32).reshape(-1, 1, 1)
        if not torch.isfinite(mean_t).all() or not torch.isfinite(std_t).all():
            raise InvalidInputError(f"Normalize: mean={mean!r} and std={std!r} must be finite")
        if (std_t <= 0).any():
            raise InvalidInputError(f"Normalize: std={std!r} must be positive")
        self.register_buffer("mean", mean_t)
        self.register_buffer("std", std_t)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std

    def extra_repr(self) -> str:
        return f"mean={self.mean.flatten().tolist()}, std={self.std.flatten().tolist()}"


def _check_shape(in_shape) -> tuple[int, int, int]:
    try:
        shape = tuple(int(s) for s in in_shape)
    except (TypeError, ValueError):
        raise InvalidInputError(f"in_shape={in_shape!r} must be (channels, height, width)") from None
    if len(shape) != 3 or min(shape) < 1:
        raise InvalidInputError(f"in_shape={in_shape!r} must be (channels, height, width), all >= 1")
    return shape  # type: ignore[return-value]


def _activation(name: str) -> type[nn.Module]:
    return ACTIVATIONS[check_option("activation", name, ACTIVATIONS)]


def _normalize(in_shape, mean, std) -> Normalize:
    # Default maps [0, 1] to [-1, 1]: dataset-agnostic; pass the training set's statistics to do better.
    channels = in_shape[0]
    mean = 0.5 if mean is None else mean
    std = 0.5 if std is None else std
    norm = Normalize(mean, std)
    for name, buf in (("mean", norm.mean), ("std", norm.std)):
        if buf.numel() not in (1, channels):
            raise InvalidInputError(
                f"{name} has {buf.numel()} values but in_shape={tuple(in_shape)} has {channels} channel(s)"
            )
    return norm


def _positive_ints(values, name: str) -> tuple[int, ...]:
    values = (values,) if isinstance(values, int) else tuple(values)
    if not values or any(int(v) != v or v < 1 for v in values):
        raise InvalidInputError(f"{name}={values!r} must be positive integers")
    return tuple(int(v) for v in values)


def mlp(
    in_shape: Sequence[int] = (1, 28, 28),
    hidden: int | Sequence[int] = (2000,),
    n_classes: int = 10,
    activation: str = "tanh",
    mean: float | Sequence[float] | None = None,
    std: float | Sequence[float] | None = None,
) -> nn.Sequential:
    """A fully connected classifier of pixel images.

    Parameters
    ----------
    in_shape : (C, H, W)
        Shape of one input image; inputs are ``(batch, C, H, W)`` pixels in [0, 1].
    hidden : int or sequence of int
        Widths of the hidden layers (default one layer of 2000 units, as in Nassar et al. 2020).
    n_classes : int
        Number of output logits.
    activation : {"tanh", "relu", "gelu"}
    mean, std : float or per-channel sequence, optional
        Pixel statistics for the leading :class:`Normalize`; default 0.5 and 0.5 (maps [0, 1] to [-1, 1]).

    Returns
    -------
    nn.Sequential
        Children ``normalize, flatten, fc1, act1, …, readout``; attribute
        ``representation_layers = ["act1", …]``.
    """
    in_shape = _check_shape(in_shape)
    widths = _positive_ints(hidden, "hidden")
    (n_classes,) = _positive_ints(n_classes, "n_classes")
    act = _activation(activation)
    layers: list[tuple[str, nn.Module]] = [
        ("normalize", _normalize(in_shape, mean, std)),
        ("flatten", nn.Flatten()),
    ]
    fan_in = in_shape[0] * in_shape[1] * in_shape[2]
    for i, width in enumerate(widths, start=1):
        layers += [(f"fc{i}", nn.Linear(fan_in, width)), (f"act{i}", act())]
        fan_in = width
    layers.append(("readout", nn.Linear(fan_in, n_classes)))
    model = nn.Sequential(OrderedDict(layers))
    model.representation_layers = [f"act{i}" for i in range(1, len(widths) + 1)]
    return model


def cnn(
    in_shape: Sequence[int] = (1, 28, 28),
    n_classes: int = 10,
    channels: Sequence[int] = (32, 64),
    hidden: int = 128,
    activation: str = "tanh",
    kernel_size: int = 3,
    mean: float | Sequence[float] | None = None,
    std: float | Sequence[float] | None = None,
) -> nn.Sequential:
    """A small convolutional classifier: conv blocks (conv, activation, 2×2 max-pool), then one dense layer.

    Parameters
    ----------
    in_shape : (C, H, W)
        E.g. ``(1, 28, 28)`` for MNIST or ``(3, 32, 32)`` for CIFAR-10. H and W must be at
        least ``2 ** len(channels)``.
    n_classes : int
    channels : sequence of int
        Output channels of each conv block (``padding="same"``, so only pooling shrinks the map).
    hidden : int
        Width of the dense hidden layer.
    activation : {"tanh", "relu", "gelu"}
        tanh by default, as in :func:`mlp`: under the spectral regularizer a ReLU CNN reaches
        its target but loses far more accuracy (12-21 points on mnist5k against 6 for tanh;
        docs/training.md).
    kernel_size : int (odd)
    mean, std : float or per-channel sequence, optional
        Pixel statistics for the leading :class:`Normalize`; default 0.5 and 0.5.

    Returns
    -------
    nn.Sequential
        Children ``normalize, conv1, act1, pool1, …, flatten, fc, act_fc, readout``;
        ``representation_layers = ["pool1", …, "act_fc"]``.
    """
    in_shape = _check_shape(in_shape)
    chans = _positive_ints(channels, "channels")
    (hidden,) = _positive_ints(hidden, "hidden")
    (n_classes,) = _positive_ints(n_classes, "n_classes")
    (kernel_size,) = _positive_ints(kernel_size, "kernel_size")
    if kernel_size % 2 == 0:
        raise InvalidInputError(f"kernel_size={kernel_size} must be odd (the maps keep their size)")
    act = _activation(activation)
    c, h, w = in_shape
    shrink = 2 ** len(chans)
    if h < shrink or w < shrink:
        raise InvalidInputError(
            f"in_shape={in_shape} is too small for {len(chans)} pooling steps (needs H, W >= {shrink})"
        )
    layers: list[tuple[str, nn.Module]] = [("normalize", _normalize(in_shape, mean, std))]
    for i, out in enumerate(chans, start=1):
        layers += [
            (f"conv{i}", nn.Conv2d(c, out, kernel_size, padding=kernel_size // 2)),
            (f"act{i}", act()),
            (f"pool{i}", nn.MaxPool2d(2)),
        ]
        c, h, w = out, h // 2, w // 2
    layers += [
        ("flatten", nn.Flatten()),
        ("fc", nn.Linear(c * h * w, hidden)),
        ("act_fc", act()),
        ("readout", nn.Linear(hidden, n_classes)),
    ]
    model = nn.Sequential(OrderedDict(layers))
    model.representation_layers = [f"pool{i}" for i in range(1, len(chans) + 1)] + ["act_fc"]
    return model


BUILDERS = {"mlp": mlp, "cnn": cnn}
RUN_WEIGHTS = "model.pt"
RUN_CONFIG = "config.json"


def build(arch: str, **kwargs) -> nn.Sequential:
    """The built-in architecture ``arch`` (``"mlp"`` or ``"cnn"``) with its keyword arguments."""
    return BUILDERS[check_option("arch", arch, BUILDERS)](**kwargs)


def save_run(model: nn.Module, folder: str | os.PathLike, config: dict) -> Path:
    """Write a trained model as a run folder: ``model.pt`` (state_dict) and ``config.json``.

    ``config`` must describe the architecture (``arch`` and ``arch_kwargs``, the arguments
    of :func:`build`) so that :func:`load_run` can rebuild it; anything else in it (the
    training settings, measured exponents) is kept as written.
    """
    if config.get("arch") not in BUILDERS or not isinstance(config.get("arch_kwargs"), dict):
        raise InvalidInputError("config must hold 'arch' ('mlp' or 'cnn') and 'arch_kwargs' (a dict)")
    folder = Path(folder)
    with atomic_path(folder / RUN_WEIGHTS) as tmp:
        torch.save(model.state_dict(), tmp)
    write_json(folder / RUN_CONFIG, config)
    return folder


def load_run(path: str | os.PathLike) -> tuple[nn.Sequential, dict]:
    """Rebuild the model of a run folder (or of a ``model.pt``/``checkpoint.pt`` with ``config.json`` beside it).

    Returns
    -------
    (model, config)
        The model on CPU with its trained weights, and the run's config.

    Raises
    ------
    DataFileError
        No weights or config, a config that names no built-in architecture, or weights
        that do not fit it. Weights are read with ``weights_only=True``.
    """
    path = Path(path)
    weights = path / RUN_WEIGHTS if path.is_dir() else path
    if not weights.is_file():
        raise DataFileError(f"{path}: no trained weights ({RUN_WEIGHTS}) there")
    config_path = weights.with_name(RUN_CONFIG)
    if not config_path.is_file():
        raise DataFileError(f"{weights}: no {RUN_CONFIG} beside it to say which architecture the weights belong to")
    try:
        config = json.loads(config_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataFileError(f"{config_path}: not valid JSON ({exc})") from None
    arch = config.get("arch") if isinstance(config, dict) else None
    kwargs = config.get("arch_kwargs") if isinstance(config, dict) else None
    if arch not in BUILDERS or not isinstance(kwargs, dict):
        raise DataFileError(
            f"{config_path}: expected 'arch' (one of {list(BUILDERS)}) and 'arch_kwargs' as written by `v1ann train`"
        )
    try:
        model = build(arch, **kwargs)
    except (TypeError, InvalidInputError) as exc:
        raise DataFileError(f"{config_path}: arguments of {arch} do not fit ({exc})") from None
    try:
        state = torch.load(weights, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a corrupt or foreign file
        raise DataFileError(f"{weights}: not a readable PyTorch state_dict ({type(exc).__name__})") from None
    if isinstance(state, dict) and isinstance(state.get("model"), dict):
        state = state["model"]  # checkpoint.pt of an unfinished run: weights under "model"
    try:
        model.load_state_dict(state)
    except (RuntimeError, TypeError, AttributeError) as exc:
        raise DataFileError(f"{weights}: weights do not match the {arch} described in {RUN_CONFIG} ({exc})") from None
    return model, config


def input_shape(arch: str, kwargs: dict) -> tuple[int, int, int]:
    """The (C, H, W) input a built-in architecture is made for: its ``in_shape`` argument, else its default."""
    shape = kwargs.get("in_shape", inspect.signature(BUILDERS[arch]).parameters["in_shape"].default)
    return tuple(int(v) for v in shape)
