"""SpectralRegularizer: the loss, its gradient, the basis, and the hooks."""

from __future__ import annotations

from collections import OrderedDict
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from torch import nn

from v1ann.errors import InvalidInputError
from v1ann.nn.regularizer import (
    METHOD_DEFAULTS,
    METHODS,
    SpectralRegularizer,
    batch_eigenvalues,
    projected_variances,
    spectral_penalty,
)


def identity_model() -> nn.Sequential:
    model = nn.Sequential(OrderedDict(rep=nn.Identity()))
    model.representation_layers = ["rep"]
    return model


def activations_with_spectrum(eigenvalues: np.ndarray, n_samples: int, seed: int = 0) -> torch.Tensor:
    """float64 samples whose covariance is exactly Q diag(eigenvalues) Qᵀ for a random rotation Q."""
    gen = torch.Generator().manual_seed(seed)
    width = len(eigenvalues)
    z = torch.randn(n_samples, width, generator=gen, dtype=torch.float64)
    z, _ = torch.linalg.qr(z - z.mean(0))  # orthonormal, centred columns
    rotation, _ = torch.linalg.qr(torch.randn(width, width, generator=gen, dtype=torch.float64))
    scale = torch.as_tensor(np.sqrt(eigenvalues * (n_samples - 1)))
    return (z * scale) @ rotation.T + 3.0  # an offset the centring must remove


def loop_penalty(eigenvalues, alpha, tau):
    """Published-style reference: a Python loop over ranks tau+1..K (1-based)."""
    lam = eigenvalues.tolist()
    total = 0.0
    for n in range(tau + 1, len(lam) + 1):
        ratio = lam[n - 1] / (lam[tau - 1] * (tau / n) ** alpha)
        total += (ratio - 1) ** 2 + max(0.0, ratio - 1)
    return total / len(lam)


def own_ranks(method):
    """Each method's own penalised ranks, as keyword arguments of spectral_penalty."""
    return {"tau": METHOD_DEFAULTS[method]["tau"], "last_rank": METHOD_DEFAULTS[method]["n_components"]}


@pytest.mark.parametrize("method", METHODS)
def test_penalty_is_zero_on_the_target_and_positive_off_it(method):
    ranks = torch.arange(1, 301, dtype=torch.float64)
    # gerum2022 adds 1e-8 to eigenvalues normalised to sum one, as their code does
    assert spectral_penalty(5.0 * ranks**-1.7, 1.7, method=method, **own_ranks(method)) < 1e-12
    for alpha in (1.2, 2.2):
        assert spectral_penalty(ranks**-alpha, 1.7, method=method, **own_ranks(method)) > 1e-3


@pytest.mark.parametrize("method", METHODS)
def test_penalty_gradient_is_finite_even_for_a_collapsed_spectrum(method):
    ranks = torch.arange(1, 101, dtype=torch.float64)
    for spectrum in (ranks**-0.5, torch.cat([ranks[:20] ** -1.0, torch.zeros(80, dtype=torch.float64)])):
        lam = spectrum.clone().requires_grad_()
        penalty = spectral_penalty(lam, 2.0, method=method, **{**own_ranks(method), "last_rank": None})
        penalty.backward()
        assert torch.isfinite(penalty) and penalty > 0
        assert torch.isfinite(lam.grad).all() and lam.grad.abs().sum() > 0


def test_loglog_leaves_dead_ranks_out_so_they_cannot_drag_the_live_ones_down():
    ranks = torch.arange(1, 129, dtype=torch.float64)
    live = 3.0 * ranks[:100] ** -2.0
    # 28 dead units: their ranks have no variance at all
    lam = torch.cat([live, torch.zeros(28, dtype=torch.float64)]).requires_grad_()
    penalty = spectral_penalty(lam, 2.0, tau=10)
    penalty.backward()
    # the live ranks are on target, so nothing pushes them down after the dead ones
    assert penalty < 1e-12 and lam.grad[:100].abs().max() < 1e-9
    # ranks sinking towards zero (dying units) are pushed back up: the penalty falls as they grow
    sinking = live.clone()
    sinking[80:] *= 1e-3
    sinking.requires_grad_()
    spectral_penalty(sinking, 2.0, tau=10).backward()
    assert (sinking.grad[80:] < 0).all()
    # nothing left to shape: zero, with a graph
    empty = torch.cat([live[:11], torch.zeros(50, dtype=torch.float64)]).requires_grad_()
    zero = spectral_penalty(empty, 2.0, tau=10)
    zero.backward()
    assert float(zero.detach()) == 0.0 and torch.isfinite(empty.grad).all()


