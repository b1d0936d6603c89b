"""The run folder (save_run/load_run), the one layer-α measurement, and the one recording loader."""

from __future__ import annotations

import pytest
import torch

import v1ann
from v1ann.errors import DataFileError
from v1ann.nn.models import load_run, mlp, save_run
from v1ann.nn.probe import layer_alphas


def test_a_saved_run_loads_back_with_its_weights(tmp_path):
    torch.manual_seed(0)
    model = mlp(hidden=(16,), activation="relu")
    save_run(model, tmp_path, {"arch": "mlp", "arch_kwargs": {"hidden": [16], "activation": "relu"}, "note": 1})
    loaded, config = load_run(tmp_path)
    assert config["note"] == 1
    for (name, a), (_, b) in zip(model.state_dict().items(), loaded.state_dict().items()):
        assert torch.equal(a, b), name


def test_a_run_whose_config_describes_another_network_is_refused(tmp_path):
    save_run(mlp(hidden=(16,)), tmp_path, {"arch": "mlp", "arch_kwargs": {"hidden": [32]}})
    with pytest.raises(DataFileError, match="do not match"):
        load_run(tmp_path / "model.pt")


def test_layer_alphas_clips_the_range_to_the_layer_and_skips_too_narrow_layers():
    torch.manual_seed(0)
    model = mlp(hidden=(64, 8))
    fits = layer_alphas(model, torch.rand(300, 1, 28, 28), fit_range=(11, 500), progress=False)
    assert list(fits) == ["act1"]  # act2 has 8 ranks, fewer than 11 + 2
    assert fits["act1"].fit_range[0] == 11 and fits["act1"].fit_range[1] <= 64


def test_layer_alphas_in_a_basis_measure_the_inputs_along_the_basis_components():
    torch.manual_seed(0)
    model = mlp(hidden=(64,))
    train, heldout = torch.rand(400, 1, 28, 28), torch.rand(100, 1, 28, 28)
    fits = layer_alphas(model, heldout, basis=train, fit_range=(2, 50), progress=False)
    acts = v1ann.nn.activations(model, heldout, layers=["act1"], progress=False)["act1"]
    basis = v1ann.nn.activations(model, train, layers=["act1"], progress=False)["act1"]
    expected = v1ann.fit_powerlaw(v1ann.pca_spectrum(acts, fit_on=basis), fit_range=(2, 50))
    assert fits["act1"].method == "pca-basis"
    assert fits["act1"].alpha == pytest.approx(expected.alpha, rel=1e-12)
    assert fits["act1"].alpha != pytest.approx(layer_alphas(model, heldout, fit_range=(2, 50),
                                                            progress=False)["act1"].alpha, abs=1e-3)


def test_io_load_refuses_an_unknown_suffix(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("1,2\n")
    with pytest.raises(DataFileError, match="cannot tell the recording format"):
        v1ann.io.load(path)
