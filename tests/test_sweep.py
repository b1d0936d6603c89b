"""Sweeps on dask.distributed: the grid, the resumable store, a lost worker, a real tiny run."""

from __future__ import annotations

import math
import os
import time
from pathlib import Path

import dask
import distributed  # noqa: F401  (registers its config defaults before dask.config.set below)
import numpy as np
import pytest
import xarray as xr

from v1ann.errors import DataFileError, InvalidInputError, TrainingError, V1AnnWarning
from v1ann.experiments.sweeps import (
    ResultStore,
    RunPoint,
    expand_grid,
    summarize,
    sweep,
    train_and_evaluate,
)

# Tiny but real: the 8×8 digits, a 32-unit MLP, one epoch, a short attack.
TINY = dict(
    dataset="digits8x8",
    arch="mlp",
    epochs=1,
    eps=(0, 0.1),
    steps=3,
    n_eval=100,
    fit_range=(1, 20),
    batch_size=64,
    lr=1e-2,
    model_kwargs={"hidden": [32]},
)
GRID = {"target_alpha": [None, 2.0]}


def _stand_in(point, config):
    """A cheap runner with the shape of a real result (for the store and grid tests)."""
    return xr.Dataset(
        {"accuracy": (("attack", "eps"), np.full((1, 2), 0.5 + point.seed / 10))},
        coords={"attack": ["pgd"], "eps": [0.0, 0.1]},
    )


@pytest.fixture(scope="module")
def threads_client():
    """An in-process cluster: fast to start, enough for the store logic."""
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None) as cluster:
        with Client(cluster) as client:
            yield client


def test_grid_spans_product_and_collapses_vanilla():
    runs = expand_grid({"target_alpha": [None, 1, 2], "strength": [0.5, 1], "tau": 10}, seeds=2)
    ids = [r.run_id for r in runs]
    assert len(ids) == len(set(ids)) == (1 + 2 * 2) * 2
    vanilla = [r for r in runs if r.vanilla]
    assert [(r.strength, r.tau) for r in vanilla] == [(0.0, 0), (0.0, 0)]
    assert RunPoint(1.0, 1.0, 10, 0).run_id == "alpha=1|strength=1|tau=10|seed=0"
    listed = expand_grid([{"target_alpha": "vanilla"}, {"target_alpha": 3, "tau": 5}], seeds=[7])
    assert [r.run_id for r in listed] == ["vanilla|seed=7", "alpha=3|strength=1|tau=5|seed=7"]


@pytest.mark.parametrize(
    "grid, seeds, message",
    [
        ({"target_alpha": [-1]}, 1, "target_alpha"),
        ({"target_alpha": [1], "tau": [-1]}, 1, "tau"),
        ({"target_alpha": [1], "strength": [math.inf]}, 1, "strength"),
        ({"alpha": [1]}, 1, "unknown keys"),
        ({"target_alpha": [1]}, 0, "seeds"),
        ({"target_alpha": [1]}, [1, 1], "distinct"),
        ([], 1, "empty"),
    ],
)
def test_bad_grid_is_named(grid, seeds, message):
    with pytest.raises(InvalidInputError, match=message):
        expand_grid(grid, seeds)


@pytest.mark.parametrize("arch, model_kwargs, message", [
    ("cnn", {"hidden": [30, 40]}, "one dense hidden layer"),
    ("mlp", {"channels": [4]}, "channels applies to arch='cnn'"),
])
def test_a_size_the_architecture_cannot_take_fails_before_any_run(tmp_path, arch, model_kwargs, message):
    def refuse(point, config):
        raise AssertionError("a run was submitted")

    with pytest.raises(InvalidInputError, match=message):
        sweep(GRID, seeds=1, store=tmp_path / "s.nc", runner=refuse, progress=False,
              **(TINY | {"arch": arch, "model_kwargs": model_kwargs}))
    assert not (tmp_path / "s.nc").exists()


