"""Per traced recording: the first scan, where the old rule (no look-ahead) and the new one stop
growing, and the basin (interval widening)."""
import json, sys
import numpy as np
for path in sys.argv[1:]:
    for line in open(path):
        r = json.loads(line)
        ev = {}
        for a, o, f, q in r["evals"]:
            ev.setdefault(round(a, 6), {})[o] = (f, q)
        n = max(len(v) for v in ev.values())
        grid = [round(g, 6) for g in r["grid"]]
        fm = lambda a: np.mean([ev[a][o][0] for o in range(n)])
        f_scan = np.array([fm(a) for a in grid])
        rough = np.std(f_scan - np.polyval(np.polyfit(grid, f_scan, 1), grid), ddof=2)
        thr = r["quantile"] * np.sqrt(r["sd_f"] ** 2 + rough ** 2)
        lattice = sorted(a for a in ev if len(ev[a]) == n and abs(((a - grid[0]) / 0.04) - round((a - grid[0]) / 0.04)) < 1e-6)
        def grow(look):
            lo, hi = grid[0], grid[-1]
            def ok(a): return a in ev and len(ev[a]) == n and abs(fm(a)) <= thr
            while ok(lo) or (look and ok(round(lo - 0.04, 6))): lo = round(lo - 0.04, 6)
            while ok(hi) or (look and ok(round(hi + 0.04, 6))): hi = round(hi + 0.04, 6)
            return lo, hi
        old, new = grow(False), grow(True)
        tag = "" if old == new else "  <-- look-ahead grew"
        print(f"{r['alpha']:g}/{r['ratio']:g}/{r['n_neurons']}/{r['seed']}: est {r['alpha_hat']:.3f} first [{grid[0]:.2f},{grid[-1]:.2f}] "
              f"old-stop [{old[0]:.2f},{old[1]:.2f}] new [{new[0]:.2f},{new[1]:.2f}] basin [{r['basin'][0]:.2f},{r['basin'][1]:.2f}]{tag}")
