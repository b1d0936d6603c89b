"""cvPCA on a dask.distributed LocalCluster: scaling over 1, 2 and 4 workers.

Issue 8, point 3. The same ``v1ann.cvpca`` call runs its Gram-matrix accumulation (the
part that touches every neuron) on the cluster as soon as a ``Client`` is active; the
per-shuffle eigendecompositions (n_stimuli x n_stimuli, independent of the number of
neurons) stay on the client. This script writes a zarr-backed recording, then times the
call without a client (local, one process using all BLAS threads) and with LocalClusters
of 1, 2 and 4 single-threaded worker processes, and checks the spectra agree.

On a 2-core machine, more than 2 workers cannot be faster; the numbers show what the
cluster path costs and where it saturates, not the scaling of a real cluster.

    python benchmarks/bench_scaling.py                     # 2,800 stimuli x 40,000 neurons
    python benchmarks/bench_scaling.py --n-neurons 8000 --n-stimuli 1000 --workers 1 2
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n-stimuli", type=int, default=2800)
    parser.add_argument("--n-neurons", type=int, default=40_000)
    parser.add_argument("--n-shuffles", type=int, default=10)
    parser.add_argument("--chunk", type=int, default=2000, help="neurons per zarr chunk")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--dir", type=Path, default=None)
    args = parser.parse_args()

    import dask.array as da
    from bench_out_of_core import write_store
    from distributed import Client, LocalCluster

    from v1ann.spectrum.cvpca import cvpca
    from v1ann.spectrum.gram import repeat_gram

    root = Path(tempfile.mkdtemp(prefix="bench_scaling_", dir=args.dir))
    try:
        store = root / "responses.zarr"
        write_store(store, args.n_stimuli, args.n_neurons, args.chunk, seed=0)

        def timed():
            start = time.perf_counter()
            result = cvpca(da.from_zarr(str(store)), n_shuffles=args.n_shuffles, seed=0, device="cpu", progress=False)
            return time.perf_counter() - start, result.values

        def timed_gram():
            start = time.perf_counter()
            repeat_gram(da.from_zarr(str(store)), device="cpu", progress=False)
            return time.perf_counter() - start

        def warm_up():  # imports and worker start-up stay out of the timings
            repeat_gram(da.from_zarr(str(store))[:, :, : args.chunk], device="cpu", progress=False)

        warm_up()
        rows = [("local (no client)", timed_gram(), *timed())]
        reference = rows[0][3]
        for n_workers in args.workers:
            with LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True, dashboard_address=":0") as cluster:
                with Client(cluster):
                    warm_up()
                    rows.append((f"{n_workers} worker(s)", timed_gram(), *timed()))
    finally:
        shutil.rmtree(root, ignore_errors=True)

    size_gb = 2 * args.n_stimuli * args.n_neurons * 4 / 1e9
    print(
        f"\ncvPCA on dask.distributed: {args.n_stimuli} stimuli x {args.n_neurons} neurons x 2 repeats "
        f"({size_gb:.2f} GB zarr, chunks of {args.chunk} neurons), {args.n_shuffles} shuffles"
    )
    print(f"{'run':<20}{'Gram (s)':>10}{'Gram speed-up':>15}{'cvpca (s)':>11}{'max rel. diff':>15}")
    base = rows[1][1] if len(rows) > 1 else rows[0][1]
    for name, gram_s, total_s, values in rows:
        diff = float(np.max(np.abs(values - reference) / np.abs(reference).max()))
        print(f"{name:<20}{gram_s:>10.1f}{base / gram_s:>14.2f}x{total_s:>11.1f}{diff:>15.1e}")
    print("Gram speed-up: relative to 1 worker. max rel. diff: vs local, scaled by the top eigenvalue.")


if __name__ == "__main__":
    main()
