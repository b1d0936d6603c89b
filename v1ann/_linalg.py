"""Symmetric eigendecompositions, by the faster exact LAPACK for the matrix's device.

Every spectrum here costs one dense float64 ``syevd`` per shuffle or per simulated
exponent, so which LAPACK runs it matters: torch's CPU wheels bundle MKL, scipy's bring
OpenBLAS, and neither is the faster everywhere. A bare
2,800 x 2,800 float64 ``syevd`` on 2 cores took 5.4-5.6 s with torch (MKL) against
3.4-4.3 s with scipy (OpenBLAS) on an AMD EPYC (2026-12-02), and 1.8 s against 2.6 s on
the machine of 2026-11-22 (docs/spectra-estimators.md). Both are exact to rounding (they
agree to ~1e-13 relative), so the choice changes only the time (and memory: scipy
decomposes in place when allowed).
"""

from __future__ import annotations

import functools

import numpy as np
import scipy.linalg
import torch

__all__ = ["symmetric_eigh", "top_eigenpairs"]


def symmetric_eigh(matrix, overwrite: bool = False):
    """Eigenvalues (ascending) and eigenvectors (columns) of a symmetric matrix.

    Parameters
    ----------
    matrix : torch.Tensor
        (n, n) symmetric, float64 (or float32), on any device.
    overwrite : bool
        The caller does not need ``matrix`` again: the CPU path may decompose it in place
        (no n x n copy).

    Returns
    -------
    evals : torch.Tensor
        (n,) ascending, on ``matrix``'s device.
    evecs : torch.Tensor
        (n, n), column ``i`` the unit eigenvector of ``evals[i]``; may be non-contiguous.
    """
    if matrix.device.type != "cpu" or not prefers_openblas():
        return torch.linalg.eigh(matrix)

    # The transpose of a C-ordered symmetric matrix is the same matrix in Fortran order,
    # which LAPACK takes without a copy.
    data = matrix.detach().numpy().T if overwrite else matrix.detach().numpy().T.copy(order="F")
    evals, evecs = scipy.linalg.eigh(data, driver="evd", overwrite_a=True, check_finite=False)
    return torch.from_numpy(evals), torch.from_numpy(evecs)


@functools.lru_cache(maxsize=1)
def prefers_openblas() -> bool:
    """Whether CPU eigendecompositions go to scipy's OpenBLAS: on AMD processors, where
    torch's LAPACK is MKL."""
    return torch.backends.mkl.is_available() and cpu_vendor() in {"AuthenticAMD", "HygonGenuine"}


def cpu_vendor() -> str:
    """The CPU's vendor string from ``/proc/cpuinfo`` (``""`` where there is none)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("vendor_id"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return ""


def top_eigenpairs(matrix, n_components: int, *, overwrite: bool = False):
    """The ``n_components`` largest eigenvalues (descending) and their eigenvectors (columns).

    ``matrix`` is a symmetric torch tensor or numpy array; the result has the same type.

    >>> vals, vecs = top_eigenpairs(np.diag([1.0, 3.0, 2.0]), 2)
    >>> vals.tolist(), vecs[:, 0].tolist()
    ([3.0, 2.0], [0.0, 1.0, 0.0])
    """
    as_numpy = isinstance(matrix, np.ndarray)
    tensor = torch.from_numpy(matrix) if as_numpy else matrix
    evals, evecs = symmetric_eigh(tensor, overwrite=overwrite and not as_numpy)
    evals, evecs = evals[-n_components:].flip(0), evecs[:, -n_components:].flip(1)
    return (evals.numpy(), evecs.numpy()) if as_numpy else (evals, evecs)
