"""Does cvpca-matched's interval match the scatter of its estimate over fresh noise?

For one simulated signal (fixed ``--seed``: signal and noise covariance), the recording is
redrawn ``--draws`` times with fresh trial-to-trial noise (``simulate_recording(...,
noise_seed=k)``) and ``v1ann.estimate_alpha(method="cvpca-matched")`` is run on each. The
scatter of alpha_hat over the draws is what the interval's noise terms must explain.
Printed side by side per cell (medians over draws, robust to the odd recording whose
interval is very wide):

* ``sd_draws``: the scatter of alpha_hat over draws, 1.4826 x its median absolute
  deviation (about +-25 % uncertain at 20 draws); ``bias``: mean alpha_hat - alpha;
* ``repeat``, ``orient``, ``realis``: the reported parts of ``alpha_sd``;
* ``ratio_noise``: ``sd_draws`` over the noise parts (repeat noise and realisation);
  ``ratio_old``: over the interval without the realisation term (repeat noise and
  orientation); ``ratio_full``: over the whole ``alpha_sd``. With the signal fixed, the
  orientation part is a bias of this one signal rather than scatter over draws, so a
  calibrated interval has ``ratio_noise`` near 1 and ``ratio_full`` at or below 1.

Usage::

    python research/interval_calibration.py                              # 700 x 2,500, 20 draws
    python research/interval_calibration.py --n-stimuli 2800 --neurons 10000 --fit-range 11 500 \\
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
    p.add_argument("--summary-only", action="store_true", help="only summarise an existing --csv")
    return p.parse_args(argv)


def one_draw(alpha, ratio, args, draw) -> dict:
    start = time.perf_counter()
    ds = v1ann.simulate_recording(alpha, n_stimuli=args.n_stimuli, n_neurons=args.neurons, noise_scale=ratio, seed=args.seed,
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
    out = []
    for (alpha, ratio), g in rows.groupby(["true_alpha", "noise_ratio"], sort=False):
        sd_draws = 1.4826 * np.median(np.abs(g.alpha_hat - g.alpha_hat.median()))
        noise = np.median(np.hypot(g.sd_repeat_noise, g.sd_noise_realisation))
        old = np.median(np.hypot(g.sd_repeat_noise, g.sd_orientation))
        out.append(dict(alpha=alpha, ratio=ratio, draws=len(g), bias=g.alpha_hat.mean() - alpha,
                        sd_draws=sd_draws, repeat=g.sd_repeat_noise.median(), orient=g.sd_orientation.median(),
                        realis=g.sd_noise_realisation.median(), ratio_noise=sd_draws / noise,
                        ratio_old=sd_draws / old, ratio_full=sd_draws / g.sd.median(),
                        by_distance=int((g.criterion == "distance").sum())))
    return pd.DataFrame(out)


def main(argv=None):
    args = parse_args(argv)
    if args.summary_only:
        show(pd.read_csv(args.csv), args)
        return
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
    show(pd.DataFrame(rows), args)


def show(rows: pd.DataFrame, args):
    pd.set_option("display.width", 160)
    print(f"\n{args.n_stimuli} stimuli x {args.neurons} neurons, signal seed {args.seed}, "
          f"fit ranks {args.fit_range[0] + 1}..{args.fit_range[1]}")
    print(summarise(rows).round(4).to_string(index=False))


if __name__ == "__main__":
    main()
