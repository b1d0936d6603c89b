"""zarr stores: lossless, chunked over neurons, lazy, atomic."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

import v1ann
from v1ann.errors import DataFileError

pytest.importorskip("zarr")


def _recording():
    ds = v1ann.simulate_recording(1.3, n_stimuli=30, n_neurons=40, seed=2, n_blanks=2, n_spont=9)
    return ds.assign_coords(x=("neuron", np.arange(40.0)), is_interneuron=("neuron", np.arange(40) % 5 == 0))


def test_round_trip_is_identical_and_lazy(tmp_path):
    ds = _recording()
    path = v1ann.save_zarr(ds, tmp_path / "rec.zarr", chunk_bytes=64 * 4 * 16)
    back = v1ann.load_zarr(path)
    data = back["trial_response"].data
    assert type(data).__module__.startswith("dask")
    assert data.chunks == ((64,), (16, 16, 8))  # all trials x blocks of neurons
    xr.testing.assert_identical(back.compute(), ds)
    np.testing.assert_array_equal(v1ann.stimulus_responses(back).values, v1ann.stimulus_responses(ds).values)


def test_lazy_recording_is_written_chunk_by_chunk_and_resaved(tmp_path):
    ds = _recording()
    first = v1ann.load_zarr(v1ann.save_zarr(ds, tmp_path / "a.zarr"))
    second = v1ann.load_zarr(v1ann.save_zarr(first, tmp_path / "b.zarr", chunk_bytes=64 * 4 * 8))
    assert second["trial_response"].data.chunks[1][0] == 8
    xr.testing.assert_identical(second.compute(), ds)


def test_overwrite_is_atomic(tmp_path):
    path = tmp_path / "rec.zarr"
    v1ann.save_zarr(_recording(), path)
    with pytest.raises(v1ann.V1AnnError):
        v1ann.save_zarr(xr.Dataset({"a": ("x", [1.0])}), path)  # invalid: old store stays
    xr.testing.assert_identical(v1ann.load_zarr(path).compute(), _recording())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rec.zarr"]


def test_missing_store(tmp_path):
    with pytest.raises(DataFileError, match="none.zarr: no such zarr store"):
        v1ann.load_zarr(tmp_path / "none.zarr")
