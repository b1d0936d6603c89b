"""Adversarial robustness of a classifier: accuracy under L∞ attacks over a range of budgets.

The attacks come from `torchattacks <https://github.com/Harry24k/adversarial-attacks-pytorch>`_
(an optional dependency, ``pip install 'v1ann[attacks]'``); this module only chooses their
settings, runs them batch by batch and checks that the numbers it returns are believable.

A robustness number is only meaningful if the attack actually worked. Four properties hold
for any sound evaluation and are checked on every call (Carlini et al. 2019, "On evaluating
adversarial robustness"):

1. at ``eps = 0`` every attack leaves the accuracy equal to the clean accuracy;
2. accuracy never increases with ``eps`` (a larger L∞ ball contains the smaller one);
3. PGD (iterated, with random starts) is never weaker than FGSM (its single first step);
4. a black-box attack (Square, which never sees a gradient) is never stronger than the
   white-box ones: if it is, the gradients are uninformative.

:func:`pgd_convergence` checks a fifth: PGD accuracy does not rise with more steps or
restarts. Adversarial examples crafted on another network (``source=``) measure transfer.

A violation raises a :class:`~v1ann.errors.V1AnnWarning` naming it: it usually means
gradient masking (saturated or non-differentiable layers, a stochastic forward pass) or a
model left in training mode, and the accuracies then overstate robustness.
"""

from __future__ import annotations

import contextlib
from typing import Iterator, Sequence

import numpy as np
import torch
import xarray as xr
from torch import nn

from v1ann._checks import check_int
from v1ann._docs import fill_doc
from v1ann._progress import progress_bar
from v1ann._threads import uses_thread_budget
from v1ann._utils import check_finite, optional_import, resolve_device
from v1ann.errors import InvalidInputError, warn

ATTACKS = ("fgsm", "pgd", "apgd-ce", "square", "autoattack")
_WHITE_BOX = ("fgsm", "pgd", "apgd-ce", "autoattack")

# Accuracies are counted on a finite sample and PGD starts at random points, so an individual
# image can survive PGD yet fall to FGSM; across a test set that shifts accuracy by far less
# than half a percentage point. Larger violations are the evaluation's fault, not chance.
_TOLERANCE = 0.005

# Madry et al. (2018): a step of 2.5 · eps / steps lets PGD reach the ball's boundary
# from any starting point while still taking many steps inside it.
_PGD_STEP_FACTOR = 2.5


