"""Offline, on the scans beside this file: the estimator's rule where Q decides (grow the
first scan while |mean F| at its edge is within t*s, then the minimum of J = wq*Q + F^2/s^2,
at the grid's resolution, without Brent), and variants that also grow while |mean F| is
within t*s at up to `look` beyond the edge.

    python benchmarks/results/qdiag_2026-11-22/rules.py
"""
import json, glob, numpy as np
from pathlib import Path
T = 4.303
def estimate(r, wq, look):
    keys = sorted(r["F"], key=float); a = np.array([float(k) for k in keys])
    F = np.array([np.mean(r["F"][k]) for k in keys]); Q = np.array([np.mean(r["Q"][k]) for k in keys])
    g = (a >= min(r["grid"]) - 1e-6) & (a <= max(r["grid"]) + 1e-6)
    rough = (F[g] - np.polyval(np.polyfit(a[g], F[g], 1), a[g])).std(ddof=2)
    s2 = r["sd_F"]**2 + rough**2; thr = T * np.sqrt(s2)
    ok = np.abs(F) <= thr
    idx = np.flatnonzero(g); lo, hi = idx[0], idx[-1]
    k = int(round(look / 0.04))
    # the estimator: grow while |F| at the current edge is within thr; look=k: or within k steps beyond
    while lo > 0 and ok[max(lo - k, 0):lo + 1].any(): lo -= 1
    while hi < len(a) - 1 and ok[hi:hi + 1 + k].any(): hi += 1
    J = wq * Q + F**2 / s2
    while True:  # extended while the best point is at an edge (as _minimise_distance)
        b = lo + int(np.argmin(J[lo:hi + 1]))
        if b == lo and lo > 0: lo -= 1
        elif b == hi and hi < len(a) - 1: hi += 1
        else: break
    return a[b], (a[lo], a[hi])
files = sorted(glob.glob(str(Path(__file__).resolve().parent / "*.json")))
rows = [r for f in files for r in json.load(open(f)) if "F" in r]
for wq in (1.0, 4.0):
    for look in (0.0, 0.04, 0.08, 0.16, 0.24):
        errs = []
        out = []
        for r in rows:
            est, win = estimate(r, wq, look)
            errs.append(est - r["alpha"]); out.append(f"{r['alpha']:g}/{r['ratio']:g}/{r['seed']:.0f}:{est - r['alpha']:+.2f}")
        errs = np.abs(errs)
        print(f"wq={wq} look={look:.2f}: max|err| {errs.max():.2f}, >0.05: {(errs > 0.05).sum()}/{len(errs)}  " + " ".join(o for o, e in zip(out, errs) if e > 0.03))
