"""``v1ann compare``: recording file + images file + network → table, JSON and figure."""

from __future__ import annotations

import json

import numpy as np
import pytest
import scipy.io
import torch

import v1ann
from v1ann.cli import main
from v1ann.nn.activations import activations
from v1ann.nn.inputs import prepare_images
from v1ann.nn.models import mlp

N_STIMULI = 120
FIT = ["--fit-range", "4", "60"]  # ranks 5..60: within every spectrum of these small data


def run(capsys, *args) -> tuple[int, str, str]:
    try:
        main([str(a) for a in args])
        code = 0
    except SystemExit as exc:
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A recording (.zarr and .mat) of 120 stimuli and an images .mat with 130 68×270 images."""
    folder = tmp_path_factory.mktemp("cli_compare")
    rec = v1ann.simulate_recording(alpha=1.0, n_stimuli=N_STIMULI, n_neurons=300, noise_scale=0.5, seed=0)
    v1ann.save_zarr(rec, folder / "rec.zarr")
    v1ann.save_stringer_mat(rec, folder / "rec.mat")
    pixels = np.random.default_rng(1).integers(0, 256, size=(68, 270, N_STIMULI + 10)).astype(np.uint8)
    scipy.io.savemat(folder / "imgs.mat", {"imgs": pixels})
    few = pixels[:, :, : N_STIMULI // 2]
    scipy.io.savemat(folder / "few_imgs.mat", {"imgs": few})
    return folder


def test_random_mlp_json_table(files, capsys):
    code, out, err = run(capsys, "compare", files / "rec.zarr", "--model", "mlp", "--images", files / "imgs.mat",
                         *FIT, "--json", "--quiet")
    assert code == 0, err
    payload = json.loads(out)
    assert payload["model"] == "random mlp (seed 0)"
    rows = payload["rows"]
    assert [r["layer"] for r in rows] == ["brain", "act1"]
    assert set(rows[0]) == {
        "source", "layer", "kind", "alpha", "alpha_ci_low", "alpha_ci_high", "r2",
        "fit_lo", "fit_hi", "delta_alpha", "method", "n_stimuli", "n_units",
    }
    brain, layer = rows
    assert brain["source"] == "rec" and brain["method"] == "cvpca-matched"
    assert brain["alpha_ci_low"] < brain["alpha"] < brain["alpha_ci_high"]
    assert layer["alpha_ci_low"] is None  # no --layer-ci
    assert layer["n_stimuli"] == N_STIMULI and layer["n_units"] == 2000
    assert (layer["fit_lo"], layer["fit_hi"]) == (5, 60)
    assert layer["delta_alpha"] == pytest.approx(layer["alpha"] - brain["alpha"])
    # the same seed gives the same network and the same numbers
    again = json.loads(run(capsys, "compare", files / "rec.mat", "--model", "mlp", "--images", files / "imgs.mat",
                           *FIT, "--json", "--quiet")[1])
    assert again["rows"][1]["alpha"] == pytest.approx(layer["alpha"], abs=1e-9)


def test_checkpoint_from_v1ann_train_and_plot(files, tmp_path, capsys):
    """A model.pt + config.json (the `v1ann train` layout) is rebuilt and its weights used."""
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    arch_kwargs = {"in_shape": [1, 28, 28], "hidden": [150, 90], "n_classes": 10, "activation": "tanh",
                   "mean": [0.13], "std": [0.31]}
    torch.manual_seed(123)
    model = mlp(**arch_kwargs)
    torch.save(model.state_dict(), run_dir / "model.pt")
    (run_dir / "config.json").write_text(json.dumps({"arch": "mlp", "arch_kwargs": arch_kwargs, "seed": 0}))

    figure = tmp_path / "compare.png"
    code, out, err = run(capsys, "compare", files / "rec.zarr", "--model", run_dir / "model.pt",
                         "--images", files / "imgs.mat", "--layers", "act1,act2", *FIT, "--json",
                         "--plot", figure, "--quiet")
    assert code == 0, err
    rows = {r["layer"]: r for r in json.loads(out)["rows"]}
    assert set(rows) == {"brain", "act1", "act2"}
    # what the CLI measured equals the library pipeline run by hand on the saved network
    images = v1ann.load_stimulus_images(files / "imgs.mat").isel(stimulus=slice(0, N_STIMULI))
    acts = activations(model, prepare_images(images, size=28), progress=False)
    expected = v1ann.estimate_alpha(acts["act2"], fit_range=(4, 60), ci=None)
    assert rows["act2"]["alpha"] == pytest.approx(expected.alpha, abs=1e-6)
    assert figure.stat().st_size > 20_000


def test_text_output_for_a_cnn(files, capsys):
    code, out, err = run(capsys, "compare", files / "rec.zarr", "--model", "cnn", "--images", files / "imgs.mat",
                         "--layers", "pool1,pool2", "--fit-range", "11", "119", "--quiet")
    assert code == 0, err
    assert "rec vs random cnn (seed 0) on 120 stimuli" in out
    header, *lines = out.splitlines()[2:]
    assert header.split() == ["layer", "alpha", "alpha_ci_low", "alpha_ci_high", "r2", "fit_lo", "fit_hi",
                              "delta_alpha", "method", "n_stimuli", "n_units"]
    assert [line.split()[0] for line in lines] == ["brain", "pool1", "pool2"]
    assert "warning" not in err


def test_layers_narrower_than_the_fit_range_are_fitted_to_their_last_rank_with_a_warning(files, capsys):
    code, out, err = run(capsys, "compare", files / "rec.zarr", "--model", "mlp", "--images", files / "imgs.mat",
                         "--layers", "act1", "--layers", "readout", *FIT, "--json", "--quiet")
    assert code == 0, err
    rows = {r["layer"]: r for r in json.loads(out)["rows"]}
    assert list(rows) == ["brain", "act1", "readout"]
    assert (rows["readout"]["fit_lo"], rows["readout"]["fit_hi"]) == (5, 10) and rows["act1"]["fit_hi"] == 60
    assert "v1ann: warning: 1 layer(s) have fewer ranks" in err and "readout ranks 5..10" in err


@pytest.mark.parametrize(
    "change, message",
    [
        ({"--layers": "nope"}, "valid names"),
        ({"--images": "few_imgs.mat"}, "does not have"),
        ({"--model": "none.pt"}, "not 'mlp', 'cnn' or an existing run folder or checkpoint"),
        ({"RECORDING": "notes.txt"}, "cannot tell the recording format"),
        ({"--fit-range": ("400", "500")}, "fit_range"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(files, capsys, change, message):
    (files / "notes.txt").write_text("hello")
    options = {"--model": "mlp", "--images": "imgs.mat", "--fit-range": ("4", "60"), **change}
    recording = options.pop("RECORDING", "rec.zarr")
    args = ["compare", files / recording, "--quiet"]
    for flag, value in options.items():
        if flag in ("--images", "--model") and value.endswith((".mat", ".pt")):
            value = files / value
        args += [flag, *value] if isinstance(value, tuple) else [flag, value]
    code, out, err = run(capsys, *args)
    assert code == 2
    lines = [line for line in err.splitlines() if line.startswith("v1ann: error")]
    assert len(lines) == 1 and message in lines[0], err
    assert "Traceback" not in err


def test_checkpoint_without_config_or_with_wrong_weights(files, tmp_path, capsys):
    torch.save(mlp(hidden=(10,)).state_dict(), tmp_path / "model.pt")
    code, _, err = run(capsys, "compare", files / "rec.zarr", "--model", tmp_path / "model.pt",
                       "--images", files / "imgs.mat", *FIT, "--quiet")
    assert code == 2 and "no config.json" in err
    (tmp_path / "config.json").write_text(json.dumps({"arch": "mlp", "arch_kwargs": {"hidden": [20]}}))
    code, _, err = run(capsys, "compare", files / "rec.zarr", "--model", tmp_path / "model.pt",
                       "--images", files / "imgs.mat", *FIT, "--quiet")
    assert code == 2 and "weights do not match" in err