def test_projected_variances_are_diag_vt_c_v_with_an_exact_gradient():
    gen = torch.Generator().manual_seed(0)
    h = (torch.randn(30, 9, generator=gen, dtype=torch.float64) + 5.0).requires_grad_()
    basis, _ = torch.linalg.qr(torch.randn(9, 4, generator=gen, dtype=torch.float64))
    expected = torch.diag(basis.T @ torch.cov(h.T) @ basis)
    torch.testing.assert_close(projected_variances(h, basis), expected)
    assert torch.autograd.gradcheck(lambda x: projected_variances(x, basis), (h,))


def test_vectorised_nassar_matches_the_published_loop():
    rng = np.random.default_rng(0)
    lam = np.sort(rng.gamma(1.0, size=200) * np.arange(1, 201) ** -1.3)[::-1].copy()
    fast = spectral_penalty(torch.as_tensor(lam), 1.0, tau=10, method="nassar2020")
    assert float(fast) == pytest.approx(loop_penalty(lam, 1.0, 10), rel=1e-10)


def eigen_val_regulate(x, v, start=10, slope=1.0):
    """Nassar et al.'s ``ModelDefs/utils.py::eigen_val_regulate`` (josuenassar/power_law), transcribed."""
    xt = x - torch.mean(x, 0)
    cov = xt.transpose(1, 0) @ xt / (x.shape[0] - 1)
    cov = (cov + cov.transpose(1, 0)) / 2
    eig = torch.diag(v.transpose(1, 0) @ cov @ v)
    eigs = torch.sort(eig, descending=True)[0]
    regul = torch.zeros(1, dtype=x.dtype)
    with torch.no_grad():
        beta = eigs[start] * (start + 1) ** slope
    for n in range(start + 1, eigs.shape[0]):
        if eigs[n] > 0:
            gamma = beta / ((n + 1) ** slope)
            regul += (eigs[n] / gamma - 1) ** 2 + torch.relu(eigs[n] / gamma - 1)
    return regul / x.shape[1]


def get_alpha_loss(data, target_alpha, strength, min_x=0, max_x=10):
    """Gerum et al.'s ``spectral_slope.py::get_alpha`` loss (rgerum/spectral-representations), transcribed
    from TensorFlow: exact eigh of the batch, fix_slope, fit_offset, log weighting, no clipping."""
    normalized = data - data.mean(0)[None]
    sigma = normalized.T @ normalized
    eigen_values = torch.linalg.eigh(sigma)[0].flip(0)
    eigen_values = eigen_values / eigen_values.sum()
    eigen_values = torch.relu(eigen_values) + 1e-8
    y = torch.log10(eigen_values)
    x = torch.log10(torch.arange(1, eigen_values.shape[0] + 1, dtype=y.dtype))
    y2, x2 = y[min_x:max_x], x[min_x:max_x]
    weights = (x[1:] - x[:-1])[min_x:max_x]
    m2 = -target_alpha
    t2 = (x2 * 0 + (y2 * weights).sum() / weights.sum()) - m2 * (x2 * weights).sum() / weights.sum()
    pred_y = m2 * x2 + t2
    mse = ((pred_y - y2) ** 2 * weights).sum() / weights.sum()
    return strength * mse


def reference_case(n_samples, width, seed=0):
    """Activations with a power-law-ish spectrum, and a basis from *other* data (a stale basis)."""
    gen = torch.Generator().manual_seed(seed)
    mix = torch.randn(width, width, generator=gen, dtype=torch.float64) * torch.arange(1, width + 1) ** -0.8
    h = (torch.randn(n_samples, width, generator=gen, dtype=torch.float64) @ mix.T).requires_grad_()
    other = torch.randn(2 * n_samples, width, generator=gen, dtype=torch.float64) @ mix.T
    return h, other


