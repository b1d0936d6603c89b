"""Stringer 2019 deposit files (.mat v5 and v7.3) in and out of the recording schema."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

import v1ann
from v1ann.errors import DataFileError, InvalidInputError, V1AnnWarning
from v1ann.io._matfile import write_mat
from v1ann.io.stringer import parse_deposit_name, presentation_order

VERSIONS = ["5", "7", "7.3"]  # v7 = v5 with compressed elements, as the deposit files


def _deposit_tree(rng, n_stimuli, n_repeats=2, n_neurons=6, n_blanks=3, n_spont=15):
    """The deposit's layout: 1-based istim, blanks = n_stimuli + 1, shuffled trials."""
    istim = np.concatenate([np.tile(np.arange(1, n_stimuli + 1), n_repeats), np.full(n_blanks, n_stimuli + 1)])
    istim = istim[rng.permutation(istim.size)].astype(float)
    return {
        "stim": {
            "resp": rng.standard_normal((istim.size, n_neurons)).astype(np.float32),
            "istim": istim.reshape(-1, 1),
            "spont": rng.standard_normal((n_spont, n_neurons)).astype(np.float32),
        },
        "med": rng.random((n_neurons, 3)) * 100,
        "stat": [{"redcell": float(i % 3 == 0), "npix": 50.0} for i in range(n_neurons)],
    }


@pytest.mark.parametrize("version", VERSIONS)
def test_natimg2800_deposit_file(tmp_path, rng, version):
    tree = _deposit_tree(rng, n_stimuli=2800, n_neurons=4, n_spont=10)
    path = tmp_path / "natimg2800_M170717_MP034_2017-09-11.mat"
    write_mat(path, tree, version=version)
    ds = v1ann.load_stringer(path)
    assert ds.attrs["stimulus_set"] == "natimg2800"
    assert ds.attrs["mouse"] == "M170717_MP034" and ds.attrs["date"] == "2017-09-11"
    assert ds.attrs["source"] == path.name
    np.testing.assert_array_equal(ds["trial_response"].values, tree["stim"]["resp"])
    np.testing.assert_array_equal(ds["stimulus"].values, tree["stim"]["istim"].ravel() - 1)
    assert int(ds["is_blank"].sum()) == 3
    np.testing.assert_allclose(np.stack([ds[c].values for c in "xyz"], 1), tree["med"])
    assert ds["is_interneuron"].values.tolist() == [True, False, False, True]
    np.testing.assert_array_equal(ds["spont"].values, tree["stim"]["spont"])
    responses = v1ann.stimulus_responses(ds)
    assert responses.shape == (2, 2800, 4)


@pytest.mark.parametrize("version", VERSIONS)
def test_ori32_orientation_and_extra_repeats(tmp_path, rng, version):
    tree = _deposit_tree(rng, n_stimuli=32, n_repeats=4, n_blanks=0)
    istim = tree["stim"]["istim"].ravel()
    istim[np.flatnonzero(istim == 5)[0]] = 6  # stimulus 4 (0-based) shown 3x, stimulus 5 shown 5x
    tree["stim"]["ori"] = (istim - 1) * 360 / 32
    path = tmp_path / "ori32_M170604_MP031_2017-06-28.mat"
    write_mat(path, tree, version=version)
    ds = v1ann.load_stringer(path)
    assert ds.attrs["stimulus_set"] == "ori32"
    np.testing.assert_allclose(ds["orientation"].values, tree["stim"]["ori"])
    with pytest.warns(V1AnnWarning, match="discarded 32 extra"):
        responses = v1ann.stimulus_responses(ds, trial_pairs=False)
    assert responses.shape == (3, 32, 6)
    # by default an ori32 file is paired as published: each image's presentations in two halves
    paired = v1ann.stimulus_responses(ds)
    assert paired.shape == (2, 30 * 2 + 1 + 2, 6) and paired.attrs["trial_pairs"] == 1


def test_other_deposit_names_follow_the_largest_id_is_blank_convention(tmp_path, rng):
    tree = _deposit_tree(rng, n_stimuli=7, n_blanks=2)
    path = tmp_path / "natimg2800_8D_M161025_MP030_2017-06-16.mat"
    write_mat(path, tree)
    ds = v1ann.load_stringer(path)
    assert int(ds["is_blank"].sum()) == 2 and ds.attrs["n_stimuli"] == 7
    assert int(v1ann.load_stringer(path, n_stimuli=8)["is_blank"].sum()) == 0


