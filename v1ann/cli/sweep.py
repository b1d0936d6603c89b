"""``v1ann sweep``: train, measure and attack a grid of target exponents on a dask cluster."""

from __future__ import annotations

from pathlib import Path

import click

from v1ann.cli._options import OutputPath, fit_range_option, per_method_default
from v1ann.experiments.presets import PRESETS, preset
from v1ann.experiments.sweeps import summarize
from v1ann.experiments.sweeps import sweep as run_sweep
from v1ann.nn.regularizer import METHOD_DEFAULTS, METHODS
from v1ann.nn.robustness import ATTACKS
from v1ann.plot._style import save_figure
from v1ann.plot.robustness import (
    accuracy_vs_eps,
    measured_vs_target_alpha,
    robust_accuracy_vs_alpha,
)

# Options that take several values after one flag, e.g. ``--alphas 0.5 1 2``.
LIST_OPTIONS = ("--alphas", "--strengths", "--taus", "--eps", "--attacks", "--hidden", "--channels", "--layer")


class ListOptionsCommand(click.Command):
    """A command whose list options also accept space-separated values after a single flag.

    ``--alphas 0.5 1 2`` is read as ``--alphas 0.5 --alphas 1 --alphas 2``. The command has
    no positional arguments, so a bare word after a list option can only be one of its values.
    """

    def parse_args(self, ctx, args):
        return super().parse_args(ctx, expand_list_options(args))


def expand_list_options(args: list[str]) -> list[str]:
    """Repeat the flag of a list option before each of the bare values that follow it."""
    out: list[str] = []
    current = None
    seen_value = False
    for arg in args:
        if arg.startswith("-") and not _is_number(arg):
            name = arg.split("=", 1)[0]
            current = name if name in LIST_OPTIONS else None
            seen_value = "=" in arg
            out.append(arg)
        elif current is not None and seen_value:
            out += [current, arg]
        else:
            seen_value = True
            out.append(arg)
    return out


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


@click.command(cls=ListOptionsCommand)
@click.option("--preset", type=click.Choice(sorted(PRESETS)), default=None, is_eager=True, expose_value=False,
              callback=lambda ctx, param, name: _use_preset(ctx, name),
              help="A seed paper's experiment (docs/robustness.md); options given beside it override it.")
@click.option("--alphas", type=float, multiple=True, metavar="A [A ...]",
              help="Target exponents of the regularized runs, e.g. --alphas 0.5 1 2 3 4.")
@click.option("--vanilla", is_flag=True, help="Also train without the regularizer.")
@click.option("--strengths", type=float, multiple=True, metavar="S [S ...]",
              help=f"Regularizer strengths [default: {per_method_default('strength')}].")
@click.option("--taus", type=int, multiple=True, metavar="T [T ...]",
              help=f"Ranks above it are regularized [default: {per_method_default('tau')}].")
@click.option("--seeds", type=click.IntRange(min=1), default=3, show_default=True, help="Seeds per grid point.")
@click.option("--dataset", default="mnist5k", show_default=True,
              type=click.Choice(["mnist5k", "digits8x8", "mnist", "fashion-mnist", "cifar10"]))
@click.option("--arch", type=click.Choice(["mlp", "cnn"]), default="mlp", show_default=True)
@click.option("--hidden", type=int, multiple=True, metavar="W [W ...]",
              help="Hidden widths of the MLP [default: 2000], or the width of the CNN's dense layer [default: 128].")
@click.option("--channels", type=int, multiple=True, metavar="C [C ...]",
              help="Output channels of the CNN's conv blocks [default: 32 64].")
@click.option("--layer", "layers", multiple=True, metavar="NAME [NAME ...]",
              help="Layers to regularize and measure [default: the model's representation layers].")
@click.option("--epochs", type=click.IntRange(min=1), default=20, show_default=True)
@click.option("--batch-size", type=click.IntRange(min=1), default=128, show_default=True)
@click.option("--lr", type=float, default=2e-3, show_default=True)
@click.option("--method", type=click.Choice(METHODS), default="loglog", show_default=True,
              help="Penalty: loglog (v1ann's), or nassar2020 / gerum2022 as their papers' code (docs/training.md).")
@click.option("--attacks", type=click.Choice(ATTACKS), multiple=True, metavar="NAME [NAME ...]",
              help=f"{', '.join(ATTACKS)} [default: fgsm pgd].")
@click.option("--eps", type=float, multiple=True, metavar="E [E ...]",
              help="L-inf budgets in pixel units [default: 0 0.05 0.1 0.2 0.3].")
@click.option("--steps", type=click.IntRange(min=1), default=40, show_default=True, help="PGD steps.")
@click.option("--restarts", type=click.IntRange(min=1), default=1, show_default=True, help="PGD random restarts.")
@click.option("--n-eval", type=click.IntRange(min=1), default=None, help="Test images attacked [default: all].")
@click.option("--scheduler", default=None, metavar="ADDRESS",
              help="Dask scheduler, e.g. tcp://host:8786 [default: a local cluster].")