def test_rerun_skips_finished_runs_and_settings_must_match(tmp_path, threads_client):
    store = tmp_path / "sweep.nc"
    first = sweep(GRID, seeds=2, client=threads_client, store=store, runner=_stand_in, progress=False, **TINY)
    assert sorted(first["run"].values) == sorted(r.run_id for r in expand_grid(GRID, 2, default_strength=30.0))
    assert first["accuracy"].dims == ("run", "attack", "eps")
    assert np.isnan(first["target_alpha"].sel(run="vanilla|seed=0"))

    def refuse(point, config):
        raise AssertionError("a finished run was submitted again")

    again = sweep(GRID, seeds=2, client=None, store=store, runner=refuse, progress=False, **TINY)
    xr.testing.assert_identical(again, first)
    # a wider grid runs only the new points
    wider = sweep(GRID, seeds=3, client=threads_client, store=store, runner=_stand_in, progress=False, **TINY)
    assert wider.sizes["run"] == 6
    with pytest.raises(InvalidInputError, match="epochs"):
        sweep(GRID, seeds=2, store=store, runner=refuse, progress=False, **(TINY | {"epochs": 2}))


def test_zarr_store_and_damaged_store(tmp_path, threads_client):
    ds = sweep(GRID, seeds=1, client=threads_client, store=tmp_path / "s.zarr", runner=_stand_in,
               progress=False, **TINY)
    assert ds.sizes["run"] == 2 and (tmp_path / "s.zarr").is_dir()
    (tmp_path / "bad.nc").write_bytes(b"not a netcdf file")
    with pytest.raises(DataFileError, match="bad.nc"):
        sweep(GRID, seeds=1, store=tmp_path / "bad.nc", runner=_stand_in, progress=False, **TINY)


def test_failures_are_reported_not_stored(tmp_path, threads_client):
    def flaky(point, config):
        if point.vanilla:
            raise RuntimeError("diverged")
        return _stand_in(point, config)

    with pytest.warns(V1AnnWarning, match="2 of 4 runs failed.*diverged"):
        ds = sweep(GRID, seeds=2, client=threads_client, store=tmp_path / "s.nc", runner=flaky, progress=False, **TINY)
    assert not ds["vanilla"].any() and ds.sizes["run"] == 2

    def broken(point, config):
        raise RuntimeError("bug")

    with pytest.raises(TrainingError, match="4 of 4"):
        sweep(GRID, seeds=2, client=threads_client, store=tmp_path / "t.nc", runner=broken, progress=False, **TINY)
    assert not (tmp_path / "t.nc").exists()


def test_store_keeps_each_run_once(tmp_path):
    store = ResultStore(tmp_path / "s.nc", {"a": 1})
    point = RunPoint(1.0, 1.0, 10, 0)
    store.append(point, _stand_in(point, {}))
    store.append(point, _stand_in(point, {}))  # e.g. a result recomputed after a lost worker
    assert ResultStore(tmp_path / "s.nc", {"a": 1}).dataset().sizes["run"] == 1


def _dies_once_others_finished(marker_dir, store, victim):
    """A runner that kills its worker process on ``victim`` once the store holds a finished run."""

    def runner(point, config):
        Path(marker_dir, f"{point.run_id.replace('|', '_')}-{os.getpid()}-{time.time_ns()}").touch()
        if point.run_id == victim:
            while not Path(store).exists():
                time.sleep(0.05)
            os._exit(1)  # a crash: no exception, no cleanup
        return train_and_evaluate(point, config)

    return runner


def _calls(marker_dir) -> list[str]:
    return sorted(name.rsplit("-", 2)[0] for name in os.listdir(marker_dir))


