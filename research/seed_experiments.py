"""The seed papers' robustness claims, tested with networks that have the spectrum (issue 24, point 4).

Every network is trained by the library's one recipe (:func:`v1ann.experiments.recipe.train_network`,
its defaults: the ``loglog`` penalty and ``train``'s "auto" options) on the offline MNIST subset
(4,000 training / 1,000 held-out digits); its held-out α is the library's one measurement
(:func:`v1ann.nn.probe.layer_alphas`, published fit over ranks 12..500). Each network is then
attacked on all 1,000 held-out digits:

* white box: FGSM, PGD (40 steps of 2.5·ε/40, 3 random restarts), APGD-CE (40 iterations,
  3 restarts) at ε ∈ {0.02, 0.05, 0.1, 0.2} (and 0, the sanity point);
* black box: Square (1,000 queries), which must not beat the white-box attacks;
* convergence at ε = 0.1: PGD with 10, 20, 50, 100 steps × 1, 5 restarts;
* transfer: PGD examples crafted on the vanilla network of the same seed.

Besides vanilla and the targets, ``control`` trains with the whole recipe (weight norm, input
centring, the gains' learning rate, basis refreshes) at strength 0: what the recipe does to
robustness without any spectrum being imposed.

Rows are appended to a CSV as each network finishes, and networks already in it are skipped,
so an interrupted run resumes. ``--summary`` turns the CSV into the claims table (Markdown) and
the figures. ``--fill-basis`` retrains the networks of a CSV written before
``heldout_alpha_train_basis`` was recorded (the MLP's) and fills it in.

Usage:
    python research/seed_experiments.py --out docs/data/seed_experiments.csv [--seeds 0 1 2 3 4] \\
        [--targets none 1 2 3 0.5 4 control] [--width 1000] [--threads 1]

    python research/seed_experiments.py --out docs/data/seed_experiments_cnn.csv --arch cnn \\
        --channels 8 16 --hidden 1000 --layer act_fc --convergence-seeds 0 --targets none 0.5 1 2 3 4 control

    python research/seed_experiments.py --out docs/data/seed_experiments.csv --summary \\
        --figures docs/img

    python research/seed_experiments.py --out docs/data/seed_experiments.csv --fill-basis

MLP: about 4 min per network on one thread of a 2-core CPU (35 networks: ~2.5 h); the CNN
about 10 CPU-minutes per network (35 networks: ~6 CPU-hours). Processes on disjoint
``--seeds`` can run side by side into separate CSVs, concatenated afterwards (one
architecture per CSV).
"""

from __future__ import annotations

import argparse
import csv
import time
from pathlib import Path

import torch

from v1ann._utils import atomic_path
from v1ann.experiments.recipe import train_network
from v1ann.nn.models import load_run, save_run
from v1ann.nn.robustness import pgd_convergence, robustness
from v1ann.nn.training_data import load_training_data

EPS = (0.0, 0.02, 0.05, 0.1, 0.2)
ATTACKS = ("fgsm", "pgd", "apgd-ce", "square")
WHITE_BOX = ("fgsm", "pgd", "apgd-ce")
FIELDS = ["arch", "width", "target", "seed", "heldout_alpha", "heldout_alpha_train_basis", "clean_accuracy", "kind",
          "attack", "eps", "steps", "restarts", "accuracy", "checks", "train_seconds", "eval_seconds"]


def network(train_set, test_set, args, target, seed):
    shape = {"hidden": [args.width]} if args.arch == "mlp" else {"channels": args.channels, "hidden": [args.hidden]}
    start = time.perf_counter()
    penalty = {"target_alpha": 1.0, "strength": 0.0} if target == "control" else {"target_alpha": target}
    run = train_network(train_set, test_set, arch=args.arch, layers=[args.layer] if args.layer else None,
                        seed=seed, progress=False, **shape, **penalty)
    # with --layer every network (vanilla too) measures that layer; without, the MLP's one hidden layer
    alphas = [run.config[key][args.layer] if args.layer else next(iter(run.config[key].values()))
              for key in ("heldout_alpha", "heldout_alpha_train_basis")]
    return run, alphas, time.perf_counter() - start


