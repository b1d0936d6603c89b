"""Estimators scored on recordings that are not drawn from their own model (issue 22).

Families (``v1ann.simulate_recording``; truth = ``attrs["true_alpha"]``, the published fit
of the true signal spectrum over ranks 12..500):

    a  one power law                         alpha 1 and 2
    b  broken power laws                     flatter head 0.5 -> 1.2 at rank 16;
                                             steeper head 2.0 -> 1.0 at rank 30
    c  a tail bending beyond the fit range   1.0 -> 0.5 at rank 600; inside it at 150
    d  signal-dependent noise                Poisson, modulated Poisson (gain sd 0.5),
                                             multiplicative; alpha 1
    e  noise structure                       heteroscedastic neurons (log-sd 0.7);
                                             white noise (noise_alpha 0)
    f  MEME's design                         i.i.d. stimuli from a population spectrum:
                                             alpha 1, and 0.5 -> 1.2 at rank 16; truth is
                                             the population's (``shown_alpha``: the same
                                             fit of the stimuli drawn)

Estimators: the published fit (``cvpca``), the current default (``cvpca-matched``), the
broken-power-law matching (``cvpca-shape``) and MEME (``meme``), each with its own 95 %
interval. Every recording is mean-centred over
stimuli first. Writes one row per (recording, estimator) to
``docs/data/validation_families.csv`` and prints median |error|, coverage and time per
family x estimator.

Seeds: no choice in v1ann's estimators was made on seeds >= 10; ``cvpca-shape``'s one
choice after seeing numbers (the shuffle spread in its covariance) was made on seeds 0-3 of
cells a-c at noise/signal 1, and seeds 30-34 were first run with the code as committed.
MEME's robust interval spread was chosen after seeing seed 0 (700 x 2,500, alpha 2, fixed
stimuli), which is not in this study.

    python research/validation_families.py [--seeds 30 31 32] [--n-stimuli 700] [--n-neurons 2500]
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

import pandas as pd

import v1ann
from v1ann.errors import InvalidInputError, V1AnnWarning
from v1ann.recording.preprocessing import mean_center
from v1ann.recording.simulate import broken_power_law_spectrum

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "data" / "validation_families.csv"
FIGURE = ROOT / "docs" / "img" / "validation_families.png"
ESTIMATORS = ("cvpca", "cvpca-matched", "cvpca-shape", "meme")


def families(n_ranks: int) -> dict[str, tuple[str, dict]]:
    """cell name -> (family, simulate_recording keywords)."""
    bpl = broken_power_law_spectrum
    return {
        "power law 1": ("a", dict(alpha=1.0)),
        "power law 2": ("a", dict(alpha=2.0)),
        "flat head 0.5>1.2@16": ("b", dict(spectrum=bpl([0.5, 1.2], [16], n_ranks))),
        "steep head 2>1@30": ("b", dict(spectrum=bpl([2.0, 1.0], [30], n_ranks))),
        "tail 1>0.5@600": ("c", dict(spectrum=bpl([1.0, 0.5], [600], n_ranks))),
        "tail 1>0.5@150": ("c", dict(spectrum=bpl([1.0, 0.5], [150], n_ranks))),
        "poisson": ("d", dict(alpha=1.0, noise="poisson")),
        "modulated poisson": ("d", dict(alpha=1.0, noise="modulated-poisson")),
        "multiplicative": ("d", dict(alpha=1.0, noise="multiplicative")),
        "heteroscedastic": ("e", dict(alpha=1.0, noise_spread=0.7)),
        "white noise": ("e", dict(alpha=1.0, noise_alpha=0.0)),
        "meme design 1": ("f", dict(alpha=1.0, stimuli="sampled")),
        "meme design broken": ("f", dict(spectrum=bpl([0.5, 1.2], [16], n_ranks), stimuli="sampled")),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[30, 31, 32])
    parser.add_argument("--n-stimuli", type=int, default=700)
    parser.add_argument("--n-neurons", type=int, default=2500)
    parser.add_argument("--noise-scale", type=float, default=1.0)
    parser.add_argument("--cells", nargs="*", help="run only these cells")
    parser.add_argument("--methods", nargs="+", default=list(ESTIMATORS), choices=ESTIMATORS)
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--figure", type=Path, default=FIGURE)
    parser.add_argument("--summary-only", action="store_true", help="redraw the table and figure from --out")
    args = parser.parse_args()
    if args.summary_only:
        report(pd.read_csv(args.out), args.out, args.figure)
        return
    # rows already in --out are kept (a run of other cells or seeds adds to them)
    old = pd.read_csv(args.out) if args.out.exists() else pd.DataFrame()
    rows = []
    cells = families(args.n_neurons)
    for name, (family, kwargs) in cells.items():
        if args.cells and name not in args.cells:
            continue
        for seed in args.seeds:
            rec = mean_center(v1ann.simulate_recording(n_stimuli=args.n_stimuli, n_neurons=args.n_neurons,
                                                       noise_scale=args.noise_scale, seed=seed, **kwargs))
            truth = rec.attrs["true_alpha"]
            for method in args.methods:
                started = time.perf_counter()
                attrs, error = {}, ""
                try:
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore", V1AnnWarning)
                        # the published code takes log(abs(variance)) where cvPCA crosses zero
                        extra = {"nonpositive": "abs"} if method == "cvpca" else {}
                        fit = v1ann.estimate_alpha(rec, method=method, seed=seed, progress=False, **extra)
                    alpha, (lo, hi), attrs = fit.alpha, fit.alpha_ci, fit.attrs
                except InvalidInputError as exc:  # an estimator that refuses the recording: a failure, recorded
                    alpha, lo, hi, error = float("nan"), float("nan"), float("nan"), str(exc)
                rows.append(dict(cell=name, family=family, seed=seed, method=method, true_alpha=truth,
                                 shown_alpha=rec.attrs.get("shown_alpha"),
                                 alpha_hat=alpha, ci_low=lo, ci_high=hi, covered=lo <= truth <= hi,
                                 one_power_law=attrs.get("one_power_law"),
                                 p_one_power_law=attrs.get("p_one_power_law"), error=error,
                                 seconds=time.perf_counter() - started, n_stimuli=args.n_stimuli,
                                 n_neurons=args.n_neurons, noise_scale=args.noise_scale))
                print(f"{name:22s} seed {seed} {method:14s} truth {truth:.3f} hat {alpha:.3f} "
                      f"[{lo:.3f}, {hi:.3f}] {rows[-1]['seconds']:.0f} s {error}", flush=True)
            table = merged(old, pd.DataFrame(rows))
            table.to_csv(args.out, index=False)  # partial results survive an interruption
    report(table, args.out, args.figure)


def merged(old: pd.DataFrame, new: pd.DataFrame) -> pd.DataFrame:
    """``old`` rows not rerun in ``new``, then ``new``."""
    keys = ["cell", "seed", "method", "noise_scale"]
    if old.empty:
        return new
    rerun = old.set_index(keys).index.isin(new.set_index(keys).index)
    return pd.concat([old[~rerun], new], ignore_index=True)


def report(table: pd.DataFrame, out: Path, figure_path: Path) -> None:
    """Print the family x estimator table and draw the figure."""
    print(summary(table).to_string())
    figure(table).savefig(figure_path, dpi=120, bbox_inches="tight")
    print(f"wrote {out} and {figure_path}")


def figure(table: pd.DataFrame):
    """Error of each estimate with its 95 % interval, one row per cell, one colour per estimator."""
    import matplotlib.pyplot as plt

    cells = list(dict.fromkeys(table["cell"]))
    fig, ax = plt.subplots(figsize=(7.5, 0.42 * len(cells) + 1.2))
    methods = list(dict.fromkeys(table["method"]))
    seeds = sorted(set(table["seed"]))
    for k, (method, part) in enumerate(table.groupby("method", sort=False)):
        for _, row in part.iterrows():
            y = (cells.index(row["cell"]) + (k - (len(methods) - 1) / 2) * 0.8 / len(methods)
                 + seeds.index(row["seed"]) * 0.16 / len(methods) / max(len(seeds) - 1, 1))
            err = row["alpha_hat"] - row["true_alpha"]
            ax.errorbar(err, y, xerr=[[row["alpha_hat"] - row["ci_low"]], [row["ci_high"] - row["alpha_hat"]]],
                        fmt="o", ms=3, color=f"C{k}", lw=1, label=method if row.name == part.index[0] else None)
    ax.axvline(0, color="k", lw=0.8)
    ax.set_yticks(range(len(cells)), [f"{table.loc[table.cell == c, 'family'].iloc[0]}: {c}" for c in cells])
    ax.invert_yaxis()
    ax.set_xlabel("estimate − true α (published fit of the true spectrum, ranks 12..500), 95 % interval")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=len(methods), frameon=False)
    fig.tight_layout()
    return fig


def summary(table: pd.DataFrame) -> pd.DataFrame:
    """Median |error|, coverage and median seconds per family x estimator.

    Family f is scored twice: against the population's spectrum (``f``, MEME's estimand)
    and against the shown stimuli's (``f shown``, the estimand of every other family).
    """
    shown = table[table["shown_alpha"].notna()].copy()
    shown["family"] = shown["family"] + " shown"
    shown["true_alpha"] = shown["shown_alpha"]
    shown["covered"] = (shown["ci_low"] <= shown["true_alpha"]) & (shown["true_alpha"] <= shown["ci_high"])
    table = pd.concat([table, shown], ignore_index=True)
    table = table.assign(abs_error=(table["alpha_hat"] - table["true_alpha"]).abs())
    return table.groupby(["family", "method"]).agg(
        median_abs_error=("abs_error", "median"), worst_cell=("abs_error", "max"),
        coverage=("covered", "mean"), n=("covered", "size"), refused=("alpha_hat", lambda x: int(x.isna().sum())),
        seconds=("seconds", "median"),
    ).round(3)


if __name__ == "__main__":
    main()
