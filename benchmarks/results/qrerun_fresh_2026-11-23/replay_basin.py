"""Replay the two-basin interval on traced recordings with two references: the refined
minimum (the estimator's rule) and the best searched grid point.

For each trace line: rebuild the searched lattice (scan grown with the look-ahead), the
penalty F̄²/(4 s²) and per-orientation J = Q_o + penalty, then run the paired one-sided t
test of _basin against each reference. Prints both basins and whether each contains the
true alpha. Needs no simulation: every searched exponent was evaluated in every orientation.

    python replay_basin.py trace*.jsonl
"""
import json
import sys

import numpy as np
import scipy.stats

STEP = 0.04


def near(full, x):
    """The evaluated exponent within 1e-6 of ``x`` (traces store floats), or None."""
    return next((a for a in full if abs(a - x) < 1e-6), None)


def searched_points(r):
    """``(full, mean_f, variance, searched)`` of a trace line: the exponents evaluated in every
    orientation, mean F, F's variance s^2 and the scan grown with the look-ahead."""
    ev = {}
    for a, o, f, q in r["evals"]:
        ev.setdefault(round(a, 9), {})[o] = (f, q)
    n = max(len(v) for v in ev.values())
    full = {a: v for a, v in ev.items() if len(v) == n}
    fm = lambda a: np.mean([full[a][o][0] for o in range(n)])  # noqa: E731
    grid = [round(g, 9) for g in r["grid"]]
    f_scan = np.array([fm(a) for a in grid])
    rough = np.std(f_scan - np.polyval(np.polyfit(grid, f_scan, 1), grid), ddof=2)
    var = r["sd_f"] ** 2 + rough ** 2
    thr = r["quantile"] * np.sqrt(var)

    def ok(x):
        a = near(full, x)
        return a is not None and abs(fm(a)) <= thr

    lo, hi = grid[0], grid[-1]
    while ok(lo) or ok(lo - STEP):
        lo -= STEP
    while ok(hi) or ok(hi + STEP):
        hi += STEP
    searched = sorted(a for a in full if lo - 1e-6 <= a <= hi + 1e-6
                      and abs((a - grid[0]) / STEP - round((a - grid[0]) / STEP)) < 1e-6)
    return full, fm, var, searched


def replay(r, level=0.95):
    full, fm, var, searched = searched_points(r)
    n = len(next(iter(full.values())))
    j = lambda a: np.array([full[a][o][1] for o in range(n)]) + fm(a) ** 2 / (4 * var)  # noqa: E731
    t = scipy.stats.t.ppf(level, n - 1)

    def basin(ref):
        best, kept = j(ref), [ref]
        for a in searched:
            d = j(a) - best
            if d.mean() <= t * d.std(ddof=1) / np.sqrt(n):
                kept.append(a)
        return min(kept), max(kept)

    refined = near(full, r["alpha_hat"])
    grid_best = min(searched, key=lambda a: j(a).mean())
    return basin(refined), basin(grid_best), grid_best


if __name__ == "__main__":
    for path in sys.argv[1:]:
        for line in open(path):
            r = json.loads(line)
            (b1, b2, gb) = replay(r)
            tag = lambda b: "✓" if b[0] <= r["alpha"] <= b[1] else " "  # noqa: E731
            print(f"{r['alpha']:g}/{r['ratio']:g}/{r['n_neurons']}/{r['seed']}: est {r['alpha_hat']:.3f} "
                  f"traced basin [{r['basin'][0]:.3f},{r['basin'][1]:.3f}] | refined ref [{b1[0]:.3f},{b1[1]:.3f}]{tag(b1)} "
                  f"| grid ref ({gb:.3f}) [{b2[0]:.3f},{b2[1]:.3f}]{tag(b2)}")
