"""Thread pools side by side: the README quickstart under several thread settings, idle and loaded.

Each setting runs the quickstart (simulate 500 x 1000, ``estimate_alpha`` with its
interval) in a fresh process, ``--repeats`` times; the table gives the median wall time
and its ratio to ``OMP_NUM_THREADS=1`` measured in the same run. "loaded" runs a busy
process beside it (one core taken), as on a shared machine.

    python benchmarks/bench_threads.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

QUICKSTART = """
import v1ann
rec = v1ann.simulate_recording(alpha=1.0, n_stimuli=500, n_neurons=1000, seed=0)
fit = v1ann.estimate_alpha(rec, progress=False, seed=0)
"""
SETTINGS = {
    "default": {},
    "OMP_NUM_THREADS=1": {"OMP_NUM_THREADS": "1"},
    "OMP_WAIT_POLICY=ACTIVE": {"OMP_WAIT_POLICY": "ACTIVE"},
    "OPENBLAS_NUM_THREADS=1": {"OPENBLAS_NUM_THREADS": "1"},
    "OMP_WAIT_POLICY=PASSIVE": {"OMP_WAIT_POLICY": "PASSIVE"},
    "PASSIVE, OPENBLAS 1 thread": {"OMP_WAIT_POLICY": "PASSIVE", "OPENBLAS_NUM_THREADS": "1"},
}


def timed(env: dict) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", QUICKSTART], env={**os.environ, **env}, check=True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(f"cores available: {len(os.sched_getaffinity(0))}; median of {args.repeats} runs, fresh process each")
    print(f"{'setting':28s} {'idle s':>8s} {'ratio':>6s} {'loaded s':>9s} {'ratio':>6s}")
    results = {}
    for load in (False, True):
        busy = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if load else None
        try:
            for name, env in SETTINGS.items():
                results[name, load] = statistics.median(timed(env) for _ in range(args.repeats))
        finally:
            if busy is not None:
                busy.kill()
    for name in SETTINGS:
        idle, loaded = results[name, False], results[name, True]
        base_idle, base_loaded = results["OMP_NUM_THREADS=1", False], results["OMP_NUM_THREADS=1", True]
        print(f"{name:28s} {idle:8.2f} {idle / base_idle:6.2f} {loaded:9.2f} {loaded / base_loaded:6.2f}")


if __name__ == "__main__":
    main()
