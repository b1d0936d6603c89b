"""The recording schema: constructor checks, validation and stimulus_responses."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import xarray as xr

import v1ann
from v1ann.errors import InvalidInputError, V1AnnError, V1AnnWarning
from v1ann.recording.schema import (
    make_recording,
    make_spontaneous_recording,
    validate_recording,
)


def _recording(rng, n_stimuli=5, n_repeats=3, n_neurons=4, blanks=2):
    stimulus = np.concatenate([np.tile(np.arange(n_stimuli), n_repeats), np.full(blanks, n_stimuli)])
    response = rng.standard_normal((stimulus.size, n_neurons)).astype(np.float32)
    return response, stimulus


def test_make_recording_layout_and_blanks(rng):
    response, stimulus = _recording(rng)
    ds = make_recording(response, stimulus, n_stimuli=5, positions=rng.random((4, 3)), is_interneuron=[1, 0, 0, 1])
    assert ds["trial_response"].dims == ("trial", "neuron")
    assert ds["trial_response"].dtype == np.float32
    assert ds["is_blank"].values.sum() == 2
    assert set(ds["stimulus"].values[ds["is_blank"].values]) == {5}
    assert ds["is_interneuron"].values.tolist() == [True, False, False, True]
    assert {"x", "y", "z"} <= set(ds.coords)
    assert ds.attrs["preprocessing"] == []
    assert validate_recording(ds) is ds


def test_stimulus_responses_orders_repeats_by_presentation(rng):
    response, stimulus = _recording(rng)
    order = rng.permutation(stimulus.size)
    ds = make_recording(response[order], stimulus[order], n_stimuli=5)
    out = v1ann.stimulus_responses(ds)
    assert out.dims == ("repeat", "stimulus", "neuron")
    assert out.shape == (3, 5, 4)
    for s in range(5):
        trials = np.flatnonzero(stimulus[order] == s)  # presentation order of stimulus s
        np.testing.assert_array_equal(out.sel(stimulus=s).values, response[order][trials])


def test_stimulus_responses_drops_rare_stimuli_and_extra_repeats_with_one_warning(rng):
    # stimulus 0: 1 presentation (dropped); 1: 2; 2: 3 (one extra discarded)
    stimulus = np.array([0, 1, 2, 1, 2, 2])
    ds = make_recording(rng.standard_normal((6, 3)), stimulus)
    with pytest.warns(V1AnnWarning) as record:
        out = v1ann.stimulus_responses(ds)
    assert len(record) == 1
    message = str(record[0].message)
    assert "dropped 1 stimulus" in message and "discarded 1 extra presentation" in message
    assert out["stimulus"].values.tolist() == [1, 2]
    assert out.sizes["repeat"] == 2


def test_trial_pairs_turn_many_repeats_into_pseudo_stimuli_as_published(rng):
    # stimulus 0 shown 6 times, 1 shown 5 times (one presentation unpaired), interleaved with blanks
    stimulus = np.array([0, 1, 2, 0, 1, 0, 1, 2, 0, 1, 0, 1, 0])
    response = rng.standard_normal((stimulus.size, 3)).astype(np.float32)
    ds = make_recording(response, stimulus, n_stimuli=2, attrs={"stimulus_set": "natimg32"})
    out = v1ann.stimulus_responses(ds)  # "auto": natimg32 is paired
    assert out.shape == (2, 3 + 2, 3) and out.attrs["trial_pairs"] == 1
    assert out["image"].values.tolist() == [0, 0, 0, 1, 1] and out["pair"].values.tolist() == [0, 1, 2, 0, 1]
    for k, (image, j) in enumerate(zip(out["image"].values, out["pair"].values)):
        trials = np.flatnonzero(stimulus == image)
        half = trials.size // 2
        # presentation j against presentation half + j, in trial order (natimg32PCA.m)
        np.testing.assert_array_equal(out.values[:, k], response[[trials[j], trials[half + j]]])
    # the same recording unpaired keeps its images; another stimulus set is not paired by default
    with pytest.warns(V1AnnWarning, match="discarded 1 extra"):
        assert v1ann.stimulus_responses(ds, trial_pairs=False).shape[:2] == (5, 2)
    plain = make_recording(response, stimulus, n_stimuli=2)
    with pytest.warns(V1AnnWarning, match="discarded 1 extra"):
        assert "image" not in v1ann.stimulus_responses(plain).coords
    assert v1ann.stimulus_responses(plain, trial_pairs=True).shape == (2, 5, 3)
    with pytest.raises(InvalidInputError, match="trial_pairs"):
        v1ann.stimulus_responses(plain, trial_pairs="yes")


def test_stimulus_responses_without_drops_is_silent(rng):
    response, stimulus = _recording(rng)
    ds = make_recording(response, stimulus, n_stimuli=5)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        v1ann.stimulus_responses(ds)


def test_all_stimuli_with_one_repeat_raise(rng):
    ds = make_recording(rng.standard_normal((4, 3)), np.arange(4), attrs={"source": "one.mat"})
    with pytest.raises(InvalidInputError, match="one.mat.*at least 2"):
        v1ann.stimulus_responses(ds)


def test_nan_responses_raise_or_are_dropped_explicitly(rng):
    response, stimulus = _recording(rng)
    response[3, 1] = np.nan
    with pytest.raises(InvalidInputError, match="bad.mat.*NaN"):
        make_recording(response, stimulus, n_stimuli=5, source="bad.mat")
    with pytest.warns(V1AnnWarning, match="dropped 1 of 4 neurons"):
        ds = make_recording(response, stimulus, n_stimuli=5, drop_bad_neurons=True)
    assert ds.sizes["neuron"] == 3
    assert np.isnan(response[3, 1])  # the input is untouched


def test_zero_variance_neurons_raise_or_are_dropped(rng):
    response, stimulus = _recording(rng)
    response[:, 2] = 1.5
    with pytest.raises(InvalidInputError, match="1 zero-variance neuron"):
        make_recording(response, stimulus, n_stimuli=5)
    with pytest.warns(V1AnnWarning, match="zero-variance"):
        ds = make_recording(response, stimulus, n_stimuli=5, drop_bad_neurons=True, positions=np.ones((4, 3)))
    assert ds.sizes["neuron"] == 3 and ds["x"].size == 3


def test_stimulus_ids_must_match_rows(rng):
    with pytest.raises(InvalidInputError, match="3 entries but the response matrix has 4 rows"):
        make_recording(rng.standard_normal((4, 2)), [0, 1, 0])


def test_validate_rejects_non_recordings():
    with pytest.raises(InvalidInputError, match="xarray.Dataset"):
        validate_recording(np.zeros((3, 3)))
    with pytest.raises(InvalidInputError, match="neither"):
        validate_recording(xr.Dataset({"a": ("x", [1.0])}))
    with pytest.raises(V1AnnError):
        v1ann.stimulus_responses(make_spontaneous_recording(np.random.default_rng(0).standard_normal((5, 3))))


def test_lazy_nan_is_caught_naming_the_chunk(rng):
    da = pytest.importorskip("dask.array")
    response, stimulus = _recording(rng, n_neurons=6)
    response[0, 4] = np.inf
    ds = make_recording(da.from_array(response, chunks=(17, 3)), stimulus, n_stimuli=5, source="big.mat")
    out = v1ann.stimulus_responses(ds)  # lazy: nothing read yet
    with pytest.raises(InvalidInputError, match=r"big.mat.*chunk .*3:6"):
        out.values


def test_spontaneous_recording_layout(rng):
    ds = make_spontaneous_recording(
        rng.standard_normal((20, 5)), run_speed=np.ones(20), pupil_area=np.ones(20), face_motion=rng.random((20, 3))
    )
    assert ds["activity"].dims == ("time", "neuron")
    assert ds["face_motion"].dims == ("time", "face_pc")
    with pytest.raises(InvalidInputError, match="run_speed has 3 samples"):
        make_spontaneous_recording(rng.standard_normal((20, 5)), run_speed=np.ones(3))