@uses_thread_budget
@fill_doc
def robustness(
    model: nn.Module,
    data,
    *,
    attacks: Sequence[str] = ("fgsm", "pgd"),
    eps: Sequence[float] = (0, 0.05, 0.1, 0.2, 0.3),
    steps: int = 40,
    restarts: int = 1,
    queries: int = 1000,
    source: nn.Module | None = None,
    device: str = "auto",
    batch_size: int = 500,
    n_samples: int | None = None,
    seed: int | None = None,
    progress: bool = True,
) -> xr.Dataset:
    """Accuracy of ``model`` under L∞-bounded adversarial attacks.

    Parameters
    ----------
    model : nn.Module
        Classifier of pixel images in [0, 1] returning logits ``(batch, n_classes)``; the
        models of :mod:`v1ann.nn.models` normalise inside, as attacks need pixel space.
        Evaluated in ``eval()`` mode; its mode (per module) and device are restored afterwards.
    data : Dataset of ``(image, label)`` or tuple ``(images, labels)``
        Images ``(N, C, H, W)`` float in [0, 1]; labels ``(N,)`` int class indices.
        Tensors or numpy arrays. Never modified.
    attacks : sequence of {"fgsm", "pgd", "apgd-ce", "square", "autoattack"}
        ``"pgd"`` is L∞ PGD with a random start, ``steps`` steps of size ``2.5 · eps / steps``,
        best of ``restarts`` random starts per image. ``"apgd-ce"`` is AutoAttack's step-size-free
        PGD on the cross-entropy (Croce & Hein 2020), ``steps`` iterations, ``restarts``
        restarts. ``"square"`` is the gradient-free Square attack (``queries`` queries per
        image), the black-box check against gradient masking. ``"autoattack"`` is the standard
        AutoAttack ensemble (APGD-CE, APGD-T, FAB-T, Square): slow but parameter-free.
    eps : sequence of float
        L∞ budgets in pixel units (inputs in [0, 1]); sorted, non-negative. ``0`` is the
        sanity point: each attack must then reproduce the clean accuracy.
    steps : int
        PGD iterations.
    restarts : int
        PGD random restarts; an image counts as robust only if it survives all of them.
    queries : int
        Model evaluations per image for ``"square"``.
    source : nn.Module, optional
        Craft the adversarial examples on this network and score them on ``model``: a
        transfer attack (e.g. from a vanilla network to a regularized one). Default: ``model``
        itself (white box).
    %(device)s
    batch_size : int
        Images attacked at once (memory, not results).
    n_samples : int, optional
        Evaluate on the first ``n_samples`` images only (attacks are costly).
    seed : int, optional
        Seeds the attacks' random starts (the global torch RNG is left as it was).
    %(progress)s

    Returns
    -------
    xarray.Dataset
        ``accuracy`` (``attack``, ``eps``): fraction of images still classified correctly;
        ``clean_accuracy`` (scalar). ``attrs`` record the settings, the torchattacks version
        and ``checks`` ("passed" or the failed sanity checks).

    Warns
    -----
    V1AnnWarning
        When a sanity check fails (see the module docstring): likely gradient masking.
    """
    torchattacks = optional_import("torchattacks", extra="attacks")
    attacks = _check_attacks(attacks)
    eps_values = _check_eps(eps)
    steps = check_int(steps, "steps")
    restarts = check_int(restarts, "restarts")
    queries = check_int(queries, "queries")
    batch_size = check_int(batch_size, "batch_size")
    images, labels = _as_tensors(data, n_samples)
    dev = resolve_device(device)

    n = len(labels)
    crafter = model if source is None else source
    with _evaluating(model, dev), _evaluating(crafter, dev, "source"), _seeded(seed, dev):
        n_classes = _n_classes(model, images[:1].to(dev))
        if source is not None and _n_classes(source, images[:1].to(dev)) != n_classes:
            raise InvalidInputError("source must classify into as many classes as model")
        if "autoattack" in attacks and n_classes < 4:
            # its targeted DLR loss compares the top four logits
            raise InvalidInputError(f"attacks: 'autoattack' needs at least 4 classes, the model has {n_classes}")
        built = {
            (a, e): _build_attack(torchattacks, a, crafter, e, steps, restarts, queries, n_classes, seed)
            for a in attacks
            for e in eps_values
        }
        correct, clean_correct = _count_under_attack(model, images, labels, built, attacks, eps_values,
                                                     batch_size, dev, progress)
    accuracy = correct / n
    clean_accuracy = clean_correct / n
    problems = _sanity_problems(accuracy, clean_accuracy, attacks, eps_values)
    if problems:
        warn(f"robustness: {len(problems)} sanity check(s) failed, so these accuracies likely "
            "overstate robustness (gradient masking, a stochastic model, or a mode left in "
            "training): " + "; ".join(problems))
    attrs = {
        "norm": "Linf",
        "eps_units": "pixel intensity, inputs in [0, 1]",
        "n_samples": n,
        "pgd_steps": steps,
        "pgd_restarts": restarts,
        "pgd_step_size": f"{_PGD_STEP_FACTOR} * eps / steps",
        "square_queries": queries,
        "model": type(model).__name__,
        "crafted_on": "model" if source is None else f"source ({type(source).__name__})",
        "torchattacks_version": getattr(torchattacks, "__version__", "unknown"),
        "checks": "; ".join(problems) if problems else "passed",
    }
    if seed is not None:
        attrs["seed"] = int(seed)
    return xr.Dataset(
        {
            "accuracy": (("attack", "eps"), accuracy),
            "clean_accuracy": ((), clean_accuracy),
        },
        coords={"attack": list(attacks), "eps": eps_values},
        attrs=attrs,
    )


