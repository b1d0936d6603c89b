"""SVCA: agreement with a direct computation (both streamed axes), known shared spectra, splits, bad input."""

from __future__ import annotations

import importlib

import numpy as np
import pytest
import xarray as xr

from v1ann.errors import InvalidInputError, V1AnnWarning
from v1ann.spectrum.svca import neuron_split, svca, time_split

# The module, not the function that v1ann.spectrum exports under the same name.
svca_module = importlib.import_module("v1ann.spectrum.svca")
STREAMS = ["time", "neurons"]


def reference_svca(X, set1, set2, train, k):
    """In-memory SVCA: SVD of the train cross-covariance, covariance of test projections."""
    F, G = X[:, set1], X[:, set2]
    Ftr, Gtr = F[train] - F[train].mean(axis=0), G[train] - G[train].mean(axis=0)
    u, _, vt = np.linalg.svd(Ftr.T @ Gtr)
    p1, p2 = F[~train] @ u[:, :k], G[~train] @ vt[:k].T
    p1, p2 = p1 - p1.mean(axis=0), p2 - p2.mean(axis=0)
    return (p1 * p2).mean(axis=0), 0.5 * ((p1**2).mean(axis=0) + (p2**2).mean(axis=0))


def assert_matches_reference(got, X, seed, segment_length, k):
    set1, set2, _ = neuron_split(X.shape[1], seed=seed, split="random")
    reliable, total = reference_svca(X, set1, set2, time_split(X.shape[0], segment_length), k)
    np.testing.assert_allclose(got.values, reliable, rtol=1e-9, atol=1e-11 * np.abs(reliable).max())
    np.testing.assert_allclose(got["total_variance"].values, total, rtol=1e-9)


def shared_activity(rng, latent_var, n_time=3000, n_neurons=200, noise_sd=1.0):
    """Latents with variances ``latent_var`` loaded on orthonormal patterns within each set."""
    rank = len(latent_var)
    z = rng.standard_normal((n_time, rank)) * np.sqrt(latent_var)
    loadings = np.zeros((n_neurons, rank))
    half = n_neurons // 2
    for rows in (slice(0, half), slice(half, n_neurons)):
        loadings[rows], _ = np.linalg.qr(rng.standard_normal((rows.stop - rows.start, rank)))
    return z @ loadings.T + noise_sd * rng.standard_normal((n_time, n_neurons)) + 3.0


@pytest.mark.parametrize("stream", STREAMS)
def test_matches_direct_computation(rng, stream):
    X = rng.standard_normal((500, 40)) @ rng.standard_normal((40, 60)) + rng.standard_normal((500, 60))
    got = svca(X, n_components=15, seed=2, segment_length=25, stream=stream, progress=False, device="cpu")
    assert_matches_reference(got, X, seed=2, segment_length=25, k=15)
    assert got.name == "reliable_variance" and got.attrs["method"] == "svca"
    assert got.attrs["split"] == "random" and got.attrs["n_train"] + got.attrs["n_test"] == 500
    assert got.attrs["stream"] == stream


@pytest.mark.parametrize("stream", STREAMS)
@pytest.mark.parametrize("lazy", [False, True])
def test_streams_equal_in_memory_path_for_every_rank(rng, stream, lazy):
    """Every rank (distinct singular values) of a full-rank recording with a large baseline and
    more neurons than train time points, in chunks that divide neither axis."""
    import dask.array as da

    X = rng.standard_normal((230, 30)) @ rng.standard_normal((30, 310)) + rng.standard_normal((230, 310)) + 50.0
    data = da.from_array(X, chunks=(64, 100)) if lazy else X
    got = svca(data, seed=4, segment_length=20, stream=stream, chunk_size=37, progress=False, device="cpu")
    assert got.sizes["rank"] == 119  # min(n_set1, n_set2, n_train - 1) = n_train - 1
    assert_matches_reference(got, X, seed=4, segment_length=20, k=119)


def test_neuron_stream_from_zarr_store(rng, tmp_path):
    import zarr

    X = rng.standard_normal((200, 12)) @ rng.standard_normal((12, 90)) + rng.standard_normal((200, 90))
    store = zarr.open_array(tmp_path / "spont.zarr", mode="w", shape=X.shape, chunks=(200, 16), dtype="f4")
    store[:] = X.astype(np.float32)
    expected = svca(store[:], seed=0, stream="time", progress=False, device="cpu")
    stored = zarr.open_array(tmp_path / "spont.zarr", mode="r")
    got = svca(stored, seed=0, stream="neurons", progress=False, device="cpu")
    np.testing.assert_allclose(got.values, expected.values, rtol=1e-9, atol=1e-11 * np.abs(expected.values).max())


