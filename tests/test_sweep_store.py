"""The sweep store keeps every run exactly once, whatever the id lengths, across kills and resumes."""

from __future__ import annotations

import os

import numpy as np
import pytest
import xarray as xr

from v1ann.experiments.sweeps import ResultStore, RunPoint

CONFIG = {"epochs": 1}


def result(value: float) -> xr.Dataset:
    return xr.Dataset({"clean_accuracy": ((), value), "host": ((), "h")})


@pytest.mark.parametrize("suffix", [".nc", ".zarr"])
def test_ids_that_grow_across_invocations_are_stored_once_each(tmp_path, suffix):
    path = tmp_path / f"store{suffix}"
    waves = [
        [RunPoint(None, 0.0, 0, 0)],                                  # "vanilla|seed=0": 14 characters
        [RunPoint(1.0, 1.0, 10, 0), RunPoint(1.0, 1.0, 10, 1)],        # longer ids
        [RunPoint(1.0000001, 30.0, 10, 0), RunPoint(1.0000002, 30.0, 10, 0)],  # longer still, and close alphas
    ]
    expected = []
    for wave in waves:  # each wave is a new invocation: the store is read back from disk
        store = ResultStore(path, CONFIG)
        for point in wave:
            store.append(point, result(len(expected)))
            expected.append(point.run_id)
    stored = ResultStore(path, CONFIG).dataset()
    assert sorted(stored["run"].values.tolist()) == sorted(expected)
    assert len(set(expected)) == 5  # 1.0000001 and 1.0000002 are two runs
    np.testing.assert_array_equal(
        stored["clean_accuracy"].sel(run=expected).values, np.arange(len(expected), dtype=float)
    )


def test_a_directory_store_killed_between_its_two_renames_is_recovered(tmp_path, monkeypatch):
    path = tmp_path / "store.zarr"
    ResultStore(path, CONFIG).append(RunPoint(None, 0.0, 0, 0), result(0.5))
    real_replace = os.replace

    class Killed(BaseException):
        pass

    def killed_before_the_second_rename(src, dst):
        if os.fspath(dst) == os.fspath(path):  # the old store is aside; the new one not yet in place
            raise Killed
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", killed_before_the_second_rename)
    with pytest.raises(Killed):
        ResultStore(path, CONFIG).append(RunPoint(None, 0.0, 0, 1), result(0.7))
    monkeypatch.setattr(os, "replace", real_replace)
    assert not path.exists()  # what a kill at that instant leaves
    store = ResultStore(path, CONFIG)  # the next invocation finds the old store again
    assert store.dataset()["run"].values.tolist() == ["vanilla|seed=0"]
    store.append(RunPoint(None, 0.0, 0, 1), result(0.7))
    assert sorted(ResultStore(path, CONFIG).dataset()["run"].values.tolist()) == ["vanilla|seed=0", "vanilla|seed=1"]