@click.option("--workers", type=click.IntRange(min=1), default=None,
              help="Processes of the local cluster [default: one per CPU core, or per GPU].")
@click.option("--device", default="auto", show_default=True, help="Device on the workers: auto, cpu, cuda, ...")
@click.option("--checkpoints", type=OutputPath(file_okay=False), default=None,
              help="Folder for per-run training checkpoints (a killed run resumes its training).")
@click.option("--store", type=OutputPath(), default=Path("sweep.nc"),
              show_default=True, help="Results: .nc (netCDF) or .zarr; an existing store is continued.")
@click.option("--plots", type=OutputPath(file_okay=False), default=None,
              help="Write the sweep's figures (PNG) into this folder.")
@click.option("--plot-eps", type=float, default=0.1, show_default=True,
              help="Budget of the robust-accuracy-vs-alpha figure.")
@fit_range_option(" (each run's held-out alpha)")
@click.option("--verbose", is_flag=True, help="Show dask.distributed's own log lines and warnings.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def sweep(alphas, vanilla, strengths, taus, seeds, dataset, arch, hidden, channels, layers, epochs, batch_size, lr,
          method, attacks, eps, steps, restarts, n_eval, scheduler, workers, device, checkpoints, store, plots,
          plot_eps, fit_range, verbose, quiet):
    """Train every (alpha or vanilla, strength, tau, seed), measure alpha, attack; store each run.

    Runs are tasks on a dask.distributed cluster. Each finished run is added to STORE at
    once; running the same command again skips the runs already there, so an interrupted
    sweep continues where it stopped. Prints the mean and sd over seeds per condition.
    """
    if not alphas and not vanilla:
        raise click.UsageError("give target exponents with --alphas and/or --vanilla")
    if channels and arch != "cnn":
        raise click.UsageError("--channels applies to --arch cnn only")
    if len(hidden) > 1 and arch == "cnn":
        raise click.UsageError("--hidden: a CNN has one dense hidden layer")
    model_kwargs = {name: list(values) for name, values in (("hidden", hidden), ("channels", channels)) if values}
    grid = {
        "target_alpha": ([None] if vanilla else []) + list(alphas),
        "strength": list(strengths) or [METHOD_DEFAULTS[method]["strength"]],
        "tau": list(taus) or [METHOD_DEFAULTS[method]["tau"]],
    }
    options = {}
    if attacks:
        options["attacks"] = tuple(attacks)
    if eps:
        options["eps"] = tuple(eps)
    results = run_sweep(
        grid, dataset=dataset, arch=arch, epochs=epochs, seeds=seeds, client=scheduler, store=store,
        workers=workers, steps=steps, restarts=restarts, n_eval=n_eval, method=method,
        batch_size=batch_size, lr=lr, model_kwargs=model_kwargs or None,
        train_kwargs={"layers": list(layers)} if layers else None,
        device=device, checkpoint_dir=checkpoints, fit_range=fit_range, progress=not quiet, verbose=verbose,
        **options,
    )
    table = summarize(results)
    shown = [c for c in table.columns if not c.endswith("_sd") and c not in ("strength", "tau", "target_alpha")]
    click.echo(table[shown].to_string(float_format=lambda v: f"{v:.3f}"))
    click.echo(f"{results.sizes['run']} runs in {store}")
    if plots is not None:
        for path in _write_plots(results, plots, plot_eps):
            click.echo(f"wrote {path}")


def _use_preset(ctx: click.Context, name: str | None) -> None:
    """``--preset`` (eager): the preset's settings become the defaults of every option not given."""
    if name is None:
        return
    settings = preset(name)
    targets = settings["grid"]["target_alpha"]
    ctx.default_map = {
        **(ctx.default_map or {}),
        "alphas": tuple(t for t in targets if t is not None), "vanilla": None in targets,
        "seeds": settings["seeds"], "dataset": settings["dataset"], "arch": settings["arch"],
        "hidden": tuple(settings["model_kwargs"].get("hidden", ())),
        "channels": tuple(settings["model_kwargs"].get("channels", ())),
        "layers": tuple(settings.get("train_kwargs", {}).get("layers", ())), "epochs": settings["epochs"],
        "attacks": tuple(settings["attacks"]), "eps": tuple(settings["eps"]), "steps": settings["steps"],
        "restarts": settings["restarts"], "n_eval": settings["n_eval"],
    }


def _write_plots(results, folder: Path, eps: float) -> list[Path]:
    attacks = [str(a) for a in results["attack"].values]
    attack = "pgd" if "pgd" in attacks else attacks[-1]
    figures = {
        "accuracy_vs_eps.png": accuracy_vs_eps(results),
        "robust_accuracy_vs_alpha.png": robust_accuracy_vs_alpha(results, eps=eps, attack=attack),
    }
    if (~results["vanilla"].values.astype(bool)).any():
        figures["measured_vs_target_alpha.png"] = measured_vs_target_alpha(results)
    return [save_figure(fig, Path(folder) / name) for name, fig in figures.items()]
