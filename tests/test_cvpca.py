"""cvPCA: exact agreement with the published code, known spectra, chunking, bad input."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
from sklearn.decomposition import PCA

from v1ann.errors import InvalidInputError, V1AnnError
from v1ann.spectrum.cvpca import cvpca, shuffle_masks


def published_shuff_cvpca(X, masks, n_components):
    """Stringer et al. 2019 utils.py (cvPCA / shuff_cvPCA), with an exact SVD and given masks."""
    out = []
    for iflip in masks:
        X0 = X.copy()
        X0[0, iflip] = X[1, iflip]
        X0[1, iflip] = X[0, iflip]
        pca = PCA(n_components=n_components, svd_solver="full").fit(X0[0].T)
        u = pca.components_.T
        sv = pca.singular_values_
        xproj = X0[0].T @ (u / sv)
        cproj0 = X0[0] @ xproj
        cproj1 = X0[1] @ xproj
        out.append((cproj0 * cproj1).sum(axis=0))
    return np.array(out)


def noisy_responses(rng, n_repeats=2, n_stimuli=50, n_neurons=160, rank=12, offset=0.5):
    signal = rng.standard_normal((n_stimuli, rank)) @ rng.standard_normal((rank, n_neurons))
    return np.stack(
        [signal + rng.standard_normal((n_stimuli, n_neurons)) + offset for _ in range(n_repeats)]
    )


def prescribed_signal(rng, spectrum, n_stimuli, n_neurons):
    """(n_stimuli, n_neurons) data whose neuron-centred (1/n_stimuli) Gram has ``spectrum``."""
    rank = spectrum.size
    u, _ = np.linalg.qr(rng.standard_normal((n_stimuli, rank)))
    w = rng.standard_normal((n_neurons, rank))
    w -= w.mean(axis=0)  # zero mean over neurons: centring across neurons changes nothing
    w, _ = np.linalg.qr(w)
    return u @ np.diag(np.sqrt(n_stimuli * spectrum)) @ w.T


def test_matches_published_code_with_same_shuffles(rng):
    X = noisy_responses(rng)
    n_stimuli = X.shape[1]
    masks = shuffle_masks(4, n_stimuli, seed=3)
    expected = published_shuff_cvpca(X, masks, n_components=n_stimuli)
    got = cvpca(X, n_shuffles=4, n_components=n_stimuli, seed=3, keep_shuffles=True, progress=False)
    assert got.dims == ("shuffle", "rank")
    # The published spectrum is an unnormalised sum over stimuli; ours is per stimulus.
    np.testing.assert_allclose(got.values * n_stimuli, expected, rtol=1e-8, atol=1e-10 * np.abs(expected).max())


def test_mean_over_shuffles_and_attrs(rng):
    X = noisy_responses(rng)
    per_shuffle = cvpca(X, n_shuffles=3, seed=1, keep_shuffles=True, progress=False)
    mean = cvpca(X, n_shuffles=3, seed=1, progress=False)
    assert mean.dims == ("rank",) and mean.name == "signal_variance"
    np.testing.assert_allclose(mean.values, per_shuffle.values.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(mean["noise_variance"].values, per_shuffle["noise_variance"].values.mean(axis=0))
    np.testing.assert_array_equal(mean["rank"].values, np.arange(1, X.shape[1] + 1))
    assert mean.attrs["method"] == "cvpca"
    assert (mean.attrs["n_stimuli"], mean.attrs["n_neurons"], mean.attrs["n_repeats"]) == (50, 160, 2)
    assert mean.attrs["n_shuffles"] == 3 and mean.attrs["seed"] == 1


def test_default_components_follow_published_cap(rng):
    X = rng.standard_normal((2, 30, 20))
    assert cvpca(X, n_shuffles=1, seed=0, progress=False).sizes["rank"] == 19  # n_neurons - 1


def test_more_repeats_average_two_halves(rng):
    X = noisy_responses(rng, n_repeats=5)
    halves = np.stack([X[:2].mean(axis=0), X[2:].mean(axis=0)])
    masks = shuffle_masks(2, X.shape[1], seed=7)
    expected = published_shuff_cvpca(halves, masks, n_components=20)
    got = cvpca(X, n_shuffles=2, n_components=20, seed=7, keep_shuffles=True, progress=False)
    np.testing.assert_allclose(got.values * X.shape[1], expected, rtol=1e-8, atol=1e-10 * np.abs(expected).max())
    assert got.attrs["n_repeats"] == 5


def test_noise_free_prescribed_spectrum_is_recovered(rng):
    spectrum = 3.0 * np.arange(1, 21, dtype=float) ** -1.2
    signal = prescribed_signal(rng, spectrum, n_stimuli=60, n_neurons=150)
    X = np.stack([signal, signal])
    got = cvpca(X, n_shuffles=2, n_components=20, seed=0, progress=False)
    np.testing.assert_allclose(got.values, spectrum, rtol=1e-9)
    np.testing.assert_allclose(got["noise_variance"].values, 0.0, atol=1e-9 * spectrum[0])


def test_isotropic_noise_variance_on_signal_components(rng):
    """Strong low-rank signal plus iid noise of variance 0.25: the top components' noise is 0.25."""
    spectrum = np.array([40.0, 30.0, 20.0, 10.0])
    signal = prescribed_signal(rng, spectrum, n_stimuli=400, n_neurons=300)
    X = np.stack([signal + 0.5 * rng.standard_normal(signal.shape) for _ in range(2)])
    got = cvpca(X, n_shuffles=5, n_components=10, seed=0, progress=False)
    np.testing.assert_allclose(got["noise_variance"].values[:4], 0.25, rtol=0.1)
    np.testing.assert_allclose(got.values[:4], spectrum, rtol=0.05)
    # Beyond the signal's rank the cross-validated variance is zero up to sampling error.
    assert np.abs(got.values[4:]).max() < 0.01 * spectrum[-1]


