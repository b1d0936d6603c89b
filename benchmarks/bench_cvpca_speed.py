"""cvPCA speed, accuracy and memory: the authors' code against v1ann.cvpca, same shuffles.

Issue 3, point 7: 2,800 stimuli x 10,000 neurons x 2 repeats, 10 shuffles. Three runs on
the same simulated responses and the same swap masks, each in its own process (so peak
memory is measured cleanly):

* ``authors``      -- Stringer et al. 2019 ``shuff_cvPCA`` as written: ``sklearn.PCA(1024)``
                      refitted per shuffle, which on this shape uses the *randomized* solver,
                      run on the float32 responses as a user would.
* ``authors-full`` -- the same code with ``svd_solver="full"`` on float64 responses: the exact
                      published computation, the accuracy reference.
* ``v1ann``        -- ``v1ann.cvpca`` (Gram matrices once, one eigendecomposition per shuffle),
                      on the float32 responses; also on CUDA when available.
* ``v1ann-mkl``    -- the same with torch's (MKL) eigendecomposition, run only where
                      ``v1ann`` takes scipy's OpenBLAS instead (AMD CPUs; v1ann/spectrum/eigh.py),
                      so that choice is measured side by side.
* ``v1ann-float32`` -- ``v1ann.cvpca(solver="float32")``: the Gram products and each
                      shuffle's eigendecomposition in float32; its exponent's difference from
                      the exact one is the solver's accuracy (issue 22, point 6).
* ``v1ann-default`` -- ``v1ann.estimate_alpha`` with its defaults (the bias-corrected exponent
                      and its interval) on the same responses and number of shuffles: its wall
                      time over ``v1ann``'s is the default estimate's cost in exact cvPCAs.

Printed: wall time and ratio, max relative difference over the fit range (ranks 12..500)
against both authors' runs, peak resident memory above the loaded input, as a multiple
of the input array's size; the exponent of each spectrum (published fit, ranks 12..500) and
its difference from v1ann's exact one; and the LAPACK floor of the exact computation (the
Gram matrix plus one n_stimuli² eigendecomposition per shuffle, timed in the same process).

    python benchmarks/bench_cvpca_speed.py                 # the issue's size (~6 min on 2 cores)
    python benchmarks/bench_cvpca_speed.py --n-stimuli 600 --n-neurons 2000 --n-shuffles 3
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

FIT_RANKS = slice(11, 500)  # 0-based indices 11..499, i.e. ranks 12..500


def authors_shuff_cvpca(X, masks, svd_solver="auto"):
    """Stringer et al. 2019 utils.py cvPCA/shuff_cvPCA, with the masks given instead of drawn."""
    from sklearn.decomposition import PCA

    def cv_pca(X):
        pca = PCA(n_components=min(1024, X.shape[1]), svd_solver=svd_solver).fit(X[0].T)
        u = pca.components_.T
        sv = pca.singular_values_
        xproj = X[0].T @ (u / sv)
        cproj0 = X[0] @ xproj
        cproj1 = X[1] @ xproj
        return (cproj0 * cproj1).sum(axis=0)

    ss = []
    for iflip in masks:
        X0 = X.copy()
        X0[0, iflip] = X[1, iflip]
        X0[1, iflip] = X[0, iflip]
        ss.append(cv_pca(X0))
    return np.array(ss).mean(axis=0)


def anon_bytes() -> int:
    """Anonymous resident memory (data, not mapped library code) of this process."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("RssAnon:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no RssAnon in /proc/self/status")


class PeakSampler(threading.Thread):
    """Samples anonymous memory every few ms: ru_maxrss also counts library code paged in
    during the run (hundreds of MB for MKL/LAPACK), which is not memory the method uses."""

    def __init__(self, interval: float = 0.005):
        super().__init__(daemon=True)
        self.interval, self.peak, self.running = interval, anon_bytes(), True

    def run(self) -> None:
        while self.running:
            self.peak = max(self.peak, anon_bytes())
            time.sleep(self.interval)

    def stop(self) -> int:
        self.running = False
        self.join()
        return max(self.peak, anon_bytes())


