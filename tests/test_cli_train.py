"""`v1ann train`: a small run end to end, --match on a simulated recording, and errors."""

from __future__ import annotations

import json

import pytest
import torch
from click.testing import CliRunner

from v1ann.cli import cli, main
from v1ann.nn.models import mlp
from v1ann.nn.train import load_history

SMALL = ["--dataset", "digits8x8", "--hidden", "40", "--epochs", "2", "--batch-size", "64", "--tau", "5", "--quiet"]


def test_train_writes_model_history_config_and_figures(tmp_path):
    result = CliRunner().invoke(cli, ["train", *SMALL, "--target-alpha", "2.0", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "held-out alpha act1" in result.output
    for name in ("model.pt", "config.json", "history.json", "history.nc", "checkpoint.pt",
                 "layer_spectrum.png", "training.png"):
        assert (tmp_path / name).stat().st_size > 0, name
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["target_alpha"] == 2.0 and config["arch_kwargs"]["hidden"] == [40]
    # The documented recipe is the default (docs/training.md, fidelity).
    assert config["method"] == "loglog" and config["strength"] == 30.0 and config["n_components"] == 500
    assert config["weight_norm"] is True and config["basis_every"] == 8
    assert json.loads(load_history(tmp_path).attrs["config"])["weight_norm"] == ["fc1"]
    model = mlp(**config["arch_kwargs"])  # the config rebuilds the model the weights fit
    model.load_state_dict(torch.load(tmp_path / "model.pt", weights_only=True))
    history = load_history(tmp_path)
    assert history.sizes["epoch"] == 2 and "alpha" in history
    assert set(config["heldout_alpha"]) == set(config["heldout_alpha_train_basis"]) == {"act1"}
    # the held-out images' own PCA, and their variances along the training images' components
    assert config["heldout_alpha"]["act1"] != config["heldout_alpha_train_basis"]["act1"]


def test_vanilla_run_without_a_target(tmp_path):
    result = CliRunner().invoke(cli, ["train", *SMALL, "--epochs", "1", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "target none" in result.output
    assert json.loads((tmp_path / "config.json").read_text())["weight_norm"] is False  # nothing to regularize


def test_recipe_options_can_be_turned_off(tmp_path):
    args = ["train", *SMALL, "--epochs", "1", "--target-alpha", "1.5", "--no-weight-norm", "--n-components", "0",
            "--method", "nassar2020", "--out", str(tmp_path)]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["weight_norm"] is False and config["n_components"] is None and config["strength"] == 1.0


@pytest.mark.slow
def test_match_takes_the_target_from_a_recording(tmp_path):
    pytest.importorskip("v1ann.spectrum.estimate")
    pytest.importorskip("v1ann.io.zarrstore")
    import v1ann

    rec = v1ann.simulate_recording(alpha=1.3, n_stimuli=520, n_neurons=600, noise_scale=0.3, seed=0)
    path = v1ann.save_zarr(rec, tmp_path / "rec.zarr")
    expected = v1ann.estimate_alpha(v1ann.load_zarr(path), seed=0, progress=False).alpha
    out = tmp_path / "run"
    result = CliRunner().invoke(cli, ["train", *SMALL, "--epochs", "1", "--match", str(path), "--out", str(out)])
    assert result.exit_code == 0, result.output
    config = json.loads((out / "config.json").read_text())
    assert config["target_alpha"] == pytest.approx(expected)
    assert config["matched_recording"]["path"] == str(path)


def test_errors_are_one_line_and_exit_2(tmp_path, capsys):
    bad = tmp_path / "recording.txt"
    bad.write_text("not a recording")
    with pytest.raises(SystemExit) as exit_info:
        main(["train", *SMALL, "--match", str(bad), "--out", str(tmp_path / "run")])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert "recording.txt" in err and len(err.splitlines()) == 1
    with pytest.raises(SystemExit) as exit_info:
        main(["train", *SMALL, "--match", str(bad), "--target-alpha", "1", "--out", str(tmp_path / "run")])
    assert exit_info.value.code == 2


def test_channels_set_the_cnns_conv_blocks(tmp_path, capsys):
    args = ["train", "--dataset", "digits8x8", "--arch", "cnn", "--channels", "4", "--channels", "6", "--hidden", "20",
            "--epochs", "1", "--batch-size", "64", "--tau", "5", "--target-alpha", "1.5", "--layer", "pool2",
            "--quiet", "--out", str(tmp_path / "cnn")]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    config = json.loads((tmp_path / "cnn" / "config.json").read_text())
    assert config["arch_kwargs"]["channels"] == [4, 6] and config["arch_kwargs"]["hidden"] == 20
    assert config["measured_layers"] == ["pool2"]
    with pytest.raises(SystemExit) as exit_info:
        main(["train", *SMALL, "--channels", "4", "--out", str(tmp_path / "mlp")])
    assert exit_info.value.code == 2
    assert "--channels applies to --arch cnn only" in capsys.readouterr().err