@pytest.mark.parametrize("alpha, strength", [(1.0, 1.0), (2.0, 3.0)])
def test_nassar2020_is_their_eigen_val_regulate(alpha, strength):
    h, other = reference_case(150, 60)
    model = identity_model()
    reg = SpectralRegularizer(alpha, method="nassar2020", strength=strength).attach(model)
    reg.update_basis(model, other)  # the basis of the epoch, from other inputs: the batch is off it
    ours = (model(h), reg())[1]
    theirs = strength * eigen_val_regulate(h, reg._basis["rep"], start=10, slope=alpha)
    torch.testing.assert_close(ours, theirs[0], rtol=1e-10, atol=0)
    (grad_ours,) = torch.autograd.grad(ours, h)
    (grad_theirs,) = torch.autograd.grad(theirs.sum(), h)
    torch.testing.assert_close(grad_ours, grad_theirs, rtol=1e-8, atol=1e-14)


@pytest.mark.parametrize("n_samples, width", [(150, 60), (40, 90)])  # batches wider and narrower than the layer
@pytest.mark.parametrize("alpha", [1.0, 2.5])
def test_gerum2022_is_their_get_alpha_loss(n_samples, width, alpha):
    h, _ = reference_case(n_samples, width)
    model = identity_model()
    reg = SpectralRegularizer(alpha, method="gerum2022", strength=10.0).attach(model)
    reg.update_basis(model, h.detach())  # only measures alpha: the penalty decomposes each batch
    ours = (model(h), reg())[1]
    theirs = get_alpha_loss(h, alpha, strength=10.0)
    torch.testing.assert_close(ours, theirs, rtol=1e-9, atol=0)
    (grad_ours,) = torch.autograd.grad(ours, h)
    (grad_theirs,) = torch.autograd.grad(theirs, h)
    torch.testing.assert_close(grad_ours, grad_theirs, rtol=1e-6, atol=1e-12)


def test_batch_eigenvalues_are_the_covariance_eigenvalues_either_way_round():
    for n_samples, width in ((50, 20), (20, 50)):
        h, _ = reference_case(n_samples, width)
        expected = torch.linalg.eigvalsh(torch.cov(h.detach().T)).flip(0)[: min(n_samples, width)]
        torch.testing.assert_close(batch_eigenvalues(h.detach()), expected, rtol=1e-9, atol=1e-12)


def test_each_method_has_its_published_ranks_and_strength():
    loglog, nassar, gerum = (SpectralRegularizer(1.0, method=m) for m in ("loglog", "nassar2020", "gerum2022"))
    assert (loglog.tau, loglog.n_components, loglog.strength) == (10, 500, 30.0)
    assert (nassar.tau, nassar.n_components, nassar.strength) == (11, None, 1.0)  # start=10: rank 11
    assert (gerum.tau, gerum.n_components, gerum.strength) == (0, 10, 1.0)  # min_x=0, max_x=10
    assert SpectralRegularizer(1.0).method == "loglog" and loglog.uses_basis and not gerum.uses_basis
    assert SpectralRegularizer(1.0, n_components="all").n_components is None


@pytest.mark.parametrize("method", METHODS)
def test_module_loss_vanishes_when_activations_follow_the_target(method):
    alpha, width = 1.5, 64
    x = activations_with_spectrum(np.arange(1, width + 1) ** -alpha, n_samples=200)
    model = identity_model()
    reg = SpectralRegularizer(alpha, tau=5, method=method).attach(model)
    reg.update_basis(model, x)
    model(x)
    assert float(reg()) < 1e-9
    np.testing.assert_allclose(reg.basis_spectrum["rep"], np.arange(1, width + 1) ** -alpha, rtol=1e-9)

    off = activations_with_spectrum(np.arange(1, width + 1) ** -1.0, n_samples=200).float().requires_grad_()
    reg.update_basis(model, off)
    penalty = (model(off), reg())[1]
    penalty.backward()
    assert penalty > 1e-3 and torch.isfinite(off.grad).all() and off.grad.abs().sum() > 0


