"""``v1ann demo``: the whole pipeline on embedded offline data, with a report folder."""

from __future__ import annotations

import click

from v1ann.cli._options import OutputPath, fit_range_option
from v1ann.experiments.demo import DemoConfig, run
from v1ann.plot.demo import save_demo_figures


@click.command()
@click.option(
    "--out",
    type=OutputPath(file_okay=False),
    default="v1ann-demo",
    show_default=True,
    help="Report folder (figures, summary.json, report.md); replaced if it holds an earlier report.",
)
@click.option("--device", default="auto", show_default=True, help="auto (CUDA when available), cpu, cuda:0, ...")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True, help="Seeds the simulation, training and attacks.")
@click.option("--epochs", type=click.IntRange(min=1), default=DemoConfig.epochs, show_default=True,
              help="Training epochs per network.")
@fit_range_option(" (brain, layers and held-out alpha)")
@click.option("--quiet", is_flag=True, help="Stage lines only, no progress bars.")
def demo(out, device, seed, epochs, fit_range, quiet):
    """Simulate a recording, fit its exponent, compare a network, train one to match, attack both.

    Runs offline on data that ship with v1ann (a simulated recording, the real Stringer
    2019 spectrum, 5,000 MNIST digits) in about two minutes on a laptop CPU.
    """
    sizes = {"seed": seed, "epochs": epochs, "fit_range": tuple(fit_range)}
    run(out, device=device, progress=not quiet, echo=click.echo, figures=save_demo_figures, **sizes)
