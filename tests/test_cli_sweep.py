"""``v1ann sweep``: list options, a tiny sweep against a running scheduler, figures, errors."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import xarray as xr

from v1ann.cli import main
from v1ann.cli.sweep import expand_list_options


def test_list_options_take_space_separated_values():
    args = ["--alphas", "0.5", "1", "--vanilla", "--eps=0", "0.1", "--seeds", "3", "--attacks", "fgsm", "pgd"]
    assert expand_list_options(args) == [
        "--alphas", "0.5", "--alphas", "1", "--vanilla", "--eps=0", "--eps", "0.1", "--seeds", "3",
        "--attacks", "fgsm", "--attacks", "pgd",
    ]


@pytest.fixture(scope="module")
def scheduler():
    """A running scheduler with an in-process worker, reached by address like a real cluster."""
    from distributed import LocalCluster

    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, protocol="tcp",
                      dashboard_address=None) as cluster:
        yield cluster.scheduler_address


def test_sweep_command_runs_stores_resumes_and_plots(tmp_path, scheduler, capsys):
    store, plots = tmp_path / "sweep.nc", tmp_path / "plots"
    args = [
        "sweep", "--alphas", "2", "--vanilla", "--seeds", "1", "--dataset", "digits8x8", "--hidden", "32",
        "--epochs", "1", "--lr", "0.01", "--eps", "0", "0.1", "--steps", "2", "--n-eval", "50",
        "--scheduler", scheduler, "--store", str(store), "--plots", str(plots), "--quiet",
    ]
    main(args)
    out = capsys.readouterr().out
    assert "vanilla" in out and "alpha=2|strength=30|tau=10" in out and "2 runs in" in out
    results = xr.load_dataset(store, engine="h5netcdf")
    assert sorted(results["run"].values) == ["alpha=2|strength=30|tau=10|seed=0", "vanilla|seed=0"]
    assert list(results["eps"].values) == [0.0, 0.1]
    names = sorted(p.name for p in plots.iterdir())
    assert names == ["accuracy_vs_eps.png", "measured_vs_target_alpha.png", "robust_accuracy_vs_alpha.png"]
    # a second identical command finds everything done
    main(args[:-3] + ["--quiet"])  # same sweep, without --plots
    assert "2 runs in" in capsys.readouterr().out


def test_a_preset_sets_the_grid_and_options_given_beside_it_win(tmp_path, scheduler, capsys):
    store = tmp_path / "nassar.nc"
    main(["sweep", "--preset", "nassar2020", "--seeds", "1", "--dataset", "digits8x8", "--hidden", "32",
          "--epochs", "1", "--lr", "0.01", "--eps", "0", "0.1", "--steps", "2", "--restarts", "1",
          "--n-eval", "50", "--attacks", "fgsm", "pgd", "--scheduler", scheduler, "--store", str(store), "--quiet"])
    results = xr.load_dataset(store, engine="h5netcdf")
    # the preset's grid (vanilla against 1/n) with the sizes given on the command line
    assert sorted(results["run"].values) == ["alpha=1|strength=30|tau=10|seed=0", "vanilla|seed=0"]
    assert list(results["attack"].values) == ["fgsm", "pgd"] and int(results.sizes["layer"]) == 1
    config = results.attrs["sweep_config"]
    assert '"hidden": [32]' in config and '"n_eval": 50' in config


def test_a_cnn_preset_regularizes_the_dense_layer_of_the_cnn(tmp_path, scheduler):
    store = tmp_path / "nassar_cnn.nc"
    main(["sweep", "--preset", "nassar2020-cnn", "--seeds", "1", "--dataset", "digits8x8", "--channels", "2", "3",
          "--hidden", "24", "--epochs", "1", "--eps", "0", "0.1", "--steps", "2", "--restarts", "1", "--n-eval", "50",
          "--attacks", "fgsm", "--scheduler", scheduler, "--store", str(store), "--quiet"])
    results = xr.load_dataset(store, engine="h5netcdf")
    assert sorted(results["run"].values) == ["alpha=1|strength=30|tau=10|seed=0", "vanilla|seed=0"]
    assert list(results["layer"].values) == ["act_fc"]  # the preset's layer, for vanilla too
    config = results.attrs["sweep_config"]
    assert '"arch": "cnn"' in config and '"channels": [2, 3]' in config and '"hidden": [24]' in config


def test_the_presets_attack_with_white_and_black_box_attacks():
    from v1ann.experiments.presets import preset

    for name in ("nassar2020", "gerum2022", "nassar2020-cnn", "gerum2022-cnn"):
        settings = preset(name)
        assert {"pgd", "apgd-ce", "square"} <= set(settings["attacks"]) and settings["seeds"] >= 5
        assert settings["n_eval"] >= 1000 and None in settings["grid"]["target_alpha"]
    settings["grid"]["target_alpha"].append(9.0)  # a copy: the preset itself is unchanged
    assert 9.0 not in preset(name)["grid"]["target_alpha"]


@pytest.mark.parametrize(
    "args, message",
    [
        (["sweep", "--seeds", "1"], "--alphas"),
        (["sweep", "--alphas", "-1", "--store", "{tmp}/s.nc"], "target_alpha"),
        (["sweep", "--vanilla", "--scheduler", "tcp://127.0.0.1:9", "--store", "{tmp}/s.nc"], "scheduler"),
        (["sweep", "--vanilla", "--channels", "4", "--store", "{tmp}/s.nc"], "--channels applies to --arch cnn"),
        (["sweep", "--vanilla", "--arch", "cnn", "--hidden", "3", "4", "--store", "{tmp}/s.nc"],
         "one dense hidden layer"),
    ],
)
def test_bad_arguments_exit_2_with_one_line(tmp_path, args, message):
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    env = dict(os.environ, DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT="2s")
    proc = subprocess.run([sys.executable, "-m", "v1ann", *args], capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr and "Traceback" not in proc.stderr
