"""Train a classifier, optionally with a :class:`~v1ann.nn.SpectralRegularizer`, with resumable checkpoints.

A run with ``checkpoint_dir`` writes, atomically after every epoch:

``checkpoint.pt``
    model and optimizer state, RNG state, history and config (load with ``weights_only=True``).
``history.json``
    the history so far (``xarray.Dataset.to_dict``); read it with :func:`load_history`.

and ``history.nc`` (netCDF) when the run ends. A run killed at any point resumes with
``resume=True`` from the last completed epoch (at most one epoch is lost) and ends with the
same weights as an uninterrupted run on CPU: the data order of each epoch is drawn from
``(seed, epoch)`` and the RNG state is part of the checkpoint.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
import xarray as xr
from torch import nn
from torch.utils.data import DataLoader, Dataset, TensorDataset

from v1ann._checks import check_int, check_number, check_option
from v1ann._docs import fill_doc
from v1ann._loglog import DEFAULT_FIT_RANGE
from v1ann._progress import progress_bar
from v1ann._threads import uses_thread_budget
from v1ann._utils import atomic_path, resolve_device
from v1ann.errors import InvalidInputError, TrainingError
from v1ann.nn.centring import InputCentring
from v1ann.nn.hooks import LayerRecorder
from v1ann.nn.probe import SpectrumProbe
from v1ann.nn.regularizer import SpectralRegularizer

CHECKPOINT = "checkpoint.pt"
HISTORY_JSON = "history.json"
HISTORY_NC = "history.nc"
OPTIMIZERS = {
    "adam": lambda params, lr, wd: torch.optim.Adam(params, lr=lr, weight_decay=wd),
    "adamw": lambda params, lr, wd: torch.optim.AdamW(params, lr=lr, weight_decay=wd),
    "sgd": lambda params, lr, wd: torch.optim.SGD(params, lr=lr, momentum=0.9, weight_decay=wd),
}
BASIS_STREAM = 2**32 - 1  # seed stream of the basis subset, apart from the epochs' streams
METRICS = ("train_loss", "train_penalty", "train_accuracy", "val_loss", "val_accuracy", "seconds")


@uses_thread_budget
@fill_doc
def train(
    model: nn.Module,
    train_data,
    val_data=None,
    *,
    regularizer: SpectralRegularizer | None = None,
    epochs: int = 20,
    batch_size: int | None = None,
    optimizer: str = "adam",
    lr: float = 1e-3,
    weight_decay: float = 0.0,
    weight_norm: bool | Sequence[str] | str = "auto",
    centre_inputs: bool | str = "auto",
    gain_lr: float | str | None = "auto",
    device: str = "auto",
    seed: int = 0,
    checkpoint_dir: str | Path | None = None,
    resume: bool = True,
    measure_alpha: bool = True,
    basis_samples: int | None = 10_000,
    basis_every: int | str | None = "auto",
    callbacks: Sequence[Callable[[dict], None]] = (),
    progress: bool = True,
) -> xr.Dataset:
    """Train ``model`` in place with cross-entropy (+ the regularizer's penalty).

    Parameters
    ----------
    model : nn.Module
        Maps images ``(batch, C, H, W)`` to logits ``(batch, n_classes)``.
    train_data, val_data : DataLoader, Dataset of (image, label) or tuple (images, labels) of tensors
        ``val_data`` is evaluated (loss and accuracy, no penalty) after every epoch. Of a
        ``DataLoader``, its dataset, batch size and sampler are used, and every epoch's order
        is drawn from ``(seed, epoch)`` so that a resumed run ends with the same weights: a
        shuffling or sequential loader gets v1ann's own shuffle; any other sampler (e.g.
        ``SubsetRandomSampler``, ``WeightedRandomSampler``) is iterated with its
        ``generator`` seeded from ``(seed, epoch)``. Its workers and ``collate_fn`` are not used.
    regularizer : SpectralRegularizer, optional
        Attached to ``model`` here if it is not already; its eigenbasis is refreshed from
        ``basis_samples`` training images before the first epoch and after every epoch.
    epochs : int
        Total number of epochs (a resumed run continues up to this number).
    batch_size : int, optional
        Default: the DataLoader's batch size, else 128.
    optimizer : {"adam", "adamw", "sgd"}
        SGD uses momentum 0.9.
    lr, weight_decay : float
    weight_norm : "auto", bool or sequence of str
        Train the weights of these modules (names as in ``model.named_modules()``) as
        ``w = g · v / ‖v‖``, one gain ``g`` per output unit
        (:func:`torch.nn.utils.parametrizations.weight_norm`); ``True``: the modules that feed
        the regularized layers (the last module with a ``weight`` before each, e.g. ``fc1`` for
        ``act1``). The gains set how far the units of a saturating nonlinearity are driven, and
        with it how steep the layer's spectrum can be; as parameters of their own, the penalty
        moves them directly (the recipe in ``docs/training.md``). The reparametrization is
        removed when training ends, so the model keeps its usual ``state_dict``. ``"auto"``:
        ``True`` with the ``loglog`` penalty (the recipe that reaches its target), ``False``
        otherwise (the published variants as their code trains).
    gain_lr : "auto", float or None
        Learning rate of the weight-norm gains ``g`` (``weight_norm``); None: ``lr``. A gain is
        of order one and must move by about as much to set how far the units saturate, but
        Adam moves a parameter by about ``lr`` per step, so at ``lr`` a steep target is still
        short after 10 epochs (docs/training.md). ``"auto"``: ``10 × lr``.
    centre_inputs : "auto" or bool
        Train the linear modules that feed the regularized layers (those of
        ``weight_norm=True``) on their inputs minus the inputs' mean over the basis images,
        the bias absorbing the offset so the network computes the same function (measured
        again each epoch; folded back into the bias at the end, :mod:`v1ann.nn.centring`).
        Without it an input offset (e.g. ``Normalize(0.5, 0.5)``: backgrounds at −1) keeps a
        shallow target out of reach (docs/training.md). ``"auto"``: with the ``loglog`` penalty.
    device : str
        ``"auto"`` picks CUDA when available. The model is moved there and stays there.
    seed : int
        Seeds the data order of every epoch and torch's RNG (restored afterwards).
    checkpoint_dir : path, optional
        Where the checkpoint and history are written after every epoch.
    resume : bool
        Continue from ``checkpoint_dir/checkpoint.pt`` when it exists (its config must match);
        ``False`` starts over and overwrites it.
    measure_alpha : bool
        Record each layer's exponent after every epoch (the regularizer's layers, else
        ``model.representation_layers``): the power-law fit over ranks ``tau+1..500`` of the
        layer's covariance spectrum over ``basis_samples`` training images.
    basis_samples : int, optional
        Training images (a fixed seeded subset) used for the eigenbasis and alpha; None = all.
    basis_every : "auto", int or None
        Also refresh the eigenbasis every ``basis_every`` optimizer steps within an epoch. The
        penalty reads the batch's variances along a basis that was exact when computed; as the
        network moves away from it, those variances mix neighbouring eigenvalues and read
        flatter than the true spectrum (the diagonal of a matrix is majorized by its
        eigenvalues), so the network overshoots towards steeper spectra. Refreshing more often
        removes that bias at the cost of one forward pass over the basis images and one
        ``eigh`` per refresh (docs/training.md, fidelity). ``"auto"``: 8 with the ``loglog``
        penalty, else None (Nassar et al.'s code refreshes once per epoch; ``gerum2022`` has no basis).
    callbacks : sequence of callables
        Each is called after every optimizer step with a dict ``epoch`` (0-based), ``step``,
        ``loss``, ``penalty``.
    %(progress)s

    Returns
    -------
    xarray.Dataset
        Over ``epoch`` (1-based): ``train_loss`` (cross-entropy + penalty), ``train_penalty``,
        ``train_accuracy``, ``val_loss``, ``val_accuracy`` (NaN without ``val_data``),
        ``seconds``, and ``alpha`` (``epoch``, ``layer``) when measured; ``attrs["config"]``
        is the run's config as JSON.

    Raises
    ------
    TrainingError
        When the loss becomes NaN or Inf; the last good checkpoint is kept on disk and the
        model holds the weights from before the failing step.
    """
    if batch_size is None:
        batch_size = train_data.batch_size if isinstance(train_data, DataLoader) and train_data.batch_size else 128
    train_set = _as_dataset(train_data, "train_data")
    sampler = _custom_sampler(train_data)
    val_set = None if val_data is None else _as_dataset(val_data, "val_data")
    check_int(epochs, "epochs")
    check_int(batch_size, "batch_size")
    check_number(lr, "lr", positive=True)
    check_option("optimizer", optimizer, OPTIMIZERS)
    check_int(basis_samples, "basis_samples", allow_none=True)
    weight_norm, basis_every, centre_inputs, gain_lr = _recipe_options(
        regularizer, weight_norm, basis_every, centre_inputs, gain_lr, lr)
    dev = resolve_device(device)
    model.to(dev)
    owns_hooks = regularizer is not None and not regularizer.attached
    if owns_hooks:
        regularizer.attach(model)  # reads its layers (modules or names) as names
    feeding = _feeding_modules(model, regularizer) if (weight_norm is True or centre_inputs) else []
    normed = feeding if weight_norm is True else _named_weight_norm_modules(model, weight_norm)
    probe = _alpha_probe(model, regularizer, measure_alpha, train_set[0][0][None], dev)
    layers = [] if probe is None else list(probe.layers)
    config = {
        "seed": int(seed),
        "batch_size": int(batch_size),
        "optimizer": optimizer,
        "lr": float(lr),
        "weight_decay": float(weight_decay),
        "n_train": len(train_set),
        "basis_samples": basis_samples,
        "basis_every": basis_every,
        "regularizer": None if regularizer is None else _regularizer_config(regularizer),
        "model": model_description(model),
        "alpha_layers": layers,
    }
    if normed:  # only when used, so that checkpoints written before the option still resume
        config["weight_norm"] = normed
    if sampler is not None:
        config["sampler"] = type(sampler).__name__
    centring = InputCentring(model, feeding) if centre_inputs else None
    if centring is not None and centring.names:
        config["centre_inputs"] = centring.names
    modules = dict(model.named_modules())
    for name in normed:
        torch.nn.utils.parametrizations.weight_norm(modules[name])
    opt = OPTIMIZERS[optimizer](_parameter_groups(model, normed, lr, gain_lr), lr, weight_decay)
    if normed:
        config["gain_lr"] = float(lr if gain_lr is None else gain_lr)

    ckpt_path = None if checkpoint_dir is None else Path(checkpoint_dir) / CHECKPOINT
    history = {key: [] for key in METRICS} | {"alpha": {name: [] for name in layers}}
    start_epoch = 0
    cuda_devices = [dev.index or 0] if dev.type == "cuda" else []
    with torch.random.fork_rng(devices=cuda_devices):
        torch.manual_seed(seed)
        try:
            if ckpt_path is not None and resume and ckpt_path.exists():
                start_epoch, history = _restore(ckpt_path, model, opt, config)
            basis_inputs = _basis_inputs(train_set, basis_samples, seed)
            if regularizer is not None:
                regularizer.update_basis(model, basis_inputs)
            _run_epochs(
                model, opt, train_set, val_set, regularizer, probe, basis_inputs, history, config,
                start_epoch, epochs, dev, ckpt_path, callbacks, progress, sampler, centring,
            )
        finally:
            if centring is not None:
                centring.remove()
            if owns_hooks:
                regularizer.detach()
            if probe is not None and probe is not regularizer:
                probe.detach()
            for name in normed:
                torch.nn.utils.parametrize.remove_parametrizations(modules[name], "weight")
    result = _history_dataset(history, layers, config)
    if ckpt_path is not None:
        with atomic_path(ckpt_path.with_name(HISTORY_NC)) as tmp:
            result.to_netcdf(tmp, engine="h5netcdf")
    return result


def load_history(path: str | Path) -> xr.Dataset:
    """Read a history written by :func:`train` (``history.json`` or ``history.nc``)."""
    path = Path(path)
    if path.is_dir():
        path = path / HISTORY_JSON
    if not path.exists():
        raise InvalidInputError(f"history file {path} does not exist")
    if path.suffix == ".nc":
        return xr.load_dataset(path, engine="h5netcdf")
    try:
        return xr.Dataset.from_dict(json.loads(path.read_text()))
    except (ValueError, KeyError, TypeError) as exc:
        raise InvalidInputError(f"{path} is not a v1ann training history: {exc}") from None


def _run_epochs(
    model, opt, train_set, val_set, regularizer, probe, basis_inputs, history, config,
    start_epoch, epochs, dev, ckpt_path, callbacks, progress, sampler=None, centring=None,
):
    batch_size = config["batch_size"]
    basis_every = config["basis_every"] if regularizer is not None else None
    # A batch of one has no covariance; drop such a remainder when regularizing.
    min_batch = 2 if regularizer is not None else 1
    n = len(train_set) if sampler is None else len(sampler)
    steps = n // batch_size + (n % batch_size >= min_batch)
    bar = progress_bar(total=epochs * steps, initial=start_epoch * steps, progress=progress, desc="train",
               unit="step")
    try:
        for epoch in range(start_epoch, epochs):
            started = time.perf_counter()
            if centring is not None:
                centring.recentre(model, basis_inputs)  # the same function: the basis stays exact
            model.train()
            sums = {"loss": 0.0, "penalty": 0.0, "correct": 0, "seen": 0}
            for step, (x, y) in enumerate(_batches(train_set, batch_size, config["seed"], epoch, min_batch, sampler)):
                x, y = x.to(dev), y.to(dev)
                logits = model(x)
                loss = F.cross_entropy(logits, y)
                penalty = regularizer() if regularizer is not None else torch.zeros((), device=dev)
                total = loss + penalty
                if not torch.isfinite(total):
                    last = f"; the last good checkpoint (epoch {epoch}) is kept at {ckpt_path}" if (
                        ckpt_path is not None and ckpt_path.exists()) else ""
                    raise TrainingError(
                        f"loss became {total.item()} (cross-entropy {loss.item()}, penalty {penalty.item()}) "
                        f"at epoch {epoch + 1}, step {step + 1}; lower lr or strength{last}"
                    )
                opt.zero_grad(set_to_none=True)
                total.backward()
                opt.step()
                # The epoch's last step is followed by the end-of-epoch refresh.
                if basis_every and (step + 1) % basis_every == 0 and step + 1 < steps:
                    regularizer.update_basis(model, basis_inputs)
                k = len(y)
                sums["loss"] += total.item() * k
                sums["penalty"] += penalty.item() * k
                sums["correct"] += int((logits.argmax(1) == y).sum())
                sums["seen"] += k
                for callback in callbacks:
                    callback({"epoch": epoch, "step": step, "loss": total.item(), "penalty": penalty.item()})
                bar.update()
                if step % 10 == 0:
                    bar.set_postfix(_postfix(epoch, sums, history), refresh=False)
            # The refreshed basis serves the next epoch; its spectrum gives this epoch's alpha.
            if regularizer is not None:
                regularizer.update_basis(model, basis_inputs)
                alphas = regularizer.basis_alpha
            elif probe is not None:
                probe.update(model, basis_inputs)
                alphas = probe.alphas
            else:
                alphas = {}
            val_loss, val_acc = _evaluate(model, val_set, dev) if val_set is not None else (math.nan, math.nan)
            seen = max(sums["seen"], 1)
            for key, value in (
                ("train_loss", sums["loss"] / seen),
                ("train_penalty", sums["penalty"] / seen),
                ("train_accuracy", sums["correct"] / seen),
                ("val_loss", val_loss),
                ("val_accuracy", val_acc),
                ("seconds", time.perf_counter() - started),
            ):
                history[key].append(float(value))
            for name in history["alpha"]:
                history["alpha"][name].append(float(alphas.get(name, math.nan)))
            bar.set_postfix(_postfix(epoch, sums, history), refresh=True)
            if ckpt_path is not None:
                _save(ckpt_path, epoch + 1, model, opt, history, config)
    finally:
        bar.close()


def _postfix(epoch, sums, history) -> dict:
    seen = max(sums["seen"], 1)
    post = {"epoch": epoch + 1, "loss": f"{sums['loss'] / seen:.3f}", "acc": f"{sums['correct'] / seen:.3f}"}
    for name, values in history["alpha"].items():
        if values:
            post[f"α[{name}]"] = f"{values[-1]:.2f}"
    return post


@torch.no_grad()
def _evaluate(model, dataset, dev, batch_size: int = 1024) -> tuple[float, float]:
    was_training = model.training
    model.eval()
    loss, correct, n = 0.0, 0, 0
    try:
        for x, y in _batches(dataset, batch_size, None, 0, 1):
            x, y = x.to(dev), y.to(dev)
            logits = model(x)
            loss += F.cross_entropy(logits, y, reduction="sum").item()
            correct += int((logits.argmax(1) == y).sum())
            n += len(y)
    finally:
        model.train(was_training)
    return loss / n, correct / n


def _batches(dataset, batch_size, seed, epoch, min_batch, sampler=None):
    """Batches of ``dataset``: in a (seed, epoch)-determined order (``sampler``'s, seeded, when given),
    or in order when seed is None."""
    n = len(dataset)
    if seed is None:
        order = torch.arange(n)
    elif sampler is not None:
        if hasattr(sampler, "generator"):
            sampler.generator = torch.Generator().manual_seed(_epoch_seed(seed, epoch))
        order = torch.as_tensor(list(sampler), dtype=torch.long)
    else:
        order = torch.randperm(n, generator=torch.Generator().manual_seed(_epoch_seed(seed, epoch)))
    for idx in order.split(batch_size):
        if len(idx) < min_batch:
            break
        if isinstance(dataset, TensorDataset):
            x, y = dataset.tensors[0][idx], dataset.tensors[1][idx]
        else:
            items = [dataset[i] for i in idx.tolist()]
            x = torch.stack([torch.as_tensor(item[0]) for item in items])
            y = torch.as_tensor([int(item[1]) for item in items])
        yield x, y


def _epoch_seed(seed: int, epoch: int) -> int:
    return int(np.random.SeedSequence([int(seed), int(epoch)]).generate_state(1)[0])


def _basis_inputs(dataset, n_samples, seed) -> torch.Tensor | Dataset:
    n = len(dataset)
    keep = n if n_samples is None else min(n, n_samples)
    if keep == n and not isinstance(dataset, TensorDataset):
        return dataset
    idx = torch.randperm(n, generator=torch.Generator().manual_seed(_epoch_seed(seed, BASIS_STREAM)))[:keep]
    if isinstance(dataset, TensorDataset):
        return dataset.tensors[0][idx.sort().values]
    return torch.utils.data.Subset(dataset, idx.sort().values.tolist())


GAIN_LR_FACTOR = 10.0  # "auto" gain_lr, in units of lr (docs/training.md, defaults)


def _parameter_groups(model, normed, lr, gain_lr):
    """The model's parameters, the weight-norm gains of ``normed`` modules in a group of their own."""
    if not normed:
        return model.parameters()
    modules = dict(model.named_modules())
    gains = [modules[name].parametrizations.weight.original0 for name in normed]
    ids = {id(g) for g in gains}
    rest = [p for p in model.parameters() if id(p) not in ids]
    return [{"params": rest}, {"params": gains, "lr": lr if gain_lr is None else gain_lr}]


def _recipe_options(regularizer, weight_norm, basis_every, centre_inputs, gain_lr, lr):
    """Resolve ``"auto"``: the recipe for ``loglog``, the published code's habits for the others."""
    recipe = regularizer is not None and regularizer.method == "loglog"
    if isinstance(weight_norm, str) and weight_norm == "auto":
        weight_norm = recipe
    if isinstance(centre_inputs, str) and centre_inputs == "auto":
        centre_inputs = recipe
    elif not isinstance(centre_inputs, bool):
        raise InvalidInputError(f"centre_inputs={centre_inputs!r} must be 'auto', True or False")
    if isinstance(gain_lr, str):
        check_option("gain_lr", gain_lr, ("auto",))
        gain_lr = GAIN_LR_FACTOR * lr
    elif gain_lr is not None:
        gain_lr = check_number(gain_lr, "gain_lr", positive=True)
    if isinstance(basis_every, str):
        check_option("basis_every", basis_every, ("auto",))
        basis_every = 8 if recipe else None
    check_int(basis_every, "basis_every", allow_none=True)
    if regularizer is not None and not regularizer.uses_basis:
        basis_every = None  # nothing to refresh: the penalty decomposes every batch
    return weight_norm, basis_every, centre_inputs and regularizer is not None, gain_lr


def _named_weight_norm_modules(model, weight_norm) -> list[str]:
    """The modules named by ``weight_norm`` (a name or names; False/None: none), checked."""
    if weight_norm is False or weight_norm is None:
        return []
    modules = dict(model.named_modules())
    names = [weight_norm] if isinstance(weight_norm, str) else list(weight_norm)
    bad = [n for n in names if not isinstance(getattr(modules.get(n), "weight", None), nn.Parameter)]
    if bad:
        raise InvalidInputError(f"weight_norm: {bad} are not modules of the model with a `weight` parameter")
    return names


def _feeding_modules(model, regularizer) -> list[str]:
    """The last module with a weight before each regularized (else representation) layer."""
    modules = dict(model.named_modules())
    layers = (regularizer.layers if regularizer is not None else None) or list(
        getattr(model, "representation_layers", []) or [])
    if not layers:
        raise InvalidInputError("weight_norm=True needs a regularizer with layers or model.representation_layers")
    names, last = [], None
    for name, module in model.named_modules():
        if name and isinstance(getattr(module, "weight", None), nn.Parameter):
            last = name
        if name in layers:
            if last is None:
                raise InvalidInputError(f"weight_norm=True: no module with a weight feeds layer {name!r}")
            if last not in names:
                names.append(last)
    missing = [n for n in layers if n not in modules]
    if missing:
        raise InvalidInputError(f"layers {missing} are not in the model")
    return names


def _alpha_probe(model, regularizer, measure_alpha, sample, dev):
    """What measures alpha after each epoch: the regularizer itself, or a :class:`SpectrumProbe` of the
    representation layers wide enough for the fit range (vanilla runs)."""
    if not measure_alpha:
        return None
    if regularizer is not None:
        return regularizer
    layers = list(getattr(model, "representation_layers", []) or [])
    if not layers:
        return None
    was_training = model.training
    model.eval()
    with LayerRecorder(model, layers) as recorder, torch.no_grad():
        model(sample.to(dev))
        widths = {name: recorder.take(name).shape[1] for name in layers}
    model.train(was_training)
    # A power-law fit needs at least two ranks of its range; narrower layers are not measured.
    wide = [name for name in layers if widths[name] >= DEFAULT_FIT_RANGE[0] + 2]
    return SpectrumProbe(wide).attach(model) if wide else None


def model_description(model: nn.Module) -> list[list]:
    """``[name, module type, parameter shapes]`` of every submodule: what a checkpoint must match to resume."""
    return [
        [name, type(module).__name__, {k: list(v.shape) for k, v in module.named_parameters(recurse=False)}]
        for name, module in model.named_modules()
    ]


def _regularizer_config(reg: SpectralRegularizer) -> dict:
    return {
        "target_alpha": reg.target_alpha,
        "layers": reg.layers,
        "tau": reg.tau,
        "strength": reg.strength,
        "method": reg.method,
        "n_components": reg.n_components,
    }


def _save(path: Path, epoch: int, model, opt, history, config) -> None:
    state = {
        "epoch": epoch,
        "model": model.state_dict(),
        "optimizer": opt.state_dict(),
        "torch_rng": torch.get_rng_state(),
        "history": history,
        "config": json.dumps(config),
    }
    with atomic_path(path) as tmp:
        torch.save(state, tmp)
    with atomic_path(path.with_name(HISTORY_JSON)) as tmp:
        layers = list(history["alpha"])
        tmp.write_text(json.dumps(_history_dataset(history, layers, config).to_dict()))


def _restore(path: Path, model, opt, config) -> tuple[int, dict]:
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        saved = json.loads(state["config"])
    except Exception as exc:  # any unreadable or foreign file: name it, do not guess
        raise InvalidInputError(
            f"checkpoint {path} cannot be read ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}); "
            "delete it or pass resume=False"
        ) from None
    differ = sorted(k for k in set(saved) | set(config) if saved.get(k) != json.loads(json.dumps(config)).get(k))
    if differ:
        what = "another network" if "model" in differ else "a different config"
        raise InvalidInputError(
            f"checkpoint {path} was written for {what} ({', '.join(differ)} differ); "
            "pass resume=False to start over or use another checkpoint_dir"
        )
    model.load_state_dict(state["model"])
    opt.load_state_dict(state["optimizer"])
    torch.set_rng_state(state["torch_rng"])
    return int(state["epoch"]), state["history"]


def _history_dataset(history: dict, layers: list[str], config: dict) -> xr.Dataset:
    n = len(history["train_loss"])
    ds = xr.Dataset(
        {key: ("epoch", np.asarray(history[key], dtype=float)) for key in METRICS},
        coords={"epoch": np.arange(1, n + 1)},
        attrs={"config": json.dumps(config), "units_seconds": "wall-clock seconds per epoch"},
    )
    if layers:
        alpha = np.asarray([history["alpha"][name] for name in layers], dtype=float).T.reshape(n, len(layers))
        ds["alpha"] = (("epoch", "layer"), alpha)
        ds = ds.assign_coords(layer=list(layers))
    return ds


def _custom_sampler(data):
    """A DataLoader's sampler when it is neither sequential nor a plain shuffle (those get v1ann's shuffle)."""
    if not isinstance(data, DataLoader):
        return None
    sampler = data.sampler
    if isinstance(sampler, torch.utils.data.SequentialSampler):
        return None
    if isinstance(sampler, torch.utils.data.RandomSampler) and not sampler.replacement and (
            sampler.num_samples == len(data.dataset)):
        return None
    return sampler


def _as_dataset(data, name: str) -> Dataset:
    if isinstance(data, DataLoader):
        data = data.dataset
    if isinstance(data, (tuple, list)) and len(data) == 2 and all(isinstance(t, torch.Tensor) for t in data):
        data = TensorDataset(*data)
    if not isinstance(data, Dataset) or not hasattr(data, "__len__"):
        raise InvalidInputError(
            f"{name} must be a DataLoader, a Dataset of (image, label) or a tuple (images, labels)"
        )
    if len(data) == 0:
        raise InvalidInputError(f"{name} is empty")
    if isinstance(data, TensorDataset):
        images, labels = data.tensors[0], data.tensors[1]
        if not torch.isfinite(images).all():
            raise InvalidInputError(f"{name} images contain NaN/Inf")
        if labels.dtype not in (torch.int64, torch.int32, torch.int16, torch.uint8):
            raise InvalidInputError(f"{name} labels must be integers, got {labels.dtype}")
    return data