@fill_doc
def pgd_convergence(
    model: nn.Module,
    data,
    *,
    eps: float = 0.1,
    steps: Sequence[int] = (10, 20, 50, 100),
    restarts: Sequence[int] = (1, 3),
    device: str = "auto",
    batch_size: int = 500,
    n_samples: int | None = None,
    seed: int | None = None,
    progress: bool = True,
) -> xr.Dataset:
    """PGD accuracy over its number of steps and restarts: the gradient-masking check of a budget.

    A sound evaluation converges: more steps or more restarts never leave *more* images
    correctly classified (beyond the sampling tolerance of half a percentage point). If
    accuracy rises with steps, or keeps falling steeply at the largest counts, the attack has
    not converged and :func:`robustness`'s numbers overstate robustness.

    Parameters
    ----------
    model, data, device, batch_size, n_samples, seed :
        As in :func:`robustness`.
    eps : float
        The one L∞ budget (pixel units) at which to check.
    steps, restarts : sequence of int
        Increasing step and restart counts; every pair is run.
    %(progress)s

    Returns
    -------
    xarray.Dataset
        ``accuracy`` (``steps``, ``restarts``): PGD accuracy at ``eps``; ``clean_accuracy``;
        ``attrs["checks"]``: "passed" or the rises found.

    Examples
    --------
    >>> import torch
    >>> from v1ann.nn.models import mlp
    >>> images, labels = torch.rand(64, 1, 6, 6), torch.randint(0, 4, (64,))
    >>> table = pgd_convergence(mlp(in_shape=(1, 6, 6), hidden=(16,), n_classes=4), (images, labels),
    ...                         eps=0.1, steps=(5, 10), restarts=(1,), seed=0, progress=False)
    >>> table["accuracy"].dims
    ('steps', 'restarts')
    """
    step_counts = _check_counts(steps, "steps")
    restart_counts = _check_counts(restarts, "restarts")
    accuracy = np.empty((len(step_counts), len(restart_counts)))
    bar = progress_bar(total=accuracy.size, desc="pgd convergence", unit="run", progress=progress, leave=False)
    for i, n_steps in enumerate(step_counts):
        for j, n_restarts in enumerate(restart_counts):
            result = robustness(model, data, attacks=("pgd",), eps=(float(eps),), steps=n_steps,
                                restarts=n_restarts, device=device, batch_size=batch_size,
                                n_samples=n_samples, seed=seed, progress=False)
            accuracy[i, j] = float(result["accuracy"][0, 0])
            bar.update()
    bar.close()
    problems = [
        *(_rise(accuracy[:, j], step_counts, "steps", f"{r} restarts") for j, r in enumerate(restart_counts)),
        *(_rise(accuracy[i], restart_counts, "restarts", f"{n} steps") for i, n in enumerate(step_counts)),
    ]
    problems = [p for p in problems if p]
    if problems:
        warn("pgd_convergence: the attack has not converged, so robustness is overstated: " + "; ".join(problems))
    return xr.Dataset(
        {"accuracy": (("steps", "restarts"), accuracy), "clean_accuracy": ((), float(result["clean_accuracy"]))},
        coords={"steps": step_counts, "restarts": restart_counts},
        attrs={"eps": float(eps), "n_samples": result.attrs["n_samples"],
               "checks": "; ".join(problems) if problems else "passed"},
    )


def _rise(row, counts, what, fixed) -> str | None:
    """A sentence if accuracy along ``row`` rises above its running minimum, else None."""
    best = np.minimum.accumulate(row)
    rises = np.flatnonzero(row[1:] > best[:-1] + _TOLERANCE) + 1
    if not rises.size:
        return None
    k = rises[0]
    return f"PGD accuracy rises from {best[k - 1]:.4f} to {row[k]:.4f} at {counts[k]} {what} ({fixed})"


def _check_counts(values, name) -> list[int]:
    counts = [check_int(v, name) for v in ((values,) if isinstance(values, int) else values)]
    if not counts or any(b <= a for a, b in zip(counts, counts[1:])):
        raise InvalidInputError(f"{name}={values!r} must be increasing positive integers")
    return counts


