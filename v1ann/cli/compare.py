"""``v1ann compare``: a recording's exponent beside each layer of a network shown the same images."""

from __future__ import annotations

import json
from pathlib import Path

import click
import numpy as np
import torch
import xarray as xr

import v1ann
from v1ann._utils import to_jsonable
from v1ann.cli._options import OutputPath, fit_range_option
from v1ann.errors import DataFileError
from v1ann.experiments.comparison import compare as compare_table
from v1ann.experiments.comparison import fit_brain_and_layers
from v1ann.nn import models
from v1ann.nn.activations import activations
from v1ann.nn.inputs import prepare_images
from v1ann.plot._style import new_figure, save_figure
from v1ann.plot.spectra import alpha_by_layer, spectra


@click.command()
@click.argument("recording", type=click.Path(exists=True))
@click.option(
    "--model",
    "model_spec",
    required=True,
    help="'mlp' or 'cnn' (randomly initialised with --seed), or the model.pt of a `v1ann train` run "
    "(its config.json beside it gives the architecture).",
)
@click.option(
    "--images",
    required=True,
    type=click.Path(exists=True, dir_okay=False),
    help="The stimulus images of the recording (.mat with 'imgs', as in the Stringer deposit).",
)
@click.option(
    "--layers",
    multiple=True,
    help="Layer names (repeat or comma-separate); default: the model's representation layers.",
)
@fit_range_option(" (the same for brain and layers)")
@click.option("--layer-ci", is_flag=True,
              help="Intervals of the layers' alpha too (a jackknife over stimulus groups: 10 or more PCAs per layer).")
@click.option("--json", "as_json", is_flag=True, help="Print the table as JSON instead of text.")
@click.option("--plot", type=OutputPath(dir_okay=False), default=None, metavar="OUT.png",
              help="Write the spectra and α-per-layer figure here.")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True, help="Seeds the random network and the cvPCA shuffles.")
@click.option("--device", default="auto", show_default=True, help="auto (CUDA when available), cpu, cuda:0, ...")
@click.option("--quiet", is_flag=True, help="No progress bars.")
def compare(recording, model_spec, images, layers, fit_range, layer_ci, as_json, plot, seed, device, quiet):
    """Fit the power-law exponent of RECORDING and of each layer of a network shown its images.

    The images are centre-cropped and resized to the network's input, the network's
    activations to every stimulus of the recording are recorded, and one estimator
    (v1ann.estimate_alpha) measures brain and layers alike. Prints one row per layer with
    α, its confidence interval, r², fit range and α(layer) − α(brain).
    """

    progress = not quiet
    rec = v1ann.io.load(recording)
    model, in_shape, model_name = _load_model(model_spec, seed)
    pixels = v1ann.load_stimulus_images(images)
    ids = _shown_stimuli(rec, pixels, Path(recording), Path(images))
    inputs = prepare_images(pixels.sel(stimulus=ids), size=in_shape[1:], channels=in_shape[0])
    # labelled with the recording's stimulus ids: each layer is measured on the stimuli the recording shows
    inputs = xr.DataArray(inputs.numpy(), dims=("stimulus", "channel", "y", "x"), coords={"stimulus": ids})
    layer_names = [name for item in layers for name in item.split(",") if name] or None
    acts = activations(model, inputs, layers=layer_names, device=device, progress=progress)
    source = Path(recording).stem
    shared = {"fit_range": tuple(fit_range), "seed": seed, "device": device, "progress": progress}
    # warnings (layers left out, uncentred responses) reach stderr as one line each (v1ann.cli.main)
    brain_fit = v1ann.estimate_alpha(rec, **shared)
    brain_fits, layer_fits = fit_brain_and_layers(
        {source: brain_fit}, acts, **shared, ci=0.95 if layer_ci else None
    )
    table = compare_table(brain_fits, layer_fits[source])
    if plot:
        _save_plot(brain_fits, layer_fits[source], table, plot, title=f"{source} vs {model_name}")
    if as_json:
        payload = {
            "recording": str(recording),
            "images": str(images),
            "model": model_name,
            "seed": seed,
            "rows": [to_jsonable(row) for row in table.to_dict(orient="records")],
        }
        click.echo(json.dumps(payload, indent=2))
    else:
        click.echo(f"{source} vs {model_name} on {len(ids)} stimuli\n")
        click.echo(table.drop(columns=["source", "kind"]).to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    if plot:
        click.echo(f"figure: {plot}", err=as_json)


def _load_model(spec: str, seed: int):
    """``(model, input shape (C, H, W), name)`` for 'mlp', 'cnn' or a trained run's weights."""
    if spec in models.BUILDERS:
        torch.manual_seed(seed)
        return models.build(spec), models.input_shape(spec, {}), f"random {spec} (seed {seed})"
    if not Path(spec).exists():
        raise DataFileError(f"--model {spec}: not 'mlp', 'cnn' or an existing run folder or checkpoint file")
    model, config = models.load_run(spec)
    return model, models.input_shape(config["arch"], config["arch_kwargs"]), f"{config['arch']} from {Path(spec).name}"


def _shown_stimuli(rec, pixels, rec_path: Path, images_path: Path):
    ids = np.unique(rec["stimulus"].values[~rec["is_blank"].values.astype(bool)])
    available = pixels["stimulus"].values
    missing = ids[~np.isin(ids, available)]
    if missing.size:
        raise DataFileError(
            f"{rec_path} shows {missing.size} stimulus id(s) (e.g. {missing[:3].tolist()}) that "
            f"{images_path} does not have ({available.size} images)"
        )
    return ids


def _save_plot(brain_fits, layer_fits, table, path, title: str) -> None:
    fig, (left, right) = new_figure(ncols=2, width=5.4, height=4.4)
    spectra(brain_fits, layer_fits, ax=left, title=title)
    alpha_by_layer(table, ax=right)
    fig.tight_layout()
    save_figure(fig, path)
