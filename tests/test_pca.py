"""PCA spectra of activations: agreement with sklearn, known spectra, cross-validation."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import xarray as xr
from sklearn.decomposition import PCA

from v1ann.errors import InvalidInputError
from v1ann.spectrum import pca as pca_module
from v1ann.spectrum.pca import pca_spectrum


def cv_reference(x, seed):
    """Components from sklearn PCA on the fitting half, variance of the other half along them."""
    n = x.shape[0]
    order = np.random.default_rng(seed).permutation(n)
    fit, test = x[np.sort(order[: (n + 1) // 2])], x[np.sort(order[(n + 1) // 2 :])]
    pca = PCA(svd_solver="full").fit(fit)
    proj = (test - test.mean(axis=0)) @ pca.components_.T
    return (proj**2).sum(axis=0) / (test.shape[0] - 1)


@pytest.mark.parametrize("shape", [(80, 30), (30, 80)])  # unit space and stimulus space
def test_matches_sklearn(rng, shape):
    x = rng.standard_normal(shape) @ np.diag(np.linspace(3, 0.5, shape[1])) + 2.0
    got = pca_spectrum(x, device="cpu")
    expected = PCA(svd_solver="full").fit(x).explained_variance_[: got.sizes["rank"]]
    np.testing.assert_allclose(got.values, expected, rtol=1e-9)
    assert got.name == "variance" and got.attrs["method"] == "pca"
    assert got.sizes["rank"] == min(shape[0] - 1, shape[1])


@pytest.mark.parametrize("shape", [(120, 20), (60, 200)])
def test_cross_validated_matches_reference(rng, shape, monkeypatch):
    monkeypatch.setattr(pca_module, "_CHUNK_BYTES", 8 * shape[0] * 7)  # stream over 7 units
    x = rng.standard_normal(shape) * np.linspace(2, 0.2, shape[1])
    got = pca_spectrum(x, cross_validated=True, seed=3, n_components=10, device="cpu")
    np.testing.assert_allclose(got.values, cv_reference(x, 3)[:10], rtol=1e-8)
    assert got.attrs["method"] == "cv_pca" and got.attrs["seed"] == 3


def test_prescribed_spectrum_recovered(rng):
    spectrum = 5.0 * np.arange(1, 16, dtype=float) ** -1.5
    n_stimuli, n_units = 200, 500
    u = rng.standard_normal((n_stimuli, spectrum.size))
    u -= u.mean(axis=0)
    u, _ = np.linalg.qr(u)  # zero-mean orthonormal columns
    v, _ = np.linalg.qr(rng.standard_normal((n_units, spectrum.size)))
    x = u @ np.diag(np.sqrt((n_stimuli - 1) * spectrum)) @ v.T + 1.5
    got = pca_spectrum(x, n_components=15, device="cpu")
    np.testing.assert_allclose(got.values, spectrum, rtol=1e-9)


def test_cross_validation_removes_fitting_bias(rng):
    """Isotropic data: fitted top eigenvalues are inflated, held-out variances are not."""
    x = rng.standard_normal((400, 100))
    fitted = pca_spectrum(x, n_components=5, device="cpu").values
    held_out = pca_spectrum(x, n_components=5, cross_validated=True, seed=0, device="cpu").values
    assert fitted.min() > 1.5
    np.testing.assert_allclose(held_out, 1.0, atol=0.35)


def test_input_types_agree(rng):
    import dask.array as da

    x = rng.standard_normal((40, 60)).astype(np.float32)
    expected = pca_spectrum(x, device="cpu").values
    arr = xr.DataArray(x.T, dims=("unit", "stimulus"))
    for variant in (arr, arr.copy(data=da.from_array(x.T, chunks=(25, 40))), torch.from_numpy(x).requires_grad_()):
        np.testing.assert_allclose(pca_spectrum(variant, device="cpu").values, expected, rtol=1e-10)


def test_input_not_modified(rng):
    x = rng.standard_normal((30, 50)) + 3
    before = x.copy()
    pca_spectrum(x, device="cpu")
    pca_spectrum(x, cross_validated=True, seed=0, device="cpu")
    np.testing.assert_array_equal(x, before)


def test_bad_inputs(rng):
    x = rng.standard_normal((30, 50))
    with pytest.raises(InvalidInputError, match="2-D"):
        pca_spectrum(x[None], device="cpu")
    with pytest.raises(InvalidInputError, match="dims"):
        pca_spectrum(xr.DataArray(x, dims=("image", "unit")), device="cpu")
    with pytest.raises(InvalidInputError, match="n_components=40 exceeds"):
        pca_spectrum(x, n_components=40, device="cpu")
    with pytest.raises(InvalidInputError, match="at least 4 stimuli"):
        pca_spectrum(x[:3], cross_validated=True, device="cpu")
    bad = x.copy()
    bad[4, 12] = np.nan
    with pytest.raises(InvalidInputError, match=r"units 0:50 contain 1 NaN"):
        pca_spectrum(bad, device="cpu")


def test_low_rank_cross_validated_drops_undefined_directions(rng):
    from v1ann.errors import V1AnnWarning

    x = rng.standard_normal((40, 5)) @ rng.standard_normal((5, 100))  # rank 5, more units than stimuli
    with pytest.warns(V1AnnWarning, match="dropped 14 component"):
        got = pca_spectrum(x, cross_validated=True, seed=0, device="cpu")
    assert got.sizes["rank"] == 5 and np.isfinite(got.values).all()
    with pytest.raises(InvalidInputError, match="exceeds the rank"):
        pca_spectrum(x, n_components=8, cross_validated=True, seed=0, device="cpu")


def basis_reference(fit, x):
    """Components from sklearn PCA on ``fit``, variance of ``x`` (centred on itself) along them."""
    pca = PCA(svd_solver="full").fit(fit)
    return (((x - x.mean(axis=0)) @ pca.components_.T) ** 2).sum(axis=0) / (x.shape[0] - 1)


@pytest.mark.parametrize("shape", [(120, 20), (60, 200)])  # unit space and stimulus space
def test_fit_on_matches_reference(rng, shape, monkeypatch):
    monkeypatch.setattr(pca_module, "_CHUNK_BYTES", 8 * 2 * shape[0] * 7)  # stream over 7 units
    fit = rng.standard_normal(shape) * np.linspace(2, 0.2, shape[1]) + 1.0
    x = rng.standard_normal((shape[0] // 2, shape[1])) * np.linspace(2, 0.2, shape[1]) - 3.0
    got = pca_spectrum(torch.as_tensor(x), fit_on=fit, n_components=10, device="cpu")
    np.testing.assert_allclose(got.values, basis_reference(fit, x)[:10], rtol=1e-8)
    assert got.attrs["method"] == "fit_on_pca" and got.attrs["n_stimuli"] == x.shape[0]
    assert got.attrs["n_fit_stimuli"] == shape[0]


def test_fit_on_removes_the_few_samples_bias_of_a_flat_spectrum(rng):
    # alpha 0.5 over 300 units, 300 held-out samples: their own PCA reads steep; in the
    # components of 3,000 other samples the held-out variances keep the exponent
    from v1ann import fit_powerlaw

    n_units = 300
    scale = np.arange(1, n_units + 1.0) ** -0.25
    rotation, _ = np.linalg.qr(rng.standard_normal((n_units, n_units)))

    def draw(n):
        return (rng.standard_normal((n, n_units)) * scale) @ rotation.T

    train, heldout = draw(3000), draw(300)

    def alpha(spectrum):
        return fit_powerlaw(spectrum, fit_range=(11, 150)).alpha

    assert alpha(pca_spectrum(heldout, device="cpu")) > 0.6
    assert alpha(pca_spectrum(heldout, fit_on=train, device="cpu")) == pytest.approx(0.5, abs=0.04)


def test_fit_on_refuses_other_units_and_cross_validation(rng):
    x = rng.standard_normal((50, 10))
    with pytest.raises(InvalidInputError, match="fit_on .* has 9 units, x .* has 10"):
        pca_spectrum(x, fit_on=rng.standard_normal((50, 9)))
    with pytest.raises(InvalidInputError, match="fit_on or cross_validated"):
        pca_spectrum(x, fit_on=x, cross_validated=True)
    with pytest.raises(InvalidInputError, match="NaN"):
        pca_spectrum(x, fit_on=np.full((50, 10), np.nan))


def test_fit_on_keeps_dask_inputs_lazy_and_agrees_with_numpy(rng):
    import dask.array as da

    fit, x = rng.standard_normal((200, 30)), rng.standard_normal((60, 30))
    lazy = pca_spectrum(da.from_array(x, chunks=(60, 7)), fit_on=da.from_array(fit, chunks=(200, 7)), device="cpu")
    np.testing.assert_allclose(lazy.values, pca_spectrum(x, fit_on=fit, device="cpu").values, rtol=1e-10)