def _count_under_attack(model, images, labels, built, attacks, eps_values, batch_size, dev, progress):
    """Correct predictions per (attack, eps) and on clean inputs, batch by batch."""
    n = len(labels)
    correct = np.zeros((len(attacks), len(eps_values)), dtype=np.int64)
    clean_correct = 0
    bar = _progress_bar(-(-n // batch_size) * len(built), progress)
    for start in range(0, n, batch_size):
        x = images[start : start + batch_size].to(dev)
        y = labels[start : start + batch_size].to(dev)
        clean_correct += _count_correct(model, x, y)
        for i, a in enumerate(attacks):
            for j, e in enumerate(eps_values):
                attack = built[(a, e)]
                adversarial = x if attack is None else attack(x, y)
                correct[i, j] += _count_correct(model, adversarial, y)
                bar.update()
    bar.close()
    return correct, clean_correct


def _sanity_problems(accuracy, clean_accuracy, attacks, eps_values) -> list[str]:
    """The failed checks of a (attack, eps) accuracy table, as readable sentences."""
    problems = []
    eps_values = np.asarray(eps_values)
    for i, attack in enumerate(attacks):
        row = accuracy[i]
        if eps_values[0] == 0 and abs(row[0] - clean_accuracy) > _TOLERANCE:
            problems.append(
                f"{attack} at eps=0 gives accuracy {row[0]:.4f} but the clean accuracy is "
                f"{clean_accuracy:.4f}"
            )
        best_so_far = np.minimum.accumulate(row)
        rises = np.flatnonzero(row[1:] > best_so_far[:-1] + _TOLERANCE) + 1
        for j in rises:
            problems.append(
                f"{attack} accuracy rises to {row[j]:.4f} at eps={eps_values[j]:g} from "
                f"{best_so_far[j - 1]:.4f} at a smaller eps"
            )
    if "pgd" in attacks and "fgsm" in attacks:
        pgd, fgsm = accuracy[attacks.index("pgd")], accuracy[attacks.index("fgsm")]
        for j in np.flatnonzero((pgd > fgsm + _TOLERANCE) & (eps_values > 0)):
            problems.append(
                f"PGD accuracy {pgd[j]:.4f} exceeds FGSM accuracy {fgsm[j]:.4f} at eps={eps_values[j]:g}"
            )
    white = [attacks.index(a) for a in _WHITE_BOX if a in attacks]
    if "square" in attacks and white:
        square, strongest = accuracy[attacks.index("square")], accuracy[white].min(axis=0)
        for j in np.flatnonzero((square < strongest - _TOLERANCE) & (eps_values > 0)):
            problems.append(
                f"the black-box Square attack ({square[j]:.4f}) is stronger than every white-box "
                f"attack ({strongest[j]:.4f}) at eps={eps_values[j]:g}"
            )
    return problems


def _build_attack(torchattacks, name, model, eps, steps, restarts, queries, n_classes, seed):
    """A torchattacks attack for one (name, eps); None means 'the unmodified inputs'."""
    if name == "fgsm":
        return torchattacks.FGSM(model, eps=eps)
    if name == "pgd":
        # At eps = 0 every step is a no-op; one step still exercises the attack's clipping.
        n_steps = steps if eps > 0 else 1
        step_size = _PGD_STEP_FACTOR * eps / n_steps
        runs = [
            torchattacks.PGD(model, eps=eps, alpha=step_size, steps=n_steps, random_start=True)
            for _ in range(restarts)
        ]
        # MultiAttack keeps, per image, the first restart that fools the model.
        return runs[0] if restarts == 1 else torchattacks.MultiAttack(runs)
    # AutoAttack's attacks have step sizes relative to eps, undefined at 0.
    if eps == 0:
        return None
    attack_seed = 0 if seed is None else int(seed)
    if name == "apgd-ce":
        return torchattacks.APGD(model, norm="Linf", eps=eps, steps=steps, n_restarts=restarts, loss="ce",
                                 seed=attack_seed)
    if name == "square":
        return torchattacks.Square(model, norm="Linf", eps=eps, n_queries=queries, n_restarts=1, seed=attack_seed)
    return torchattacks.AutoAttack(
        model, norm="Linf", eps=eps, version="standard", n_classes=n_classes, seed=seed
    )


@contextlib.contextmanager
def _evaluating(model: nn.Module, device: torch.device, name: str = "model") -> Iterator[None]:
    """Put ``model`` in eval mode on ``device``; restore every module's mode and the device."""
    if not isinstance(model, nn.Module):
        raise InvalidInputError(f"{name} must be a torch.nn.Module, got {type(model).__name__}")
    modes = {module: module.training for module in model.modules()}
    first = next(model.parameters(), None)
    original_device = first.device if first is not None else None
    model.eval().to(device)
    try:
        yield
    finally:
        for module, training in modes.items():
            module.training = training
        if original_device is not None:
            model.to(original_device)


@contextlib.contextmanager
def _seeded(seed: int | None, device: torch.device) -> Iterator[None]:
    """Seed torch's RNG for the attacks' random starts without disturbing the caller's RNG."""
    if seed is None:
        yield
        return
    devices = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(int(seed))
        yield


@torch.no_grad()
def _count_correct(model, x, y) -> int:
    return int((model(x).argmax(dim=1) == y).sum())


@torch.no_grad()
def _n_classes(model, x) -> int:
    logits = model(x)
    if logits.ndim != 2:
        raise InvalidInputError(
            f"model must return logits of shape (batch, n_classes), got shape {tuple(logits.shape)}"
        )
    return int(logits.shape[1])


def _as_tensors(data, n_samples) -> tuple[torch.Tensor, torch.Tensor]:
    """``(images, labels)`` as float32 / int64 CPU tensors, validated; copies, never views."""
    if isinstance(data, torch.utils.data.TensorDataset):
        images, labels = data.tensors[0], data.tensors[1]
    elif isinstance(data, (tuple, list)) and len(data) == 2:
        images, labels = data
    elif isinstance(data, torch.utils.data.Dataset):
        stop = len(data) if n_samples is None else min(len(data), int(n_samples))
        pairs = [data[i] for i in range(stop)]
        images = torch.stack([torch.as_tensor(p[0]) for p in pairs]) if pairs else torch.empty(0)
        labels = torch.as_tensor([int(p[1]) for p in pairs])
    else:
        raise InvalidInputError(
            f"data must be a torch Dataset of (image, label) or a tuple (images, labels), "
            f"got {type(data).__name__}"
        )
    images = torch.as_tensor(np.asarray(images) if not torch.is_tensor(images) else images)
    labels = torch.as_tensor(np.asarray(labels) if not torch.is_tensor(labels) else labels)
    if n_samples is not None:
        n_samples = check_int(n_samples, "n_samples")
        images, labels = images[:n_samples], labels[:n_samples]
    if images.ndim < 2 or len(images) == 0:
        raise InvalidInputError(f"data images must be (N, C, H, W) with N >= 1, got shape {tuple(images.shape)}")
    if labels.shape != (len(images),):
        raise InvalidInputError(
            f"data labels must have shape ({len(images)},) to match the images, got {tuple(labels.shape)}"
        )
    if not images.is_floating_point():
        raise InvalidInputError(f"data images must be floats in [0, 1], got dtype {images.dtype}")
    if labels.is_floating_point() or labels.is_complex():
        raise InvalidInputError(f"data labels must be integer class indices, got dtype {labels.dtype}")
    check_finite(images.detach().cpu().numpy(), "data images")
    low, high = float(images.min()), float(images.max())
    if low < 0 or high > 1:
        raise InvalidInputError(
            f"data images must be pixels in [0, 1] (attacks clip to that range), got [{low:g}, {high:g}]; "
            "put normalisation inside the model (v1ann.nn.models.Normalize)"
        )
    return images.detach().to("cpu", torch.float32, copy=True), labels.detach().to("cpu", torch.int64, copy=True)


def _check_attacks(attacks) -> tuple[str, ...]:
    attacks = (attacks,) if isinstance(attacks, str) else tuple(attacks)
    unknown = [a for a in attacks if a not in ATTACKS]
    if not attacks or unknown or len(set(attacks)) != len(attacks):
        raise InvalidInputError(
            f"attacks={attacks!r} must be distinct names from {ATTACKS}"
            + (f"; unknown: {unknown}" if unknown else "")
        )
    return attacks


def _check_eps(eps) -> list[float]:
    try:
        values = np.atleast_1d(np.asarray(eps, dtype=float))
    except (TypeError, ValueError):
        raise InvalidInputError(f"eps={eps!r} must be numbers") from None
    if values.ndim != 1 or values.size == 0 or not np.isfinite(values).all() or (values < 0).any():
        raise InvalidInputError(f"eps={eps!r} must be finite, non-negative numbers")
    if (np.diff(values) <= 0).any():
        raise InvalidInputError(f"eps={eps!r} must be strictly increasing")
    if values[-1] > 1:
        raise InvalidInputError(f"eps={eps!r}: budgets are in pixel units of [0, 1]; {values[-1]:g} > 1")
    return [float(v) for v in values]


def _progress_bar(total: int, progress: bool):
    return progress_bar(total=total, desc="robustness", unit="attack", progress=progress, leave=False)
