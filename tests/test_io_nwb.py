"""NWB round trips through real files written with pynwb."""

from __future__ import annotations

import datetime
import warnings

import numpy as np
import pytest
import xarray as xr

import v1ann
from v1ann.errors import DataFileError
from v1ann.recording.schema import make_spontaneous_recording

pynwb = pytest.importorskip("pynwb")


def _recording():
    ds = v1ann.simulate_recording(1.0, n_stimuli=25, n_neurons=12, seed=0, n_blanks=2, n_spont=8)
    return ds.assign_coords(
        x=("neuron", np.arange(12.0)), y=("neuron", np.arange(12.0) + 0.5), z=("neuron", np.zeros(12)),
        is_interneuron=("neuron", np.arange(12) % 4 == 0),
    ).assign_attrs(mouse="M170717_MP034", date="2017-09-11")


@pytest.mark.parametrize("lazy", [False, True])
def test_stimulus_recording_round_trip(tmp_path, lazy):
    ds = _recording()
    path = v1ann.save_nwb(ds, tmp_path / "rec.nwb")
    back = v1ann.load_nwb(path, lazy=lazy)
    assert v1ann.recording.schema.is_lazy(back["trial_response"]) == lazy
    assert back.attrs["source"] == "rec.nwb"
    xr.testing.assert_identical(back.compute().assign_attrs(source=ds.attrs["source"]), ds)


def test_spontaneous_recording_round_trip(tmp_path, rng):
    ds = make_spontaneous_recording(
        rng.standard_normal((30, 6)), run_speed=rng.random(30), pupil_area=rng.random(30),
        face_motion=rng.random((30, 2)), attrs={"stimulus_set": "spont", "source": "s"},
    )
    back = v1ann.load_nwb(v1ann.save_nwb(ds, tmp_path / "spont.nwb"))
    xr.testing.assert_identical(back.assign_attrs(source="s"), ds)


def _foreign_file(path, rng, container="Fluorescence"):
    """An NWB file as another lab would write it: continuous fluorescence + a trials table."""
    from pynwb.ophys import DfOverF, Fluorescence, ImageSegmentation, OpticalChannel

    nwb = pynwb.NWBFile(
        session_description="gratings", identifier="abc",
        session_start_time=datetime.datetime(2020, 5, 17, 9, 30, tzinfo=datetime.timezone.utc),
        subject=pynwb.file.Subject(subject_id="mouse7", species="Mus musculus"),
    )
    device = nwb.create_device(name="scope")
    plane = nwb.create_imaging_plane(
        name="plane", optical_channel=OpticalChannel(name="g", description="g", emission_lambda=510.0),
        description="V1", device=device, excitation_lambda=920.0, indicator="GCaMP6s", location="V1",
    )
    module = nwb.create_processing_module(name="ophys", description="ophys")
    segmentation = ImageSegmentation()
    module.add(segmentation)
    rois = segmentation.create_plane_segmentation(name="cells", description="cells", imaging_plane=plane)
    for i in range(3):
        rois.add_roi(pixel_mask=[(i, 2 * i, 1.0), (i + 2, 2 * i, 1.0)])
    region = rois.create_roi_table_region(region=[0, 1, 2], description="all")
    holder = (Fluorescence if container == "Fluorescence" else DfOverF)(name=container)
    module.add(holder)
    times = np.arange(0, 12, 0.1)
    data = rng.standard_normal((times.size, 3)).astype(np.float32)
    holder.create_roi_response_series(name="f", data=data, rois=region, unit="a.u.", timestamps=times)
    nwb.add_trial_column("image_id", "0-based image")
    for k in range(6):
        nwb.add_trial(start_time=2.0 * k, stop_time=2.0 * k + 1.0, image_id=k % 3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pynwb.NWBHDF5IO(str(path), "w") as io:
            io.write(nwb)
    return times, data


@pytest.mark.parametrize("container", ["Fluorescence", "DfOverF"])
def test_foreign_file_with_continuous_series(tmp_path, rng, container):
    path = tmp_path / "foreign.nwb"
    times, data = _foreign_file(path, rng, container)
    ds = v1ann.load_nwb(path)
    assert ds.attrs["mouse"] == "mouse7" and ds.attrs["date"] == "2020-05-17"
    assert ds["stimulus"].values.tolist() == [0, 1, 2, 0, 1, 2]
    in_trial = (times >= 2.0) & (times < 3.0)
    np.testing.assert_allclose(ds["trial_response"].values[1], data[in_trial].mean(0), rtol=1e-6)
    np.testing.assert_allclose(ds["x"].values, [1.0, 2.0, 3.0])  # pixel-mask centroids
    np.testing.assert_allclose(ds["y"].values, [0.0, 2.0, 4.0])
    assert "z" not in ds.coords
    assert v1ann.stimulus_responses(ds).shape == (2, 3, 3)


def test_missing_and_non_nwb_files(tmp_path):
    with pytest.raises(DataFileError, match="absent.nwb: no such file"):
        v1ann.load_nwb(tmp_path / "absent.nwb")
    (tmp_path / "text.nwb").write_text("not hdf5")
    with pytest.raises(DataFileError, match="text.nwb: not an HDF5"):
        v1ann.load_nwb(tmp_path / "text.nwb")


def test_file_without_trials_or_series(tmp_path, rng):
    path = tmp_path / "foreign.nwb"
    _foreign_file(path, rng)
    with pytest.raises(DataFileError, match="foreign.nwb: no trials/epochs table with a column 'orientation'"):
        v1ann.load_nwb(path, stimulus_column="orientation")
    with pytest.raises(DataFileError, match="no RoiResponseSeries 'dff'"):
        v1ann.load_nwb(path, series="dff")
