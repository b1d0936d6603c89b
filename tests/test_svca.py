"""SVCA: agreement with a direct computation, known shared spectra, splits, bad input."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from v1ann.errors import InvalidInputError, V1AnnWarning
from v1ann.spectrum.svca import neuron_split, svca, time_split


def reference_svca(X, set1, set2, train, k):
    """In-memory SVCA: SVD of the train cross-covariance, covariance of test projections."""
    F, G = X[:, set1], X[:, set2]
    Ftr, Gtr = F[train] - F[train].mean(axis=0), G[train] - G[train].mean(axis=0)
    u, _, vt = np.linalg.svd(Ftr.T @ Gtr)
    p1, p2 = F[~train] @ u[:, :k], G[~train] @ vt[:k].T
    p1, p2 = p1 - p1.mean(axis=0), p2 - p2.mean(axis=0)
    return (p1 * p2).mean(axis=0), 0.5 * ((p1**2).mean(axis=0) + (p2**2).mean(axis=0))


def shared_activity(rng, latent_var, n_time=3000, n_neurons=200, noise_sd=1.0):
    """Latents with variances ``latent_var`` loaded on orthonormal patterns within each set."""
    rank = len(latent_var)
    z = rng.standard_normal((n_time, rank)) * np.sqrt(latent_var)
    loadings = np.zeros((n_neurons, rank))
    half = n_neurons // 2
    for rows in (slice(0, half), slice(half, n_neurons)):
        loadings[rows], _ = np.linalg.qr(rng.standard_normal((rows.stop - rows.start, rank)))
    return z @ loadings.T + noise_sd * rng.standard_normal((n_time, n_neurons)) + 3.0


def test_matches_direct_computation(rng):
    X = rng.standard_normal((500, 40)) @ rng.standard_normal((40, 60)) + rng.standard_normal((500, 60))
    got = svca(X, n_components=15, seed=2, segment_length=25, progress=False, device="cpu")
    set1, set2, _ = neuron_split(60, seed=2, split="random")
    reliable, total = reference_svca(X, set1, set2, time_split(500, 25), 15)
    np.testing.assert_allclose(got.values, reliable, rtol=1e-9, atol=1e-12 * np.abs(reliable).max())
    np.testing.assert_allclose(got["total_variance"].values, total, rtol=1e-9)
    assert got.name == "reliable_variance" and got.attrs["method"] == "svca"
    assert got.attrs["split"] == "random" and got.attrs["n_train"] + got.attrs["n_test"] == 500


def test_known_shared_spectrum_recovered(rng):
    # Latent variances well above the noise's train cross-covariance singular values
    # (~ (sqrt(50) + sqrt(50)) / sqrt(2000) ~ 0.3), whose directions are then well estimated.
    latent = np.array([8.0, 4.0, 2.0, 1.0])
    X = shared_activity(rng, latent, n_time=4000, n_neurons=100)
    # Each half of the neurons carries the latents on its own patterns: split them by position.
    xy = np.column_stack([np.repeat([0.0, 100.0], 50), np.zeros(100)])
    arr = xr.DataArray(X, dims=("time", "neuron"), coords={"x": ("neuron", xy[:, 0]), "y": ("neuron", xy[:, 1])})
    got = svca(arr, n_components=10, square_size=60.0, progress=False, device="cpu")
    assert got.attrs["split"] == "checkerboard"
    np.testing.assert_allclose(got.values[:4], latent, rtol=0.15)
    assert np.abs(got.values[4:]).max() < 0.1  # no shared variance beyond the latents
    # Total = shared + private noise (variance 1 along any unit direction).
    np.testing.assert_allclose(got["total_variance"].values[:4], latent + 1.0, rtol=0.15)


def test_chunked_equals_in_memory_and_lazy_inputs(rng):
    import dask.array as da

    X = rng.standard_normal((400, 30)) @ rng.standard_normal((30, 50))
    whole = svca(X, seed=0, progress=False, device="cpu")
    chunked = svca(X, seed=0, chunk_size=37, progress=False, device="cpu")
    lazy = svca(xr.DataArray(da.from_array(X, chunks=(64, 50)), dims=("time", "neuron")), seed=0, progress=False, device="cpu")
    for other in (chunked, lazy):
        np.testing.assert_allclose(other.values, whole.values, rtol=1e-9, atol=1e-12 * np.abs(whole.values).max())


def test_recording_dataset_with_spont():
    from v1ann.simulate import simulate_recording

    rec = simulate_recording(alpha=1.0, n_stimuli=20, n_neurons=80, n_spont=300, seed=0)
    got = svca(rec, n_components=10, seed=0, progress=False, device="cpu")
    assert got.sizes["rank"] == 10 and np.isfinite(got.values).all()
    assert got.attrs["n_time"] == 300


def test_checkerboard_split_alternates_squares():
    x, y = np.meshgrid(np.arange(4) * 10.0 + 5, np.arange(4) * 10.0 + 5)
    xy = np.column_stack([x.ravel(), y.ravel()])
    set1, set2, used = neuron_split(16, xy, square_size=10.0)
    assert used == "checkerboard"
    cells = (xy // 10).astype(int)
    assert np.all((cells[set1].sum(axis=1) % 2) == 0) and np.all((cells[set2].sum(axis=1) % 2) == 1)


def test_missing_positions_warn_and_fall_back(rng):
    xy = rng.uniform(0, 500, (20, 2))
    xy[3] = np.nan
    with pytest.warns(V1AnnWarning, match="1 of 20 neurons"):
        _, _, used = neuron_split(20, xy, seed=0)
    assert used == "random"
    with pytest.raises(InvalidInputError, match="no finite x/y"):
        neuron_split(20, xy, split="checkerboard")


def test_time_split_interleaves():
    np.testing.assert_array_equal(time_split(7, 2), [True, True, False, False, True, True, False])


def test_input_not_modified(rng):
    X = rng.standard_normal((200, 20)).astype(np.float32)
    before = X.copy()
    svca(X, seed=0, chunk_size=33, progress=False, device="cpu")
    np.testing.assert_array_equal(X, before)


def test_bad_inputs(rng):
    X = rng.standard_normal((300, 20))
    with pytest.raises(InvalidInputError, match="dims"):
        svca(xr.DataArray(X, dims=("trial", "neuron")), progress=False)
    with pytest.raises(InvalidInputError, match="too few"):
        svca(X[:50], segment_length=60, progress=False)
    with pytest.raises(InvalidInputError, match="n_components=11 exceeds"):
        svca(X, n_components=11, progress=False)
    with pytest.raises(InvalidInputError, match="positions"):
        svca(X, split="checkerboard", progress=False)
    with pytest.raises(InvalidInputError, match="neither 'spont' nor 'activity'"):
        svca(xr.Dataset({"other": (("time", "neuron"), X)}), progress=False)
    bad = X.copy()
    bad[130, 4] = np.inf
    with pytest.raises(InvalidInputError, match=r"time points 100:150 contain 1 NaN/Inf"):
        svca(bad, chunk_size=50, progress=False)
