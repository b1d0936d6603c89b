"""Hidden-layer activations of any ``nn.Module`` as labelled xarray data (forward hooks)."""

from __future__ import annotations

import contextlib
import math
from typing import Iterable, Iterator

import numpy as np
import torch
import xarray as xr
from torch import nn
from torch.utils.data import DataLoader, Dataset, RandomSampler

from v1ann._checks import check_int
from v1ann._docs import fill_doc
from v1ann._progress import progress_bar
from v1ann._threads import uses_thread_budget
from v1ann._utils import resolve_device
from v1ann.errors import InvalidInputError, warn
from v1ann.nn.hooks import LayerRecorder, resolve_layers

__all__ = ["activations"]

# Names of the feature dims of an unflattened output, by the output's number of dims.
_FEATURE_DIMS = {2: ("unit",), 4: ("channel", "y", "x"), 5: ("channel", "z", "y", "x")}


@uses_thread_budget
@fill_doc
def activations(
    model: nn.Module,
    inputs,
    *,
    layers: str | Iterable[str] | None = None,
    batch_size: int = 256,
    device: str = "auto",
    flatten: bool = True,
    progress: bool = True,
) -> dict[str, xr.DataArray]:
    """Record the outputs of named layers of ``model`` for every input stimulus.

    Parameters
    ----------
    model : torch.nn.Module
        Any module. Left as it was found: its train/eval flags, its device and its
        weights are restored or untouched, and no hook stays attached, even on error.
    inputs : Tensor, ndarray, xarray.DataArray, DataLoader or torch Dataset
        The stimuli, stacked along the first axis, shape ``(n_stimuli, ...)`` as the
        model expects them (for v1ann models: ``(n, C, H, W)`` pixels in [0, 1]; see
        :func:`v1ann.nn.prepare_images`). A DataArray must have a ``stimulus`` dim,
        whose coordinate labels the result. For a DataLoader (or Dataset) the first
        element of each batch (sample) is the input; labels are ignored. Floating inputs
        are cast to the dtype of the model's parameters.
    layers : str, nn.Module or a sequence of them, optional
        Modules, or their names as in ``model.named_modules()``. Default: the model's
        ``representation_layers`` when it has them, else every leaf module.
    batch_size : int
        Stimuli per forward pass (for Tensor/ndarray/DataArray/Dataset inputs). Only one
        batch lives on ``device`` at a time; outputs are copied to host memory as they come.
    %(device)s
    flatten : bool
        True: each layer's output becomes ``(stimulus, unit)``, units in C-order
        (for a conv map, ``unit = (c * H + y) * W + x``; ``attrs["unit_shape"]`` keeps
        ``(C, H, W)``). False: conv maps keep ``(stimulus, channel, y, x)``
        (``(stimulus, channel, z, y, x)`` for 3-D convs; other shapes ``dim_1, dim_2, ...``).
    %(progress)s

    Returns
    -------
    dict of str to xarray.DataArray
        In the order of ``layers``; each float DataArray is named after its layer, has
        dims ``(stimulus, unit)`` (or the unflattened dims), a ``stimulus`` coordinate
        (the DataArray's labels, else ``0..n-1``) and provenance ``attrs``: ``model``,
        ``layer``, ``module``, ``device``, ``unit_shape``.

        A plain dict rather than an ``xarray.Dataset``: layers differ in width, and a
        Dataset forces every variable sharing a dim name (``unit``) to share its size.
        ``v1ann.compare`` and ``v1ann.plot.spectra`` take this dict as it is.

    Raises
    ------
    InvalidInputError
        Unknown layer names (the message lists the valid ones), a layer that did not
        run or ran more than once per forward pass (a module reused in the graph),
        a layer whose output is not a tensor, unusable inputs, or NaN/Inf in the inputs
        or in a layer's output.

    Examples
    --------
    >>> import torch, v1ann
    >>> model = v1ann.nn.models.cnn()
    >>> acts = activations(model, torch.rand(100, 1, 28, 28), progress=False)
    >>> sorted(acts), acts["pool1"].dims
    (['act_fc', 'pool1', 'pool2'], ('stimulus', 'unit'))
    """
    if not isinstance(model, nn.Module):
        raise InvalidInputError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    check_int(batch_size, "batch_size")
    names = resolve_layers(model, layers)
    modules = dict(model.named_modules())
    dev = resolve_device(device)
    batches, n_stimuli, stimulus = _batches(inputs, int(batch_size))
    dtype = _float_dtype(model)

    outputs: dict[str, _Store] = {name: _Store(n_stimuli) for name in names}
    recorder = LayerRecorder(model, names, once_per_pass=True, flatten=False)
    with _restored(model, dev), recorder, torch.no_grad():
        start = 0
        for batch in _progress(batches, n_stimuli, int(batch_size), progress):
            batch = _as_tensor(batch, dtype, start)
            recorder.clear()
            try:
                model(batch.to(dev, non_blocking=True))
            except torch.cuda.OutOfMemoryError:  # not a shape problem (torch >= 2.2 has this name)
                raise
            except RuntimeError as err:
                if start:  # the first batch ran: not the inputs' shape, the model's own error
                    raise
                raise InvalidInputError(f"model could not run on inputs of shape {tuple(batch.shape[1:])} per "
                                        f"stimulus (check the inputs against the model): {err}") from err
            stop = start + batch.shape[0]
            for name in names:
                out = recorder.take(name)
                if out.shape[0] != batch.shape[0]:
                    raise InvalidInputError(
                        f"layer {name!r} returned {out.shape[0]} rows for a batch of "
                        f"{batch.shape[0]} stimuli; its first dim is not the batch dim"
                    )
                if not torch.isfinite(out).all():
                    raise InvalidInputError(
                        f"layer {name!r} produced NaN/Inf for stimuli {start}..{stop - 1}; "
                        "check the model's weights and the scaling of its inputs"
                    )
                outputs[name].put(out.detach().to("cpu").numpy(), start)
            start = stop
    if start == 0:
        raise InvalidInputError("inputs hold no stimuli")
    if stimulus is None:
        stimulus = np.arange(start)
    attrs = {"model": type(model).__name__, "device": str(dev)}
    return {
        name: _to_dataarray(outputs[name].result(start), name, type(modules[name]).__name__, stimulus, flatten, attrs)
        for name in names
    }