def test_simulated_recording_spectrum(rng):
    from v1ann.recording.simulate import simulate_recording

    rec = simulate_recording(alpha=1.0, n_stimuli=120, n_neurons=400, noise_scale=0.0, seed=2)
    got = cvpca(rec, n_shuffles=2, n_components=50, seed=0, progress=False)
    truth = rec["true_signal_spectrum"].values[:50]
    # float32 storage and the neuron-centring of the published PCA perturb it slightly.
    np.testing.assert_allclose(got.values, truth, rtol=0.02)


def test_chunked_equals_in_memory(rng):
    X = noisy_responses(rng)
    whole = cvpca(X, n_shuffles=2, seed=4, progress=False)
    chunked = cvpca(X, n_shuffles=2, seed=4, chunk_size=7, progress=False)
    np.testing.assert_allclose(chunked.values, whole.values, rtol=1e-9, atol=1e-12 * np.abs(whole.values).max())


def test_dataarray_and_dask_inputs(rng):
    import dask.array as da

    X = noisy_responses(rng)
    arr = xr.DataArray(X.transpose(2, 0, 1), dims=("neuron", "repeat", "stimulus"))
    expected = cvpca(X, n_shuffles=2, seed=0, progress=False)
    from_xr = cvpca(arr, n_shuffles=2, seed=0, progress=False)
    from_dask = cvpca(arr.copy(data=da.from_array(arr.values, chunks=(40, 2, 50))), n_shuffles=2, seed=0, progress=False)
    np.testing.assert_allclose(from_xr.values, expected.values, rtol=1e-10)
    np.testing.assert_allclose(from_dask.values, expected.values, rtol=1e-9)


def test_seed_reproducible_and_float32_input(rng):
    X = noisy_responses(rng).astype(np.float32)
    a = cvpca(X, n_shuffles=2, seed=11, progress=False)
    b = cvpca(X, n_shuffles=2, seed=11, progress=False)
    c = cvpca(X, n_shuffles=2, seed=12, progress=False)
    np.testing.assert_array_equal(a.values, b.values)
    assert not np.allclose(a.values, c.values)
    assert a.dtype == np.float64


def test_input_not_modified(rng):
    X = noisy_responses(rng, n_repeats=3).astype(np.float32)
    before = X.copy()
    arr = xr.DataArray(X, dims=("repeat", "stimulus", "neuron"))
    cvpca(arr, n_shuffles=2, seed=0, progress=False)
    cvpca(X, n_shuffles=2, seed=0, chunk_size=9, progress=False)
    np.testing.assert_array_equal(X, before)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"n_components": 51}, "n_components=51 exceeds"),
        ({"n_shuffles": 0}, "n_shuffles"),
        ({"chunk_size": 0}, "chunk_size"),
        ({"solver": "randomized"}, "'solver' parameter"),
    ],
)
def test_bad_arguments(rng, kwargs, match):
    with pytest.raises(InvalidInputError, match=match):
        cvpca(noisy_responses(rng), progress=False, **kwargs)