def evaluate(model, vanilla, test_set, seed, convergence=True):
    """Long rows (kind, attack, eps, steps, restarts, accuracy, checks) for one network."""
    rows = []
    white = robustness(model, test_set, attacks=ATTACKS, eps=EPS, steps=40, restarts=3, queries=1000,
                       n_samples=1000, seed=seed, progress=False)
    for attack in ATTACKS:
        for eps in EPS:
            rows.append({"kind": "attack", "attack": attack, "eps": eps, "steps": 40, "restarts": 3,
                         "accuracy": float(white["accuracy"].sel(attack=attack, eps=eps)),
                         "checks": white.attrs["checks"]})
    if convergence:
        converge = pgd_convergence(model, test_set, eps=0.1, steps=(10, 20, 50, 100), restarts=(1, 5),
                                   n_samples=1000, seed=seed, progress=False)
        for steps in converge["steps"].values:
            for restarts in converge["restarts"].values:
                rows.append({"kind": "convergence", "attack": "pgd", "eps": 0.1, "steps": int(steps),
                             "restarts": int(restarts),
                             "accuracy": float(converge["accuracy"].sel(steps=steps, restarts=restarts)),
                             "checks": converge.attrs["checks"]})
    if vanilla is not None:
        moved = robustness(model, test_set, attacks=("pgd",), eps=EPS[1:], steps=40, restarts=3,
                           source=vanilla, n_samples=1000, seed=seed, progress=False)
        for eps in EPS[1:]:
            rows.append({"kind": "transfer", "attack": "pgd", "eps": eps, "steps": 40, "restarts": 3,
                         "accuracy": float(moved["accuracy"].sel(attack="pgd", eps=eps)),
                         "checks": moved.attrs["checks"]})
    return rows, float(white["clean_accuracy"])


def done(path: Path) -> set[tuple]:
    if not path.exists():
        return set()
    with path.open() as handle:
        return {(r["arch"], r["width"], r["target"], r["seed"]) for r in csv.DictReader(handle)}


def run(args) -> None:
    torch.set_num_threads(args.threads)
    train_set, test_set = load_training_data("mnist5k", seed=0)
    finished = done(args.out)
    width = args.width if args.arch == "mlp" else "-".join(map(str, [*args.channels, args.hidden]))
    vanilla_models = {}
    for seed in args.seeds:
        # the transfer rows need the vanilla network of the seed: kept beside the CSV
        saved = args.out.parent / "seed_experiments_vanilla" / f"{args.arch}{width}_seed{seed}"
        if saved.exists():
            vanilla_models[seed] = load_run(saved)[0]
        for target in args.targets:
            key = (args.arch, str(width), "" if target is None else str(target), str(seed))
            if key in finished:
                continue
            if target is not None and seed not in vanilla_models:
                # its rows may be in the CSV without the saved network (another machine): train
                # it again (deterministic for a seed on one build; on another, a close twin)
                trained = network(train_set, test_set, args, None, seed)[0]
                vanilla_models[seed] = trained.model
                save_run(trained.model, saved, trained.config)
            trained, (alpha, alpha_basis), train_seconds = network(train_set, test_set, args, target, seed)
            model = trained.model
            if target is None:
                vanilla_models[seed] = model
                save_run(model, saved, trained.config)
            start = time.perf_counter()
            rows, clean = evaluate(model, None if target is None else vanilla_models[seed], test_set, seed,
                                   convergence=args.convergence_seeds is None or seed in args.convergence_seeds)
            common = {"arch": args.arch, "width": width, "target": "" if target is None else target,
                      "seed": seed, "heldout_alpha": round(alpha, 4),
                      "heldout_alpha_train_basis": round(alpha_basis, 4), "clean_accuracy": clean,
                      "train_seconds": round(train_seconds, 1),
                      "eval_seconds": round(time.perf_counter() - start, 1)}
            new = not args.out.exists()
            with args.out.open("a", newline="") as handle:
                writer = csv.DictWriter(handle, FIELDS)
                if new:
                    writer.writeheader()
                writer.writerows({**common, **row} for row in rows)
            print(f"seed {seed} target {target}: alpha {alpha:.3f} clean {clean:.3f} "
                  f"({train_seconds:.0f} s + {common['eval_seconds']:.0f} s)", flush=True)