def _float_dtype(model: nn.Module) -> torch.dtype:
    for tensor in model.parameters():
        if tensor.is_floating_point():
            return tensor.dtype
    return torch.float32


@contextlib.contextmanager
def _restored(model: nn.Module, device: torch.device) -> Iterator[None]:
    """Eval mode on ``device`` inside; every submodule's train flag and the model's device after."""
    modes = [(module, module.training) for module in model.modules()]
    tensors = list(model.parameters()) + list(model.buffers())
    devices = {t.device for t in tensors}
    # A model spread over several devices is the user's arrangement: run it where it is.
    home = devices.pop() if len(devices) == 1 else None
    moved = home is not None and home != device
    try:
        model.eval()
        if moved:
            model.to(device)
        yield
    finally:
        if moved:
            model.to(home)
        for module, training in modes:
            module.training = training


class _Store:
    """Host-side output of one layer: preallocated once the first batch shows its shape."""

    def __init__(self, n_stimuli: int | None):
        self._n = n_stimuli
        self._array: np.ndarray | None = None
        self._chunks: list[np.ndarray] = []

    def put(self, values: np.ndarray, start: int) -> None:
        if self._n is not None and start + values.shape[0] > self._n:
            # The loader yields more than announced (a custom sampler): fall back to chunks.
            self._chunks = [] if self._array is None else [self._array[:start]]
            self._n, self._array = None, None
        if self._n is None:  # length unknown (iterable dataset): concatenate at the end
            self._chunks.append(values)
            return
        if self._array is None:
            self._array = np.empty((self._n,) + values.shape[1:], dtype=values.dtype)
        self._array[start : start + values.shape[0]] = values

    def result(self, n: int) -> np.ndarray:
        if self._n is None:
            return np.concatenate(self._chunks)
        return self._array[:n]  # a DataLoader with drop_last yields fewer than its dataset holds


