"""Adversarial evaluation: the sanity properties of a trustworthy attack, on a tiny model."""

from __future__ import annotations

import sys
import warnings

import numpy as np
import pytest
import torch
from torch import nn

from v1ann.errors import InvalidInputError, MissingDependencyError, V1AnnWarning
from v1ann.nn.models import mlp
from v1ann.nn.robustness import _sanity_problems, robustness

EPS = (0, 0.05, 0.1, 0.2, 0.3)


def _task(n=400, seed=0):
    """4 classes of 6×6 images in [0, 1]: class k brightens row k on a noisy background."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, 4, (n,), generator=g)
    images = torch.rand(n, 1, 6, 6, generator=g) * 0.4
    images[torch.arange(n), 0, labels] += 0.5
    return images, labels


def _fitted_mlp(images, labels, seed):
    torch.manual_seed(seed)
    model = mlp(in_shape=(1, 6, 6), hidden=(32,), n_classes=4)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(150):
        opt.zero_grad()
        nn.functional.cross_entropy(model(images), labels).backward()
        opt.step()
    return model.eval()


@pytest.fixture(scope="module")
def trained():
    images, labels = _task()
    return _fitted_mlp(images, labels, seed=0), images, labels


def test_sound_evaluation_of_a_trained_model(trained):
    model, images, labels = trained
    with warnings.catch_warnings():
        warnings.simplefilter("error", V1AnnWarning)
        result = robustness(model, (images, labels), eps=EPS, steps=10, seed=0, progress=False)
    acc = result["accuracy"]
    assert acc.dims == ("attack", "eps")
    assert list(result["attack"].values) == ["fgsm", "pgd"]
    np.testing.assert_allclose(result["eps"].values, EPS)
    clean = float(result["clean_accuracy"])
    assert clean > 0.95  # the task is learnable; otherwise nothing below means anything
    # eps = 0 reproduces the clean accuracy exactly for a deterministic model
    np.testing.assert_array_equal(acc.sel(eps=0).values, clean)
    # a larger ball never helps the model
    assert (np.diff(acc.values, axis=1) <= 0).all()
    # iterated PGD is at least as strong as its single first step
    assert (acc.sel(attack="pgd").values <= acc.sel(attack="fgsm").values).all()
    # the attack really attacks: an undefended model loses most of its accuracy at eps = 0.3
    assert float(acc.sel(attack="pgd", eps=0.3)) < 0.5 * clean
    assert result.attrs["checks"] == "passed"
    assert result.attrs["n_samples"] == len(labels)


def test_model_state_inputs_and_global_rng_are_left_alone(trained):
    model, images, labels = trained
    model.train()
    model.normalize.eval()  # a mixed state must come back exactly as it was
    before_images, before_labels = images.clone(), labels.clone()
    rng_state = torch.get_rng_state()
    try:
        robustness(model, (images, labels), eps=(0, 0.1), steps=3, seed=1, progress=False)
        assert model.training and not model.normalize.training and model.fc1.training
        assert torch.equal(torch.get_rng_state(), rng_state)
        assert torch.equal(images, before_images) and torch.equal(labels, before_labels)
        assert next(model.parameters()).device.type == "cpu"
    finally:
        model.eval()


def test_seeded_runs_are_reproducible_and_inputs_may_be_numpy_or_datasets(trained):
    model, images, labels = trained
    kwargs = dict(eps=(0, 0.1, 0.2), steps=5, seed=3, progress=False)
    a = robustness(model, (images, labels), **kwargs)
    b = robustness(model, (images.numpy(), labels.numpy()), **kwargs)
    c = robustness(model, torch.utils.data.TensorDataset(images, labels), **kwargs)
    np.testing.assert_array_equal(a["accuracy"].values, b["accuracy"].values)
    np.testing.assert_array_equal(a["accuracy"].values, c["accuracy"].values)
    subset = robustness(model, (images, labels), n_samples=50, batch_size=16, **kwargs)
    assert subset.attrs["n_samples"] == 50


def test_restarts_never_weaken_pgd(trained):
    model, images, labels = trained
    # The first restart draws the same start as the single run (same seed), so with more
    # restarts the surviving images can only be a subset.
    kwargs = dict(attacks=("pgd",), eps=(0.1,), steps=5, seed=0, progress=False)
    one = float(robustness(model, (images, labels), restarts=1, **kwargs)["accuracy"].squeeze())
    three = float(robustness(model, (images, labels), restarts=3, **kwargs)["accuracy"].squeeze())
    assert three <= one


class _NoisyDefense(nn.Module):
    """A randomized 'defense': strong input noise makes gradients and accuracy a lottery."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x):
        return self.model(x + torch.randn_like(x))


