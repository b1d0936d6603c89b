"""The CUDA paths give the CPU's answers. Skipped where CUDA is absent (CI); run on a GPU machine.

The rest of the suite also takes the CUDA paths there, through ``device="auto"``; these
tests name the device explicitly and compare it with the CPU result of the same call.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from v1ann import cvpca, estimate_alpha, pca_spectrum, simulate_recording
from v1ann.nn.activations import activations
from v1ann.nn.models import mlp
from v1ann.nn.regularizer import METHODS, SpectralRegularizer, spectral_penalty
from v1ann.nn.robustness import robustness
from v1ann.nn.train import train
from v1ann.nn.training_data import load_training_data as load
from v1ann.spectrum.svca import svca

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")


@pytest.fixture(scope="module")
def recording():
    return simulate_recording(alpha=1.0, n_stimuli=300, n_neurons=800, noise_scale=1.0, seed=0)


def test_cvpca(recording):
    kwargs = {"n_shuffles": 3, "seed": 0, "progress": False}
    gpu, cpu = cvpca(recording, device="cuda", **kwargs), cvpca(recording, device="cpu", **kwargs)
    np.testing.assert_allclose(gpu.values, cpu.values, rtol=1e-9, atol=1e-12 * float(cpu.max()))
    np.testing.assert_allclose(gpu["noise_variance"].values, cpu["noise_variance"].values, rtol=1e-9)


def test_estimate_alpha_of_a_recording_and_of_a_cuda_tensor(recording, rng):
    kwargs = {"fit_range": (5, 100), "seed": 0, "ci": None, "progress": False}
    assert estimate_alpha(recording, method="cvpca", device="cuda", **kwargs).alpha == pytest.approx(
        estimate_alpha(recording, method="cvpca", device="cpu", **kwargs).alpha, abs=1e-9
    )
    x = rng.standard_normal((400, 300)) * np.arange(1, 301) ** -0.6
    on_gpu = estimate_alpha(torch.as_tensor(x, device="cuda"), **kwargs)
    assert on_gpu.alpha == pytest.approx(estimate_alpha(x, device="cpu", **kwargs).alpha, abs=1e-9)


def test_pca_spectrum_and_svca(rng):
    x = rng.standard_normal((500, 120)) @ rng.standard_normal((120, 120))
    for cross_validated in (False, True):
        gpu = pca_spectrum(x, cross_validated=cross_validated, seed=0, device="cuda")
        cpu = pca_spectrum(x, cross_validated=cross_validated, seed=0, device="cpu")
        np.testing.assert_allclose(gpu.values, cpu.values, rtol=1e-8, atol=1e-10 * float(abs(cpu).max()))
    activity = rng.standard_normal((600, 10)) @ rng.standard_normal((10, 90)) + rng.standard_normal((600, 90))
    for stream in ("time", "neurons"):
        kwargs = {"seed": 1, "segment_length": 30, "stream": stream, "chunk_size": 23, "progress": False}
        gpu, cpu = svca(activity, device="cuda", **kwargs), svca(activity, device="cpu", **kwargs)
        np.testing.assert_allclose(gpu.values, cpu.values, rtol=1e-8, atol=1e-10 * float(abs(cpu).max()))


@pytest.mark.parametrize("method", METHODS)
def test_regularizer_penalty_and_gradient(method):
    gen = torch.Generator().manual_seed(0)
    h = torch.randn(256, 64, generator=gen) * torch.arange(1, 65) ** -0.4
    model = nn.Sequential()
    model.add_module("rep", nn.Identity())
    values = {}
    for device in ("cpu", "cuda"):
        reg = SpectralRegularizer(1.0, layers=["rep"], tau=5, method=method).attach(model)
        reg.update_basis(model, h.to(device))
        x = h.to(device).clone().requires_grad_()
        model(x)
        penalty = reg()
        penalty.backward()
        values[device] = (float(penalty.detach()), x.grad.cpu())
        reg.detach()
    assert values["cuda"][0] == pytest.approx(values["cpu"][0], rel=1e-4)
    torch.testing.assert_close(values["cuda"][1], values["cpu"][1], rtol=1e-3, atol=1e-6)
    lam = torch.arange(1, 101, dtype=torch.float64, device="cuda") ** -1.3
    assert spectral_penalty(lam, 1.0, tau=10, method=method, anchor=0.2).device.type == "cuda"


def test_training_with_the_regularizer_activations_and_attacks():
    train_set, test_set = load("digits8x8", seed=0, test_size=300)
    torch.manual_seed(0)
    model = mlp(in_shape=(1, 8, 8), hidden=(48,))
    reg = SpectralRegularizer(1.0, tau=5)
    history = train(
        model, train_set, test_set, regularizer=reg, epochs=2, batch_size=64, device="cuda",
        progress=False, seed=0,
    )
    assert np.isfinite(history["train_loss"].values).all()
    images = torch.stack([test_set[i][0] for i in range(200)])
    labels = torch.tensor([int(test_set[i][1]) for i in range(200)])
    acts = {d: activations(model, images, device=d, progress=False) for d in ("cpu", "cuda")}
    for name in acts["cpu"]:
        np.testing.assert_allclose(acts["cuda"][name].values, acts["cpu"][name].values, rtol=1e-4, atol=1e-5)
    result = robustness(model, (images, labels), attacks=("fgsm",), eps=(0, 0.1), seed=0, device="cuda", progress=False)
    clean = result["accuracy"].sel(attack="fgsm", eps=0).item()
    expected = float((model.cpu()(images).argmax(1) == labels).float().mean())
    assert clean == pytest.approx(expected)
