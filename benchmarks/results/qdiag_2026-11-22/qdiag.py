"""Post hoc: mean F and Q of the four orientations over the first scan's centre +- 0.52 (step
0.04), for recordings decided by Q, with the estimator as it is.

    python benchmarks/results/qdiag_2026-11-22/qdiag.py 10000 3,4,6 [alpha,ratio,seed ...]

Writes qdiag_<neurons>_<first cell>.json beside this file; show.py prints J for each point.
Private functions of v1ann.spectrum.debias are wrapped to capture the evaluations, so this
follows the estimator's internals and may need updating when they change.
"""
import sys, json
from pathlib import Path
import numpy as np
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))  # benchmarks/, for bias_study
import v1ann
import v1ann.spectrum.debias as d
from v1ann.spectrum.debias import cvpca_matched_alpha, noise_halves
import bias_study as bs

cap = {}
om, osg = d._mean_distance, d._scan_grid
def mean_distance(at, alpha, n):
    cap["at"], cap["n"] = at, n
    return om(at, alpha, n)
def scan_grid(centre, *a, **k):
    g = osg(centre, *a, **k); cap.setdefault("grid", list(g)); return g
d._mean_distance, d._scan_grid = mean_distance, scan_grid
out = []
n_neurons = int(sys.argv[1])
for cell in sys.argv[2:]:
    alpha, ratio, seed = map(float, cell.split(",")); cap.clear()
    ds = v1ann.simulate_recording(alpha, 2800, n_neurons, noise_scale=ratio, seed=int(seed))
    resp = v1ann.stimulus_responses(ds); g = bs.repeat_gram(resp, progress=False)
    sig, nv = bs.cvpca_from_gram(g, bs.shuffle_masks(10, 2800, int(seed)), 500, progress=False)
    ng, tot = noise_halves(g)
    r = cvpca_matched_alpha(sig.mean(0), nv.mean(0), bs._noise_half(resp), ng, tot, (11, 500), shuffle_spectra=sig, seed=int(seed))
    row = dict(alpha=alpha, ratio=ratio, seed=seed, alpha_hat=r.alpha, ci=r.alpha_ci, sd=r.alpha_sd, criterion=r.criterion)
    if r.criterion == "distance":
        at, n, grid = cap["at"], cap["n"], cap["grid"]
        slope = max(-np.polyfit(grid, [at(a)[0] for a in grid], 1)[0], 1e-3)
        win = np.round(np.mean(grid) + 0.04 * np.arange(-13, 14), 4)
        row.update(slope=slope, sd_F=r.alpha_sd * slope, grid=grid,
                   F={float(a): [at(float(a), o)[0] for o in range(n)] for a in win},
                   Q={float(a): [at(float(a), o)[3] for o in range(n)] for a in win})
    print(json.dumps({k: v for k, v in row.items() if k not in ("F", "Q", "grid")}), flush=True)
    out.append(row)
    json.dump(out, open(HERE / f"qdiag_{n_neurons}_{sys.argv[2]}.json", "w"))
