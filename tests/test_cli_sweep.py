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


@pytest.mark.parametrize(
    "args, message",
    [
        (["sweep", "--seeds", "1"], "--alphas"),
        (["sweep", "--alphas", "-1", "--store", "{tmp}/s.nc"], "target_alpha"),
        (["sweep", "--vanilla", "--scheduler", "tcp://127.0.0.1:9", "--store", "{tmp}/s.nc"], "scheduler"),
    ],
)
def test_bad_arguments_exit_2_with_one_line(tmp_path, args, message):
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    env = dict(os.environ, DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT="2s")
    proc = subprocess.run([sys.executable, "-m", "v1ann", *args], capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr and "Traceback" not in proc.stderr
