"""Preprocessing steps against a direct numpy computation of the paper's recipe."""

from __future__ import annotations

import numpy as np
import pytest

import v1ann
from v1ann.errors import InvalidInputError
from v1ann.recording.preprocessing import (
    mean_center,
    spont_pcs,
    subtract_spont_pcs,
    zscore_by_spont,
)
from v1ann.recording.schema import make_recording


def _recording(rng, n_neurons=40, n_time=60):
    n_stimuli, n_repeats = 25, 2
    stimulus = np.concatenate([np.tile(np.arange(n_stimuli), n_repeats), [n_stimuli] * 4])
    # Shared slow fluctuations make the spontaneous PCs meaningful.
    latent = rng.standard_normal((stimulus.size + n_time, 5)) @ rng.standard_normal((5, n_neurons))
    data = 3.0 + 2.0 * latent + rng.standard_normal((stimulus.size + n_time, n_neurons))
    return make_recording(
        data[: stimulus.size], stimulus, n_stimuli=n_stimuli, spont=data[stimulus.size :], attrs={"source": "toy.mat"}
    )


def _paper_recipe(resp, spont, blank, k):
    """Stringer et al. 2019, written out in numpy (float64)."""
    resp, spont = resp.astype(np.float64), spont.astype(np.float64)
    mu, sd = spont.mean(0), spont.std(0)
    resp, spont = (resp - mu) / sd, (spont - mu) / sd
    centred = spont - spont.mean(0)
    _, vecs = np.linalg.eigh(centred.T @ centred)
    u = vecs[:, ::-1][:, :k]
    resp = resp - resp @ u @ u.T
    return resp - resp[~blank].mean(0)


@pytest.mark.parametrize("n_neurons, n_time", [(40, 60), (40, 30)])  # both Gram-matrix branches
def test_preprocess_matches_the_paper_recipe(rng, n_neurons, n_time):
    ds = _recording(rng, n_neurons, n_time)
    before = ds["trial_response"].values.copy()
    out = v1ann.preprocess(ds, n_spont_pcs=4)
    expected = _paper_recipe(ds["trial_response"].values, ds["spont"].values, ds["is_blank"].values, 4)
    np.testing.assert_allclose(out["trial_response"].values, expected, rtol=1e-4, atol=1e-4)
    assert out.attrs["preprocessing"] == ["zscore_by_spont", "subtract_spont_pcs(n=4)", "mean_center"]
    assert ds.attrs["preprocessing"] == []
    np.testing.assert_array_equal(ds["trial_response"].values, before)  # input untouched


def test_each_step_alone(rng):
    ds = _recording(rng)
    resp, spont = ds["trial_response"].values.astype(float), ds["spont"].values.astype(float)
    z = zscore_by_spont(ds)
    np.testing.assert_allclose(z["trial_response"].values, (resp - spont.mean(0)) / spont.std(0), rtol=1e-5)
    np.testing.assert_allclose(z["spont"].values.mean(0), 0, atol=1e-5)

    c = mean_center(ds)
    shown = ~ds["is_blank"].values
    np.testing.assert_allclose(c["trial_response"].values, resp - resp[shown].mean(0), rtol=1e-5, atol=1e-5)
    assert c.attrs["preprocessing"] == ["mean_center"]

    p = subtract_spont_pcs(ds, 3)
    u = spont_pcs(ds["spont"], 3)
    np.testing.assert_allclose(u.T @ u, np.eye(3), atol=1e-10)
    np.testing.assert_allclose(p["trial_response"].values @ u, 0, atol=1e-3)


def test_no_step_leaves_data_alone(rng):
    ds = _recording(rng)
    out = v1ann.preprocess(ds, zscore=False, n_spont_pcs=0, center=False)
    np.testing.assert_array_equal(out["trial_response"].values, ds["trial_response"].values)
    assert out.attrs["preprocessing"] == []


def test_lazy_recording_gives_the_same_result(rng):
    da = pytest.importorskip("dask.array")
    ds = _recording(rng)
    lazy = ds.copy()
    lazy["trial_response"] = (("trial", "neuron"), da.from_array(ds["trial_response"].values, chunks=(54, 7)))
    out = v1ann.preprocess(lazy, n_spont_pcs=4)
    assert v1ann.recording.schema.is_lazy(out["trial_response"])
    np.testing.assert_allclose(out["trial_response"].values, v1ann.preprocess(ds, n_spont_pcs=4)["trial_response"].values, rtol=1e-4, atol=1e-5)


def test_bad_requests_raise(rng):
    ds = _recording(rng)
    with pytest.raises(InvalidInputError, match="toy.mat has no spontaneous"):
        v1ann.preprocess(ds.drop_vars("spont"))
    with pytest.raises(InvalidInputError, match="n_spont_pcs=500"):
        v1ann.preprocess(ds, n_spont_pcs=500)
    flat = ds.copy()
    spont = ds["spont"].values.copy()
    spont[:, 0] = 1.0
    flat["spont"] = (("time", "neuron"), spont)
    with pytest.raises(InvalidInputError, match="1 neuron"):
        zscore_by_spont(flat)


def test_the_paper_pipeline_drops_red_cells_unless_asked_not_to():
    ds = v1ann.simulate_recording(1.0, n_stimuli=40, n_neurons=10, n_spont=50, seed=0)
    red = np.zeros(10, dtype=bool)
    red[[2, 7]] = True
    ds = ds.assign_coords(is_interneuron=("neuron", red))
    out = v1ann.preprocess(ds, n_spont_pcs=2)
    assert out.sizes["neuron"] == 8 and not out["is_interneuron"].values.any()
    assert out.attrs["preprocessing"][0] == "drop_interneurons"
    kept = v1ann.preprocess(ds, n_spont_pcs=2, drop_red_cells=False)
    assert kept.sizes["neuron"] == 10 and "drop_interneurons" not in kept.attrs["preprocessing"]
    assert ds.sizes["neuron"] == 10  # the input is untouched
