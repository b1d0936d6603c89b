"""v1ann.nn.training_data.load_training_data: offline sets and the torchvision route."""

from __future__ import annotations

import importlib.util

import pytest
import torch

from v1ann.errors import InvalidInputError, MissingDependencyError
from v1ann.nn.training_data import load_training_data as load


def test_mnist5k_is_shuffled_real_digits_in_unit_range():
    train, test = load("mnist5k", seed=0)
    x, y = train.tensors
    assert (len(train), len(test)) == (4000, 1000)
    assert x.shape == (4000, 1, 28, 28) and x.dtype == torch.float32 and y.dtype == torch.int64
    assert 0.0 <= float(x.min()) and float(x.max()) == 1.0
    # the source is sorted by label: a split without shuffling would leave classes out of test
    assert set(test.tensors[1].tolist()) == set(range(10))
    assert len(set(y[:50].tolist())) > 5
    # train and test are disjoint: no test image appears in train
    flat_train = {tuple(row.tolist()) for row in (x.flatten(1)[:, ::7] * 255).round().int()}
    flat_test = [(row * 255).round().int().tolist() for row in test.tensors[0].flatten(1)[:, ::7][:50]]
    assert not any(tuple(row) in flat_train for row in flat_test)


def test_split_depends_on_seed_only():
    a, _ = load("digits8x8", seed=1)
    b, _ = load("digits8x8", seed=1)
    c, _ = load("digits8x8", seed=2)
    assert torch.equal(a.tensors[1], b.tensors[1])
    assert not torch.equal(a.tensors[1], c.tensors[1])


def test_digits8x8_stand_in():
    train, test = load("digits8x8", test_size=100)
    assert train.tensors[0].shape[1:] == (1, 8, 8) and len(test) == 100
    assert float(train.tensors[0].max()) <= 1.0


def test_unknown_name_and_bad_test_size():
    with pytest.raises(InvalidInputError, match="mnist5k"):
        load("imagenet")
    with pytest.raises(InvalidInputError, match="test_size"):
        load("digits8x8", test_size=5000)


@pytest.mark.skipif(importlib.util.find_spec("torchvision") is not None, reason="torchvision installed")
def test_torchvision_sets_name_the_extra_when_missing():
    with pytest.raises(MissingDependencyError, match=r"v1ann\[vision\]"):
        load("cifar10")
