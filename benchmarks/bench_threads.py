"""Thread pools side by side: v1ann's default thread budget against ``OMP_NUM_THREADS=1``.

Four workloads, each in a fresh process: the README quickstart's ``estimate_alpha``
(500 x 1000, with its interval), ``v1ann fit`` on an 800 x 2,000 ``.mat`` file (the whole
command, start-up included), and ``cvpca`` on 500 x 1,000 and on 1,500 x 3,000. The
Python workloads time their call only (not the interpreter's start and imports). Each
runs under each setting, idle and "loaded" (a busy process beside it takes one core, as
on a shared machine); the table gives the median wall time of ``--repeats`` runs, its
ratio to ``OMP_NUM_THREADS=1`` under the same load, and the runs' spread (max - min over
the median) to judge that ratio by. The default must never be slower than
single-threaded (ratio <= 1 within the spread).

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
import time, v1ann
rec = v1ann.simulate_recording(alpha=1.0, n_stimuli=500, n_neurons=1000, seed=0)
started = time.perf_counter()
fit = v1ann.estimate_alpha(rec, progress=False)
print("SECONDS", time.perf_counter() - started)
"""
CVPCA = """
import sys, time, v1ann
n_stimuli, n_neurons = int(sys.argv[1]), int(sys.argv[2])
rec = v1ann.simulate_recording(alpha=1.0, n_stimuli=n_stimuli, n_neurons=n_neurons, seed=0)
started = time.perf_counter()
v1ann.cvpca(rec, progress=False)
print("SECONDS", time.perf_counter() - started)
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
        "cvpca 500 x 1000": [sys.executable, "-c", CVPCA, "500", "1000"],
        "cvpca 1500 x 3000": [sys.executable, "-c", CVPCA, "1500", "3000"],
    }


def timed(command: list[str], env: dict) -> float:
    """Seconds the command reports (``SECONDS x`` on stdout), else its whole wall time."""
    started = time.perf_counter()
    done = subprocess.run(command, env={**os.environ, **env}, check=True, capture_output=True, text=True)
    wall = time.perf_counter() - started
    reported = [line.split()[1] for line in done.stdout.splitlines() if line.startswith("SECONDS ")]
    return float(reported[-1]) if reported else wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workloads", nargs="+", default=["quickstart", "fit", "cvpca"],
                        help="names, or their first word (cvpca: both sizes)")
    args = parser.parse_args()
    cores = len(os.sched_getaffinity(0))
    print(f"cores available: {cores}; median of {args.repeats} runs, fresh process each; "
          f"ratio = time / time with {BASELINE} under the same load")
    with tempfile.TemporaryDirectory() as tmp:
        programs = {name: cmd for name, cmd in commands(Path(tmp)).items()
                    if name in args.workloads or name.split()[0] in args.workloads}
        results = {}
        for loaded in (False, True):
            busy = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if loaded else None
            try:
                for workload, command in programs.items():
                    for setting, env in SETTINGS.items():
                        runs = [timed(command, env) for _ in range(args.repeats)]
                        median = statistics.median(runs)
                        results[workload, setting, loaded] = median, (max(runs) - min(runs)) / median
            finally:
                if busy is not None:
                    busy.kill()
    print("| workload | setting | idle s | ratio | spread | loaded s | ratio | spread |")
    print("|---|---|---|---|---|---|---|---|")
    for workload in programs:
        for setting in SETTINGS:
            cells = []
            for loaded in (False, True):
                seconds, spread = results[workload, setting, loaded]
                base = results[workload, BASELINE, loaded][0]
                cells.append(f"{seconds:.2f} | {seconds / base:.2f} | {spread:.0%}")
            print(f"| {workload} | {setting} | {' | '.join(cells)} |")


if __name__ == "__main__":
    main()
