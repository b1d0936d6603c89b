"""The symmetric eigendecomposition behind every spectrum: both LAPACK paths, the choice between them."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from test_cvpca import noisy_responses, published_shuff_cvpca

import v1ann._linalg as eigh_module
from v1ann._linalg import symmetric_eigh
from v1ann.spectrum.cvpca import cvpca, shuffle_masks


@pytest.fixture(params=["torch", "openblas"])
def backend(request, monkeypatch):
    """Run the test with each CPU path, whatever this machine's processor."""
    monkeypatch.setattr(eigh_module, "prefers_openblas", lambda: request.param == "openblas")
    return request.param


def symmetric(rng, n=40):
    a = rng.standard_normal((n, n + 5))
    return a @ a.T


def test_eigenpairs_match_numpy_on_either_path(backend, rng):
    matrix = symmetric(rng)
    expected_values, expected_vectors = np.linalg.eigh(matrix)
    values, vectors = symmetric_eigh(torch.from_numpy(matrix))
    np.testing.assert_allclose(values.numpy(), expected_values, rtol=1e-12, atol=1e-12 * expected_values.max())
    # eigenvectors are defined up to sign
    signs = np.sign(np.sum(vectors.numpy() * expected_vectors, axis=0))
    np.testing.assert_allclose(vectors.numpy() * signs, expected_vectors, atol=1e-10)
    assert values.dtype == vectors.dtype == torch.float64


def test_input_kept_unless_overwrite_is_allowed(backend, rng):
    matrix = symmetric(rng)
    tensor = torch.from_numpy(matrix.copy())
    symmetric_eigh(tensor)
    np.testing.assert_array_equal(tensor.numpy(), matrix)
    # a non-contiguous view is read correctly, with or without permission to overwrite
    values, _ = symmetric_eigh(torch.from_numpy(matrix.copy()).T, overwrite=True)
    np.testing.assert_allclose(values.numpy(), np.linalg.eigvalsh(matrix), rtol=1e-12, atol=1e-12 * matrix.trace())


def test_cvpca_equals_published_code_on_either_path(backend, rng):
    X = noisy_responses(rng)
    masks = shuffle_masks(3, X.shape[1], seed=4)
    expected = published_shuff_cvpca(X, masks, 20).mean(axis=0) / X.shape[1]
    got = cvpca(X, n_shuffles=3, n_components=20, seed=4, device="cpu", progress=False)
    np.testing.assert_allclose(got.values, expected, rtol=1e-9)


@pytest.mark.parametrize(
    "vendor, mkl, expected",
    [("AuthenticAMD", True, True), ("GenuineIntel", True, False), ("AuthenticAMD", False, False), ("", True, False)],
)
def test_openblas_is_chosen_only_for_mkl_on_amd(monkeypatch, vendor, mkl, expected):
    monkeypatch.setattr(eigh_module, "cpu_vendor", lambda: vendor)
    monkeypatch.setattr(torch.backends.mkl, "is_available", lambda: mkl)
    eigh_module.prefers_openblas.cache_clear()
    try:
        assert eigh_module.prefers_openblas() is expected
    finally:
        eigh_module.prefers_openblas.cache_clear()
