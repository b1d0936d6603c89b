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

``--svca`` benchmarks ``v1ann.svca`` instead, on a simulated spontaneous recording of
``--n-time`` (5,000) time points × 10k, 25k, 50k and 100k neurons (2 GB float32 at 100k),
stored in zarr chunks of all time points × 1,000 neurons. Latents with a power-law
spectrum (alpha = 1, rank 1,000, ``sum(lambda) = n_neurons``) load on neurons through
i.i.d. Gaussian weights (variance 1 / n_neurons), plus unit-variance noise, so the shared
variance of component k in a random half/half split of ``n`` neurons is close to
``lambda_k * n / (2 n_max)``. Every size runs with ``stream="neurons"`` (the time × time
Gram formulation); sizes up to ``--time-stream-max`` (10k) also run with ``stream="time"``
(the n_set1 × n_set2 cross-covariance), side by side, for the ratio and the agreement.

    python benchmarks/bench_out_of_core.py --svca --threads 1    # ~10 min on one core
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
    _measure(lambda: cvpca(responses, n_shuffles=n_shuffles, seed=0, device="cpu", progress=False), out)


def _measure(compute, out: Path) -> None:
    """Run ``compute()``; write its wall and CPU seconds and this process's peak memory to
    ``out`` (JSON) and the spectrum it returns beside it (.npy)."""
    start, cpu_start = time.perf_counter(), time.process_time()
    spectrum = compute()
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    np.save(out.with_suffix(".npy"), spectrum.values)
    out.write_text(json.dumps({"seconds": seconds, "cpu_seconds": cpu_seconds, "peak": peak}))


def spont_latents(n_time: int, n_neurons: int, seed: int):
    """(n_time, rank) float32 latent time courses scaled by ``sqrt(lambda)``, and ``lambda``."""
    rng = np.random.default_rng([seed, 2])
    spectrum = np.arange(1, SIGNAL_RANK + 1, dtype=float) ** -ALPHA
    spectrum *= n_neurons / spectrum.sum()
    latents = rng.standard_normal((n_time, SIGNAL_RANK), dtype=np.float32) * np.sqrt(spectrum).astype(np.float32)
    return latents, spectrum


def write_spont_store(path: Path, n_time: int, n_neurons: int, chunk: int, seed: int) -> None:
    """Write (time, neuron) activity chunk by chunk of neurons; only one chunk is ever in memory."""
    import zarr
    from tqdm.auto import tqdm

    from v1ann._utils import atomic_path

    latents, _ = spont_latents(n_time, n_neurons, seed)
    with atomic_path(path) as tmp:
        store = zarr.create_array(
            store=str(tmp), shape=(n_time, n_neurons), chunks=(n_time, chunk), dtype="f4", compressors=None
        )
        for k, start in enumerate(tqdm(range(0, n_neurons, chunk), desc="writing zarr")):
            stop = min(start + chunk, n_neurons)
            rng = np.random.default_rng([seed, 3, k])
            weights = rng.standard_normal((stop - start, SIGNAL_RANK), dtype=np.float32) / np.float32(np.sqrt(n_neurons))
            noise = rng.standard_normal((n_time, stop - start), dtype=np.float32)
            store[:, start:stop] = latents @ weights.T + noise


def svca_worker(store: Path, n_neurons: int, stream: str, threads: int | None, out: Path) -> None:
    import dask
    import dask.array as da
    import torch

    from v1ann.spectrum.svca import svca

    if threads:
        torch.set_num_threads(threads)
    dask.config.set(scheduler="synchronous")  # one chunk read at a time: bounded memory
    activity = da.from_zarr(str(store))[:, :n_neurons]
    _measure(lambda: svca(activity, seed=0, stream=stream, device="cpu", progress=False), out)


