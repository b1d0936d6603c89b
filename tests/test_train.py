"""v1ann.nn.train: determinism, checkpoints, resume after a kill, NaN handling, alpha moving to target."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import xarray as xr

from v1ann.errors import InvalidInputError, TrainingError
from v1ann.nn.models import mlp
from v1ann.nn.regularizer import SpectralRegularizer
from v1ann.nn.train import CHECKPOINT, load_history, train
from v1ann.nn.training_data import load_training_data as load


class Killed(Exception):
    """Stands for SIGKILL in the middle of an epoch."""


@pytest.fixture(scope="module")
def digits():
    return load("digits8x8", seed=0, test_size=300)


def small_model(seed=0, hidden=(24,)):
    torch.manual_seed(seed)
    return mlp(in_shape=(1, 8, 8), hidden=hidden)


def fit(model, data, **kwargs):
    train_set, test_set = data
    kwargs = {"epochs": 3, "batch_size": 64, "progress": False, "measure_alpha": False, "seed": 3} | kwargs
    return train(model, train_set, test_set, **kwargs)


def test_training_learns_and_returns_history_over_epoch(digits):
    model = small_model()
    history = fit(model, digits)
    assert isinstance(history, xr.Dataset)
    assert list(history.epoch.values) == [1, 2, 3]
    assert history.val_accuracy[-1] > max(0.6, float(history.val_accuracy[0]))
    assert history.train_loss[-1] < history.train_loss[0]
    assert json.loads(history.attrs["config"])["seed"] == 3


def test_deterministic_on_cpu_for_a_seed(digits):
    a, b, c = small_model(), small_model(), small_model()
    reg = lambda: SpectralRegularizer(1.0, tau=3, strength=0.5)  # noqa: E731
    ha = fit(a, digits, regularizer=reg())
    hb = fit(b, digits, regularizer=reg())
    fit(c, digits, regularizer=reg(), seed=4)
    for (name, pa), pb, pc in zip(a.state_dict().items(), b.state_dict().values(), c.state_dict().values()):
        assert torch.equal(pa, pb), name
    assert not torch.equal(a.fc1.weight, c.fc1.weight)
    xr.testing.assert_equal(ha.drop_vars("seconds"), hb.drop_vars("seconds"))


def test_resume_after_a_kill_ends_identical_to_an_uninterrupted_run(digits, tmp_path):
    reg = lambda: SpectralRegularizer(1.0, tau=3, strength=0.5)  # noqa: E731
    reference = small_model()
    expected = fit(reference, digits, regularizer=reg(), epochs=4, checkpoint_dir=tmp_path / "ref")

    def kill(info):
        if info["epoch"] == 2 and info["step"] == 5:
            raise Killed

    with pytest.raises(Killed):
        fit(small_model(), digits, regularizer=reg(), epochs=4, checkpoint_dir=tmp_path / "run", callbacks=[kill])
    saved = torch.load(tmp_path / "run" / CHECKPOINT, weights_only=True)
    assert saved["epoch"] == 2  # only the interrupted epoch is lost

    steps = []
    restarted = small_model()  # a new process builds the same model, then resumes
    history = fit(restarted, digits, regularizer=reg(), epochs=4, checkpoint_dir=tmp_path / "run",
                  callbacks=[lambda info: steps.append(info["epoch"])])
    assert set(steps) == {2, 3}
    for (name, want), got in zip(reference.state_dict().items(), restarted.state_dict().values()):
        assert torch.equal(want, got), name
    xr.testing.assert_equal(history.drop_vars("seconds"), expected.drop_vars("seconds"))
    xr.testing.assert_equal(load_history(tmp_path / "run").drop_vars("seconds"), history.drop_vars("seconds"))
    assert (tmp_path / "run" / "history.nc").exists()


def test_resume_refuses_a_checkpoint_from_another_config(digits, tmp_path):
    fit(small_model(), digits, epochs=1, checkpoint_dir=tmp_path)
    with pytest.raises(InvalidInputError, match="lr"):
        fit(small_model(), digits, epochs=2, lr=0.01, checkpoint_dir=tmp_path)
    fit(small_model(), digits, epochs=1, lr=0.01, checkpoint_dir=tmp_path, resume=False)  # starts over


def test_nan_loss_raises_and_keeps_the_last_good_checkpoint(digits, tmp_path):
    model = small_model()

    def poison(info):
        if info["epoch"] == 1 and info["step"] == 2:
            with torch.no_grad():
                model.fc1.weight[0, 0] = float("nan")

    with pytest.raises(TrainingError, match=r"epoch 2.*last good checkpoint \(epoch 1\)"):
        fit(model, digits, checkpoint_dir=tmp_path, callbacks=[poison])
    saved = torch.load(tmp_path / CHECKPOINT, weights_only=True)
    assert saved["epoch"] == 1
    assert all(torch.isfinite(t).all() for t in saved["model"].values())


def test_bad_arguments(digits):
    with pytest.raises(InvalidInputError, match="epochs"):
        fit(small_model(), digits, epochs=0)
    with pytest.raises(InvalidInputError, match="optimizer"):
        fit(small_model(), digits, optimizer="lbfgs")
    x = torch.rand(10, 1, 8, 8)
    x[0, 0, 0, 0] = float("nan")
    with pytest.raises(InvalidInputError, match="NaN"):
        train(small_model(), (x, torch.zeros(10, dtype=torch.long)), progress=False)


# nassar2020 pays for the move in accuracy here (the penalty also shrinks the whole
# representation between basis refreshes); see docs/training.md.
@pytest.mark.parametrize("method, strength, min_accuracy", [("nassar2020", 2.0, 0.3), ("loglog", 5.0, 0.7)])
def test_regularized_training_moves_alpha_toward_the_target(digits, method, strength, min_accuracy):
    pytest.importorskip("v1ann.spectrum.powerlaw")
    target = 3.0
    vanilla = fit(small_model(hidden=(48,)), digits, epochs=4, measure_alpha=True)
    # tau = 11: the penalty covers ranks 12.., the ranks the history's alpha is measured over
    reg = SpectralRegularizer(target, tau=11, strength=strength, method=method)
    # basis refreshed within the epoch: a stale basis overshoots steep (docs/training.md, fidelity)
    regular = fit(small_model(hidden=(48,)), digits, epochs=4, measure_alpha=True, regularizer=reg, basis_every=4)
    alpha_vanilla = float(vanilla.alpha.sel(layer="act1")[-1])
    alpha_regular = float(regular.alpha.sel(layer="act1")[-1])
    assert alpha_vanilla < alpha_regular <= target + 0.5
    assert abs(alpha_regular - target) < 0.5 * abs(alpha_vanilla - target)
    assert regular.val_accuracy[-1] > min_accuracy


def test_history_and_spectrum_figures(digits):
    from matplotlib.figure import Figure

    from v1ann.plot.training import layer_spectrum_vs_target, training_history

    reg = SpectralRegularizer(1.5, tau=3, strength=0.5)
    history = fit(small_model(), digits, epochs=2, regularizer=reg, measure_alpha=True)
    fig = training_history(history)
    assert isinstance(fig, Figure) and len(fig.axes) == 3
    ranks = np.arange(1, 101, dtype=float)
    fig = layer_spectrum_vs_target({"act1": ranks**-1.5, "act2": 2 * ranks**-1.0}, 1.5, tau=10)
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert labels[0].startswith("act1: α = 1.50") and labels[1].startswith("act2: α = 1.00")
    with pytest.raises(InvalidInputError):
        training_history(xr.Dataset())


def test_weight_norm_trains_the_feeding_layer_and_leaves_a_plain_model(digits, tmp_path):
    from torch.nn.utils import parametrize

    model = small_model()
    before = model.fc1.weight.detach().clone()
    history = fit(model, digits, regularizer=SpectralRegularizer(2.0, tau=3), weight_norm=True, epochs=2,
                  checkpoint_dir=tmp_path)
    assert json.loads(history.attrs["config"])["weight_norm"] == ["fc1"]  # fc1 feeds act1
    assert not parametrize.is_parametrized(model.fc1)
    assert set(model.state_dict()) == set(small_model().state_dict())
    assert not torch.equal(model.fc1.weight.cpu(), before)  # the model stays on the training device
    # The checkpoint holds the reparametrized weights; resuming applies the same reparametrization.
    resumed = fit(small_model(), digits, regularizer=SpectralRegularizer(2.0, tau=3), weight_norm=True, epochs=3,
                  checkpoint_dir=tmp_path)
    assert resumed.sizes["epoch"] == 3


def test_weight_norm_names_are_checked(digits):
    with pytest.raises(InvalidInputError, match="weight_norm.*nope"):
        fit(small_model(), digits, weight_norm=["nope"])
    with pytest.raises(InvalidInputError, match="weight_norm.*act1"):
        fit(small_model(), digits, weight_norm=["act1"])  # a nonlinearity has no weight


def test_a_fresher_basis_removes_the_steep_overshoot(digits):
    """The batch variances along a stale basis read flatter than the spectrum, so with one refresh
    per epoch the network overshoots a steep target; refreshing every few steps does not."""
    pytest.importorskip("v1ann.spectrum.powerlaw")
    final = {}
    for every in (None, 4):
        reg = SpectralRegularizer(3.0, tau=5, strength=5.0, method="loglog")
        history = fit(small_model(hidden=(64,)), digits, epochs=10, lr=3e-3, measure_alpha=True, regularizer=reg,
                      basis_every=every, weight_norm=False)
        final[every] = float(history.alpha.sel(layer="act1")[-3:].mean())
    assert final[None] > 3.1
    assert abs(final[4] - 3.0) < 0.05 < abs(final[None] - 3.0)


def test_basis_every_refreshes_the_basis_within_epochs_and_resumes_identically(digits, tmp_path):
    class Counting(SpectralRegularizer):
        refreshes = 0

        def update_basis(self, *args, **kwargs):
            Counting.refreshes += 1
            return super().update_basis(*args, **kwargs)

    n, batch = len(digits[0]), 64
    steps = n // batch + (n % batch >= 2)
    reference = small_model()
    expected = fit(reference, digits, regularizer=Counting(1.0, tau=3), basis_every=10, epochs=2)
    # Once before training, then every 10 steps within an epoch and once after it.
    assert Counting.refreshes == 1 + 2 * ((steps - 1) // 10 + 1)

    def kill(info):
        if info["epoch"] == 1 and info["step"] == 12:
            raise Killed

    with pytest.raises(Killed):
        fit(small_model(), digits, regularizer=Counting(1.0, tau=3), basis_every=10, epochs=2,
            checkpoint_dir=tmp_path, callbacks=[kill])
    resumed = small_model()
    history = fit(resumed, digits, regularizer=Counting(1.0, tau=3), basis_every=10, epochs=2, checkpoint_dir=tmp_path)
    for (name, want), got in zip(reference.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(want, got), name
    xr.testing.assert_equal(history.drop_vars("seconds"), expected.drop_vars("seconds"))


def test_resuming_over_a_checkpoint_of_another_network_is_refused(digits, tmp_path):
    fit(small_model(hidden=(16,)), digits, epochs=1, checkpoint_dir=tmp_path)
    with pytest.raises(InvalidInputError, match="another network"):
        fit(small_model(hidden=(32,)), digits, epochs=2, checkpoint_dir=tmp_path)


def test_a_dataloader_trains_like_its_dataset_and_resumes_exactly(digits, tmp_path):
    train_set, test_set = digits
    loader = torch.utils.data.DataLoader(train_set, batch_size=32, shuffle=True)
    by_loader, by_dataset = small_model(), small_model()
    fit(by_loader, (loader, test_set), epochs=2, batch_size=None)
    fit(by_dataset, (train_set, test_set), epochs=2, batch_size=32)
    for a, b in zip(by_loader.state_dict().values(), by_dataset.state_dict().values()):
        assert torch.equal(a, b)
    resumed = small_model()
    fit(resumed, (loader, test_set), epochs=1, batch_size=None, checkpoint_dir=tmp_path)
    fit(resumed, (loader, test_set), epochs=2, batch_size=None, checkpoint_dir=tmp_path)
    for a, b in zip(resumed.state_dict().values(), by_loader.state_dict().values()):
        assert torch.equal(a, b)


@pytest.mark.parametrize("method, weight_norm, basis_every", [
    ("loglog", ["fc1"], 8),  # the recipe that reaches the target
    ("nassar2020", None, None),  # their code: no reparametrization, the basis refreshed once per epoch
    ("gerum2022", None, None),  # no basis at all: every batch is decomposed exactly
])
def test_auto_training_options_follow_the_penalty(digits, method, weight_norm, basis_every):
    reg = SpectralRegularizer(1.0, method=method, tau=3 if method != "gerum2022" else 0)
    config = json.loads(fit(small_model(), digits, epochs=1, regularizer=reg).attrs["config"])
    assert config.get("weight_norm") == weight_norm and config["basis_every"] == basis_every
    assert config.get("centre_inputs") == weight_norm  # the same modules, in the recipe only
    assert config.get("gain_lr") == (10 * config["lr"] if weight_norm else None)  # the gains' own rate


def test_gerum2022_ignores_a_basis_refresh_request(digits):
    reg = SpectralRegularizer(1.0, method="gerum2022")
    config = json.loads(fit(small_model(), digits, epochs=1, regularizer=reg, basis_every=2).attrs["config"])
    assert config["basis_every"] is None


def test_a_dataloaders_sampler_is_used_and_resumes_exactly(digits, tmp_path):
    train_set, test_set = digits
    subset = list(range(0, len(train_set), 2))  # every other digit

    def loader():
        return torch.utils.data.DataLoader(
            train_set, batch_size=32, sampler=torch.utils.data.SubsetRandomSampler(subset))

    def seen_by(model, **kwargs):
        seen = []
        history = fit(model, (loader(), test_set), batch_size=None, callbacks=[lambda s: seen.append(s)], **kwargs)
        return seen, history

    full, history = seen_by(small_model(), epochs=2)
    assert json.loads(history.attrs["config"])["sampler"] == "SubsetRandomSampler"
    assert len(full) == 2 * -(-len(subset) // 32)  # steps over the subset only, each epoch
    plain = small_model()
    fit(plain, (train_set, test_set), epochs=2, batch_size=32)
    uninterrupted = small_model()
    seen_by(uninterrupted, epochs=2)
    assert not all(torch.equal(a, b) for a, b in zip(plain.state_dict().values(),
                                                      uninterrupted.state_dict().values()))
    resumed = small_model()
    seen_by(resumed, epochs=1, checkpoint_dir=tmp_path)
    seen_by(resumed, epochs=2, checkpoint_dir=tmp_path)
    for a, b in zip(resumed.state_dict().values(), uninterrupted.state_dict().values()):
        assert torch.equal(a, b)


def test_centred_inputs_leave_the_function_and_a_plain_model(digits):
    """Centring moves the input offset into the bias: the trained model has no buffers or hooks
    left, and computes what the centred one computed."""
    from v1ann.nn.centring import InputCentring

    model = small_model()
    x = digits[0].tensors[0][:200]
    centring = InputCentring(model, ["fc1"])
    centring.recentre(model, x)
    assert float(model.fc1.input_mean.abs().sum()) > 0
    before = model(x)
    with torch.no_grad():
        model.fc1.weight.mul_(1.5)  # training moves the weights while centred
    centred = model(x)
    centring.remove()
    torch.testing.assert_close(model(x), centred, rtol=1e-5, atol=1e-5)
    assert not torch.allclose(centred, before)
    assert set(model.state_dict()) == set(small_model().state_dict()) and not model.fc1._forward_pre_hooks


@pytest.mark.parametrize("arch, option, message", [
    ("mlp", {"channels": [4]}, "channels applies to arch='cnn' only"),
    ("cnn", {"hidden": [16, 16]}, "a CNN has one dense hidden layer"),
])
def test_the_recipe_refuses_shape_options_the_architecture_does_not_have(digits, arch, option, message):
    from v1ann.experiments.recipe import train_network

    with pytest.raises(InvalidInputError, match=message):
        train_network(*digits, arch=arch, epochs=1, progress=False, **option)