def test_auto_stream_picks_the_smaller_working_set(rng):
    many_neurons = svca(rng.standard_normal((120, 400)), seed=0, segment_length=10, progress=False, device="cpu")
    long_recording = svca(rng.standard_normal((400, 30)), seed=0, segment_length=10, progress=False, device="cpu")
    assert many_neurons.attrs["stream"] == "neurons" and long_recording.attrs["stream"] == "time"
    # 100k neurons x 5,000 time points: the cross-covariance alone is 20 GB, the Grams 0.2 GB.
    assert svca_module._working_bytes("time", 50_000, 50_000, 2_520, 2_480) > 20e9
    assert svca_module._working_bytes("neurons", 50_000, 50_000, 2_520, 2_480) < 1e9


@pytest.mark.parametrize("stream", STREAMS)
def test_torch_accumulation_path_used_on_cuda(rng, stream, monkeypatch):
    """The CUDA accumulation path (torch addmm rather than BLAS syrk) checked on CPU."""
    from v1ann.spectrum import gram

    monkeypatch.setattr(svca_module, "_accumulator", lambda size, dev: gram._TorchAccumulator(size, dev))
    X = rng.standard_normal((300, 15)) @ rng.standard_normal((15, 80)) + rng.standard_normal((300, 80))
    got = svca(X, seed=1, segment_length=30, stream=stream, chunk_size=23, progress=False, device="cpu")
    assert_matches_reference(got, X, seed=1, segment_length=30, k=got.sizes["rank"])


@pytest.mark.parametrize("stream", STREAMS)
def test_rank_deficient_cross_covariance_returns_defined_components(rng, stream):
    # Eight noiseless latents: C has rank 8; its further singular vectors are arbitrary.
    X = rng.standard_normal((400, 8)) @ rng.standard_normal((8, 60))
    with pytest.warns(V1AnnWarning, match="numerical rank 8, below n_components=30"):
        got = svca(X, seed=0, stream=stream, chunk_size=7, progress=False, device="cpu")
    assert got.sizes["rank"] == 8
    assert_matches_reference(got, X, seed=0, segment_length=60, k=8)
    with pytest.raises(InvalidInputError, match="no train-time covariance"):
        svca(np.ones((400, 60)), seed=0, stream=stream, progress=False, device="cpu")


@pytest.mark.parametrize("stream", STREAMS)
def test_known_shared_spectrum_recovered(rng, stream):
    # Latent variances well above the noise's train cross-covariance singular values
    # (~ (sqrt(50) + sqrt(50)) / sqrt(2000) ~ 0.3), whose directions are then well estimated.
    latent = np.array([8.0, 4.0, 2.0, 1.0])
    X = shared_activity(rng, latent, n_time=4000, n_neurons=100)
    # Each half of the neurons carries the latents on its own patterns: split them by position.
    xy = np.column_stack([np.repeat([0.0, 100.0], 50), np.zeros(100)])
    arr = xr.DataArray(X, dims=("time", "neuron"), coords={"x": ("neuron", xy[:, 0]), "y": ("neuron", xy[:, 1])})
    got = svca(arr, n_components=10, square_size=60.0, stream=stream, progress=False, device="cpu")
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
    from v1ann.recording.simulate import simulate_recording

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


def published_strip_sets(med_first_column):
    """incNeurSVCA.m's neuron sets, transcribed line by line (MATLAB's 1-based rows)."""
    y = np.round(med_first_column)
    nby = np.floor(med_first_column.max() / 16)
    offsets = np.arange(1, nby - 10 + 1)
    ytrain = ((np.arange(1, 17, 2) - 1) * nby + offsets[:, None]).ravel()
    ytest = ((np.arange(2, 17, 2) - 1) * nby + offsets[:, None]).ravel()
    return np.flatnonzero(np.isin(y, ytrain)), np.flatnonzero(np.isin(y, ytest))


