"""Do the library's defaults reach the target? (issue 24, point 1)

Every regularized run is ``SpectralRegularizer(target)`` + ``train(model, train, test,
regularizer=reg)`` with nothing else set (the CNN names its layers), on the offline MNIST
subset (4,000 train / 1,000 held-out digits). The exponent is measured the one way the
library measures a layer: :func:`v1ann.nn.probe.layer_alphas` on the held-out digits
(published fit, ranks 12..min(500, width)). Each row is appended to a CSV as it finishes.

Inputs: ``standardised`` (the model's Normalize holds the training pixels' mean and std),
``half`` (``mlp()``'s default Normalize(0.5, 0.5): pixels in [-1, 1]), ``unit`` (pixels left in [0, 1]).

Usage: python research/default_fidelity.py --out docs/data/default_fidelity.csv
           [--arch mlp] [--widths 2000] [--activations tanh] [--inputs standardised half unit]
           [--targets 1 2 3] [--seeds 0] [--threads 1] [--layer pool2] [--cnn-hidden 1000]
           [--extra '{"epochs": 20}'] [--basis]
"""

from __future__ import annotations

import argparse
import csv
import itertools
import json
import time
from pathlib import Path

import torch

from v1ann.nn.activations import activations
from v1ann.nn.models import cnn, mlp
from v1ann.nn.probe import layer_alphas
from v1ann.nn.regularizer import SpectralRegularizer
from v1ann.nn.train import train
from v1ann.nn.training_data import load_training_data

FIELDS = ["arch", "width", "activation", "inputs", "target", "seed", "layer", "heldout_alpha", "accuracy",
          "seconds", "extra"]
# --basis: two more measurements of the same layer (docs/training.md, "Measuring a layer's alpha")
BASIS_FIELDS = ["heldout_alpha_train_basis", "train_alpha"]


def build(arch, width, activation, inputs, images, seed, cnn_hidden=None):
    stats = {"standardised": {"mean": float(images.mean()), "std": float(images.std())},
             "half": {}, "unit": {"mean": 0.0, "std": 1.0}}[inputs]
    torch.manual_seed(seed)
    if arch == "mlp":
        return mlp(hidden=(width,), activation=activation, **stats)
    return cnn(activation=activation, **stats, **({"hidden": cnn_hidden} if cnn_hidden else {}))


def run(arch, width, activation, inputs, target, seed, data, extra, layer=None, basis=False, cnn_hidden=None):
    """One network; ``layer``: the regularized (and measured) layer, default ``act1`` (MLP) or ``act_fc`` (CNN)."""
    train_set, test_set = data
    model = build(arch, width, activation, inputs, train_set.tensors[0], seed, cnn_hidden)
    layers = [layer or ("act_fc" if arch == "cnn" else "act1")]
    reg = None if target is None else SpectralRegularizer(target, layers=layers)
    start = time.perf_counter()
    history = train(model, train_set, test_set, regularizer=reg, seed=seed, progress=False, **extra)
    seconds = time.perf_counter() - start
    fits = layer_alphas(model, test_set.tensors[0], layers=layers, progress=False)
    more = {}
    if basis:  # held-out variances along the training set's components; the training set's own PCA
        in_basis = layer_alphas(model, test_set.tensors[0], basis=train_set.tensors[0], layers=layers, progress=False)
        on_train = layer_alphas(model, train_set.tensors[0], layers=layers, progress=False)
        more = {name: {"heldout_alpha_train_basis": round(in_basis[name].alpha, 4),
                       "train_alpha": round(on_train[name].alpha, 4)} for name in fits}
    if arch == "cnn":  # the row's width is the regularized layer's number of units
        width = activations(model, test_set.tensors[0][:2], layers=layers, progress=False)[layers[0]].sizes["unit"]
    return [{"arch": arch, "width": width, "activation": activation, "inputs": inputs,
             "target": "" if target is None else target, "seed": seed, "layer": name,
             "heldout_alpha": round(fit.alpha, 4), "accuracy": round(float(history.val_accuracy[-1]), 4),
             "seconds": round(seconds, 1), "extra": json.dumps(extra), **more.get(name, {})}
            for name, fit in fits.items()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--arch", choices=["mlp", "cnn"], default="mlp")
    parser.add_argument("--widths", type=int, nargs="+", default=[2000])
    parser.add_argument("--activations", nargs="+", default=["tanh"])
    parser.add_argument("--inputs", nargs="+", default=["standardised", "half", "unit"])
    parser.add_argument("--targets", type=float, nargs="+", default=[1.0, 2.0, 3.0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--no-vanilla", action="store_true")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--layer", help="the regularized layer (CNN: pool1, pool2 or act_fc)")
    parser.add_argument("--cnn-hidden", type=int, help="the CNN's dense layer width (default: cnn()'s 128)")
    parser.add_argument("--basis", action="store_true",
                        help="also measure the layer in the training set's components, and on the training set")
    parser.add_argument("--extra", type=json.loads, default={}, help="JSON of extra train() arguments")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    data = load_training_data("mnist5k", seed=0)
    targets = ([] if args.no_vanilla else [None]) + args.targets
    new = not args.out.exists()
    with args.out.open("a", newline="") as handle:
        writer = csv.DictWriter(handle, FIELDS + (BASIS_FIELDS if args.basis else []))
        if new:
            writer.writeheader()
        for seed, width, act, inputs, target in itertools.product(
                args.seeds, args.widths, args.activations, args.inputs, targets):
            for row in run(args.arch, width, act, inputs, target, seed, data, args.extra, args.layer, args.basis,
                           args.cnn_hidden):
                writer.writerow(row)
                handle.flush()
                print(row, flush=True)


if __name__ == "__main__":
    main()