def _batches(inputs, batch_size: int):
    """``(iterable of batches, number of stimuli or None, stimulus labels or None)``."""
    if isinstance(inputs, DataLoader):
        if isinstance(inputs.sampler, RandomSampler):
            warn("the DataLoader shuffles: the 'stimulus' labels of the result are positions in "
                "the order it yielded, not indices into its dataset")
        return inputs, _sized(inputs.sampler), None
    if isinstance(inputs, Dataset):
        return DataLoader(inputs, batch_size=batch_size, shuffle=False), _sized(inputs), None
    if isinstance(inputs, xr.DataArray):
        if "stimulus" not in inputs.dims:
            raise InvalidInputError(f"inputs DataArray has dims {inputs.dims}; it needs a 'stimulus' dim")
        data = inputs.transpose("stimulus", ...)
        n = data.sizes["stimulus"]
        # Slicing the DataArray per batch keeps dask-backed inputs lazy until they are needed.
        return (
            (data.isel(stimulus=slice(i, i + batch_size)).values for i in range(0, n, batch_size)),
            n,
            np.asarray(data["stimulus"].values),
        )
    if isinstance(inputs, (torch.Tensor, np.ndarray)):
        if inputs.ndim < 1:
            raise InvalidInputError("inputs must have a leading stimulus axis, got a scalar")
        n = inputs.shape[0]
        return (inputs[i : i + batch_size] for i in range(0, n, batch_size)), n, None
    raise InvalidInputError(
        "inputs must be a Tensor, ndarray, xarray.DataArray, DataLoader or torch Dataset, "
        f"got {type(inputs).__name__}"
    )


def _sized(dataset) -> int | None:
    try:
        return len(dataset)
    except TypeError:
        return None


def _as_tensor(batch, dtype: torch.dtype, start: int) -> torch.Tensor:
    if isinstance(batch, (tuple, list)):
        if not batch:
            raise InvalidInputError("a batch from the DataLoader is empty")
        batch = batch[0]
    if isinstance(batch, np.ndarray):
        batch = np.ascontiguousarray(batch)
        batch = torch.from_numpy(batch if batch.flags.writeable else batch.copy())
    if not isinstance(batch, torch.Tensor):
        raise InvalidInputError(f"a batch of inputs is a {type(batch).__name__}, not a tensor or ndarray")
    if batch.ndim < 1:
        raise InvalidInputError("a batch of inputs has no leading stimulus axis")
    if batch.is_floating_point():
        batch = batch.to(dtype)
        if not torch.isfinite(batch).all():
            raise InvalidInputError(f"inputs contain NaN/Inf among stimuli {start}..{start + batch.shape[0] - 1}")
    return batch


def _progress(batches, n_stimuli: int | None, batch_size: int, progress: bool):
    total = math.ceil(n_stimuli / batch_size) if n_stimuli is not None else None
    if isinstance(batches, DataLoader):
        total = _sized(batches)
    if not progress or (total is not None and total <= 1):
        return batches
    return progress_bar(batches, total=total, desc="activations", unit="batch")


def _to_dataarray(values, name, module, stimulus, flatten, attrs) -> xr.DataArray:
    if len(stimulus) != values.shape[0]:
        raise InvalidInputError(f"got {values.shape[0]} outputs for {len(stimulus)} labelled stimuli")
    unit_shape = list(values.shape[1:])
    if flatten or values.ndim == 1:
        values = values.reshape(values.shape[0], -1)
    dims = _FEATURE_DIMS.get(values.ndim, tuple(f"dim_{k}" for k in range(1, values.ndim)))
    return xr.DataArray(
        values,
        dims=("stimulus",) + dims,
        coords={"stimulus": stimulus},
        name=name,
        attrs={**attrs, "layer": name, "module": module, "unit_shape": unit_shape},
    )
