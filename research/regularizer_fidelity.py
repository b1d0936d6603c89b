"""Does the regularized layer reach the target exponent on held-out data? (issue 5, point 5)

Trains MLP 784-2000-10 (tanh) on the offline MNIST subset (``mnist5k``: 4,000 train /
1,000 held-out digits) without the regularizer and with targets alpha = 1, 2, 3; then measures
alpha of the hidden layer on the held-out digits: PCA spectrum of the activations
(:func:`v1ann.pca_spectrum`) fitted over ranks 11..500 (:func:`v1ann.fit_powerlaw`,
``fit_range=(10, 500)``). Pass: |alpha - target| <= 0.1 for every target, and the vanilla
network outside ±0.1 of each target.

The defaults are the recipe of docs/training.md as of 2026-11-22 (loglog, then named gerum2022, strength 30, K = 500, weight norm
on fc1, eigenbasis refreshed every 8 steps, Adam lr 2e-3, batch 128, 20 epochs).

Usage: python research/regularizer_fidelity.py [--method loglog] [--strength 30] [--epochs 20]
           [--n-components 500] [--no-weight-norm] [--basis-every 8] [--weight-decay 0] [--threads 1]
           [--targets 1 2 3] [--skip-vanilla]
(run one target per process with --threads 1 to use several cores; results: docs/training.md)
"""

from __future__ import annotations

import argparse
import time

import torch

import v1ann
from v1ann.nn.activations import activations
from v1ann.nn.models import mlp
from v1ann.nn.regularizer import SpectralRegularizer
from v1ann.nn.train import train
from v1ann.nn.training_data import load_training_data as load

TARGETS = (1.0, 2.0, 3.0)
TOLERANCE = 0.1


def heldout_alpha(model, images) -> float:
    """alpha of act1 over ranks 11..500 of the held-out activations' PCA spectrum."""
    acts = activations(model, images, layers=["act1"], progress=False)
    return float(v1ann.fit_powerlaw(v1ann.pca_spectrum(acts["act1"]), fit_range=(10, 500)).alpha)


def run_one(target, args, train_set, test_set):
    images = train_set.tensors[0]
    torch.manual_seed(args.seed)
    model = mlp(hidden=(2000,), activation="tanh", mean=float(images.mean()), std=float(images.std()))
    reg = None
    if target is not None:
        reg = SpectralRegularizer(target, tau=args.tau, strength=args.strength, method=args.method,
                                  n_components=args.n_components or None)
    start = time.perf_counter()
    decay = {"optimizer": "adamw", "weight_decay": args.weight_decay} if reg is not None and args.weight_decay else {}
    # Weight norm of fc1 gives the penalty a direct handle on how far the tanh units saturate.
    history = train(model, train_set, test_set, regularizer=reg, epochs=args.epochs, batch_size=args.batch_size,
                    lr=args.lr, seed=args.seed, weight_norm=reg is not None and args.weight_norm, **decay,
                    centre_inputs=False, gain_lr=None,
                    basis_samples=None, basis_every=args.basis_every or None, progress=args.progress)
    seconds = time.perf_counter() - start
    alpha, accuracy = heldout_alpha(model, test_set.tensors[0]), float(history.val_accuracy[-1])
    print(f"  target {target}: held-out alpha {alpha:.3f}, train-set alpha by epoch "
          f"{history.alpha.values.ravel().round(3).tolist()}, accuracy {accuracy:.3f}, {seconds:.0f} s", flush=True)
    return alpha, accuracy, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--strength", type=float, default=30.0)
    parser.add_argument("--tau", type=int, default=10)
    parser.add_argument("--method", choices=["loglog", "nassar2020", "gerum2022"], default="loglog")
    parser.add_argument("--n-components", type=int, default=500, help="regularize ranks tau+1..K only (0: all)")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--weight-norm", action=argparse.BooleanOptionalAction, default=True,
                        help="train fc1 as g·v/‖v‖ in the regularized runs (the recipe)")
    parser.add_argument("--basis-every", type=int, default=8,
                        help="refresh the eigenbasis every N steps (0: once per epoch)")
    parser.add_argument("--weight-decay", type=float, default=0.0,
                        help="AdamW decoupled weight decay for the regularized runs (0: plain Adam)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--targets", type=float, nargs="*", default=list(TARGETS))
    parser.add_argument("--skip-vanilla", action="store_true", help="only the regularized runs")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads (default: torch's choice)")
    parser.add_argument("--progress", action="store_true")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    train_set, test_set = load("mnist5k", seed=args.seed)
    print(f"mnist5k, MLP 784-2000-10 tanh, {args.epochs} epochs, batch {args.batch_size}, Adam lr {args.lr}; "
          f"regularized runs: weight norm {args.weight_norm}, basis every {args.basis_every or 'epoch'} steps, "
          f"weight decay {args.weight_decay}, {args.method}, strength {args.strength}, tau {args.tau}, "
          f"n_components {args.n_components}; alpha on 1,000 held-out digits, ranks 11..500", flush=True)
    rows = [] if args.skip_vanilla else [("vanilla", None, *run_one(None, args, train_set, test_set))]
    for target in args.targets:
        rows.append((f"{target:g}", target, *run_one(target, args, train_set, test_set)))
    vanilla_alpha = rows[0][2] if not args.skip_vanilla else None
    print(f"\n{'target':<9}{'held-out α':>11}{'|α − target|':>14}{'within ±0.1':>13}{'accuracy':>10}{'train s':>9}")
    ok = True
    for label, target, alpha, acc, seconds in rows:
        if target is None:
            gaps = [abs(vanilla_alpha - t) for t in args.targets or TARGETS]
            verdict = "no (good)" if min(gaps) > TOLERANCE else "YES (bad)"
            ok &= min(gaps) > TOLERANCE
            gap = f"≥ {min(gaps):.3f}"
        else:
            within = abs(alpha - target) <= TOLERANCE
            ok &= within
            verdict, gap = ("yes" if within else "NO"), f"{abs(alpha - target):.3f}"
        print(f"{label:<9}{alpha:>11.3f}{gap:>14}{verdict:>13}{acc:>10.3f}{seconds:>9.0f}")
    print("\nPASS" if ok else "\nFAIL")


if __name__ == "__main__":
    main()