@pytest.mark.parametrize("version", VERSIONS)
def test_spontaneous_behaviour_deposit(tmp_path, rng, version):
    n_neurons, n_time = 5, 40
    tree = {
        "Fsp": rng.standard_normal((n_neurons, n_time)).astype(np.float32),
        "med": rng.random((n_neurons, 3)),
        "beh": {
            "runSpeed": rng.random(n_time),
            "pupil": {"area": rng.random(n_time)},
            "face": {"motionSVD": rng.standard_normal((n_time, 3))},
        },
    }
    path = tmp_path / "spont_M150824_MP019_2016-04-05.mat"
    write_mat(path, tree, version=version)
    ds = v1ann.load_stringer(path)
    assert ds["activity"].dims == ("time", "neuron")
    np.testing.assert_array_equal(ds["activity"].values, tree["Fsp"].T)
    np.testing.assert_allclose(ds["run_speed"].values, tree["beh"]["runSpeed"])
    np.testing.assert_allclose(ds["pupil_area"].values, tree["beh"]["pupil"]["area"])
    np.testing.assert_allclose(ds["face_motion"].values, tree["beh"]["face"]["motionSVD"])
    assert ds.attrs["stimulus_set"] == "spont" and ds.attrs["mouse"] == "M150824_MP019"
    out = tmp_path / "again.mat"
    v1ann.save_stringer_mat(ds, out, version=version)
    xr.testing.assert_identical(v1ann.load_stringer(out).assign_attrs(source=path.name), ds)


@pytest.mark.parametrize("version", VERSIONS)
def test_simulated_round_trip_keeps_everything(tmp_path, version):
    ds = v1ann.simulate_recording(1.1, n_stimuli=40, n_neurons=30, seed=4, n_blanks=2, n_spont=12)
    ds = ds.assign_coords(x=("neuron", np.arange(30.0)), y=("neuron", np.ones(30)), z=("neuron", np.zeros(30)))
    path = v1ann.save_stringer_mat(ds, tmp_path / "sim.mat", version=version)
    back = v1ann.load_stringer(path)
    assert not np.array_equal(back["stimulus"].values, ds["stimulus"].values)  # shuffled on disk
    xr.testing.assert_identical(v1ann.stimulus_responses(back).assign_attrs(source="simulated"), v1ann.stimulus_responses(ds))
    xr.testing.assert_identical(back["true_signal_spectrum"], ds["true_signal_spectrum"])
    assert back.attrs["true_alpha"] == 1.1 and back.attrs["stimulus_set"] == "simulated"


def test_v73_opens_lazily_chunked_over_neurons(tmp_path):
    ds = v1ann.simulate_recording(1.0, n_stimuli=60, n_neurons=50, seed=0)
    path = v1ann.save_stringer_mat(ds, tmp_path / "big.mat", version="7.3")
    lazy = v1ann.load_stringer(path, lazy=True)
    data = lazy["trial_response"].data
    assert type(data).__module__.startswith("dask")
    assert data.chunks[0] == (ds.sizes["trial"],)  # every chunk holds all trials
    responses = v1ann.stimulus_responses(lazy)
    assert type(responses.data).__module__.startswith("dask")
    np.testing.assert_array_equal(responses.values, v1ann.stimulus_responses(ds).values)


def test_presentation_order_keeps_repeat_order(rng):
    stimulus = np.repeat(np.arange(10), 3)
    order = presentation_order(stimulus, seed=1)
    shuffled = stimulus[order]
    assert not np.array_equal(shuffled, stimulus)
    for s in range(10):
        assert np.all(np.diff(order[shuffled == s]) > 0)


def test_parse_deposit_name():
    assert parse_deposit_name("natimg2800_white_M170717_MP034_2017-09-11.mat") == {
        "stimulus_set": "natimg2800_white", "mouse": "M170717_MP034", "date": "2017-09-11"}
    assert parse_deposit_name("my_recording.mat") == {}


# ---------------------------------------------------------------- bad input


def test_missing_file(tmp_path):
    with pytest.raises(DataFileError, match="nothere.mat: no such file"):
        v1ann.load_stringer(tmp_path / "nothere.mat")


@pytest.mark.parametrize("version", VERSIONS)
def test_mat_without_stim(tmp_path, version):
    write_mat(tmp_path / "other.mat", {"data": np.ones((3, 3))}, version=version)
    with pytest.raises(DataFileError, match=r"other.mat: no 'stim' struct"):
        v1ann.load_stringer(tmp_path / "other.mat")


