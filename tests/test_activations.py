"""v1ann.nn.activations: forward hooks → labelled activations, leaving the model as found."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import xarray as xr
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from v1ann._utils import resolve_device
from v1ann.errors import InvalidInputError, V1AnnWarning
from v1ann.nn.activations import activations
from v1ann.nn.models import cnn, mlp


def _hook_count(model: nn.Module) -> int:
    return sum(len(m._forward_hooks) for m in model.modules())


@pytest.fixture
def images() -> torch.Tensor:
    return torch.rand(37, 1, 28, 28, generator=torch.Generator().manual_seed(12345))


@pytest.fixture
def small_mlp() -> nn.Module:
    torch.manual_seed(0)
    return mlp(hidden=(50, 20))


class Boom(nn.Module):
    """Identity that fails once it has seen ``after`` batches."""

    def __init__(self, after: int):
        super().__init__()
        self.after, self.calls = after, 0

    def forward(self, x):
        self.calls += 1
        if self.calls > self.after:
            raise RuntimeError("boom")
        return x


def test_mlp_layers_match_a_manual_forward_pass(small_mlp, images):
    acts = activations(small_mlp, images, progress=False)
    assert list(acts) == small_mlp.representation_layers == ["act1", "act2"]
    with torch.no_grad():
        hidden = small_mlp.act1(small_mlp.fc1(small_mlp.flatten(small_mlp.normalize(images))))
    first = acts["act1"]
    assert first.dims == ("stimulus", "unit")
    assert first.shape == (37, 50) and acts["act2"].shape == (37, 20)
    np.testing.assert_allclose(first.values, hidden.numpy(), rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(first["stimulus"].values, np.arange(37))
    assert first.name == "act1"
    assert first.attrs["layer"] == "act1" and first.attrs["module"] == "Tanh"
    assert first.attrs["model"] == "Sequential" and first.attrs["device"] == str(resolve_device("auto"))


def test_batching_does_not_change_the_result(small_mlp, images):
    whole = activations(small_mlp, images, batch_size=1000, progress=False)
    pieces = activations(small_mlp, images, batch_size=5, progress=False)
    for name in whole:
        # float32 sums in another order
        np.testing.assert_allclose(whole[name].values, pieces[name].values, rtol=1e-5, atol=1e-6)


def test_conv_layers_flattened_and_unflattened():
    torch.manual_seed(1)
    model = cnn(channels=(4, 6), hidden=16)
    x = torch.rand(9, 1, 28, 28)
    maps = activations(model, x, layers=["conv1", "pool2", "act_fc"], flatten=False, progress=False)
    assert maps["conv1"].dims == ("stimulus", "channel", "y", "x")
    assert maps["conv1"].shape == (9, 4, 28, 28)
    assert maps["pool2"].shape == (9, 6, 7, 7)
    assert maps["act_fc"].dims == ("stimulus", "unit")
    flat = activations(model, x, layers=["conv1", "pool2"], progress=False)
    assert flat["pool2"].dims == ("stimulus", "unit") and flat["pool2"].shape == (9, 6 * 7 * 7)
    assert flat["pool2"].attrs["unit_shape"] == [6, 7, 7]
    # unit = (c * H + y) * W + x: C-order flattening, recoverable from unit_shape
    np.testing.assert_array_equal(flat["pool2"].values.reshape(9, 6, 7, 7), maps["pool2"].values)
    with torch.no_grad():
        np.testing.assert_allclose(maps["conv1"].values, model.conv1(model.normalize(x)).numpy(), atol=1e-6)


def test_default_layers_without_representation_layers_are_the_leaves():
    model = nn.Sequential(nn.Linear(3, 4), nn.Sequential(nn.ReLU(), nn.Linear(4, 2)))
    acts = activations(model, torch.randn(6, 3), progress=False)
    assert list(acts) == ["0", "1.0", "1.1"]
    assert acts["1.1"].shape == (6, 2)


def test_a_single_layer_name_as_a_string(small_mlp, images):
    acts = activations(small_mlp, images, layers="fc2", progress=False)
    assert list(acts) == ["fc2"] and acts["fc2"].attrs["module"] == "Linear"


def test_unknown_layer_names_list_the_valid_ones(small_mlp, images):
    with pytest.raises(InvalidInputError, match="valid names") as info:
        activations(small_mlp, images, layers=["act1", "conv9"])
    assert "conv9" in str(info.value) and "'fc1'" in str(info.value)
    assert _hook_count(small_mlp) == 0


def test_hooks_removed_and_modes_restored_after_an_error(images):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(784, 10), Boom(after=2), nn.Dropout(0.5))
    model.train()
    model[1].eval()  # a mix of modes, restored module by module
    with pytest.raises(RuntimeError, match="boom"):
        activations(model, images, layers=["1", "3"], batch_size=10, progress=False)
    assert _hook_count(model) == 0
    assert [m.training for m in model] == [True, False, True, True]
    assert model.training


def test_hooks_removed_and_modes_restored_after_success(small_mlp, images):
    small_mlp.train()
    activations(small_mlp, images, progress=False)
    assert _hook_count(small_mlp) == 0
    assert all(m.training for m in small_mlp.modules())
    small_mlp.eval()
    activations(small_mlp, images, progress=False)
    assert not any(m.training for m in small_mlp.modules())


def test_runs_in_eval_mode_without_gradients(images):
    model = nn.Sequential(nn.Flatten(), nn.Linear(784, 30), nn.Dropout(0.9))
    model.train()
    a = activations(model, images, layers=["2"], progress=False)
    b = activations(model, images, layers=["2"], progress=False)
    np.testing.assert_array_equal(a["2"].values, b["2"].values)  # dropout off
    assert all(p.grad is None for p in model.parameters())


def test_dataloader_input_matches_tensor_input(small_mlp, images):
    labels = torch.zeros(len(images), dtype=torch.long)
    loader = DataLoader(TensorDataset(images, labels), batch_size=8)
    from_loader = activations(small_mlp, loader, progress=False)
    from_tensor = activations(small_mlp, images, progress=False)
    for name in from_tensor:
        np.testing.assert_allclose(from_loader[name].values, from_tensor[name].values, atol=1e-6)
    dropped = activations(small_mlp, DataLoader(TensorDataset(images), batch_size=8, drop_last=True), progress=False)
    assert dropped["act1"].sizes["stimulus"] == 32


def test_dataset_input_and_shuffled_loader_warning(small_mlp, images):
    acts = activations(small_mlp, TensorDataset(images), batch_size=10, progress=False)
    assert acts["act2"].shape == (37, 20)
    with pytest.warns(V1AnnWarning, match="shuffles"):
        activations(small_mlp, DataLoader(TensorDataset(images), batch_size=8, shuffle=True), progress=False)


def test_ndarray_and_dataarray_inputs(small_mlp, images):
    array = images.numpy()
    before = array.copy()
    from_array = activations(small_mlp, array, progress=False)
    np.testing.assert_array_equal(array, before)
    # dims in another order, labelled stimuli: transposed to stimulus-first, labels kept
    da = xr.DataArray(
        np.moveaxis(array, 0, -1), dims=("c", "y", "x", "stimulus"), coords={"stimulus": np.arange(37) * 10}
    )
    from_da = activations(small_mlp, da, batch_size=16, progress=False)
    np.testing.assert_array_equal(from_da["act1"]["stimulus"].values, np.arange(37) * 10)
    np.testing.assert_allclose(from_da["act1"].values, from_array["act1"].values, atol=1e-6)
    with pytest.raises(InvalidInputError, match="'stimulus' dim"):
        activations(small_mlp, xr.DataArray(array, dims=("n", "c", "y", "x")))


def test_nan_in_inputs_or_outputs_is_an_error(small_mlp, images):
    bad = images.clone()
    bad[20, 0, 3, 3] = float("nan")
    with pytest.raises(InvalidInputError, match="NaN"):
        activations(small_mlp, bad, progress=False)
    model = nn.Sequential(nn.Flatten(), nn.Linear(784, 5))
    with torch.no_grad():
        model[1].weight[0, 0] = float("inf")
    with pytest.raises(InvalidInputError, match="layer '1' produced NaN/Inf"):
        activations(model, images, layers="1", progress=False)
    assert _hook_count(model) == 0


def test_reused_or_unused_modules_are_refused(images):
    relu = nn.ReLU()
    reused = nn.Sequential(nn.Flatten(), nn.Linear(784, 8), relu, nn.Linear(8, 8), relu)
    with pytest.raises(InvalidInputError, match="more than once"):
        activations(reused, images, layers="2", progress=False)
    assert _hook_count(reused) == 0

    class Skips(nn.Module):
        def __init__(self):
            super().__init__()
            self.used, self.unused = nn.Flatten(), nn.Linear(3, 3)

        def forward(self, x):
            return self.used(x)

    with pytest.raises(InvalidInputError, match="did not run"):
        activations(Skips(), images, layers="unused", progress=False)


def test_tuple_outputs_and_integer_inputs():
    torch.manual_seed(0)

    class Tokens(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = nn.Embedding(20, 6)
            self.lstm = nn.LSTM(6, 5, batch_first=True)

        def forward(self, x):
            return self.lstm(self.embed(x))[0][:, -1]

    tokens = torch.randint(0, 20, (11, 4))
    acts = activations(Tokens(), tokens, layers=["embed", "lstm"], flatten=False, progress=False)
    assert acts["embed"].dims == ("stimulus", "dim_1", "dim_2") and acts["embed"].shape == (11, 4, 6)
    assert acts["lstm"].shape == (11, 4, 5)  # the LSTM's output sequence, not its (h, c) state


def test_bad_arguments(small_mlp, images):
    with pytest.raises(InvalidInputError, match="nn.Module"):
        activations(lambda x: x, images)
    with pytest.raises(InvalidInputError, match="batch_size"):
        activations(small_mlp, images, batch_size=0)
    with pytest.raises(InvalidInputError, match="inputs must be"):
        activations(small_mlp, [[1.0, 2.0]])
    with pytest.raises(InvalidInputError, match="no stimuli"):
        activations(small_mlp, images[:0], progress=False)
    with pytest.raises(InvalidInputError, match="empty"):
        activations(small_mlp, images, layers=[])


def test_inputs_the_model_cannot_take_name_their_shape(small_mlp):
    with pytest.raises(InvalidInputError, match=r"inputs of shape \(1, 14, 14\) per stimulus"):
        activations(small_mlp, torch.rand(10, 1, 14, 14), progress=False)
