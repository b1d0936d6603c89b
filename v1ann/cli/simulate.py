"""``v1ann simulate``: write a simulated recording with a known signal spectrum (one power law or a broken one)."""

from __future__ import annotations

import click

import v1ann
from v1ann.cli._options import OutputPath
from v1ann.recording.simulate import NOISE_MODELS, broken_power_law_spectrum

FORMATS = {".mat": "mat", ".nwb": "nwb", ".zarr": "zarr"}


@click.command()
@click.argument("out", type=OutputPath())
@click.option("--alpha", type=float, required=True, multiple=True,
              help="Exponent of the signal spectrum (variance ~ rank^-alpha). Repeat it with --break "
                   "for a broken power law: --alpha 0.5 --alpha 1.2 --break 16.")
@click.option("--break", "breaks", type=click.FloatRange(min=1), multiple=True,
              help="Rank where the next --alpha takes over (one fewer than --alpha, increasing).")
@click.option("--n-neurons", type=click.IntRange(min=1), default=10000, show_default=True)
@click.option("--n-stimuli", type=click.IntRange(min=2), default=2800, show_default=True)
@click.option("--n-repeats", type=click.IntRange(min=1), default=2, show_default=True)
@click.option("--noise-scale", type=click.FloatRange(min=0), default=1.0, show_default=True,
              help="Total noise variance / total signal variance.")
@click.option("--noise-alpha", type=click.FloatRange(min=0), default=0.6, show_default=True,
              help="Exponent of the noise covariance spectrum over neurons.")
@click.option("--noise", type=click.Choice(list(NOISE_MODELS)), default="gaussian", show_default=True)
@click.option("--n-spont", type=click.IntRange(min=0), default=0, show_default=True,
              help="Time points of spontaneous activity to include (for preprocessing).")
@click.option("--seed", type=click.IntRange(min=0), default=None, help="Random seed (default: fresh randomness).")
@click.option("--format", "fmt", type=click.Choice(["mat", "nwb", "zarr"]), default=None,
              help="Output format; default from OUT's suffix (.mat, .nwb, .zarr).")
def simulate(out, alpha, breaks, n_neurons, n_stimuli, n_repeats, noise_scale, noise_alpha, noise, n_spont, seed, fmt):
    """Simulate a recording whose signal spectrum is exactly rank^-ALPHA and write it to OUT.

    The file holds the ground truth too (the true signal spectrum and its alpha: the
    published fit of that spectrum, ranks 12..500), e.g.

    \b
        v1ann simulate x.mat --alpha 1.2 --n-neurons 2000 --n-stimuli 500 --seed 1

    A broken power law (Pospisil & Pillow 2025) takes one --alpha per piece and a --break
    between each two, e.g. a flat head steepening at rank 16:

    \b
        v1ann simulate x.mat --alpha 0.5 --alpha 1.2 --break 16 --n-stimuli 700 --n-neurons 2500
    """
    fmt = fmt or FORMATS.get(out.suffix.lower())
    if fmt is None:
        raise click.BadParameter(f"cannot tell the format from {out.name!r}; pass --format mat|nwb|zarr", param_hint="OUT")
    if len(breaks) != len(alpha) - 1:
        raise click.BadParameter(f"{len(alpha)} exponent(s) need {len(alpha) - 1} --break rank(s), got {len(breaks)}",
                                 param_hint="--break")
    if len(alpha) == 1:
        shape = {"alpha": alpha[0]}
        described = f"alpha={alpha[0]:g}"
    else:
        ranks = min(n_stimuli - 1, n_neurons)
        shape = {"spectrum": broken_power_law_spectrum(alpha, breaks, ranks)}
        pieces = " -> ".join(f"{a:g}" for a in alpha)
        described = f"broken power law {pieces} at rank(s) {', '.join(f'{b:g}' for b in breaks)}"

    ds = v1ann.simulate_recording(
        **shape, n_stimuli=n_stimuli, n_neurons=n_neurons, n_repeats=n_repeats, noise_scale=noise_scale,
        noise_alpha=noise_alpha, noise=noise, seed=seed, n_spont=n_spont,
    )
    writer = {"mat": v1ann.save_stringer_mat, "nwb": v1ann.save_nwb, "zarr": v1ann.save_zarr}[fmt]
    writer(ds, out)
    click.echo(
        f"wrote {out} ({fmt}): {n_repeats} repeats x {n_stimuli} stimuli x {n_neurons} neurons, "
        f"{described} (true alpha {ds.attrs['true_alpha']:.4g}), noise={noise} (scale {noise_scale:g}), seed={seed}"
    )
