"""Emulate, at the scan's grid resolution (0.04), the estimate where Q decides for several
weights of F's penalty, J = mean Q + w (mean F / s)^2, on traced recordings. The searched
set does not depend on w (the scan grows on |mean F| <= t s), so the traces hold every
point each weight would compare. The estimator refines the minimum by Brent's method; here
the best grid point stands in for it (and the traced refined estimate is printed beside).

    python replay_weight.py trace*.jsonl
"""
import json
import sys

import numpy as np

from replay_basin import searched_points

WEIGHTS = (1.0, 0.5, 0.25)

rows = []
for path in sys.argv[1:]:
    for line in open(path):
        r = json.loads(line)
        full, fm, var, searched = searched_points(r)
        qm = lambda a: np.mean([full[a][o][1] for o in full[a]])  # noqa: E731
        picks = [min(searched, key=lambda a: qm(a) + w * fm(a) ** 2 / var) for w in WEIGHTS]
        rows.append((r, picks))
        print(f"{r['alpha']:g}/{r['ratio']:g}/{r['n_neurons']}/{r['seed']}: traced {r['alpha_hat']:.3f}  "
              + "  ".join(f"w={w:g}: {p - r['alpha']:+.2f}" for w, p in zip(WEIGHTS, picks)))
print("\nbeyond 0.06 of the truth (grid resolution):")
for i, w in enumerate(WEIGHTS):
    bad = [f"{r['alpha']:g}/{r['ratio']:g}/{r['n_neurons']}/{r['seed']} {p - r['alpha']:+.2f}"
           for r, p in ((r, picks[i]) for r, picks in rows) if abs(p - r["alpha"]) > 0.06]
    print(f"w={w:g}: {len(bad)} of {len(rows)}: " + ", ".join(bad))
