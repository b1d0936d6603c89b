"""Out-of-core spectra: zarr-backed and dask.distributed runs equal the in-memory results."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from v1ann.errors import InvalidInputError
from v1ann.spectrum import gram as gram_module
from v1ann.spectrum.cvpca import cvpca
from v1ann.spectrum.svca import svca

DIMS = ("repeat", "stimulus", "neuron")


@pytest.fixture
def responses(rng):
    signal = rng.standard_normal((40, 8)) @ rng.standard_normal((8, 150))
    return np.stack([signal + rng.standard_normal(signal.shape) for _ in range(2)]).astype(np.float32)


def write_zarr(path, X, neuron_chunk):
    """Write chunk by chunk, as one would a recording bigger than memory."""
    import zarr

    store = zarr.open_array(path, mode="w", shape=X.shape, chunks=(X.shape[0], X.shape[1], neuron_chunk), dtype="f4")
    for start in range(0, X.shape[2], neuron_chunk):
        store[:, :, start : start + neuron_chunk] = X[:, :, start : start + neuron_chunk]
    return path


def lazy_dataarray(path):
    import dask.array as da

    return xr.DataArray(da.from_zarr(str(path)), dims=DIMS, attrs={"source": str(path)})


@pytest.fixture(scope="module")
def client():
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=":0") as cluster:
        with distributed.Client(cluster) as c:
            yield c


def test_zarr_backed_equals_numpy(responses, tmp_path):
    import zarr

    path = write_zarr(tmp_path / "resp.zarr", responses, neuron_chunk=32)
    expected = cvpca(responses, n_shuffles=3, seed=0, progress=False, device="cpu")
    for lazy in (lazy_dataarray(path), zarr.open_array(path, mode="r")):
        got = cvpca(lazy, n_shuffles=3, seed=0, progress=False, device="cpu")
        np.testing.assert_allclose(got.values, expected.values, rtol=1e-9, atol=1e-12 * np.abs(expected.values).max())


def test_cluster_equals_local(responses, tmp_path, client):
    path = write_zarr(tmp_path / "resp.zarr", responses, neuron_chunk=32)
    assert gram_module._distributed_client() is client
    expected = cvpca(responses, n_shuffles=3, seed=0, progress=False, device="cpu")
    on_cluster = cvpca(lazy_dataarray(path), n_shuffles=3, seed=0, progress=False, device="cpu")
    np.testing.assert_allclose(on_cluster.values, expected.values, rtol=1e-9, atol=1e-12 * np.abs(expected.values).max())
    local_gram = gram_module.repeat_gram(responses, device="cpu", progress=False)
    cluster_gram = gram_module.repeat_gram(lazy_dataarray(path), device="cpu", progress=False)
    np.testing.assert_allclose(cluster_gram.gram.numpy(), local_gram.gram.numpy(), rtol=1e-12, atol=1e-9)


def test_only_lazy_inputs_go_to_the_cluster(responses, tmp_path, client, monkeypatch):
    path = write_zarr(tmp_path / "resp.zarr", responses, neuron_chunk=50)
    calls = []
    for name in ("_gram_on_cluster", "_gram_streamed"):
        real = getattr(gram_module, name)
        monkeypatch.setattr(gram_module, name, lambda *a, _n=name, _f=real: calls.append(_n) or _f(*a))
    gram_module.repeat_gram(lazy_dataarray(path), device="cpu", progress=False)
    gram_module.repeat_gram(responses, device="cpu", progress=False)  # in memory already: stream locally
    assert calls == ["_gram_on_cluster", "_gram_streamed"]


@pytest.mark.parametrize("on_cluster", [False, True])
def test_nan_chunk_in_store_is_named(responses, tmp_path, request, on_cluster):
    if on_cluster:
        request.getfixturevalue("client")
    bad = responses.copy()
    bad[1, 7, 70] = np.nan
    path = write_zarr(tmp_path / "bad.zarr", bad, neuron_chunk=32)
    with pytest.raises(InvalidInputError, match=r"bad\.zarr\): neurons 64:96 contain 1 NaN/Inf value\(s\) \(first in neuron 70\)"):
        cvpca(lazy_dataarray(path), chunk_size=32, progress=False, device="cpu")


def test_svca_on_cluster_equals_local(rng, client):
    import dask.array as da

    X = rng.standard_normal((300, 20)) @ rng.standard_normal((20, 40))
    local = svca(X, seed=0, progress=False, device="cpu")
    lazy = xr.DataArray(da.from_array(X, chunks=(50, 40)), dims=("time", "neuron"))
    np.testing.assert_allclose(svca(lazy, seed=0, progress=False, device="cpu").values, local.values, rtol=1e-9)


def test_save_zarr_round_trip(tmp_path):
    zarrstore = pytest.importorskip("v1ann.io.zarrstore")
    from v1ann.recording.simulate import simulate_recording

    rec = simulate_recording(alpha=1.0, n_stimuli=50, n_neurons=120, seed=0)
    zarrstore.save_zarr(rec, tmp_path / "rec.zarr")
    loaded = zarrstore.load_zarr(tmp_path / "rec.zarr")
    expected = cvpca(rec, n_shuffles=2, seed=0, progress=False, device="cpu")
    got = cvpca(loaded, n_shuffles=2, seed=0, progress=False, device="cpu")
    np.testing.assert_allclose(got.values, expected.values, rtol=1e-9, atol=1e-12 * np.abs(expected.values).max())
