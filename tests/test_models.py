"""v1ann.nn.models: named Sequential models that start with Normalize."""

from __future__ import annotations

import pytest
import torch

from v1ann.errors import InvalidInputError
from v1ann.nn.models import Normalize, cnn, mlp


def test_mlp_layers_names_and_output():
    model = mlp(in_shape=(1, 28, 28), hidden=(64, 32), n_classes=10, activation="relu")
    names = [name for name, _ in model.named_children()]
    assert names == ["normalize", "flatten", "fc1", "act1", "fc2", "act2", "readout"]
    assert model.representation_layers == ["act1", "act2"]
    assert model(torch.rand(5, 1, 28, 28)).shape == (5, 10)
    assert isinstance(model.act1, torch.nn.ReLU)


def test_mlp_default_is_the_published_784_2000_10_tanh():
    model = mlp()
    assert model.fc1.in_features == 784 and model.fc1.out_features == 2000
    assert isinstance(model.act1, torch.nn.Tanh)
    assert model.readout.out_features == 10


@pytest.mark.parametrize("in_shape", [(1, 28, 28), (3, 32, 32)])
def test_cnn_shapes_and_representation_layers(in_shape):
    model = cnn(in_shape=in_shape, n_classes=10, channels=(4, 8), hidden=16)
    assert model(torch.rand(3, *in_shape)).shape == (3, 10)
    modules = dict(model.named_modules())
    assert model.representation_layers == ["pool1", "pool2", "act_fc"]
    assert all(name in modules for name in model.representation_layers)
    assert next(iter(model.children())).__class__ is Normalize


def test_normalize_is_per_channel_and_saved_in_state_dict():
    norm = Normalize(mean=[0.1, 0.2, 0.3], std=[0.5, 0.25, 2.0])
    x = torch.rand(2, 3, 4, 4)
    expected = (x - torch.tensor([0.1, 0.2, 0.3])[:, None, None]) / torch.tensor([0.5, 0.25, 2.0])[:, None, None]
    torch.testing.assert_close(norm(x), expected)
    assert set(norm.state_dict()) == {"mean", "std"}
    model = mlp(in_shape=(3, 4, 4), hidden=8, mean=[0.1, 0.2, 0.3], std=0.2)
    torch.testing.assert_close(model.normalize.mean.flatten(), torch.tensor([0.1, 0.2, 0.3]))


def test_default_normalisation_maps_pixels_to_minus_one_one():
    model = mlp(in_shape=(1, 2, 2), hidden=4)
    out = model.normalize(torch.tensor([0.0, 1.0]).reshape(1, 1, 2, 1).expand(1, 1, 2, 2))
    assert out.min() == -1 and out.max() == 1


@pytest.mark.parametrize(
    "kwargs, word",
    [
        ({"activation": "sigmoid"}, "activation"),
        ({"hidden": (0,)}, "hidden"),
        ({"in_shape": (28, 28)}, "in_shape"),
        ({"in_shape": (1, 28, 28), "mean": [0.1, 0.2]}, "channel"),
        ({"std": 0.0}, "std"),
    ],
)
def test_mlp_rejects_bad_arguments(kwargs, word):
    with pytest.raises(InvalidInputError, match=word):
        mlp(**kwargs)


def test_cnn_rejects_images_too_small_for_pooling_and_even_kernels():
    with pytest.raises(InvalidInputError, match="too small"):
        cnn(in_shape=(1, 3, 3), channels=(4, 4))
    with pytest.raises(InvalidInputError, match="odd"):
        cnn(kernel_size=4)