def fill_basis(args) -> None:
    """Retrain the networks of ``--out`` (those of ``--seeds``) whose rows lack
    ``heldout_alpha_train_basis`` (CSVs written before it was recorded) and fill it in.
    Training is deterministic for a seed on one build: a retrained network that does not read
    the stored plain α (to 1e-3) is not the same network, and its rows are left empty."""
    torch.set_num_threads(args.threads)
    train_set, test_set = load_training_data("mnist5k", seed=0)
    with args.out.open() as handle:
        rows = list(csv.DictReader(handle))
    for key in dict.fromkeys((r["target"], r["seed"]) for r in rows):
        network_rows = [r for r in rows if (r["target"], r["seed"]) == key]
        if network_rows[0].get("heldout_alpha_train_basis") or int(key[1]) not in args.seeds:
            continue
        target = None if key[0] == "" else _target(key[0])
        _, (alpha, alpha_basis), seconds = network(train_set, test_set, args, target, int(key[1]))
        stored = float(network_rows[0]["heldout_alpha"])
        if abs(alpha - stored) > 1e-3:
            print(f"target {key[0] or 'none'} seed {key[1]}: retrained α {alpha:.4f} is not the stored "
                  f"{stored:.4f}: not the same network, left empty", flush=True)
            continue
        for r in network_rows:
            r["heldout_alpha_train_basis"] = round(alpha_basis, 4)
        with atomic_path(args.out) as tmp, tmp.open("w", newline="") as handle:
            writer = csv.DictWriter(handle, FIELDS)
            writer.writeheader()
            writer.writerows(rows)
        print(f"seed {key[1]} target {key[0] or 'none'}: alpha {alpha:.4f} (stored {stored:.4f}), "
              f"in the training components {alpha_basis:.4f} ({seconds:.0f} s)", flush=True)


def _target(text: str):
    if text.lower() in ("none", "control"):
        return None if text.lower() == "none" else "control"
    return float(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--arch", choices=["mlp", "cnn"], default="mlp")
    parser.add_argument("--width", type=int, default=1000, help="MLP: hidden width")
    parser.add_argument("--channels", type=int, nargs="+", default=[8, 16], help="CNN: conv channels")
    parser.add_argument("--hidden", type=int, default=1000, help="CNN: width of the dense hidden layer")
    parser.add_argument("--convergence-seeds", type=int, nargs="+", default=None,
                        help="seeds whose networks get the PGD steps x restarts check (default: all)")
    parser.add_argument("--layer", default=None,
                        help="the layer to regularize and measure (default: the model's representation layers)")
    parser.add_argument("--targets", type=_target, nargs="+",
                        default=[None, 1.0, 2.0, 3.0, 0.5, 4.0, "control"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--summary", action="store_true", help="write the claims table and figures only")
    parser.add_argument("--figures", type=Path, default=None)
    parser.add_argument("--fill-basis", action="store_true",
                        help="retrain the networks whose rows lack heldout_alpha_train_basis and fill it in")
    args = parser.parse_args()
    if args.fill_basis:
        fill_basis(args)
    elif args.summary:
        from seed_claims import summarise  # research/seed_claims.py, beside this script

        summarise(args.out, args.figures)
    else:
        run(args)


if __name__ == "__main__":
    main()
