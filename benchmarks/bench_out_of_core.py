"""Out-of-core cvPCA: a recording bigger than memory, streamed from zarr.

Issue 8, point 4. Writes a simulated (2 repeats, 2,800 stimuli, 200,000 neurons) float32
recording (4.5 GB) to a zarr store one neuron chunk at a time (never holding it in memory),
then runs ``v1ann.cvpca`` (10 shuffles) on its first 25k, 50k, 100k and 200k neurons, each in
a fresh process, and prints wall time, time per 1,000 neurons (linear scaling keeps it
constant) and peak resident memory (target: <= 2 GB).

The signal has a power-law spectrum (alpha = 1, rank 1,000) and, like
``v1ann.simulate_recording(noise_scale=1)``, as much variance as the noise: responses are
``U diag(sqrt(S lambda)) W^T + noise`` with a fixed orthonormal stimulus basis ``U``,
``sum(lambda) = n_neurons`` and i.i.d. Gaussian neuron loadings ``W`` (variance
1 / n_neurons, drawn per chunk from a seeded generator, so every chunk is reproducible
without the others), plus unit-variance Gaussian noise. A subset of ``n`` neurons then has
signal eigenvalues close to ``lambda * n / n_neurons``.

    python benchmarks/bench_out_of_core.py                        # the issue's sizes (~15 min)
    python benchmarks/bench_out_of_core.py --sizes 5000 10000 --n-stimuli 1000   # quick
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ALPHA = 1.0
SIGNAL_RANK = 1000


def signal_basis(n_stimuli: int, n_neurons: int, seed: int):
    """(n_stimuli, rank) float32 ``U diag(sqrt(S lambda))`` and the spectrum ``lambda``."""
    rng = np.random.default_rng([seed, 0])
    rank = min(SIGNAL_RANK, n_stimuli - 1)
    u, _ = np.linalg.qr(rng.standard_normal((n_stimuli, rank)))
    spectrum = np.arange(1, rank + 1, dtype=float) ** -ALPHA
    spectrum *= n_neurons / spectrum.sum()
    return (u * np.sqrt(n_stimuli * spectrum)).astype(np.float32), spectrum


def write_store(path: Path, n_stimuli: int, n_neurons: int, chunk: int, seed: int) -> None:
    """Write the recording chunk by chunk; only one chunk is ever in memory."""
    import zarr
    from tqdm.auto import tqdm

    from v1ann._utils import atomic_path

    basis, _ = signal_basis(n_stimuli, n_neurons, seed)
    with atomic_path(path) as tmp:
        store = zarr.create_array(
            store=str(tmp), shape=(2, n_stimuli, n_neurons), chunks=(2, n_stimuli, chunk), dtype="f4", compressors=None
        )
        for k, start in enumerate(tqdm(range(0, n_neurons, chunk), desc="writing zarr")):
            stop = min(start + chunk, n_neurons)
            rng = np.random.default_rng([seed, 1, k])
            loadings = rng.standard_normal((stop - start, basis.shape[1]), dtype=np.float32)
            loadings /= np.float32(np.sqrt(n_neurons))
            signal = basis @ loadings.T
            noise = rng.standard_normal((2, n_stimuli, stop - start), dtype=np.float32)
            store[:, :, start:stop] = signal[None] + noise


def worker(store: Path, n_neurons: int, n_shuffles: int, out: Path) -> None:
    import dask
    import dask.array as da
    import torch  # noqa: F401  (imported before timing)

    from v1ann.spectrum.cvpca import cvpca

    dask.config.set(scheduler="synchronous")  # one chunk read at a time: bounded memory
    responses = da.from_zarr(str(store))[:, :, :n_neurons]
    start, cpu_start = time.perf_counter(), time.process_time()
    spectrum = cvpca(responses, n_shuffles=n_shuffles, seed=0, device="cpu", progress=False)
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    np.save(out.with_suffix(".npy"), spectrum.values)
    out.write_text(json.dumps({"seconds": seconds, "cpu_seconds": cpu_seconds, "peak": peak}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[25_000, 50_000, 100_000, 200_000])
    parser.add_argument("--n-stimuli", type=int, default=2800)
    parser.add_argument("--n-shuffles", type=int, default=10)
    parser.add_argument("--chunk", type=int, default=1000, help="neurons per zarr chunk")
    parser.add_argument("--dir", type=Path, default=None, help="where to write the store (default: a temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep the store afterwards")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--threads", type=int, default=None, help="BLAS/OpenMP threads (default: all); 1 gives clean CPU times on a loaded machine"
    )
    parser.add_argument("--worker", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--n-neurons", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args.n_neurons, args.n_shuffles, args.out)
        return

    root = Path(tempfile.mkdtemp(prefix="bench_ooc_", dir=args.dir))
    try:
        store = root / "responses.zarr"
        n_max = max(args.sizes)
        start = time.perf_counter()
        write_store(store, args.n_stimuli, n_max, args.chunk, args.seed)
        size_gb = 2 * args.n_stimuli * n_max * 4 / 1e9
        print(f"wrote {store} ({size_gb:.2f} GB float32) in {time.perf_counter() - start:.0f} s", flush=True)
        _, truth = signal_basis(args.n_stimuli, n_max, args.seed)
        rows = []
        for n in sorted(args.sizes):
            out = root / f"result_{n}"
            cmd = [sys.executable, __file__, "--worker", str(store), "--n-neurons", str(n)]
            cmd += ["--n-shuffles", str(args.n_shuffles), "--out", str(out)]
            env = dict(os.environ)
            if args.threads:
                env.update({k: str(args.threads) for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")})
            subprocess.run(cmd, check=True, env=env)
            result = json.loads(out.read_text())
            spectrum = np.load(out.with_suffix(".npy"), allow_pickle=False)
            ratio = float(np.median(spectrum[:100] / (truth[:100] * n / n_max)))
            rows.append((n, result["seconds"], result["cpu_seconds"], result["peak"], ratio))
            print(f"  {n} neurons: {result['seconds']:.1f} s, peak RSS {result['peak'] / 2**30:.2f} GiB", flush=True)
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)

    print(
        f"\nOut-of-core cvPCA from zarr: {args.n_stimuli} stimuli x 2 repeats, {args.n_shuffles} shuffles, "
        f"zarr chunks of {args.chunk} neurons, 1 process"
    )
    print(
        f"{'neurons':>9}{'input (GB)':>12}{'wall (s)':>10}{'wall s/1k':>11}{'CPU (s)':>10}{'CPU s/1k':>10}"
        f"{'peak RSS (GiB)':>16}{'signal/truth':>14}"
    )
    for n, seconds, cpu_seconds, peak, ratio in rows:
        gb = 2 * args.n_stimuli * n * 4 / 1e9
        print(
            f"{n:>9}{gb:>12.2f}{seconds:>10.1f}{1000 * seconds / n:>11.3f}{cpu_seconds:>10.1f}{1000 * cpu_seconds / n:>10.3f}"
            f"{peak / 2**30:>16.2f}{ratio:>14.3f}"
        )
    print("s/1k: seconds per 1,000 neurons (constant if time grows linearly). CPU: process time, all threads.")
    print("signal/truth: median over ranks 1..100 of cvPCA signal variance / (lambda * n / n_max).")


if __name__ == "__main__":
    main()