def test_n_components_regularizes_only_the_top_k_ranks():
    width = 80
    lam = np.arange(1, width + 1) ** -1.0
    lam[40:] *= 0.1  # ranks above 40 fall off the target (and stay below rank 40)
    x = activations_with_spectrum(lam, n_samples=300)
    model = identity_model()
    top = SpectralRegularizer(1.0, tau=5, n_components=40).attach(model).update_basis(model, x)
    full = SpectralRegularizer(1.0, tau=5).attach(model).update_basis(model, x)
    model(x)
    assert float(top()) < 1e-9 < float(full())
    assert top._basis["rep"].shape == (width, 40)


def test_measured_alpha_recovers_the_exponent_of_the_batch():
    x = activations_with_spectrum(np.arange(1, 121) ** -2.0, n_samples=400)
    model = identity_model()
    reg = SpectralRegularizer(1.0, tau=10).attach(model).update_basis(model, x)
    model(x)
    reg()
    assert reg.measured_alpha["rep"] == pytest.approx(2.0, abs=1e-6)
    assert reg.basis_alpha["rep"] == pytest.approx(2.0, abs=1e-6)


def test_target_alpha_accepts_a_fit_object():
    assert SpectralRegularizer(SimpleNamespace(alpha=1.25)).target_alpha == 1.25
    pytest.importorskip("v1ann.spectrum.powerlaw")
    from v1ann import fit_powerlaw

    fit = fit_powerlaw(np.arange(1, 601, dtype=float) ** -1.1)
    assert SpectralRegularizer(fit).target_alpha == pytest.approx(fit.alpha)


def test_update_basis_accepts_a_dataset_and_streams_batches():
    x = activations_with_spectrum(np.arange(1, 33) ** -1.0, n_samples=100).float()
    model = identity_model()
    whole = SpectralRegularizer(1.0, tau=3).attach(model).update_basis(model, x)
    ds = torch.utils.data.TensorDataset(x, torch.zeros(100, dtype=torch.long))
    streamed = SpectralRegularizer(1.0, tau=3).attach(model).update_basis(model, ds, batch_size=7)
    np.testing.assert_allclose(streamed.basis_spectrum["rep"], whole.basis_spectrum["rep"], rtol=1e-4)


def test_hooks_on_named_layers_and_detach():
    torch.manual_seed(0)
    model = nn.Sequential(OrderedDict(fc=nn.Linear(8, 16), act=nn.Tanh(), out=nn.Linear(16, 2)))
    reg = SpectralRegularizer(1.0, layers=["act"], tau=2)
    with pytest.raises(InvalidInputError, match="attach"):
        reg()
    reg.attach(model)
    with pytest.raises(InvalidInputError, match="update_basis"):
        model(torch.randn(10, 8))
        reg()
    reg.update_basis(model, torch.randn(64, 8))
    model(torch.randn(10, 8))
    assert reg().item() > 0
    reg.detach()
    assert not model.act._forward_hooks


@pytest.mark.parametrize(
    "kwargs, word",
    [
        ({"target_alpha": float("nan")}, "target_alpha"),
        ({"target_alpha": "one"}, "target_alpha"),
        ({"target_alpha": 1.0, "method": "l2"}, "method"),
        ({"target_alpha": 1.0, "tau": -1}, "tau"),
        ({"target_alpha": 1.0, "method": "nassar2020", "tau": 0}, "tau"),
        ({"target_alpha": 1.0, "n_components": 5}, "n_components"),
        ({"target_alpha": 1.0, "strength": -1}, "strength"),
    ],
)
def test_bad_arguments_name_themselves(kwargs, word):
    with pytest.raises(InvalidInputError, match=word):
        SpectralRegularizer(**kwargs)


def test_unknown_layers_and_too_narrow_layers():
    model = identity_model()
    with pytest.raises(InvalidInputError, match="not modules of"):
        SpectralRegularizer(1.0, layers=["nope"]).attach(model)
    reg = SpectralRegularizer(1.0, tau=10).attach(model)
    with pytest.raises(InvalidInputError, match="units"):
        reg.update_basis(model, torch.randn(50, 8))
