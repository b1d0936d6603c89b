"""``v1ann train``: train a network whose hidden representation follows n^-alpha."""

from __future__ import annotations

from pathlib import Path

import click

import v1ann
from v1ann.cli._options import OutputPath, fit_range_option, per_method_default
from v1ann.experiments.recipe import train_network
from v1ann.nn.models import save_run
from v1ann.nn.regularizer import METHODS
from v1ann.nn.training_data import load_training_data
from v1ann.plot._style import save_figure
from v1ann.plot.training import layer_spectrum_vs_target, training_history


@click.command()
@click.option("--dataset", default="mnist5k", show_default=True,
              type=click.Choice(["mnist5k", "digits8x8", "mnist", "fashion-mnist", "cifar10"]),
              help="Training images (mnist5k and digits8x8 need no network).")
@click.option("--arch", type=click.Choice(["mlp", "cnn"]), default="mlp", show_default=True)
@click.option("--hidden", type=int, multiple=True,
              help="Hidden widths of the MLP (repeat for depth) [default: 2000], or the width of the CNN's dense "
                   "layer [default: 128].")
@click.option("--channels", type=int, multiple=True,
              help="Output channels of the CNN's conv blocks (repeat per block) [default: 32, 64].")
@click.option("--activation", type=click.Choice(["tanh", "relu", "gelu"]), default="tanh", show_default=True,
              help="Hidden nonlinearity (regularized ReLU layers can die: docs/training.md).")
@click.option("--target-alpha", type=float, default=None, help="Target exponent of the hidden spectrum.")
@click.option("--match", "match", type=click.Path(exists=True, path_type=Path), default=None,
              help="Recording (.mat, .nwb, .zarr) whose measured alpha becomes the target.")
@click.option("--strength", type=float, default=None,
              help=f"Regularizer strength [default: {per_method_default('strength')}].")
@click.option("--tau", type=click.IntRange(min=0), default=None,
              help=f"Ranks above it are regularized [default: {per_method_default('tau')}].")
@click.option("--method", type=click.Choice(METHODS), default="loglog", show_default=True,
              help="Penalty: loglog (v1ann's, reaches the target), or nassar2020 / gerum2022 as their papers' "
                   "code (docs/training.md, fidelity).")
@click.option("--n-components", type=click.IntRange(min=0), default=None,
              help=f"Regularize ranks tau+1..K only (0: all ranks) [default: {per_method_default('n_components')}].")
@click.option("--weight-norm/--no-weight-norm", default=None,
              help="Train the layers feeding the regularized ones as g·v/‖v‖, so that the penalty sets how far "
                   "the units saturate [default: on for loglog, off for the published variants].")
@click.option("--basis-every", type=click.IntRange(min=0), default=None,
              help="Also refresh the eigenbasis every N steps within an epoch (0: once per epoch); a stale "
                   "basis biases the spectrum steep [default: 8 for loglog, 0 for the published variants].")
@fit_range_option(" (the --match recording's alpha and the held-out alpha)")
@click.option("--layer", "layers", multiple=True, help="Layer to regularize (repeatable) [default: the model's "
              "representation layers].")
@click.option("--epochs", type=int, default=20, show_default=True)
@click.option("--batch-size", type=int, default=128, show_default=True)
@click.option("--lr", type=float, default=2e-3, show_default=True)
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True)
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda, cuda:1, ...")
@click.option("--out", "out", type=OutputPath(file_okay=False), required=True,
              help="Run folder: model.pt, config.json, history.json/.nc, checkpoint.pt, figures.")
@click.option("--resume/--no-resume", default=True, show_default=True,
              help="Continue from RUN_DIR/checkpoint.pt when it exists.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def train(dataset, arch, hidden, channels, activation, target_alpha, match, strength, tau, method, n_components,
          weight_norm, basis_every, fit_range, layers, epochs, batch_size, lr, seed, device, out, resume, quiet):
    """Train a classifier on DATASET, its hidden spectrum pulled towards n^-alpha.

    The target is --target-alpha, or the alpha measured in the recording given to --match
    (with `v1ann.estimate_alpha`); with neither, the network trains without the regularizer.
    """
    if target_alpha is not None and match is not None:
        raise click.UsageError("give --target-alpha or --match, not both")
    if len(hidden) > 1 and arch != "mlp":
        raise click.UsageError("--hidden: a CNN has one dense hidden layer")
    if channels and arch != "cnn":
        raise click.UsageError("--channels applies to --arch cnn only")
    if layers and target_alpha is None and match is None:
        raise click.UsageError("--layer needs --target-alpha or --match")
    matched = None
    if match is not None:
        fit = v1ann.estimate_alpha(v1ann.io.load(match), fit_range=fit_range, seed=seed, progress=not quiet)
        matched = {"path": str(match), "alpha": fit.alpha, "method": fit.method, "alpha_ci": fit.alpha_ci}
        target_alpha = fit.alpha
        click.echo(f"target alpha {target_alpha:.3f} measured in {match}")

    train_set, test_set = load_training_data(dataset, seed=seed)
    out.mkdir(exist_ok=True)
    run = train_network(
        train_set, test_set, target_alpha=target_alpha, arch=arch, hidden=hidden or None, channels=channels or None,
        activation=activation, method=method, strength=strength, tau=tau,
        n_components="all" if n_components == 0 else n_components,
        weight_norm="auto" if weight_norm is None else weight_norm,
        basis_every="auto" if basis_every is None else basis_every or None, fit_range=fit_range,
        layers=layers or None, epochs=epochs, batch_size=batch_size, lr=lr,
        seed=seed, device=device, checkpoint_dir=out, resume=resume, progress=not quiet,
    )
    save_run(run.model, out, {"dataset": dataset, "matched_recording": matched, **run.config})
    _figures(out, run, target_alpha)

    acc = float(run.history.val_accuracy[-1])
    alphas = ", ".join(f"{name} {fit.alpha:.3f}" for name, fit in run.heldout.items()) or "n/a (layers too narrow)"
    target = "none (vanilla)" if target_alpha is None else f"{target_alpha:.3f}"
    click.echo(f"held-out accuracy {acc:.3f}; held-out alpha {alphas}; target {target}")
    click.echo(f"wrote {out}/model.pt, config.json, history.json, history.nc, layer_spectrum.png, training.png")


def _figures(out: Path, run, target_alpha) -> None:
    save_figure(training_history(run.history), out / "training.png")
    if run.heldout:
        # A vanilla run has no target: draw n^-1 (the exponent of mouse V1) for reference.
        reference = 1.0 if target_alpha is None else target_alpha
        title = "held-out spectrum vs target" if target_alpha is not None else "held-out spectrum (vanilla) vs n^-1"
        fit_range = tuple(run.config["fit_range"])
        figure = layer_spectrum_vs_target(run.heldout_spectra, reference, tau=run.config["tau"], fit_range=fit_range,
                                          title=title)
        save_figure(figure, out / "layer_spectrum.png")
