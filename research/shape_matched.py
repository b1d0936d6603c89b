"""Prototype for issue 22, point 3: a broken-power-law signal model fitted by simulation matching.

``cvpca-matched`` ties the amplitude of every rank to one exponent, so on spectra that are
not one power law it is far off (docs/validation.md). Here the signal spectrum is a
continuous broken power law (alpha_1 up to a break, alpha_2 after it, total variance fixed
at the recording's unbiased total) and its parameters minimise the weighted distance

    Q = sum_i w_i (s_i - m_i)^2,   ranks 1..500, w_i = 1 / (rank_i v_i),

between the observed cvPCA spectrum ``s`` and the expected one ``m`` (the recording's own
noise plus the model's signal, averaged over two random orientations: the simulator of
``v1ann.spectrum.matched``). The exponent is the estimand: the published fit of the fitted
spectrum over ranks 12..500. The single power law is fitted the same way (1-D), and the
broken model is kept when ``Q_single > RATIO * Q_broken``.

RATIO = 1.7 was read from seeds 0 and 1 (Q ratios 1.03-1.52 for one power law, 1.87-47
for broken and bent spectra); seeds 20 and 21 were not looked at before it was set and are
reported apart. It is a prototype: private internals of v1ann, ~60 s per recording at
700 x 2,500, no interval.

    python research/shape_matched.py [--seeds 20 21] [--cells pl1 flat ...]
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.optimize

import v1ann
from v1ann._utils import make_rng
from v1ann.errors import V1AnnWarning
from v1ann.recording.preprocessing import mean_center
from v1ann.recording.simulate import broken_power_law_spectrum, true_alpha
from v1ann.spectrum.cvpca import cvpca_from_gram, shuffle_masks
from v1ann.spectrum.estimate import _noise_half
from v1ann.spectrum.gram import repeat_gram
from v1ann.spectrum.matched.simulation import Simulator as _Simulator
from v1ann.spectrum.matched.simulation import noise_halves

OUT = Path(__file__).resolve().parents[1] / "docs" / "data" / "shape_matched.csv"
RATIO = 1.7
CELLS = {
    "pl1": dict(alpha=1.0),
    "pl2": dict(alpha=2.0),
    "flat": dict(spectrum=broken_power_law_spectrum([0.5, 1.2], [16], 2500)),
    "steep": dict(spectrum=broken_power_law_spectrum([2.0, 1.0], [30], 2500)),
    "tail150": dict(spectrum=broken_power_law_spectrum([1.0, 0.5], [150], 2500)),
    "modpois": dict(alpha=1.0, noise="modulated-poisson"),
}


def observed(rec, seed, n_shuffles=10):
    """cvPCA spectrum, its noise variance, one half's noise, its Gram and the total signal variance."""
    responses = v1ann.stimulus_responses(rec)
    gram = repeat_gram(responses, device="cpu", progress=False)
    k = min(500, gram.n_stimuli, gram.n_neurons - 1)
    signal, noise = cvpca_from_gram(gram, shuffle_masks(n_shuffles, gram.n_stimuli, make_rng(seed)), k, progress=False)
    noise_gram, total = noise_halves(gram)
    return signal.mean(0), noise.mean(0), _noise_half(responses.values), noise_gram, total


def shape_matched(rec, fit_range=(11, 500), n_orientations=2, seed=0):
    s, noise_var, noise, noise_gram, total = observed(rec, seed)
    rank = min(noise.shape[0] - 1, noise.shape[1])
    hi = min(fit_range[1], s.size)
    rng = make_rng(seed)
    sims = [_Simulator(noise, noise_gram, total, hi, rng, "cpu") for _ in range(n_orientations)]
    # per-rank variance of s as cvpca-matched's score assumes, on the observed values
    level = np.maximum(s[:hi], 0.05 * noise_var[:hi])
    repeat = (np.maximum(s[:hi], 0) + noise_var[:hi]) * noise_var[:hi] / noise.shape[0]
    variance = level**2 * (0.1**2 + (noise_var[:hi] / (level + noise_var[:hi])) ** 2) + repeat
    weights = 1.0 / variance / np.arange(1, hi + 1)

    def spectrum(x):
        return broken_power_law_spectrum([max(x[0], 0), max(x[1], 0)], [float(np.exp(x[2]))], rank, total=total)

    def distance(x):
        if not 1 <= np.exp(x[2]) < rank - 1:
            return 1e30
        lam = spectrum(x)
        values = []
        for sim in sims:
            sim.spectrum = lambda alpha, lam=lam: lam  # the simulator's power law replaced by this spectrum
            values.append(weights @ (s[:hi] - sim.expected(0.0)) ** 2)
        return float(np.mean(values))

    single = scipy.optimize.minimize_scalar(lambda a: distance([a, a, np.log(10.0)]), bounds=(0.05, 8),
                                            method="bounded", options=dict(xatol=2e-3))
    try:
        start = v1ann.fit_powerlaw(s, fit_range=fit_range, nonpositive="abs").alpha
    except v1ann.errors.InvalidInputError:  # a spectrum summing below zero (modulated Poisson): start at 1
        start = 1.0
    broken = min((scipy.optimize.minimize(distance, [start, start, b], method="Nelder-Mead",
                                          options=dict(xatol=2e-3, fatol=1e-3, maxfev=150))
                  for b in np.log([8.0, 30.0, 100.0])), key=lambda r: r.fun)
    alpha_broken = true_alpha(spectrum(broken.x), (fit_range[0], hi))
    keep_broken = single.fun > RATIO * broken.fun
    return dict(alpha_single=float(single.x), q_single=float(single.fun), alpha_broken=alpha_broken,
                q_broken=float(broken.fun), alpha_1=broken.x[0], alpha_2=broken.x[1], break_rank=np.exp(broken.x[2]),
                kept="broken" if keep_broken else "single", alpha_hat=alpha_broken if keep_broken else float(single.x))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[20, 21])
    parser.add_argument("--cells", nargs="+", default=list(CELLS))
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    old = pd.read_csv(args.out) if args.out.exists() else pd.DataFrame()
    rows = []
    for name in args.cells:
        for seed in args.seeds:
            rec = mean_center(v1ann.simulate_recording(n_stimuli=700, n_neurons=2500, noise_scale=1.0, seed=seed,
                                                       **CELLS[name]))
            started = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", V1AnnWarning)
                result = shape_matched(rec, seed=seed)
            rows.append(dict(cell=name, seed=seed, true_alpha=rec.attrs["true_alpha"], **result,
                             seconds=time.perf_counter() - started))
            print({k: round(v, 3) if isinstance(v, float) else v for k, v in rows[-1].items()}, flush=True)
            pd.concat([old, pd.DataFrame(rows)]).to_csv(args.out, index=False)
    table = pd.concat([old, pd.DataFrame(rows)])
    table["error"] = table["alpha_hat"] - table["true_alpha"]
    for label, part in (("seeds 0-1 (RATIO read here)", table[table.seed < 2]), ("seeds >= 20 (untouched)", table[table.seed >= 20])):
        print(label)
        print(part.pivot_table(index="cell", columns="seed", values="error").round(3).to_string())


if __name__ == "__main__":
    main()
