"""SVCA's exponent on simulated spontaneous activity of known shared spectrum.

Simulates ``v1ann.simulate_spontaneous`` recordings (a shared signal of spectrum exactly
n^-alpha plus private noise of ``noise_scale`` times the shared variance per neuron) and
fits the SVCA spectrum with ``v1ann.estimate_alpha`` (method "svca", published fit over
``--fit-range``). Writes one row per recording to ``docs/data/svca_bias.csv`` and prints
the median error per (alpha, noise) cell.

    python research/svca_bias.py [--seeds 3] [--n-time 4000] [--n-neurons 2000]
"""

from __future__ import annotations

import argparse
import itertools
import time
from pathlib import Path

import pandas as pd

import v1ann

OUT = Path(__file__).resolve().parents[1] / "docs" / "data" / "svca_bias.csv"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--n-time", type=int, default=4000)
    parser.add_argument("--n-neurons", type=int, default=2000)
    parser.add_argument("--alphas", type=float, nargs="+", default=[0.5, 1.0, 1.5, 2.0])
    parser.add_argument("--noise", type=float, nargs="+", default=[0.0, 0.5, 1.0, 2.0, 4.0])
    parser.add_argument("--fit-range", type=int, nargs=2, default=[11, 500])
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    rows = []
    for alpha, noise, seed in itertools.product(args.alphas, args.noise, range(args.seeds)):
        rec = v1ann.simulate_spontaneous(alpha, n_time=args.n_time, n_neurons=args.n_neurons,
                                         noise_scale=noise, seed=seed)
        started = time.perf_counter()
        fit = v1ann.estimate_alpha(rec, fit_range=tuple(args.fit_range), seed=seed, progress=False)
        rows.append(dict(true_alpha=alpha, noise_scale=noise, seed=seed, n_time=args.n_time,
                         n_neurons=args.n_neurons, alpha_hat=fit.alpha, fit_lo=fit.fit_range[0] + 1,
                         fit_hi=fit.fit_range[1], r2=fit.r2, seconds=time.perf_counter() - started))
        print(f"alpha {alpha:g} noise {noise:g} seed {seed}: {fit.alpha:.3f} (ranks {fit.fit_range[0] + 1}.."
              f"{fit.fit_range[1]})", flush=True)
    table = pd.DataFrame(rows)
    table["error"] = table["alpha_hat"] - table["true_alpha"]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.out, index=False)
    print(table.pivot_table(index="true_alpha", columns="noise_scale", values="error", aggfunc="median")
          .round(3).to_string())
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
