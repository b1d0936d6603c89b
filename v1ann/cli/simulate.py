"""``v1ann simulate``: write a simulated recording with a known power-law exponent."""

from __future__ import annotations

import click

import v1ann
from v1ann.cli._options import OutputPath

FORMATS = {".mat": "mat", ".nwb": "nwb", ".zarr": "zarr"}


@click.command()
@click.argument("out", type=OutputPath())
@click.option("--alpha", type=float, required=True, help="Exponent of the signal spectrum (variance ~ rank^-alpha).")
@click.option("--n-neurons", type=click.IntRange(min=1), default=10000, show_default=True)
@click.option("--n-stimuli", type=click.IntRange(min=2), default=2800, show_default=True)
@click.option("--n-repeats", type=click.IntRange(min=1), default=2, show_default=True)
@click.option("--noise-scale", type=click.FloatRange(min=0), default=1.0, show_default=True,
              help="Total noise variance / total signal variance.")
@click.option("--noise-alpha", type=click.FloatRange(min=0), default=0.6, show_default=True,
              help="Exponent of the noise covariance spectrum over neurons.")
@click.option("--noise", type=click.Choice(["gaussian", "poisson", "multiplicative"]), default="gaussian", show_default=True)
@click.option("--n-spont", type=click.IntRange(min=0), default=0, show_default=True,
              help="Time points of spontaneous activity to include (for preprocessing).")
@click.option("--seed", type=click.IntRange(min=0), default=None, help="Random seed (default: fresh randomness).")
@click.option("--format", "fmt", type=click.Choice(["mat", "nwb", "zarr"]), default=None,
              help="Output format; default from OUT's suffix (.mat, .nwb, .zarr).")
def simulate(out, alpha, n_neurons, n_stimuli, n_repeats, noise_scale, noise_alpha, noise, n_spont, seed, fmt):
    """Simulate a recording whose signal spectrum is exactly rank^-ALPHA and write it to OUT.

    The file holds the ground truth too (true alpha and the true signal spectrum), e.g.

        v1ann simulate x.mat --alpha 1.2 --n-neurons 2000 --n-stimuli 500 --seed 1
    """
    fmt = fmt or FORMATS.get(out.suffix.lower())
    if fmt is None:
        raise click.BadParameter(f"cannot tell the format from {out.name!r}; pass --format mat|nwb|zarr", param_hint="OUT")

    ds = v1ann.simulate_recording(
        alpha, n_stimuli=n_stimuli, n_neurons=n_neurons, n_repeats=n_repeats, noise_scale=noise_scale,
        noise_alpha=noise_alpha, noise=noise, seed=seed, n_spont=n_spont,
    )
    writer = {"mat": v1ann.save_stringer_mat, "nwb": v1ann.save_nwb, "zarr": v1ann.save_zarr}[fmt]
    writer(ds, out)
    click.echo(
        f"wrote {out} ({fmt}): {n_repeats} repeats x {n_stimuli} stimuli x {n_neurons} neurons, "
        f"alpha={alpha:g}, noise={noise} (scale {noise_scale:g}), seed={seed}"
    )
