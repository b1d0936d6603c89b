"""The default on recordings of one power law and of broken ones (issue 22): how often
``cvpca-matched``'s test of one power law (``p_model``) rejects, and the default's
estimate and interval after its refit (``method="auto"``: ``cvpca-shape`` where the test
rejects).

Level: recordings of one power law (alpha 0.5-3 x noise/signal 0.5-4, and the noise
models of validation family d/e at alpha 1 and 2); power: the broken and bent spectra of
families b and c. The test (a 5 % two-sided t test of the in-range slope, read blind to
the fitted exponent, ``matched.estimator._slope_check``) was last changed after seeds
50-53 showed it conservative; seeds 70-73 were used to check that change, and seeds 54-57
are the reported set, run once with the code as committed (docs/validation.md). Writes
``docs/data/model_check.csv`` and prints the rejection rate, the default's error and its
coverage per cell.

Seeds 110-113 (``docs/data/model_check_seeds110-113.csv``) report two later changes chosen
after seeds 54-57: ``cvpca-matched``'s interval on Welch-Satterthwaite degrees of freedom
(one-law cells, 7845e86) and the refit keeping the broken law (broken cells, aa510e6; the
same cells run before it are in docs/validation.md).

    python research/model_check.py --seeds 54 55 56 57 [--n-stimuli 700 --n-neurons 2500]
    python research/model_check.py --seeds 110 111 112 113 --out docs/data/model_check_seeds110-113.csv
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

OUT = Path(__file__).resolve().parents[1] / "docs" / "data" / "model_check.csv"


def cells(n_ranks: int) -> dict[str, tuple[bool, float, dict]]:
    """cell -> (one power law?, noise/signal, simulate_recording keywords)."""
    bpl = broken_power_law_spectrum
    out = {}
    for alpha in (0.5, 1.0, 2.0, 3.0):
        for noise in (0.5, 1.0, 2.0, 4.0):
            out[f"power law {alpha:g}, noise {noise:g}"] = (True, noise, dict(alpha=alpha))
    for alpha in (1.0, 2.0):
        for name, kw in {"poisson": dict(noise="poisson"), "multiplicative": dict(noise="multiplicative"),
                         "heteroscedastic": dict(noise_spread=0.7), "white noise": dict(noise_alpha=0.0)}.items():
            out[f"{name} {alpha:g}, noise 1"] = (True, 1.0, dict(alpha=alpha, **kw))
    for noise in (0.5, 1.0, 4.0):
        out[f"flat head 0.5>1.2@16, noise {noise:g}"] = (False, noise, dict(spectrum=bpl([0.5, 1.2], [16], n_ranks)))
        out[f"steep head 2>1@30, noise {noise:g}"] = (False, noise, dict(spectrum=bpl([2.0, 1.0], [30], n_ranks)))
        out[f"tail 1>0.5@150, noise {noise:g}"] = (False, noise, dict(spectrum=bpl([1.0, 0.5], [150], n_ranks)))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[50, 51, 52, 53])
    parser.add_argument("--n-stimuli", type=int, default=700)
    parser.add_argument("--n-neurons", type=int, default=2500)
    parser.add_argument("--cells", nargs="*", help="run only the cells whose names contain one of these")
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--summary-only", action="store_true")
    args = parser.parse_args()
    if not args.summary_only:
        rows = []
        for name, (single, noise, kwargs) in cells(args.n_neurons).items():
            if args.cells and not any(part in name for part in args.cells):
                continue
            for seed in args.seeds:
                rec = mean_center(v1ann.simulate_recording(n_stimuli=args.n_stimuli, n_neurons=args.n_neurons,
                                                           noise_scale=noise, seed=seed, **kwargs))
                started = time.perf_counter()
                nan = float("nan")
                try:
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore", V1AnnWarning)
                        fit = v1ann.estimate_alpha(rec, seed=seed, progress=False)  # the default, "auto"
                    a = fit.attrs
                    alpha, (low, high), method = fit.alpha, fit.alpha_ci, fit.method
                    mismatch, p, criterion = a["slope_mismatch"], a["p_model"], a.get("matched_by", "")
                    matched, (matched_low, matched_high) = (
                        (a["matched_alpha"], a["matched_alpha_ci"]) if "refit_from" in a else (alpha, (low, high)))
                except InvalidInputError:
                    alpha = low = high = mismatch = p = matched = matched_low = matched_high = nan
                    method, criterion = "refused", ""
                truth = rec.attrs["true_alpha"]
                rows.append(dict(cell=name, one_power_law=single, seed=seed, noise_scale=noise,
                                 true_alpha=truth, alpha_hat=alpha, ci_low=low, ci_high=high,
                                 covered=low <= truth <= high, method=method, matched_alpha=matched,
                                 matched_ci_low=matched_low, matched_ci_high=matched_high,
                                 slope_mismatch=mismatch, p_model=p, matched_by=criterion,
                                 seconds=time.perf_counter() - started,
                                 n_stimuli=args.n_stimuli, n_neurons=args.n_neurons))
                print(f"{name:34s} seed {seed} truth {truth:.3f} one law {matched:.3f} mismatch {mismatch:+.3f} "
                      f"p {p:.3g} -> {method} {alpha:.3f} [{low:.3f}, {high:.3f}] "
                      f"{rows[-1]['seconds']:.0f} s", flush=True)
        new = pd.DataFrame(rows)
        old = pd.read_csv(args.out) if args.out.exists() else pd.DataFrame()
        keys = ["cell", "seed", "n_stimuli", "n_neurons"]
        if not old.empty:
            old = old[~old.set_index(keys).index.isin(new.set_index(keys).index)]
        pd.concat([old, new], ignore_index=True).to_csv(args.out, index=False)
    summary(pd.read_csv(args.out))


def summary(table: pd.DataFrame) -> None:
    """Per cell and per kind (one law or not): rejections, the one-law fit's and the
    default's median error, the default's coverage and median seconds."""
    table = table.assign(rejected=table.p_model < 0.05,
                         matched_error=(table.matched_alpha - table.true_alpha).abs(),
                         error=(table.alpha_hat - table.true_alpha).abs(),
                         matched_covered=(table.matched_ci_low <= table.true_alpha)
                         & (table.true_alpha <= table.matched_ci_high))
    stats = dict(rejected=("rejected", "sum"), n=("rejected", "size"), one_law_error=("matched_error", "median"),
                 one_law_covered=("matched_covered", "mean"), default_error=("error", "median"),
                 default_worst=("error", "max"), default_covered=("covered", "mean"), seconds=("seconds", "median"))
    with pd.option_context("display.width", 200):
        print(table.groupby(["n_stimuli", "one_power_law", "cell"]).agg(**stats).round(3).to_string())
        print(table.groupby(["n_stimuli", "one_power_law"]).agg(**stats).round(3).to_string())


if __name__ == "__main__":
    main()
