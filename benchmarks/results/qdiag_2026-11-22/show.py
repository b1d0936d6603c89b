import json, sys, numpy as np
T = 4.303
for f in sys.argv[1:]:
    for r in json.load(open(f)):
        if 'F' not in r: continue
        keys = sorted(r["F"], key=float); a = np.array([float(k) for k in keys])
        F = np.array([np.mean(r["F"][k]) for k in keys]); Q = np.array([np.mean(r["Q"][k]) for k in keys])
        g = (a >= min(r["grid"]) - 1e-6) & (a <= max(r["grid"]) + 1e-6)
        rough = (F[g] - np.polyval(np.polyfit(a[g], F[g], 1), a[g])).std(ddof=2)
        s = np.sqrt(r["sd_F"]**2 + rough**2)
        print(f, 'alpha_hat', round(r['alpha_hat'],3), 'grid', min(r['grid']), max(r['grid']), 's', round(s,4), 'sd_F', round(r['sd_F'],4), 'rough', round(rough,4))
        for ai, fi, qi in zip(a, F, Q):
            print(f"  {ai:.2f}  F {fi:+.3f} ({fi/s:+.1f} s)  Q {qi:6.2f}  J1 {qi + (fi/s)**2:7.2f}  J.25 {qi + (fi/(2*s))**2:7.2f}")