@pytest.mark.parametrize("version", VERSIONS)
def test_istim_length_differs_from_resp_rows(tmp_path, rng, version):
    tree = _deposit_tree(rng, n_stimuli=5)
    tree["stim"]["istim"] = tree["stim"]["istim"][:-1]
    write_mat(tmp_path / "short.mat", tree, version=version)
    with pytest.raises(DataFileError, match="short.mat: stim.istim has 12 entries but stim.resp has 13 rows"):
        v1ann.load_stringer(tmp_path / "short.mat")


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_nan_inf_responses(tmp_path, rng, bad):
    tree = _deposit_tree(rng, n_stimuli=5)
    tree["stim"]["resp"][2, 1] = bad
    write_mat(tmp_path / "nan.mat", tree)
    with pytest.raises(InvalidInputError, match="nan.mat: 1 neuron.*NaN/Inf.*drop_bad_neurons=True"):
        v1ann.load_stringer(tmp_path / "nan.mat")
    with pytest.warns(V1AnnWarning, match="dropped 1 of 6 neurons"):
        ds = v1ann.load_stringer(tmp_path / "nan.mat", drop_bad_neurons=True)
    assert ds.sizes["neuron"] == 5 and np.isfinite(ds["trial_response"].values).all()
    assert ds["is_interneuron"].size == 5 and ds["spont"].shape[1] == 5


def test_zero_variance_neurons(tmp_path, rng):
    tree = _deposit_tree(rng, n_stimuli=5)
    tree["stim"]["resp"][:, [0, 4]] = 0.0
    write_mat(tmp_path / "flat.mat", tree)
    with pytest.raises(InvalidInputError, match="flat.mat: .*2 zero-variance neuron"):
        v1ann.load_stringer(tmp_path / "flat.mat")
    with pytest.warns(V1AnnWarning, match="dropped 2 of 6"):
        assert v1ann.load_stringer(tmp_path / "flat.mat", drop_bad_neurons=True).sizes["neuron"] == 4


def test_every_stimulus_shown_once(tmp_path, rng):
    tree = _deposit_tree(rng, n_stimuli=8, n_repeats=1)
    write_mat(tmp_path / "once.mat", tree)
    ds = v1ann.load_stringer(tmp_path / "once.mat", n_stimuli=8)
    with pytest.raises(InvalidInputError, match="once.mat: no stimulus was shown at least 2 times"):
        v1ann.stimulus_responses(ds)


def test_writer_leaves_input_alone_and_rejects_bad_version(tmp_path):
    ds = v1ann.simulate_recording(1.0, n_stimuli=10, n_neurons=5, seed=0)
    before = ds.copy(deep=True)
    v1ann.save_stringer_mat(ds, tmp_path / "a.mat")
    xr.testing.assert_identical(ds, before)
    with pytest.raises(InvalidInputError, match="version"):
        v1ann.save_stringer_mat(ds, tmp_path / "b.mat", version="6")
    assert not (tmp_path / "b.mat").exists()


@pytest.mark.parametrize("version", VERSIONS)
def test_stimulus_images(tmp_path, rng, version):
    imgs = rng.integers(0, 256, (68, 270, 4)).astype(np.uint8)
    path = tmp_path / "images_natimg2800_all.mat"
    write_mat(path, {"imgs": imgs}, version=version)
    images = v1ann.load_stimulus_images(path)
    assert images.dims == ("stimulus", "y", "x") and images.shape == (4, 68, 270)
    np.testing.assert_array_equal(images.sel(stimulus=2).values, imgs[:, :, 2])
    assert images.attrs["source"] == path.name


def test_stimulus_images_bad_files(tmp_path):
    write_mat(tmp_path / "noimgs.mat", {"other": np.ones((2, 2))})
    with pytest.raises(DataFileError, match="noimgs.mat: no 'imgs'"):
        v1ann.load_stimulus_images(tmp_path / "noimgs.mat")
    # a 2-D imgs is one image squeezed by MATLAB (tests/test_io_edge_cases.py); 4-D is no image set
    write_mat(tmp_path / "flat.mat", {"imgs": np.ones((5, 5, 2, 2))})
    with pytest.raises(DataFileError, match="flat.mat: imgs has shape"):
        v1ann.load_stimulus_images(tmp_path / "flat.mat")
    with pytest.raises(DataFileError, match="no such file"):
        v1ann.load_stimulus_images(tmp_path / "absent.mat")