def test_strip_split_is_the_published_one(rng):
    # positions in pixels of a 512-pixel field of view, fractional like suite2p's med
    xy = np.column_stack([rng.uniform(0, 512, 3000), rng.uniform(0, 512, 3000)])
    set1, set2, used = neuron_split(3000, xy, split="strips")
    want1, want2 = published_strip_sets(xy[:, 0])
    assert used == "strips"
    np.testing.assert_array_equal(set1, want1)
    np.testing.assert_array_equal(set2, want2)
    # a band of 10 rows separates every neuron of one set from the other
    gaps = np.abs(np.round(xy[set1, 0])[:, None] - np.round(xy[set2, 0])[None, :])
    assert gaps.min() >= 11
    # svca runs on the two sets only, the band's neurons left out
    activity = rng.standard_normal((400, 3000))
    got = svca(xr.DataArray(activity, dims=("time", "neuron"), coords={"x": ("neuron", xy[:, 0]),
                                                                     "y": ("neuron", xy[:, 1])}),
               split="strips", n_components=5, progress=False, device="cpu")
    assert got.attrs["n_set1"] == set1.size and got.attrs["n_set2"] == set2.size < 1500
    with pytest.raises(InvalidInputError, match="no wider than the 10-unit band"):
        neuron_split(20, rng.uniform(0, 100, (20, 2)), split="strips")
    with pytest.raises(InvalidInputError, match="needs neuron positions"):
        neuron_split(20, None, split="strips")


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


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("stream", STREAMS)
def test_input_not_modified(rng, stream, dtype):
    X = rng.standard_normal((200, 20)).astype(dtype) + 1.0
    before = X.copy()
    svca(X, seed=0, chunk_size=7, stream=stream, progress=False, device="cpu")
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
    with pytest.raises(InvalidInputError, match="Invalid value for the 'stream' parameter"):
        svca(X, stream="space", progress=False)
    bad = X.copy()
    bad[130, 4] = np.inf
    with pytest.raises(InvalidInputError, match=r"time points 100:150 contain 1 NaN/Inf"):
        svca(bad, chunk_size=50, stream="time", progress=False)


def test_nan_in_neuron_chunk_names_range_and_source(rng, tmp_path):
    import dask.array as da
    import zarr

    X = rng.standard_normal((120, 100)).astype(np.float32)
    X[77, 70] = np.nan
    message = r"neurons 64:96 contain 1 NaN/Inf value\(s\) \(first in neuron 70\)"
    with pytest.raises(InvalidInputError, match=message):
        svca(X, chunk_size=32, stream="neurons", progress=False)
    path = tmp_path / "bad.zarr"
    zarr.open_array(path, mode="w", shape=X.shape, chunks=(120, 32), dtype="f4")[:] = X
    lazy = xr.DataArray(da.from_zarr(str(path)), dims=("time", "neuron"), attrs={"source": str(path)})
    with pytest.raises(InvalidInputError, match=r"activity \(.*bad\.zarr\): " + message):
        svca(lazy, chunk_size=32, stream="neurons", progress=False)


def test_svca_recovers_the_exponent_of_simulated_spontaneous_activity_where_noise_is_low():
    import v1ann

    for alpha in (1.0, 1.5):
        rec = v1ann.simulate_spontaneous(alpha, n_time=3000, n_neurons=1600, n_shared=250, noise_scale=0.02, seed=4)
        fit = v1ann.estimate_alpha(rec, method="svca", fit_range=(11, 120), progress=False)
        assert fit.method == "svca" and abs(fit.alpha - alpha) < 0.08, (alpha, fit)
        assert fit.attrs["reliable_fraction"] > 0.8 and not fit.attrs["warnings"]


def test_where_private_noise_dominates_svca_runs_steep_and_says_so():
    import v1ann
    from v1ann.errors import V1AnnWarning

    rec = v1ann.simulate_spontaneous(1.0, n_time=3000, n_neurons=1600, n_shared=250, noise_scale=4.0, seed=4)
    with pytest.warns(V1AnnWarning, match="reliable"):
        fit = v1ann.estimate_alpha(rec, method="svca", fit_range=(11, 120), progress=False)
    assert fit.alpha > 1.2 and fit.attrs["reliable_fraction"] < 0.8  # the known failure, flagged


def test_simulated_spontaneous_activity_has_its_exact_shared_spectrum():
    import v1ann

    rec = v1ann.simulate_spontaneous(1.2, n_time=500, n_neurons=300, n_shared=100, noise_scale=0.0, seed=0)
    activity = rec["activity"].values.astype(np.float64)
    centred = activity - activity.mean(0)
    evals = np.linalg.eigvalsh(centred.T @ centred / activity.shape[0])[::-1][:100]
    np.testing.assert_allclose(evals, rec["true_shared_spectrum"].values, rtol=1e-3)
    assert v1ann.fit_powerlaw(rec["true_shared_spectrum"], fit_range=(5, 100)).alpha == pytest.approx(1.2)
