"""Forward hooks: which layers of a model, and what they output on a forward pass.

One recorder serves every reader of hidden activations (:func:`v1ann.nn.activations`,
the regularizer, the spectrum probe), and one function turns the user's ``layers``
(names as in ``model.named_modules()``, or the modules themselves) into names.
"""

from __future__ import annotations

from typing import Iterator

import torch
from torch import nn

from v1ann.errors import InvalidInputError, TrainingError


def resolve_layers(model: nn.Module, layers, *, name: str = "layers") -> list[str]:
    """The names of ``layers`` in ``model``: names, modules, or a mix (one or many).

    ``None`` gives ``model.representation_layers`` where the model has them, else every
    leaf module.

    >>> net = nn.Sequential(nn.Linear(4, 3), nn.Tanh())
    >>> resolve_layers(net, [net[1]]), resolve_layers(net, "0")
    (['1'], ['0'])
    """
    if layers is None:
        layers = getattr(model, "representation_layers", None)
        if layers is None:
            layers = [n for n, module in model.named_modules() if n and not any(module.children())]
    if isinstance(layers, (str, nn.Module)):
        layers = [layers]
    named = {id(module): n for n, module in model.named_modules() if n}
    valid = [n for n, _ in model.named_modules() if n]
    names = []
    for layer in layers:
        if isinstance(layer, nn.Module):
            if id(layer) not in named:
                raise InvalidInputError(
                    f"{name}: the module {type(layer).__name__} is not a submodule of {type(model).__name__}"
                )
            layer = named[id(layer)]
        names.append(layer)
    names = list(dict.fromkeys(names))  # drop repeats, keep order
    if not names:
        raise InvalidInputError(f"{name} is empty; name at least one module of the model")
    unknown = [n for n in names if n not in valid]
    if unknown:
        raise InvalidInputError(f"{name} {unknown} are not modules of {type(model).__name__}; valid names: {valid}")
    return names


class LayerRecorder:
    """Keeps the latest output of each named layer.

    Parameters
    ----------
    model : nn.Module
    names : list of str
        Layers to record (see :func:`resolve_layers`).
    once_per_pass : bool
        Refuse a layer that runs twice before :meth:`clear` (a module reused in the
        graph makes its activations ambiguous); ``False`` keeps the latest output.
    flatten : bool
        Keep outputs as (batch, features); ``False`` keeps their shape.

    Use as a context manager, or :meth:`attach` and :meth:`detach`.
    """

    def __init__(self, model: nn.Module, names: list[str], *, once_per_pass: bool = False, flatten: bool = True):
        self.model = model
        self.names = list(names)
        self.once_per_pass = once_per_pass
        self.flatten = flatten
        self.outputs: dict[str, torch.Tensor] = {}
        self._handles: list = []

    def attach(self) -> "LayerRecorder":
        self.detach()
        modules = dict(self.model.named_modules())
        self._handles = [modules[n].register_forward_hook(self._hook(n)) for n in self.names]
        return self

    def detach(self) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles = []
        self.outputs = {}

    @property
    def attached(self) -> bool:
        return bool(self._handles)

    def __enter__(self) -> "LayerRecorder":
        return self.attach()

    def __exit__(self, *exc) -> None:
        self.detach()

    def clear(self) -> None:
        self.outputs = {}

    def take(self, name: str) -> torch.Tensor:
        """The output of ``name`` in the latest forward pass."""
        if name not in self.outputs:
            raise InvalidInputError(f"layer {name!r} did not run during the forward pass")
        return self.outputs[name]

    def _hook(self, name: str):
        def record(module, args, output):
            if isinstance(output, (tuple, list)) and output and isinstance(output[0], torch.Tensor):
                output = output[0]  # e.g. nn.LSTM, nn.MultiheadAttention: the main output comes first
            if not isinstance(output, torch.Tensor):
                raise InvalidInputError(
                    f"layer {name!r} ({type(module).__name__}) returned {type(output).__name__}, not a tensor"
                )
            if self.once_per_pass and name in self.outputs:
                raise InvalidInputError(
                    f"layer {name!r} ran more than once in one forward pass (the module is reused), "
                    "so its activations are ambiguous; hook a module that runs once"
                )
            self.outputs[name] = output.flatten(1) if self.flatten else output

        return record


class HookedLayers:
    """Attach and detach a :class:`LayerRecorder` on ``self.layers`` (names or modules, read as names)."""

    layers = None
    _recorder: LayerRecorder | None = None

    def attach(self, model: nn.Module):
        """Register forward hooks on ``model``'s layers; returns ``self`` for chaining."""
        self.detach()
        self.layers = resolve_layers(model, self.layers)
        self._recorder = LayerRecorder(model, self.layers).attach()
        return self

    def detach(self) -> None:
        """Remove the hooks and forget the captured activations."""
        if self._recorder is not None:
            self._recorder.detach()
        self._recorder = None

    @property
    def attached(self) -> bool:
        """Whether :meth:`attach` has hooked a model."""
        return self._recorder is not None


def input_batches(data, batch_size: int, max_samples: int | None = None) -> Iterator[torch.Tensor]:
    """Input tensors from a tensor, a Dataset, or an iterable of batches / (x, y) tuples."""
    if isinstance(data, torch.Tensor):
        data = data[:max_samples] if max_samples else data
        yield from data.split(batch_size)
        return
    if isinstance(data, torch.utils.data.Dataset) and hasattr(data, "__len__"):
        data = torch.utils.data.DataLoader(data, batch_size=batch_size, shuffle=False)
    seen = 0
    for batch in data:
        x = batch[0] if isinstance(batch, (tuple, list)) else batch
        if max_samples:
            x = x[: max_samples - seen]
        if len(x) == 0:
            break
        seen += len(x)
        yield x


@torch.no_grad()
def layer_covariances(
    recorder: LayerRecorder, data, *, batch_size: int = 1024, max_samples: int | None = None
) -> dict[str, tuple[torch.Tensor, int]]:
    """Covariance (float64, width × width) of each recorded layer's outputs over ``data``, and the sample count.

    The model runs in eval mode (restored afterwards) on the device of its parameters.
    """
    model = recorder.model
    try:
        device = next(model.parameters()).device
    except StopIteration:
        device = torch.device("cpu")
    sums: dict[str, list] = {}
    was_training = model.training
    model.eval()
    try:
        for x in input_batches(data, batch_size, max_samples):
            recorder.clear()
            model(x.to(device))
            for name in recorder.names:
                h = recorder.take(name)
                if not torch.isfinite(h).all():
                    raise TrainingError(f"layer {name!r} produced NaN/Inf activations while computing its spectrum")
                if name not in sums:
                    # Shift by the first batch's mean so the float32 products lose no precision.
                    sums[name] = [h.mean(0), 0, 0.0, 0.0]
                shift, n, s1, s2 = sums[name]
                hc = h - shift
                sums[name] = [shift, n + h.shape[0], s1 + hc.sum(0).double(), s2 + (hc.T @ hc).double()]
    finally:
        model.train(was_training)
        recorder.clear()
    if not sums:
        raise InvalidInputError("no data to compute the layers' covariance from")
    out = {}
    for name, (_, n, s1, s2) in sums.items():
        if n < 2:
            raise InvalidInputError(f"a layer covariance needs at least 2 samples, got {n}")
        mean = s1 / n
        cov = (s2 - n * torch.outer(mean, mean)) / (n - 1)
        out[name] = ((cov + cov.T) / 2, n)
    return out
