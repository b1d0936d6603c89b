"""Stimulus Gram matrices streamed over neuron chunks, from every supported array source."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from v1ann.errors import InvalidInputError
from v1ann.spectrum import repeat_gram


def expected_gram(X):
    half = X.shape[0] // 2
    z = np.concatenate([X[:half].mean(axis=0), X[half:].mean(axis=0)]).astype(np.float64)
    return z @ z.T, z.sum(axis=1)


@pytest.fixture
def responses(rng):
    return rng.standard_normal((2, 30, 95)).astype(np.float32) + 1.0


def assert_gram(result, X, rtol=1e-12):
    gram, sums = expected_gram(X)
    np.testing.assert_allclose(result.gram.numpy(), gram, rtol=rtol, atol=rtol * np.abs(gram).max())
    np.testing.assert_allclose(result.sums.numpy(), sums, rtol=rtol, atol=rtol * np.abs(sums).max())
    assert (result.n_repeats, result.n_stimuli, result.n_neurons) == X.shape


@pytest.mark.parametrize("chunk_size", [None, 1, 10, 95, 1000])
def test_numpy_any_chunking(responses, chunk_size):
    result = repeat_gram(responses, chunk_size=chunk_size, device="cpu", progress=False)
    assert_gram(result, responses)
    assert result.gram.dtype.is_floating_point and result.gram.dtype.itemsize == 8


def test_odd_number_of_repeats_splits_into_two_halves(rng):
    X = rng.standard_normal((5, 12, 40))
    assert_gram(repeat_gram(X, chunk_size=7, device="cpu", progress=False), X)


def test_xarray_numpy_and_dask_backed(responses):
    import dask.array as da

    arr = xr.DataArray(responses.transpose(1, 2, 0), dims=("stimulus", "neuron", "repeat"))
    assert_gram(repeat_gram(arr, device="cpu", progress=False), responses)
    lazy = arr.copy(data=da.from_array(arr.values, chunks=(30, 17, 2)))
    assert_gram(repeat_gram(lazy, device="cpu", progress=False), responses)


def test_h5py_and_zarr_backed(responses, tmp_path):
    import h5py
    import zarr

    with h5py.File(tmp_path / "r.h5", "w") as f:
        f.create_dataset("resp", data=responses, chunks=(2, 30, 16))
    with h5py.File(tmp_path / "r.h5", "r") as f:
        result = repeat_gram(f["resp"], device="cpu", progress=False)
        assert "r.h5:/resp" in result.source
        assert_gram(result, responses)
    store = zarr.open_array(tmp_path / "r.zarr", mode="w", shape=responses.shape, chunks=(2, 30, 20), dtype="f4")
    store[:] = responses
    assert_gram(repeat_gram(zarr.open_array(tmp_path / "r.zarr", mode="r"), device="cpu", progress=False), responses)


def test_default_chunk_follows_storage_chunks(responses, monkeypatch):
    import dask.array as da

    from v1ann.spectrum import gram

    monkeypatch.setattr(gram, "_CHUNK_BYTES", 8 * 2 * 30 * 50)  # room for 50 neurons
    assert gram._chunk_size(responses, None) == 50
    assert gram._chunk_size(da.from_array(responses, chunks=(2, 30, 20)), None) == 40


def test_nan_chunk_names_range_and_source(responses, tmp_path):
    import h5py

    bad = responses.copy()
    bad[0, 4, 33] = np.inf
    bad[1, 2, 35] = np.nan
    with pytest.raises(InvalidInputError, match=r"neurons 30:40 contain 2 NaN/Inf"):
        repeat_gram(bad, chunk_size=10, device="cpu", progress=False)
    with h5py.File(tmp_path / "bad.h5", "w") as f:
        f.create_dataset("resp", data=bad)
    with h5py.File(tmp_path / "bad.h5", "r") as f:
        with pytest.raises(InvalidInputError, match=r"bad\.h5:/resp\): neurons 32:48"):
            repeat_gram(f["resp"], chunk_size=16, device="cpu", progress=False)


def test_torch_tensor_input(responses):
    import torch

    assert_gram(repeat_gram(torch.from_numpy(responses), device="cpu", progress=False), responses)


def test_input_not_modified(responses):
    before = responses.copy()
    repeat_gram(responses, chunk_size=13, device="cpu", progress=False)
    np.testing.assert_array_equal(responses, before)


def test_bad_inputs(rng):
    with pytest.raises(InvalidInputError, match="1 repeat"):
        repeat_gram(rng.standard_normal((1, 5, 6)), progress=False)
    with pytest.raises(InvalidInputError, match="real numbers"):
        repeat_gram(np.array([[["a"] * 3] * 2] * 2), progress=False)
    with pytest.raises(InvalidInputError, match="at least 2 stimuli"):
        repeat_gram(rng.standard_normal((2, 1, 6)), progress=False)


def test_torch_accumulation_path_used_on_cuda(responses, rng, monkeypatch):
    """The CUDA path (halves formed and cast on the device, torch addmm) checked on CPU:
    float32 as stored, an odd number of float64 repeats, and integer counts."""
    from v1ann.spectrum import gram

    monkeypatch.setattr(gram, "_accumulator", lambda size, dev, dtype: gram._TorchAccumulator(size, dev, dtype))
    assert_gram(repeat_gram(responses, chunk_size=20, device="cpu", progress=False), responses)
    odd = rng.standard_normal((5, 12, 40))
    assert_gram(repeat_gram(odd, chunk_size=7, device="cpu", progress=False), odd)
    counts = rng.poisson(3.0, size=(3, 10, 33)).astype(np.uint16)
    result = repeat_gram(counts, chunk_size=8, device="cpu", progress=False)
    assert_gram(result, counts.astype(np.float64))
    assert result.gram.dtype.itemsize == 8


@pytest.mark.parametrize("torch_path", [False, True])
def test_float32_products_round_to_float32_and_sum_in_float64(rng, monkeypatch, torch_path):
    """``products="float32"`` (cvpca's float32 solver): each chunk's product rounds at
    float32 precision, not worse, and the chunks add up in float64 (CPU syrk and torch)."""
    from v1ann.spectrum import gram

    if torch_path:
        monkeypatch.setattr(gram, "_accumulator", lambda size, dev, dtype: gram._TorchAccumulator(size, dev, dtype))
    X = rng.standard_normal((2, 40, 300)) + 0.5
    result = repeat_gram(X, chunk_size=37, products="float32", device="cpu", progress=False)
    assert result.gram.dtype.itemsize == 8
    assert_gram(result, X, rtol=1e-5)
    exact = repeat_gram(X, chunk_size=37, device="cpu", progress=False)
    assert not np.allclose(result.gram.numpy(), exact.gram.numpy(), rtol=1e-10, atol=0)
    with pytest.raises(InvalidInputError, match="'products' parameter"):
        repeat_gram(X, products="float16", progress=False)