def test_a_stochastic_model_is_flagged(trained):
    model, images, labels = trained
    with pytest.warns(V1AnnWarning, match="sanity check"):
        result = robustness(_NoisyDefense(model), (images, labels), eps=EPS, steps=5, seed=0, progress=False)
    assert result.attrs["checks"] != "passed"


def test_sanity_checks_name_each_violation():
    eps = [0.0, 0.1, 0.2]
    sound = np.array([[0.9, 0.5, 0.2], [0.9, 0.4, 0.1]])
    assert _sanity_problems(sound, 0.9, ("fgsm", "pgd"), eps) == []
    problems = _sanity_problems(np.array([[0.9, 0.5, 0.6]]), 0.9, ("fgsm",), eps)
    assert len(problems) == 1 and "rises" in problems[0] and "eps=0.2" in problems[0]
    problems = _sanity_problems(np.array([[0.8, 0.5, 0.2]]), 0.9, ("pgd",), eps)
    assert len(problems) == 1 and "eps=0" in problems[0]
    problems = _sanity_problems(np.array([[0.9, 0.3, 0.1], [0.9, 0.4, 0.1]]), 0.9, ("fgsm", "pgd"), eps)
    assert len(problems) == 1 and "PGD" in problems[0] and "eps=0.1" in problems[0]


@pytest.mark.parametrize(
    "change, message",
    [
        (dict(images=lambda x: x * 2), r"\[0, 1\]"),
        (dict(images=lambda x: torch.where(x > 0.8, torch.nan, x)), "NaN"),
        (dict(labels=lambda y: y[:-1]), "labels"),
        (dict(labels=lambda y: y.float()), "integer"),
        (dict(attacks=("fgsm", "cw")), "cw"),
        (dict(eps=(0.1, 0.05)), "increasing"),
        (dict(eps=(-0.1, 0.1)), "non-negative"),
        (dict(steps=0), "steps"),
        (dict(restarts=1.5), "restarts"),
    ],
)
def test_bad_input_is_named(trained, change, message):
    model, images, labels = trained
    images = change.pop("images", lambda x: x)(images)
    labels = change.pop("labels", lambda y: y)(labels)
    with pytest.raises(InvalidInputError, match=message):
        robustness(model, (images, labels), progress=False, **change)


def test_autoattack_needs_four_classes(trained):
    _, images, labels = trained
    torch.manual_seed(0)
    binary = mlp(in_shape=(1, 6, 6), hidden=(8,), n_classes=2)
    with pytest.raises(InvalidInputError, match="4 classes"):
        robustness(binary, (images, labels % 2), attacks=("autoattack",), progress=False)


def test_missing_torchattacks_names_the_extra(trained, monkeypatch):
    model, images, labels = trained
    monkeypatch.setitem(sys.modules, "torchattacks", None)
    with pytest.raises(MissingDependencyError, match=r"v1ann\[attacks\]"):
        robustness(model, (images, labels), progress=False)


