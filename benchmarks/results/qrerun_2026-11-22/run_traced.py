"""bias_study.py main() with every matched evaluation (alpha, orientation) -> (F, Q) of the
recordings decided by Q appended to TRACE (json lines)."""
import json, os, sys
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # benchmarks/, for bias_study
import bias_study as bs
import v1ann.spectrum.debias as d

TRACE = os.environ["TRACE"]
current = {}
orig_one, orig_pen = bs.one_recording, d._penalised_distance_minimum

def one_recording(alpha, ratio, n_stimuli, n_neurons, seed, *a, **k):
    current.update(alpha=alpha, ratio=ratio, n_stimuli=n_stimuli, n_neurons=n_neurons, seed=seed)
    return orig_one(alpha, ratio, n_stimuli, n_neurons, seed, *a, **k)

def penalised(at, root, n_orientations, sd_f, quantile, tol, **kw):
    alpha, grid, basin = orig_pen(at, root, n_orientations, sd_f, quantile, tol, **kw)
    cache = dict(zip(at.__code__.co_freevars, (c.cell_contents for c in at.__closure__)))["cache"]
    evals = [[a, o, v[0], v[3]] for (a, o), v in sorted(cache.items())]
    with open(TRACE, "a") as fh:
        fh.write(json.dumps(dict(current, root=root, sd_f=sd_f, quantile=quantile, grid=grid,
                                 alpha_hat=alpha, basin=basin, evals=evals)) + "\n")
    return alpha, grid, basin

bs.one_recording, d._penalised_distance_minimum = one_recording, penalised
bs.main()
