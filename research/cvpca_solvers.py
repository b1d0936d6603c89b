"""Why cvpca offers solver="float32" and not a randomized solver (issue 22, point 6).

Each shuffle of cvPCA needs the top eigenpairs of a 2,800 x 2,800 covariance whose tail
(ranks ~100..500) sits in a flat noise floor. This script replaces the per-shuffle
eigendecomposition by (a) randomized subspace iteration (float32 iterations, a float64
Rayleigh-Ritz step) with ``--oversample`` extra vectors and ``--iterations`` power steps, or
(b) an exact float32 eigendecomposition (``--iterations -1``), and prints the time of the ten
shuffles and the exponent's difference from the exact float64 computation.

    python research/cvpca_solvers.py --alpha 1 --oversample 100 --iterations 2
    python research/cvpca_solvers.py --alpha 1 --iterations -1          # float32 eigh

Measured 2026-12-04 (2 AMD cores, 2,800 x 10,000, noise/signal 1, alpha 1, seed 1; exact
shuffles 18.6-18.8 s): randomized (100, 2) 6.9 s, alpha +2.1e-2; (300, 4) 10.8 s, +1.5e-3;
(500, 6) 18.7 s, +4.6e-5; float32 eigh 12.5 s, +1.7e-7.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
import torch

import v1ann
from v1ann.spectrum.gram import repeat_gram
from v1ann.spectrum.powerlaw import fit_powerlaw

cvpca_module = sys.modules["v1ann.spectrum.cvpca"]  # the module (v1ann.spectrum.cvpca is the function)


def subspace_eigh(matrix, n_components, oversample, iterations, generator):
    """Top eigenpairs (ascending, like torch.linalg.eigh) by randomized subspace iteration;
    ``iterations < 0``: an exact float32 eigendecomposition instead."""
    if iterations < 0:
        values, vectors = torch.linalg.eigh(matrix.to(torch.float32))
        return values.double(), vectors.double()
    width = min(matrix.shape[0], n_components + oversample)
    low = matrix.to(torch.float32)
    block = low @ torch.randn(matrix.shape[0], width, dtype=torch.float32, generator=generator)
    for _ in range(iterations):
        basis, _ = torch.linalg.qr(block)
        block = low @ basis
    basis, _ = torch.linalg.qr(block.double())
    values, vectors = torch.linalg.eigh(basis.T @ (matrix @ basis))
    return values, basis @ vectors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--alpha", type=float, default=1.0)
    parser.add_argument("--oversample", type=int, default=100)
    parser.add_argument("--iterations", type=int, default=2)
    parser.add_argument("--n-components", type=int, default=500)
    args = parser.parse_args()
    rec = v1ann.simulate_recording(alpha=args.alpha, n_stimuli=2800, n_neurons=10000, seed=1, noise_scale=1.0)
    gram = repeat_gram(rec, progress=False)
    masks = cvpca_module.shuffle_masks(10, 2800, 0)
    start = time.perf_counter()
    exact, _ = cvpca_module.cvpca_from_gram(gram, masks, args.n_components, progress=False)
    exact_seconds = time.perf_counter() - start
    generator = torch.Generator().manual_seed(0)
    cvpca_module.symmetric_eigh = lambda matrix, overwrite=False: subspace_eigh(
        matrix, args.n_components, args.oversample, args.iterations, generator)
    start = time.perf_counter()
    fast, _ = cvpca_module.cvpca_from_gram(gram, masks, args.n_components, progress=False)
    fast_seconds = time.perf_counter() - start

    def alpha(spectrum):
        return fit_powerlaw(spectrum.mean(0), fit_range=(11, 500), nonpositive="truncate").alpha

    print(f"alpha {args.alpha}, oversample {args.oversample}, iterations {args.iterations}: exact shuffles "
          f"{exact_seconds:.1f} s, this solver {fast_seconds:.1f} s, alpha minus exact "
          f"{alpha(fast) - alpha(exact):+.1e}, max |rel. diff.| ranks 12..500 "
          f"{np.abs(fast.mean(0)[11:500] / exact.mean(0)[11:500] - 1).max():.1e}")


if __name__ == "__main__":
    main()
