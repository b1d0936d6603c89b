"""``v1ann train``: train a network whose hidden representation follows n^-alpha."""

from __future__ import annotations

import json
from pathlib import Path

import click

LOADERS = {".mat": "load_stringer", ".nwb": "load_nwb", ".zarr": "load_zarr"}
# With Adam the gerum2022 penalty dominates the update from ~10 on; nassar2020 collapses the layer at 30.
DEFAULT_STRENGTH = {"gerum2022": 30.0, "nassar2020": 1.0}


@click.command()
@click.option("--dataset", default="mnist5k", show_default=True,
              type=click.Choice(["mnist5k", "digits8x8", "mnist", "fashion-mnist", "cifar10"]),
              help="Training images (mnist5k and digits8x8 need no network).")
@click.option("--arch", type=click.Choice(["mlp", "cnn"]), default="mlp", show_default=True)
@click.option("--hidden", type=int, multiple=True, help="Hidden widths of the MLP (repeat for depth) [default: 2000].")
@click.option("--activation", type=click.Choice(["tanh", "relu"]), default="tanh", show_default=True,
              help="Hidden nonlinearity (regularized ReLU layers can die: docs/training.md).")
@click.option("--target-alpha", type=float, default=None, help="Target exponent of the hidden spectrum.")
@click.option("--match", "match", type=click.Path(exists=True, path_type=Path), default=None,
              help="Recording (.mat, .nwb, .zarr) whose measured alpha becomes the target.")
@click.option("--strength", type=float, default=None,
              help="Regularizer strength [default: 30 for gerum2022, 1 for nassar2020].")
@click.option("--tau", type=int, default=10, show_default=True, help="Anchor rank; ranks above it are regularized.")
@click.option("--method", type=click.Choice(["gerum2022", "nassar2020"]), default="gerum2022", show_default=True,
              help="Penalty; gerum2022 reaches the target more closely (docs/training.md, fidelity).")
@click.option("--n-components", type=int, default=500, show_default=True,
              help="Regularize ranks tau+1..K only, the ranks alpha is measured over (0: all ranks).")
@click.option("--weight-norm/--no-weight-norm", default=True, show_default=True,
              help="Train the layers feeding the regularized ones as g·v/‖v‖ (regularized runs), so that the "
                   "penalty sets how far the units saturate; needed for steep targets (docs/training.md).")
@click.option("--basis-every", type=int, default=8, show_default=True,
              help="Also refresh the eigenbasis every N steps within an epoch (0: once per epoch); a stale "
                   "basis biases the spectrum steep (docs/training.md).")
@click.option("--layer", "layers", multiple=True, help="Layer to regularize (repeatable) [default: the model's "
              "representation layers].")
