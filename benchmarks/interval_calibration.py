"""Does cvpca-matched's interval match the scatter of its estimate over fresh noise?

For one simulated signal (fixed ``--seed``: signal and noise covariance), the recording is
redrawn ``--draws`` times with fresh trial-to-trial noise (``simulate_recording(...,
noise_seed=k)``) and ``v1ann.estimate_alpha(method="cvpca-matched")`` is run on each. The
standard deviation of alpha_hat over the draws is what the interval's noise terms must
explain. Printed side by side per cell:

* ``sd_draws``: the measured scatter of alpha_hat over noise draws (its own relative
  uncertainty is about 1 / sqrt(2 (draws - 1)), 16 % at 20 draws);
* ``sd_reported``: the root mean square of the reported ``alpha_sd``, and of it without the
  noise-realisation term (``sd_without``) and of that term alone;
* ``ratio``: ``sd_draws / sd_reported`` (1 = calibrated);
* ``bias``: mean alpha_hat - alpha for this signal.

Usage::

    python benchmarks/interval_calibration.py                              # 700 x 2,500, 20 draws
    python benchmarks/interval_calibration.py --n-stimuli 2800 --neurons 10000 --fit-range 11 500 \\
        --alphas 0.5 --ratios 4 --draws 8
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

import v1ann
from v1ann._utils import atomic_path
from v1ann.errors import V1AnnWarning

PARTS = ("repeat_noise", "orientation", "noise_realisation")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--alphas", type=float, nargs="+", default=[0.5, 1.0, 2.0, 3.0])
    p.add_argument("--ratios", type=float, nargs="+", default=[1.0, 4.0], help="noise / signal variance")
    p.add_argument("--n-stimuli", type=int, default=700)
    p.add_argument("--neurons", type=int, default=2500)
    p.add_argument("--fit-range", type=int, nargs=2, default=[11, 125])
    p.add_argument("--n-shuffles", type=int, default=10)
    p.add_argument("--draws", type=int, default=20)
    p.add_argument("--seed", type=int, default=0, help="the signal (and noise covariance)")
    p.add_argument("--csv", type=Path, help="also write one row per draw here")
    return p.parse_args(argv)


def one_draw(alpha, ratio, args, draw) -> dict:
    start = time.perf_counter()
    ds = v1ann.simulate_recording(alpha, args.n_stimuli, args.neurons, noise_scale=ratio, seed=args.seed,
                                  noise_seed=1000 + draw)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", V1AnnWarning)
        fit = v1ann.estimate_alpha(ds, method="cvpca-matched", fit_range=tuple(args.fit_range),
                                   n_shuffles=args.n_shuffles, seed=args.seed, progress=False)
    return dict(true_alpha=alpha, noise_ratio=ratio, draw=draw, alpha_hat=fit.alpha,
                ci_low=fit.alpha_ci[0], ci_high=fit.alpha_ci[1], sd=fit.attrs["alpha_sd"],
                criterion=fit.attrs["matched_by"], seconds=time.perf_counter() - start,
                **{f"sd_{k}": fit.attrs[f"alpha_sd_{k}"] for k in PARTS})


def summarise(rows: pd.DataFrame) -> pd.DataFrame:
    def rms(x):
        return float(np.sqrt(np.mean(np.square(x))))

    out = []
    for (alpha, ratio), g in rows.groupby(["true_alpha", "noise_ratio"], sort=False):
        without = np.hypot(g.sd_repeat_noise, g.sd_orientation)
        sd_draws = g.alpha_hat.std(ddof=1)
        out.append(dict(alpha=alpha, ratio=ratio, draws=len(g), bias=g.alpha_hat.mean() - alpha,
                        sd_draws=sd_draws, sd_reported=rms(g.sd), sd_without=rms(without),
                        sd_realisation=rms(g.sd_noise_realisation), ratio_reported=sd_draws / rms(g.sd),
                        ratio_without=sd_draws / rms(without),
                        covers_mean=((g.ci_low <= g.alpha_hat.mean()) & (g.alpha_hat.mean() <= g.ci_high)).mean(),
                        by_distance=(g.criterion == "distance").sum()))
    return pd.DataFrame(out)


def main(argv=None):
    args = parse_args(argv)
    rows = []
    for alpha in args.alphas:
        for ratio in args.ratios:
            for draw in range(args.draws):
                rows.append(one_draw(alpha, ratio, args, draw))
                r = rows[-1]
                print(f"alpha={alpha} ratio={ratio} draw={draw}: {r['alpha_hat']:.4f} sd {r['sd']:.4f} "
                      f"(realisation {r['sd_noise_realisation']:.4f}, {r['criterion']}, {r['seconds']:.0f} s)",
                      flush=True)
                if args.csv:
                    with atomic_path(args.csv) as tmp:
                        pd.DataFrame(rows).to_csv(tmp, index=False)
    pd.set_option("display.width", 160)
    print(f"\n{args.n_stimuli} stimuli x {args.neurons} neurons, signal seed {args.seed}, "
          f"fit ranks {args.fit_range[0] + 1}..{args.fit_range[1]}")
    print(summarise(pd.DataFrame(rows)).round(4).to_string(index=False))


if __name__ == "__main__":
    main()
