"""The seed papers' experiment on the offline MNIST subset: is a 1/n spectrum more robust?

Nassar et al. (2020) trained a one-hidden-layer MLP (2000 tanh units) with a spectral
regularizer pulling the hidden spectrum to n^-1 and found it more robust to FGSM/PGD than
a vanilla network; Gerum et al. (2022) swept alpha and found alpha ≈ 2-3 often better for
dense networks. This script runs that comparison with ``v1ann.sweep``:

* data: ``mnist5k`` (4,000 train / 1,000 test real MNIST digits, offline);
* model: MLP 784-2000-10, tanh (``v1ann.nn.models.mlp`` defaults);
* runs: vanilla and target alpha in {0.5, 1, 2, 3, 4} (nassar2020 loss, strength 1, tau 10),
  plus alpha = 1 at strength 10 (a follow-up, see ``FOLLOW_UP``), 3 seeds each = 21 runs;
  Adam, lr 1e-3, batch 128, 6 epochs;
* held-out alpha: PCA of the hidden layer over the 1,000 test digits, ranks 11..500;
* attacks: FGSM and PGD (L∞, 40 steps of 2.5·eps/40, one random start) at
  eps in {0, 0.05, 0.1, 0.2, 0.3} on the first 300 test digits.

Settings were fixed before any robustness number was seen, aiming at ~20 minutes on 2 CPU
cores with 2 dask workers (validation accuracy of the vanilla MLP plateaus at about 0.90 by
epoch 4 on this subset). Measured: 168 s per run, 31 min for the 21 runs on 2 cores shared
with other jobs (load average about 15). Re-running continues an interrupted sweep
(finished runs are skipped) and redraws the outputs:

* ``research/results/robustness_experiment.nc`` (the sweep store; not versioned),
* ``docs/data/robustness_experiment.csv`` (one row per run),
* ``docs/img/robustness_*.png`` (figures used by ``docs/robustness.md``),

and prints a summary table (mean ± sd over seeds).

Usage: ``python research/robustness_experiment.py [--workers 2]``
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
STORE = REPO / "research" / "results" / "robustness_experiment.nc"
CHECKPOINTS = REPO / "research" / "results" / "robustness_checkpoints"
CSV = REPO / "docs" / "data" / "robustness_experiment.csv"
IMG = REPO / "docs" / "img"

GRID = [{"target_alpha": None}] + [
    {"target_alpha": alpha, "strength": 1.0, "tau": 10} for alpha in (0.5, 1.0, 2.0, 3.0, 4.0)
]
# Added after the first 18 runs showed that strength 1 leaves the held-out alpha near the
# vanilla value for targets below it (docs/robustness.md): does a 10x stronger pull reach
# alpha = 1, and what does that do to robustness? Same settings, same store.
FOLLOW_UP = [{"target_alpha": 1.0, "strength": 10.0, "tau": 10}]
SETTINGS = dict(
    dataset="mnist5k",
    arch="mlp",
    epochs=6,
    seeds=3,
    attacks=("fgsm", "pgd"),
    eps=(0, 0.05, 0.1, 0.2, 0.3),
    steps=40,
    restarts=1,
    n_eval=300,
    fit_range=(10, 500),
    method="nassar2020",
    batch_size=128,
    lr=1e-3,
)
ROBUST_EPS = 0.1  # the budget of the "robust accuracy vs alpha" figure


def run_table(results):
    """One row per run: the grid point, measured alpha, clean and attacked accuracies."""
    import pandas as pd

    rows = []
    for run in results["run"].values:
        r = results.sel(run=run)
        row = {
            "run": run,
            "target_alpha": float(r["target_alpha"]),
            "vanilla": bool(r["vanilla"]),
            "strength": float(r["strength"]),
            "tau": int(r["tau"]),
            "seed": int(r["seed"]),
            "alpha_heldout": float(r["alpha"].isel(layer=0)),
            "alpha_train_last_epoch": float(r["history_alpha"].isel(epoch=-1, layer=0)),
            "val_accuracy": float(r["history_val_accuracy"].isel(epoch=-1)),
            "clean_accuracy": float(r["clean_accuracy"]),
            "attack_checks": str(r["attack_checks"].values),
        }
        for attack in results["attack"].values:
            for eps in results["eps"].values:
                row[f"{attack}_eps{eps:g}"] = float(r["accuracy"].sel(attack=attack, eps=eps))
        rows.append(row)
    table = pd.DataFrame(rows)
    return table.sort_values(["vanilla", "target_alpha", "strength", "seed"], ascending=[False, True, True, True])


def mean_sd(results):
    """The sweep's summary as 'mean ± sd' strings (for printing)."""
    from v1ann.experiments.sweeps import summarize

    table = summarize(results)
    measures = [c for c in table.columns if f"{c}_sd" in table.columns]
    out = table[["n_seeds"]].copy()
    for column in measures:
        out[column] = [f"{m:.3f} ± {s:.3f}" for m, s in zip(table[column], table[f"{column}_sd"])]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()

    from v1ann.experiments.sweeps import sweep

    started = time.perf_counter()
    results = sweep(
        GRID + FOLLOW_UP, store=STORE, workers=args.workers, checkpoint_dir=CHECKPOINTS, device="cpu", **SETTINGS
    )
    print(f"sweep: {results.sizes['run']} runs in the store; this session {time.perf_counter() - started:.0f} s")

    from v1ann.plot._style import save_figure
    from v1ann.plot.robustness import (
        accuracy_vs_eps,
        measured_vs_target_alpha,
        robust_accuracy_vs_alpha,
    )

    table = run_table(results)
    CSV.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(CSV, index=False, float_format="%.4f")
    IMG.mkdir(parents=True, exist_ok=True)
    save_figure(accuracy_vs_eps(results), IMG / "robustness_accuracy_vs_eps.png")
    save_figure(robust_accuracy_vs_alpha(results, eps=ROBUST_EPS), IMG / "robustness_vs_alpha.png")
    save_figure(measured_vs_target_alpha(results), IMG / "robustness_measured_alpha.png")

    import pandas as pd

    with pd.option_context("display.width", 200, "display.max_columns", 30):
        print(mean_sd(results).to_string())
    print("seconds per run (mean):", f"{float(results['seconds'].mean()):.0f}")
    failed = table[table["attack_checks"] != "passed"]
    print(f"attack sanity checks failed in {len(failed)} of {len(table)} runs")
    for _, row in failed.iterrows():
        print(f"  {row['run']}: {row['attack_checks']}")
    print(f"wrote {CSV.relative_to(REPO)} and docs/img/robustness_*.png")


if __name__ == "__main__":
    main()
