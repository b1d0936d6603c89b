"""Valid files that used to be refused, and bad values that used to pass, in the loaders."""

from __future__ import annotations

import numpy as np
import pytest

import v1ann
from v1ann.errors import DataFileError, InvalidInputError
from v1ann.io._matfile import write_mat


def test_a_one_neuron_recording_written_by_v1ann_loads_back(tmp_path):
    rec = v1ann.simulate_recording(alpha=1.0, n_stimuli=20, n_neurons=1, seed=0)
    loaded = v1ann.load_stringer(v1ann.save_stringer_mat(rec, tmp_path / "one.mat", version="7"))
    assert loaded.sizes["neuron"] == 1 and loaded.sizes["trial"] == rec.sizes["trial"]


def test_a_single_image_squeezed_by_matlab_is_one_image(tmp_path):
    write_mat(tmp_path / "img.mat", {"imgs": np.random.default_rng(0).random((6, 9))}, version="7")
    images = v1ann.load_stimulus_images(tmp_path / "img.mat")
    assert images.shape == (1, 6, 9)


def test_nan_pixels_are_refused(tmp_path):
    pixels = np.random.default_rng(0).random((6, 9, 3))
    pixels[2, 3, 1] = np.nan
    write_mat(tmp_path / "img.mat", {"imgs": pixels}, version="7")
    with pytest.raises(DataFileError, match="1 NaN/Inf pixel"):
        v1ann.load_stimulus_images(tmp_path / "img.mat")


def test_a_store_written_by_plain_to_zarr_loads(tmp_path):
    # xarray skips the all-False is_blank chunk: it reads back as the fill value, not as a truncation
    rec = v1ann.simulate_recording(alpha=1.0, n_stimuli=30, n_neurons=20, seed=0)
    rec.to_zarr(tmp_path / "plain.zarr")
    loaded = v1ann.load_zarr(tmp_path / "plain.zarr")
    assert not loaded["is_blank"].values.any() and loaded.sizes["neuron"] == 20


def test_a_truncated_v1ann_store_is_still_called_truncated(tmp_path):
    rec = v1ann.simulate_recording(alpha=1.0, n_stimuli=30, n_neurons=20, seed=0)
    path = v1ann.save_zarr(rec, tmp_path / "rec.zarr")
    chunk = next(p for p in (path / "trial_response").rglob("*") if p.is_file() and p.name != "zarr.json")
    chunk.unlink()
    with pytest.raises(DataFileError, match="truncated"):
        v1ann.load_zarr(path)


def test_three_dimensional_face_motion_is_refused_by_name():
    from v1ann.recording import make_spontaneous_recording

    with pytest.raises(InvalidInputError, match="face motion SVDs must be 2-D"):
        make_spontaneous_recording(np.random.default_rng(0).normal(size=(10, 3)), face_motion=np.ones((10, 2, 2)))


def test_a_stimulus_set_smaller_than_the_ids_is_refused_not_turned_into_blanks(tmp_path):
    rec = v1ann.simulate_recording(alpha=1.0, n_stimuli=40, n_neurons=30, seed=0)
    path = v1ann.save_stringer_mat(rec, tmp_path / "x.mat")
    with pytest.raises(InvalidInputError, match="stimulus set has 5 stimuli"):
        v1ann.load_stringer(path, n_stimuli=5)
    for bad in (-3, "abc", 2.5):
        with pytest.raises(InvalidInputError, match="n_stimuli"):
            v1ann.load_stringer(path, n_stimuli=bad)


def test_a_spectrum_whose_sum_overflows_is_fitted():
    fit = v1ann.fit_powerlaw(np.full(1000, 1e308) * np.arange(1, 1001.0) ** -1.0)
    assert abs(fit.alpha - 1.0) < 1e-9