def v1ann_cvpca(X, mask_array, device: str, solver: str = "exact"):
    """v1ann's cvPCA on ``device``: the Gram matrices once, one eigendecomposition per shuffle.

    Returns the spectrum (the published sum over stimuli) and the seconds spent on the Gram.
    """
    import torch

    from v1ann.spectrum.cvpca import SOLVERS, cvpca_from_gram
    from v1ann.spectrum.gram import repeat_gram

    start = time.perf_counter()
    gram = repeat_gram(X, device=device, products=SOLVERS[solver], progress=False)
    if device == "cuda":
        torch.cuda.synchronize()
    gram_seconds = time.perf_counter() - start
    n_components = min(1024, X.shape[1], X.shape[2] - 1)
    signal, _ = cvpca_from_gram(gram, mask_array, n_components, solver=solver, progress=False)  # ends on the host
    return signal.mean(axis=0) * X.shape[1], gram_seconds


def one_eigh_seconds(n: int) -> float:
    """Seconds of one float64 n × n symmetric eigendecomposition by the LAPACK v1ann uses."""
    import torch

    from v1ann._linalg import symmetric_eigh

    a = torch.randn(n, n, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    matrix = a @ a.T
    start = time.perf_counter()
    symmetric_eigh(matrix, overwrite=True)
    return time.perf_counter() - start


def warm_up_cuda() -> None:
    """Create the CUDA context and the cuBLAS/cuSOLVER handles, as any earlier GPU work would."""
    import torch

    a = torch.randn(64, 64, dtype=torch.float64, device="cuda")
    torch.linalg.eigh(a @ a.T)
    torch.cuda.synchronize()


def worker(method: str, data: Path, masks: Path, out: Path, cuda_repeats: int = 3) -> None:
    """Run one method in this process; write its spectrum and measurements."""
    X = np.load(data, allow_pickle=False)
    mask_array = np.load(masks, allow_pickle=False)
    if method == "authors-full":
        X = X.astype(np.float64)
    extra = {}
    if method == "v1ann-default":
        import v1ann

        start, cpu_start = time.perf_counter(), time.process_time()
        fit = v1ann.estimate_alpha(X, n_shuffles=len(mask_array), seed=0, progress=False)
        out.write_text(json.dumps({"seconds": time.perf_counter() - start, "cpu_seconds": time.process_time() - cpu_start,
                                   "alpha": fit.alpha, "alpha_ci": list(fit.alpha_ci), "method": fit.method}))
        return
    if method.startswith("v1ann"):
        import torch  # noqa: F401  (imported before the baseline, like sklearn for the others)

        import v1ann.spectrum.cvpca  # noqa: F401

        if method == "v1ann-mkl":
            import v1ann._linalg

            v1ann._linalg.prefers_openblas = lambda: False
    else:
        import sklearn.decomposition  # noqa: F401
    if method == "v1ann-cuda":
        # The first call on a fresh process pays for the CUDA context and library handles;
        # report it, then time warm runs as a notebook session would see them.
        import torch

        start = time.perf_counter()
        warm_up_cuda()
        extra["cuda_init_seconds"] = time.perf_counter() - start
        warm = []
        for _ in range(cuda_repeats):
            start = time.perf_counter()
            spectrum, gram_seconds = v1ann_cvpca(X, mask_array, "cuda")
            warm.append((time.perf_counter() - start, gram_seconds))
        extra["cuda_runs_seconds"] = [w[0] for w in warm]
        extra["cuda_gram_seconds"] = [w[1] for w in warm]
        extra["cuda_peak_bytes"] = torch.cuda.max_memory_allocated()
    baseline = anon_bytes()
    sampler = PeakSampler()
    sampler.start()
    start, cpu_start = time.perf_counter(), time.process_time()
    gram_seconds = None
    if method == "authors":
        spectrum = authors_shuff_cvpca(X, mask_array)
    elif method == "authors-full":
        spectrum = authors_shuff_cvpca(X, mask_array, svd_solver="full")
    else:
        device = "cuda" if method == "v1ann-cuda" else "cpu"
        spectrum, gram_seconds = v1ann_cvpca(X, mask_array, device, "float32" if method == "v1ann-float32" else "exact")
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
    if method == "v1ann":
        extra["eigh_seconds"] = one_eigh_seconds(X.shape[1])
    peak_anon = sampler.stop()
    peak_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    np.save(out.with_suffix(".npy"), spectrum)
    out.write_text(
        json.dumps(
            {
                "seconds": seconds,
                "cpu_seconds": cpu_seconds,
                "gram_seconds": gram_seconds,
                "peak_above_input": peak_anon - baseline,
                "peak_rss": peak_rss,
                **extra,
            }
        )
    )


def run_worker(method: str, data: Path, masks: Path, workdir: Path, threads: int | None) -> dict:
    """Run ``method`` in a fresh process; its measurements (and spectrum, where it has one)."""
    out = workdir / method
    env = dict(os.environ)
    if threads:
        env.update({name: str(threads) for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")})
    subprocess.run(
        [sys.executable, __file__, "--worker", method, "--data", str(data), "--masks", str(masks), "--out", str(out)],
        check=True,
        env=env,
    )
    result = json.loads(out.read_text())
    if out.with_suffix(".npy").exists():
        result["spectrum"] = np.load(out.with_suffix(".npy"), allow_pickle=False)
    return result


def simulate(n_stimuli: int, n_neurons: int, seed: int, alpha: float = 1.0) -> np.ndarray:
    from v1ann.recording.schema import stimulus_responses
    from v1ann.recording.simulate import simulate_recording

    rec = simulate_recording(alpha=alpha, n_stimuli=n_stimuli, n_neurons=n_neurons, noise_scale=1.0, seed=seed)
    return np.ascontiguousarray(stimulus_responses(rec).values, dtype=np.float32)


def alpha_of(spectrum: np.ndarray) -> float:
    """The published fit (weights 1/rank, ranks 12..500) of a spectrum, stopped before its
    first non-positive value (steep spectra at this noise cross zero)."""
    from v1ann.spectrum.powerlaw import fit_powerlaw

    return float(fit_powerlaw(spectrum, fit_range=(11, 500), nonpositive="truncate").alpha)


def max_relative_difference(spectrum: np.ndarray, reference: np.ndarray) -> float:
    a, b = spectrum[FIT_RANKS], reference[FIT_RANKS]
    return float(np.max(np.abs(a - b) / np.abs(b)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n-stimuli", type=int, default=2800)
    parser.add_argument("--n-neurons", type=int, default=10000)
    parser.add_argument("--n-shuffles", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--alpha", type=float, default=1.0, help="exponent of the simulated signal (noise/signal 1)")
    parser.add_argument("--skip-authors-full", action="store_true", help="skip the exact-SVD reference run")
    parser.add_argument("--skip-default", action="store_true", help="skip the default estimate_alpha run")
    parser.add_argument(
        "--threads", type=int, default=None, help="BLAS/OpenMP threads per run (default: all); 1 gives clean CPU times on a loaded machine"
    )
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--masks", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args.data, args.masks, args.out)
        return

    import torch

    from v1ann._linalg import cpu_vendor, prefers_openblas
    from v1ann.spectrum.cvpca import shuffle_masks

    with tempfile.TemporaryDirectory(prefix="bench_cvpca_") as tmp:
        workdir = Path(tmp)
        X = simulate(args.n_stimuli, args.n_neurons, args.seed, args.alpha)
        input_bytes = X.nbytes
        np.save(workdir / "X.npy", X)
        np.save(workdir / "masks.npy", shuffle_masks(args.n_shuffles, args.n_stimuli, args.seed))
        del X
        methods = ["v1ann", "v1ann-float32", "authors"] + ([] if args.skip_authors_full else ["authors-full"])
        if prefers_openblas():
            methods.insert(1, "v1ann-mkl")
        if torch.cuda.is_available():
            methods.append("v1ann-cuda")
        results = {}
        for method in methods:
            print(f"running {method} ...", flush=True)
            results[method] = run_worker(method, workdir / "X.npy", workdir / "masks.npy", workdir, args.threads)
        default = None
        if not args.skip_default:
            print("running v1ann-default ...", flush=True)
            default = run_worker("v1ann-default", workdir / "X.npy", workdir / "masks.npy", workdir, args.threads)

    print(
        f"\ncvPCA, {args.n_stimuli} stimuli x {args.n_neurons} neurons x 2 repeats (float32 input, "
        f"{input_bytes / 2**20:.0f} MiB), {args.n_shuffles} shuffles, same masks; "
        f"{os.cpu_count()} CPU cores ({cpu_vendor() or 'vendor unknown'}), BLAS threads per run: "
        f"{args.threads or 'all'}; v1ann's CPU eigendecomposition: "
        f"{'scipy (OpenBLAS)' if prefers_openblas() else 'torch (MKL)'}"
    )
    references = [m for m in ("authors", "authors-full") if m in results]
    header = f"{'method':<14}{'wall (s)':>10}{'speed-up':>10}{'CPU (s)':>10}{'speed-up':>10}{'peak mem. above input':>23}" + "".join(
        f"{'max rel. diff vs ' + r:>30}" for r in references
    )
    print(header)
    for method, res in results.items():
        speedup = results["authors"]["seconds"] / res["seconds"]
        cpu_speedup = results["authors"]["cpu_seconds"] / res["cpu_seconds"]
        row = (
            f"{method:<14}{res['seconds']:>10.1f}{speedup:>9.1f}x{res['cpu_seconds']:>10.1f}{cpu_speedup:>9.1f}x"
            f"{res['peak_above_input'] / input_bytes:>21.2f}x "
        )
        row += "".join(f"{max_relative_difference(res['spectrum'], results[r]['spectrum']):>30.2e}" for r in references)
        print(row)
    for method, res in results.items():
        if res.get("gram_seconds") is not None:
            print(f"{method}: Gram matrix {res['gram_seconds']:.2f} s of {res['seconds']:.2f} s")
    exact = results["v1ann"]
    floor = exact["gram_seconds"] + args.n_shuffles * exact["eigh_seconds"]
    print(f"LAPACK floor of the exact computation: Gram {exact['gram_seconds']:.2f} s + {args.n_shuffles} x eigh "
          f"{exact['eigh_seconds']:.2f} s = {floor:.2f} s; v1ann exact / floor = {exact['seconds'] / floor:.2f}; "
          f"10x the published code needs {results['authors']['seconds'] / 10:.2f} s")
    fast = results["v1ann-float32"]
    print(f"solver='float32': {fast['seconds']:.2f} s = {results['authors']['seconds'] / fast['seconds']:.2f}x faster "
          f"than the published code, {exact['seconds'] / fast['seconds']:.2f}x faster than exact; alpha minus exact "
          f"{alpha_of(fast['spectrum']) - alpha_of(exact['spectrum']):+.2e}")
    if default is not None:
        ci = ", ".join(f"{v:.4f}" for v in default["alpha_ci"])
        print(f"default estimate_alpha ({default['method']}, interval included): {default['seconds']:.1f} s = "
              f"{default['seconds'] / exact['seconds']:.2f}x one exact cvPCA (v1ann) with the same shuffles; "
              f"alpha {default['alpha']:.4f} [{ci}] (simulated alpha {args.alpha:g})")
    reference_alpha = alpha_of(exact["spectrum"])
    for method, res in results.items():
        alpha = alpha_of(res["spectrum"])
        print(f"{method:<18} alpha {alpha:.5f}  (minus v1ann exact: {alpha - reference_alpha:+.2e})")
    if "v1ann-cuda" in results:
        res = results["v1ann-cuda"]
        runs = ", ".join(f"{t:.2f}" for t in res["cuda_runs_seconds"])
        grams = ", ".join(f"{t:.2f}" for t in res["cuda_gram_seconds"])
        print(
            f"v1ann-cuda: {torch.cuda.get_device_name()}; CUDA context and handles {res['cuda_init_seconds']:.2f} s "
            f"(once per process, before timing); earlier warm runs {runs} s (Gram {grams} s); "
            f"peak GPU memory {res['cuda_peak_bytes'] / input_bytes:.2f}x the input"
        )
    print("max rel. diff: max over ranks 12..500 of |a - b| / |b| of the shuffle-averaged spectra.")
    print("CPU: process CPU time, all threads (less sensitive than wall time to other load on the machine).")
    print("peak mem.: peak anonymous resident memory (sampled every 5 ms) above that after loading the input.")


if __name__ == "__main__":
    main()