def in_fresh_process(worker_args: list[str], out: Path, threads: int | None):
    """Run this script's worker mode in a new process; its result dict and spectrum."""
    env = dict(os.environ)
    if threads:
        env.update({k: str(threads) for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")})
    subprocess.run([sys.executable, __file__, *worker_args, "--out", str(out)], check=True, env=env)
    return json.loads(out.read_text()), np.load(out.with_suffix(".npy"), allow_pickle=False)


def run_svca(args, root: Path) -> None:
    from v1ann.spectrum.svca import _working_bytes, time_split

    sizes = sorted(args.sizes or [10_000, 25_000, 50_000, 100_000])
    store = root / "spont.zarr"
    n_max = max(sizes)
    start = time.perf_counter()
    write_spont_store(store, args.n_time, n_max, args.chunk, args.seed)
    print(f"wrote {store} ({args.n_time * n_max * 4 / 1e9:.2f} GB float32) in {time.perf_counter() - start:.0f} s", flush=True)
    _, truth = spont_latents(args.n_time, n_max, args.seed)
    is_train = time_split(args.n_time)
    n_train, n_test = int(is_train.sum()), int((~is_train).sum())
    rows = []
    for n in sizes:
        results = {}
        for stream in ("neurons", "time") if n <= args.time_stream_max else ("neurons",):
            out = root / f"svca_{stream}_{n}"
            worker_args = ["--svca", "--worker", str(store), "--n-neurons", str(n), "--stream", stream]
            worker_args += ["--threads", str(args.threads or 0)]
            results[stream] = in_fresh_process(worker_args, out, args.threads)
            info = results[stream][0]
            print(f"  {n} neurons, stream={stream}: {info['seconds']:.1f} s, peak RSS {info['peak'] / 2**30:.2f} GiB", flush=True)
        (info, spectrum) = results["neurons"]
        ratio = float(np.median(spectrum[:10] / (truth[:10] * n / (2 * n_max))))
        agreement = None
        if "time" in results:
            other = results["time"][1]
            agreement = float(np.max(np.abs(other - spectrum)) / np.max(np.abs(other)))
        predicted_time = _working_bytes("time", n // 2, n - n // 2, n_train, n_test)
        rows.append((n, info, ratio, results.get("time", (None,))[0], agreement, predicted_time))

    print(f"\nOut-of-core SVCA from zarr: {args.n_time} time points ({n_train} train), zarr chunks of {args.chunk} neurons")
    print(
        f"{'neurons':>9}{'input (GB)':>11}{'wall (s)':>10}{'CPU (s)':>9}{'CPU s/1k':>10}{'peak RSS':>10}"
        f"{'shared/truth':>14}  |{'time: wall':>11}{'CPU':>7}{'peak RSS':>10}{'max diff':>10}{'C+SVD est.':>12}"
    )
    for n, info, ratio, timed, agreement, predicted in rows:
        line = (
            f"{n:>9}{args.n_time * n * 4 / 1e9:>11.2f}{info['seconds']:>10.1f}{info['cpu_seconds']:>9.1f}"
            f"{1000 * info['cpu_seconds'] / n:>10.3f}{info['peak'] / 2**30:>9.2f}G{ratio:>14.3f}  |"
        )
        if timed:
            line += f"{timed['seconds']:>11.1f}{timed['cpu_seconds']:>7.1f}{timed['peak'] / 2**30:>9.2f}G{agreement:>10.1e}"
        else:
            line += f"{'':>11}{'':>7}{'':>10}{'':>10}"
        print(line + f"{predicted / 2**30:>11.2f}G")
    print('Left: stream="neurons". Right: stream="time", where run; "max diff": max |difference| / max |reliable|;')
    print('"C+SVD est.": the working memory v1ann estimates for stream="time" (its cross-covariance and SVD).')
    print("shared/truth: median over ranks 1..10 of reliable variance / (lambda * n / (2 n_max)).")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--svca", action="store_true", help="benchmark svca on spontaneous activity instead of cvpca")
    parser.add_argument("--sizes", type=int, nargs="+", default=None, help="neuron counts (default: the issue's)")
    parser.add_argument("--n-stimuli", type=int, default=2800)
    parser.add_argument("--n-shuffles", type=int, default=10)
    parser.add_argument("--n-time", type=int, default=5000, help="time points (--svca)")
    parser.add_argument(
        "--time-stream-max", type=int, default=10_000, help='largest size also run with stream="time" (--svca)'
    )
    parser.add_argument("--chunk", type=int, default=1000, help="neurons per zarr chunk")
    parser.add_argument("--dir", type=Path, default=None, help="where to write the store (default: a temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep the store afterwards")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--threads", type=int, default=None, help="BLAS/OpenMP threads (default: all); 1 gives clean CPU times on a loaded machine"
    )
    parser.add_argument("--worker", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--n-neurons", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--stream", help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker and args.svca:
        svca_worker(args.worker, args.n_neurons, args.stream, args.threads, args.out)
        return
    if args.worker:
        worker(args.worker, args.n_neurons, args.n_shuffles, args.out)
        return

    root = Path(tempfile.mkdtemp(prefix="bench_ooc_", dir=args.dir))
    try:
        if args.svca:
            run_svca(args, root)
        else:
            run_cvpca(args, root)
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)


def run_cvpca(args, root: Path) -> None:
    sizes = sorted(args.sizes or [25_000, 50_000, 100_000, 200_000])
    store = root / "responses.zarr"
    n_max = max(sizes)
    start = time.perf_counter()
    write_store(store, args.n_stimuli, n_max, args.chunk, args.seed)
    size_gb = 2 * args.n_stimuli * n_max * 4 / 1e9
    print(f"wrote {store} ({size_gb:.2f} GB float32) in {time.perf_counter() - start:.0f} s", flush=True)
    _, truth = signal_basis(args.n_stimuli, n_max, args.seed)
    rows = []
    for n in sizes:
        worker_args = ["--worker", str(store), "--n-neurons", str(n), "--n-shuffles", str(args.n_shuffles)]
        result, spectrum = in_fresh_process(worker_args, root / f"result_{n}", args.threads)
        ratio = float(np.median(spectrum[:100] / (truth[:100] * n / n_max)))
        rows.append((n, result["seconds"], result["cpu_seconds"], result["peak"], ratio))
        print(f"  {n} neurons: {result['seconds']:.1f} s, peak RSS {result['peak'] / 2**30:.2f} GiB", flush=True)

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