@pytest.mark.slow
def test_killed_sweep_resumes_with_every_run_stored_once(tmp_path):
    """2×2 real runs on a 2-process LocalCluster; a worker dies mid-sweep; the rerun completes it."""
    store = tmp_path / "sweep.nc"
    first_calls, second_calls = tmp_path / "first", tmp_path / "second"
    first_calls.mkdir()
    second_calls.mkdir()
    victim = "alpha=2|strength=30|tau=10|seed=1"
    # allowed-failures 0: the scheduler gives up on a task after one dead worker instead of
    # retrying it. One worker per run: each sweep task has its own key prefix, so the
    # scheduler never queues them and with two workers it assigned two runs to each at
    # once; a run waiting behind the victim then died with it (seen in CI, "2 of 4").
    with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
        with pytest.warns(V1AnnWarning, match=r"1 of 4 runs failed.*KilledWorker"):
            partial = sweep(
                GRID, seeds=2, store=store, workers=4, progress=False,
                runner=_dies_once_others_finished(first_calls, store, victim), **TINY,
            )
    assert victim not in partial["run"].values and partial.sizes["run"] == 3

    final = sweep(
        GRID, seeds=2, store=store, workers=2, progress=False,
        runner=_dies_once_others_finished(second_calls, store, victim="none"), **TINY,
    )
    assert _calls(second_calls) == [victim.replace("|", "_")]  # only the lost run ran again
    ids = list(final["run"].values)
    assert sorted(ids) == sorted(r.run_id for r in expand_grid(GRID, 2, default_strength=30.0)) and len(set(ids)) == 4
    reread = xr.load_dataset(store, engine="h5netcdf")
    assert sorted(reread["run"].values) == sorted(ids)
    # every run is a real result: trained, measured, attacked
    assert (final["clean_accuracy"] > 0.5).all()
    assert np.isfinite(final["alpha"]).all() and final["alpha"].dims == ("run", "layer")
    assert (final["accuracy"].sel(eps=0) == final["clean_accuracy"]).all()
    assert final["history_train_loss"].sizes["epoch"] == 1
    assert all(isinstance(c, str) and c for c in final["attack_checks"].values.tolist())


def _synthetic_store(path) -> xr.Dataset:
    """A sweep store whose numbers are known: accuracy and alpha follow the target."""
    store = ResultStore(path, {"fit_range": [10, 500]})
    eps = [0.0, 0.1, 0.2]
    for point in expand_grid({"target_alpha": [None, 1, 3]}, seeds=2):
        a = 0.0 if point.vanilla else point.target_alpha
        clean = 0.9 + 0.01 * point.seed
        accuracy = [[clean * (1 - e * (3 - a / 2)) for e in eps], [clean * (1 - e * (4 - a / 2)) for e in eps]]
        store.append(point, xr.Dataset(
            {
                "accuracy": (("attack", "eps"), accuracy),
                "clean_accuracy": ((), clean),
                "alpha": ("layer", [1.5 if point.vanilla else 0.9 * a]),
            },
            coords={"attack": ["fgsm", "pgd"], "eps": eps, "layer": ["act1"]},
        ))
    return store.dataset()


def test_summary_is_mean_and_sd_over_seeds(tmp_path):
    table = summarize(_synthetic_store(tmp_path / "s.nc"))
    assert list(table.index) == ["vanilla", "alpha=1|strength=1|tau=10", "alpha=3|strength=1|tau=10"]
    assert (table["n_seeds"] == 2).all()
    np.testing.assert_allclose(table["clean_accuracy"], 0.905)
    np.testing.assert_allclose(table["clean_accuracy_sd"], np.std([0.9, 0.91], ddof=1))
    np.testing.assert_allclose(table["alpha"], [1.5, 0.9, 2.7])
    np.testing.assert_allclose(table.loc["alpha=3|strength=1|tau=10", "pgd@0.1"], 0.905 * (1 - 0.1 * 2.5))
    assert "pgd@0" not in table.columns  # eps = 0 is the sanity point, not a result


def test_figures_of_a_sweep(tmp_path):
    from matplotlib.figure import Figure

    from v1ann.plot.robustness import (
        accuracy_vs_eps,
        measured_vs_target_alpha,
        robust_accuracy_vs_alpha,
    )

    results = _synthetic_store(tmp_path / "s.nc")
    assert len(accuracy_vs_eps(results).axes) == 2
    assert isinstance(robust_accuracy_vs_alpha(results, eps=0.1), Figure)
    assert isinstance(measured_vs_target_alpha(results), Figure)
    single = xr.Dataset({"accuracy": results["accuracy"].isel(run=0, drop=True)}, attrs={"n_samples": 10})
    assert len(accuracy_vs_eps(single).axes) == 1
    with pytest.raises(InvalidInputError, match="eps=0.15"):
        robust_accuracy_vs_alpha(results, eps=0.15)
    with pytest.raises(InvalidInputError, match="sweep store"):
        measured_vs_target_alpha(single)
    import matplotlib.pyplot as plt

    plt.close("all")