def test_apgd_and_square_run_and_the_black_box_is_not_stronger(trained):
    model, images, labels = trained
    with warnings.catch_warnings():
        warnings.simplefilter("error", V1AnnWarning)
        result = robustness(model, (images[:200], labels[:200]), attacks=("pgd", "apgd-ce", "square"),
                            eps=(0, 0.1, 0.3), steps=20, queries=300, seed=0, progress=False)
    acc = result["accuracy"]
    clean = float(result["clean_accuracy"])
    np.testing.assert_array_equal(acc.sel(eps=0).values, clean)
    # APGD-CE is at least as strong as fixed-step PGD on an undefended model
    assert float(acc.sel(attack="apgd-ce", eps=0.3)) <= float(acc.sel(attack="pgd", eps=0.3)) + 0.005
    # the gradient-free attack does real damage, but less than the white-box ones
    assert float(acc.sel(attack="square", eps=0.3)) < clean - 0.1
    assert result.attrs["checks"] == "passed" and result.attrs["square_queries"] == 300


def test_a_black_box_stronger_than_the_white_box_is_flagged():
    accuracy = np.array([[0.9, 0.5], [0.9, 0.2]])  # pgd, then square
    problems = _sanity_problems(accuracy, 0.9, ("pgd", "square"), [0.0, 0.1])
    assert len(problems) == 1 and "black-box Square" in problems[0]


class _Masked(nn.Module):
    """A model whose gradient is zero almost everywhere: rounding the input masks it."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x):
        return self.model(torch.round(x * 4) / 4)


def test_gradient_masking_is_caught_by_the_black_box(trained):
    model, images, labels = trained
    with pytest.warns(V1AnnWarning, match="black-box Square"):
        result = robustness(_Masked(model), (images[:200], labels[:200]), attacks=("pgd", "square"),
                            eps=(0.3,), steps=10, queries=300, seed=0, progress=False)
    assert "black-box" in result.attrs["checks"]


def test_transfer_from_another_network_is_weaker_than_white_box(trained):
    model, images, labels = trained
    other = _fitted_mlp(images, labels, seed=1)
    data = (images[:200], labels[:200])
    white = robustness(model, data, attacks=("pgd",), eps=(0.2,), steps=10, seed=0, progress=False)
    transfer = robustness(model, data, attacks=("pgd",), eps=(0.2,), steps=10, seed=0, source=other,
                          progress=False)
    assert transfer.attrs["crafted_on"].startswith("source")
    # crafted on a different network the examples still fool some images, but fewer
    assert float(white["accuracy"][0, 0]) <= float(transfer["accuracy"][0, 0]) < float(transfer["clean_accuracy"])
    with pytest.raises(InvalidInputError, match="source must be a torch.nn.Module"):
        robustness(model, data, attacks=("pgd",), eps=(0.2,), source="vanilla", progress=False)


def test_pgd_converges_on_a_sound_model_and_bad_counts_are_named(trained):
    from v1ann.nn.robustness import pgd_convergence

    model, images, labels = trained
    with warnings.catch_warnings():
        warnings.simplefilter("error", V1AnnWarning)
        table = pgd_convergence(model, (images[:200], labels[:200]), eps=0.2, steps=(5, 20), restarts=(1, 3),
                                seed=0, progress=False)
    assert table["accuracy"].dims == ("steps", "restarts") and table.attrs["checks"] == "passed"
    assert float(table["accuracy"].sel(steps=20, restarts=3)) <= float(table["accuracy"].sel(steps=5, restarts=1))
    with pytest.raises(InvalidInputError, match="steps"):
        pgd_convergence(model, (images, labels), steps=(20, 10), progress=False)


def test_a_pgd_that_has_not_converged_is_flagged():
    from v1ann.nn.robustness import _rise

    assert _rise(np.array([0.5, 0.4, 0.45]), [10, 20, 50], "steps", "1 restarts").startswith(
        "PGD accuracy rises from 0.4000 to 0.4500 at 50 steps")
    assert _rise(np.array([0.5, 0.4, 0.4]), [10, 20, 50], "steps", "1 restarts") is None
