"""SVCA's exponent, published and simulation-matched, on five families of spontaneous activity.

Families (``v1ann.simulate_spontaneous``, Gaussian time courses unless said): (a) one power
law over every dimension, white private noise of one variance (svca-matched's own model);
(b) the power law over a quarter of the dimensions only; (c) broken power laws (a flatter
and a steeper head); (d) private noise that differs between neurons (log-normal amplitudes,
sd 0.5); (e) shared time courses correlated over 10 time points (AR(1)); (f) the exact
orthonormal time courses of ``simulate_spontaneous``'s default, whose sample covariance is
exactly the power law. Truth: ``true_alpha`` of the true shared spectrum over the fit range. Writes one row per (recording, method) to docs/data/svca_validation.csv
and prints median error, coverage and time per family and method.

    python research/svca_validation.py [--seeds 20 21] [--n-time 2000] [--n-neurons 1000]
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

import pandas as pd

import v1ann
from v1ann.errors import InvalidInputError, V1AnnWarning
from v1ann.recording.simulate import broken_power_law_spectrum, true_alpha

OUT = Path(__file__).resolve().parents[1] / "docs" / "data" / "svca_validation.csv"
ALPHAS = (0.5, 1.0, 2.0)
NOISE = (0.25, 1.0, 4.0)


def cells(n_time: int, n_neurons: int):
    """(family, label, simulate_spontaneous keywords) of every cell."""
    dims = min(n_time - 1, n_neurons)
    gaussian = dict(time_courses="gaussian")
    for alpha in ALPHAS:
        yield "a", f"alpha {alpha:g}", dict(alpha=alpha, **gaussian)
        yield "b", f"alpha {alpha:g}, {dims // 4} dims", dict(alpha=alpha, n_shared=dims // 4, **gaussian)
        yield "d", f"alpha {alpha:g}, spread 0.5", dict(alpha=alpha, noise_spread=0.5, **gaussian)
        yield "e", f"alpha {alpha:g}, timescale 10", dict(alpha=alpha, timescale=10.0, **gaussian)
        yield "f", f"alpha {alpha:g}, exact", dict(alpha=alpha)
    for slopes, brk in (((0.5, 1.2), 16), ((2.0, 1.0), 8)):
        yield "c", f"{slopes[0]:g} -> {slopes[1]:g} at {brk}", dict(
            spectrum=broken_power_law_spectrum(slopes, [brk], dims), **gaussian)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[20, 21])
    parser.add_argument("--n-time", type=int, default=2000)
    parser.add_argument("--n-neurons", type=int, default=1000)
    parser.add_argument("--fit-range", type=int, nargs=2, default=[11, 200])
    parser.add_argument("--families", nargs="+", default=list("abcdef"))
    parser.add_argument("--methods", nargs="+", default=["svca", "svca-matched"])
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    fit_range = tuple(args.fit_range)
    rows = []
    for family, label, options in cells(args.n_time, args.n_neurons):
        if family not in args.families:
            continue
        for noise in NOISE:
            for seed in args.seeds:
                rec = v1ann.simulate_spontaneous(n_time=args.n_time, n_neurons=args.n_neurons, noise_scale=noise,
                                                 seed=seed, **options)
                truth = true_alpha(rec["true_shared_spectrum"].values, fit_range)
                for method in args.methods:
                    started = time.perf_counter()
                    try:
                        with warnings.catch_warnings():
                            warnings.simplefilter("ignore", V1AnnWarning)  # recorded in the fit's attrs
                            fit = v1ann.estimate_alpha(rec, method=method, fit_range=fit_range, seed=seed,
                                                       progress=False)
                    except InvalidInputError as exc:  # a refusal is a result: counted, not scored
                        rows.append(dict(family=family, cell=label, noise_scale=noise, seed=seed, method=method,
                                         true_alpha=truth, refused=str(exc)))
                        print(f"{family} {label} noise {noise:g} seed {seed} {method}: refused ({exc})", flush=True)
                        continue
                    low, high = fit.alpha_ci if fit.alpha_ci is not None else (float("nan"),) * 2
                    rows.append(dict(family=family, cell=label, noise_scale=noise, seed=seed, method=method,
                                     true_alpha=truth, alpha_hat=fit.alpha, ci_low=low, ci_high=high,
                                     covered=bool(low <= truth <= high) if fit.alpha_ci is not None else None,
                                     fit_hi=fit.fit_range[1], reliable_fraction=fit.attrs["reliable_fraction"],
                                     p_model=fit.attrs.get("p_model"), seconds=time.perf_counter() - started))
                    print(f"{family} {label} noise {noise:g} seed {seed} {method}: {fit.alpha:.3f} "
                          f"(truth {truth:.3f}) [{low:.3f}, {high:.3f}]", flush=True)
    table = pd.DataFrame(rows)
    table["error"] = table["alpha_hat"] - table["true_alpha"]
    if args.out.exists():  # keep other families' and seeds' rows
        old = pd.read_csv(args.out)
        keys = ["family", "cell", "noise_scale", "seed", "method"]
        old = old[~old.set_index(keys).index.isin(table.set_index(keys).index)]
        table = pd.concat([old, table], ignore_index=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.out, index=False)
    print(summary(table).to_string())
    print(f"wrote {args.out}")


def summary(table: pd.DataFrame) -> pd.DataFrame:
    """Median |error|, worst cell's median |error|, coverage and time per family and method."""
    table = table.assign(abs_error=table["error"].abs())
    worst = table.groupby(["family", "method", "cell", "noise_scale"])["abs_error"].median()
    return pd.DataFrame({
        "median_abs_error": table.groupby(["family", "method"])["abs_error"].median(),
        "worst_cell": worst.groupby(["family", "method"]).max(),
        "covered": table.groupby(["family", "method"])["covered"].mean(),
        "n": table.groupby(["family", "method"]).size(),
        "refused": table.groupby(["family", "method"])["alpha_hat"].apply(lambda a: int(a.isna().sum())),
        "seconds": table.groupby(["family", "method"])["seconds"].median(),
    }).round(3)


if __name__ == "__main__":
    main()