@click.option("--epochs", type=int, default=20, show_default=True)
@click.option("--batch-size", type=int, default=128, show_default=True)
@click.option("--lr", type=float, default=2e-3, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda, cuda:1, ...")
@click.option("--out", "out", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Run folder: model.pt, config.json, history.json/.nc, checkpoint.pt, figures.")
@click.option("--resume/--no-resume", default=True, show_default=True,
              help="Continue from RUN_DIR/checkpoint.pt when it exists.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def train(dataset, arch, hidden, activation, target_alpha, match, strength, tau, method, n_components, weight_norm,
          basis_every, layers, epochs, batch_size, lr, seed, device, out, resume, quiet):
    """Train a classifier on DATASET, its hidden spectrum pulled towards n^-alpha.

    The target is --target-alpha, or the alpha measured in the recording given to --match
    (with `v1ann.estimate_alpha`); with neither, the network trains without the regularizer.
    """
    import torch

    from .. import _utils
    from ..nn import datasets, models
    from ..nn.regularizer import SpectralRegularizer
    from ..nn.train import train as run_training

    if target_alpha is not None and match is not None:
        raise click.UsageError("give --target-alpha or --match, not both")
    matched = None
    if match is not None:
        matched = _measure_recording(match, seed=seed, progress=not quiet)
        target_alpha = matched["alpha"]
        click.echo(f"target alpha {target_alpha:.3f} measured in {match}")

    train_set, test_set = datasets.load(dataset, seed=seed)
    images = train_set.tensors[0]
    in_shape = tuple(images.shape[1:])
    # Normalisation lives in the model: per-channel statistics of the training pixels.
    mean = images.mean(dim=(0, 2, 3)).tolist()
    std = images.std(dim=(0, 2, 3)).clamp_min(1e-6).tolist()
    arch_kwargs = {"in_shape": list(in_shape), "n_classes": int(train_set.tensors[1].max()) + 1,
                   "activation": activation, "mean": mean, "std": std}
    if arch == "mlp":
        arch_kwargs["hidden"] = list(hidden or (2000,))
    elif hidden:
        raise click.UsageError("--hidden applies to --arch mlp only")
    torch.manual_seed(seed)
    model = getattr(models, arch)(**arch_kwargs)

    if strength is None:
        strength = DEFAULT_STRENGTH[method]
    n_components = n_components or None
    regularizer = None
    if target_alpha is not None:
        regularizer = SpectralRegularizer(target_alpha, layers=list(layers) or None, tau=tau, strength=strength,
                                          method=method, n_components=n_components)
    elif layers:
        raise click.UsageError("--layer needs --target-alpha or --match")
    weight_norm = weight_norm and regularizer is not None

    out.mkdir(parents=True, exist_ok=True)
    config = {
        "dataset": dataset, "arch": arch, "arch_kwargs": arch_kwargs, "target_alpha": target_alpha,
        "matched_recording": None if match is None else {"path": str(match), **matched},
        "strength": strength, "tau": tau, "method": method, "n_components": n_components,
        "weight_norm": weight_norm, "basis_every": basis_every or None, "layers": list(layers) or None,
        "epochs": epochs, "batch_size": batch_size, "lr": lr, "seed": seed,
        "device": str(_utils.resolve_device(device)),
    }
    history = run_training(model, train_set, test_set, regularizer=regularizer, epochs=epochs,
                           batch_size=batch_size, lr=lr, weight_norm=weight_norm, basis_every=basis_every or None,
                           device=device, seed=seed, checkpoint_dir=out, resume=resume, progress=not quiet)
    heldout = _heldout_spectra(model, test_set, regularizer.layers if regularizer else model.representation_layers,
                               tau, device, progress=not quiet)
    config["heldout_alpha"] = {name: fit.alpha for name, (_, fit) in heldout.items()}

    with _utils.atomic_path(out / "model.pt") as tmp:
        torch.save(model.state_dict(), tmp)
    with _utils.atomic_path(out / "config.json") as tmp:
        tmp.write_text(json.dumps(config, indent=2))
    _figures(out, history, heldout, target_alpha, tau)

    acc = float(history.val_accuracy[-1])
    alphas = ", ".join(f"{name} {fit.alpha:.3f}" for name, (_, fit) in heldout.items()) or "n/a (layers too narrow)"
    target = "none (vanilla)" if target_alpha is None else f"{target_alpha:.3f}"
    click.echo(f"held-out accuracy {acc:.3f}; held-out alpha {alphas}; target {target}")
    click.echo(f"wrote {out}/model.pt, config.json, history.json, history.nc, layer_spectrum.png, training.png")


def _measure_recording(path: Path, seed: int, progress: bool) -> dict:
    import v1ann

    from ..errors import InvalidInputError

    loader = LOADERS.get(path.suffix.lower())
    if loader is None:
        raise InvalidInputError(f"--match {path}: unknown recording format; expected one of {sorted(LOADERS)}")
    recording = getattr(v1ann, loader)(path)
    fit = v1ann.estimate_alpha(recording, seed=seed, progress=progress)
    return {"alpha": float(fit.alpha), "method": fit.method,
            "alpha_ci": None if fit.alpha_ci is None else [float(v) for v in fit.alpha_ci]}


def _heldout_spectra(model, test_set, layers, tau: int, device, progress: bool) -> dict:
    """Layer name -> (PCA spectrum of held-out activations, its power-law fit over ranks tau+1..500).

    The range stops before the first zero variance (dead ReLU units, fewer held-out images than
    units); the fit's ``fit_range`` says where it stopped.
    """
    import v1ann
    from v1ann.nn.activations import activations

    acts = activations(model, test_set.tensors[0], layers=list(layers), device=device, progress=progress)
    out = {}
    for name, data in acts.items():
        spectrum = v1ann.pca_spectrum(data, device=device)
        hi = min(500, spectrum.sizes["rank"])
        if hi - tau >= 2:
            out[name] = (spectrum, v1ann.fit_powerlaw(spectrum, fit_range=(tau, hi), nonpositive="truncate"))
    return out


def _figures(out: Path, history, heldout: dict, target_alpha, tau: int) -> None:
    from ..plot._style import save_figure
    from ..plot.training import layer_spectrum_vs_target, training_history

    save_figure(training_history(history), out / "training.png")
    if heldout:
        spectra = {name: spectrum for name, (spectrum, _) in heldout.items()}
        # A vanilla run has no target: draw n^-1 (the exponent of mouse V1) for reference.
        reference = 1.0 if target_alpha is None else target_alpha
        title = "held-out spectrum vs target" if target_alpha is not None else "held-out spectrum (vanilla) vs n^-1"
        figure = layer_spectrum_vs_target(spectra, reference, tau=tau, fit_range=(tau, 500), title=title)
        save_figure(figure, out / "layer_spectrum.png")