def test_float32_solver_keeps_the_exponent(rng):
    """The float32 solver's promise (docstring): the published fit's exponent moves by far
    less than 1e-3, on a power-law recording with noise as large as the signal."""
    from v1ann.recording.simulate import simulate_recording
    from v1ann.spectrum.powerlaw import fit_powerlaw

    rec = simulate_recording(alpha=1.0, n_stimuli=600, n_neurons=1500, noise_scale=1.0, seed=2)
    exact = cvpca(rec, n_shuffles=3, seed=0, progress=False)
    fast = cvpca(rec, n_shuffles=3, seed=0, solver="float32", progress=False)
    assert fast.attrs["solver"] == "float32" and exact.attrs["solver"] == "exact"
    alpha_exact = fit_powerlaw(exact, fit_range=(11, 500)).alpha
    assert abs(fit_powerlaw(fast, fit_range=(11, 500)).alpha - alpha_exact) < 1e-4
    # float32 rounding, not a different computation: ranks agree to ~1e-2, never exactly
    relative = np.abs(fast.values[:100] / exact.values[:100] - 1)
    assert 0 < relative.max() < 1e-2


def test_float32_solver_refuses_rank_deficient_data(rng):
    signal = rng.standard_normal((40, 3)) @ rng.standard_normal((3, 60))
    with pytest.raises(InvalidInputError, match="rank"):
        cvpca(np.stack([signal, signal]), n_components=10, solver="float32", progress=False)


def test_one_repeat_is_an_error(rng):
    with pytest.raises(InvalidInputError, match="1 repeat"):
        cvpca(rng.standard_normal((1, 20, 30)), progress=False)


def test_wrong_dims_is_an_error(rng):
    with pytest.raises(InvalidInputError, match="dims"):
        cvpca(xr.DataArray(rng.standard_normal((2, 5, 6)), dims=("trial", "stimulus", "neuron")), progress=False)
    with pytest.raises(InvalidInputError, match="3-D"):
        cvpca(rng.standard_normal((20, 30)), progress=False)


def test_nan_chunk_is_named(rng):
    X = noisy_responses(rng)
    X[1, 3, 25] = np.nan
    with pytest.raises(V1AnnError, match=r"neurons 20:30 contain 1 NaN/Inf"):
        cvpca(X, chunk_size=10, progress=False)


def test_rank_deficient_data_is_an_error(rng):
    signal = rng.standard_normal((40, 3)) @ rng.standard_normal((3, 60))
    with pytest.raises(InvalidInputError, match="rank"):
        cvpca(np.stack([signal, signal]), n_components=10, progress=False)


def test_all_zero_responses_are_an_error():
    with pytest.raises(InvalidInputError, match=r"rank \(0\)"):
        cvpca(np.zeros((2, 20, 30)), n_shuffles=1, progress=False)


def test_per_neuron_means_warn_until_centred():
    """Means shared by the repeats are one more cvPCA component: raw spike counts (rates on a
    per-neuron baseline) warn; centred over stimuli, or a constant shared by all neurons
    (removed by the published neuron-centring), they do not."""
    import warnings

    from v1ann.errors import V1AnnWarning
    from v1ann.recording.preprocessing import mean_center
    from v1ann.recording.schema import stimulus_responses
    from v1ann.recording.simulate import simulate_recording
    from v1ann.spectrum.estimate import estimate_alpha

    counts = simulate_recording(alpha=1.0, n_stimuli=150, n_neurons=400, noise="poisson", noise_scale=0.5, seed=0)
    with pytest.warns(V1AnnWarning, match=r"not centred over stimuli.*times an average stimulus direction") as record:
        cvpca(counts, n_shuffles=1, progress=False)
    with pytest.warns(V1AnnWarning, match="not centred") as record_estimate:
        estimate_alpha(counts, method="cvpca", fit_range=(5, 60), ci=None, progress=False)
    # shown at the user's line, not inside v1ann
    assert {w.filename for w in [*record, *record_estimate] if "not centred" in str(w.message)} == {__file__}
    gaussian = stimulus_responses(simulate_recording(alpha=1.0, n_stimuli=150, n_neurons=400, seed=1)).values
    baseline = np.random.default_rng(0).uniform(0.0, 2.0, size=gaussian.shape[-1])
    with pytest.warns(V1AnnWarning, match="not centred"):
        cvpca(gaussian + baseline, n_shuffles=1, progress=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error", V1AnnWarning)
        cvpca(mean_center(counts), n_shuffles=1, progress=False)
        cvpca(gaussian, n_shuffles=1, progress=False)
        cvpca(gaussian + 3.0, n_shuffles=1, progress=False)
