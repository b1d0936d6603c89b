"""Centre the inputs of linear layers during training without changing what the network computes.

A layer ``z = W x + b`` whose inputs have a large mean ``μ`` (MNIST backgrounds at −1 after
``Normalize(0.5, 0.5)``) carries a per-unit offset ``W μ`` that moves with every update of
``W``. Under the spectral penalty that offset is what defeats a shallow target: flattening the
spectrum asks for more variance per unit, the gain that gives it also grows the offset, and
the units saturate at their offset instead (docs/training.md, inputs). Training the layer as
``W (x − μ) + b'`` with ``b' = b + W μ`` is the same function, with the offset handed to the
bias alone: mean-only normalisation (Salimans & Kingma 2016, beside weight normalisation),
with ``μ`` measured on the training inputs rather than on each batch.

>>> import torch
>>> from torch import nn
>>> layer = nn.Sequential(nn.Linear(3, 2))
>>> x = torch.randn(50, 3) + 5.0
>>> before = layer(x)
>>> centring = InputCentring(layer, ["0"])
>>> centring.recentre(layer, x)
>>> torch.allclose(layer(x), before, atol=1e-5), bool(layer[0].input_mean.abs().sum() > 0)
(True, True)
>>> centring.remove()
>>> torch.allclose(layer(x), before, atol=1e-5), hasattr(layer[0], "input_mean")
(True, False)
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from v1ann.nn.hooks import input_batches

BUFFER = "input_mean"


class InputCentring:
    """Subtract a stored mean from the inputs of ``model``'s ``names`` (``nn.Linear`` with a bias).

    The means are buffers (``input_mean``) of the modules, so a checkpoint written meanwhile
    holds them; :meth:`recentre` updates them and the biases together, :meth:`remove` folds
    them back into the biases and leaves the model as it was, up to rounding.
    """

    def __init__(self, model: nn.Module, names: Sequence[str]):
        modules = dict(model.named_modules())
        self.modules = {
            name: modules[name] for name in names
            if isinstance(modules.get(name), nn.Linear) and modules[name].bias is not None
        }
        self._hooks = []
        for module in self.modules.values():
            module.register_buffer(BUFFER, module.bias.detach().new_zeros(module.in_features))
            self._hooks.append(module.register_forward_pre_hook(_subtract_mean))

    @property
    def names(self) -> list[str]:
        """The centred modules."""
        return list(self.modules)

    @torch.no_grad()
    def recentre(self, model: nn.Module, data, batch_size: int = 1024) -> None:
        """Measure each module's input mean over ``data`` (model inputs) and move it into the bias."""
        if not self.modules:
            return
        sums = {name: None for name in self.modules}
        counts = dict.fromkeys(self.modules, 0)

        def record(name):
            def hook(module, args):
                raw = args[0].reshape(-1, module.in_features).double()
                sums[name] = raw.sum(0) if sums[name] is None else sums[name] + raw.sum(0)
                counts[name] += raw.shape[0]
            return hook

        recorders = [m.register_forward_pre_hook(record(n), prepend=True) for n, m in self.modules.items()]
        was_training = model.training
        model.eval()
        device = next(iter(self.modules.values())).bias.device
        try:
            for x in input_batches(data, batch_size):
                model(x.to(device))
        finally:
            model.train(was_training)
            for handle in recorders:
                handle.remove()
        for name, module in self.modules.items():
            new = (sums[name] / counts[name]).to(module.bias.dtype)
            old = getattr(module, BUFFER)
            module.bias += module.weight @ (new - old)
            old.copy_(new)

    @torch.no_grad()
    def remove(self) -> None:
        """Fold the means into the biases (``b = b' − W μ``) and drop the hooks and buffers."""
        for handle in self._hooks:
            handle.remove()
        for module in self.modules.values():
            module.bias -= module.weight @ getattr(module, BUFFER)
            delattr(module, BUFFER)
        self._hooks, self.modules = [], {}


def _subtract_mean(module, args):
    return (args[0] - getattr(module, BUFFER),) + tuple(args[1:])
