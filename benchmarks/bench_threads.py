"""Thread pools side by side: v1ann's default thread budget against ``OMP_NUM_THREADS=1``.

Three workloads, each in a fresh process: the README quickstart (simulate 500 x 1000,
``estimate_alpha`` with its interval), ``v1ann fit`` on an 800 x 2,000 ``.mat`` file, and
``cvpca`` on 500 x 1,000. Each runs under each setting, idle and "loaded" (a busy process
beside it takes one core, as on a shared machine); the table gives the median wall time
of ``--repeats`` runs and its ratio to ``OMP_NUM_THREADS=1`` in the same load. The
default must never be slower than single-threaded (ratio <= 1, within noise).

    python benchmarks/bench_threads.py [--repeats 3] [--workloads quickstart fit cvpca]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

QUICKSTART = """
import v1ann
rec = v1ann.simulate_recording(alpha=1.0, n_stimuli=500, n_neurons=1000, seed=0)
fit = v1ann.estimate_alpha(rec, progress=False)
"""
CVPCA = """
import v1ann
rec = v1ann.simulate_recording(alpha=1.0, n_stimuli=500, n_neurons=1000, seed=0)
v1ann.cvpca(rec, progress=False)
"""
MAKE_FIT_FILE = """
import sys, v1ann
rec = v1ann.simulate_recording(alpha=1.0, n_stimuli=800, n_neurons=2000, seed=0)
v1ann.io.save_stringer_mat(rec, sys.argv[1])
"""
SETTINGS = {
    "default": {},
    "OMP_NUM_THREADS=1": {"OMP_NUM_THREADS": "1"},
    # what v1ann's OMP_WAIT_POLICY=PASSIVE default avoids: torch's OpenMP threads spinning
    "OMP_WAIT_POLICY=ACTIVE": {"OMP_WAIT_POLICY": "ACTIVE"},
}
BASELINE = "OMP_NUM_THREADS=1"


def commands(workdir: Path) -> dict[str, list[str]]:
    mat = workdir / "recording.mat"
    if not mat.exists():
        subprocess.run([sys.executable, "-c", MAKE_FIT_FILE, str(mat)], check=True)
    return {
        "quickstart": [sys.executable, "-c", QUICKSTART],
        "fit": [sys.executable, "-m", "v1ann", "fit", str(mat), "--quiet"],
        "cvpca": [sys.executable, "-c", CVPCA],
    }


def timed(command: list[str], env: dict) -> float:
    started = time.perf_counter()
    subprocess.run(command, env={**os.environ, **env}, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workloads", nargs="+", default=["quickstart", "fit", "cvpca"])
    args = parser.parse_args()
    cores = len(os.sched_getaffinity(0))
    print(f"cores available: {cores}; median of {args.repeats} runs, fresh process each; "
          f"ratio = time / time with {BASELINE} under the same load")
    with tempfile.TemporaryDirectory() as tmp:
        programs = {name: cmd for name, cmd in commands(Path(tmp)).items() if name in args.workloads}
        results = {}
        for loaded in (False, True):
            busy = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if loaded else None
            try:
                for workload, command in programs.items():
                    for setting, env in SETTINGS.items():
                        runs = [timed(command, env) for _ in range(args.repeats)]
                        results[workload, setting, loaded] = statistics.median(runs)
            finally:
                if busy is not None:
                    busy.kill()
    print(f"| workload | setting | idle s | ratio | loaded s | ratio |\n|---|---|---|---|---|---|")
    for workload in programs:
        for setting in SETTINGS:
            idle, loaded = results[workload, setting, False], results[workload, setting, True]
            base_idle, base_loaded = results[workload, BASELINE, False], results[workload, BASELINE, True]
            print(f"| {workload} | {setting} | {idle:.2f} | {idle / base_idle:.2f} "
                  f"| {loaded:.2f} | {loaded / base_loaded:.2f} |")


if __name__ == "__main__":
    main()
