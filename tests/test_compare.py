"""v1ann.compare and v1ann.plot.spectra: one estimator for brain and layers, a table, two figures."""

from __future__ import annotations

import re
import runpy
import warnings
from pathlib import Path

import matplotlib.figure
import numpy as np
import pandas as pd
import pytest
import torch
import xarray as xr

import v1ann
from v1ann.errors import InvalidInputError, V1AnnWarning
from v1ann.experiments.comparison import COLUMNS, compare, fit_brain_and_layers
from v1ann.nn.activations import activations
from v1ann.nn.models import mlp
from v1ann.plot._style import save_figure
from v1ann.plot.spectra import alpha_by_layer, spectra

DOCS = Path(__file__).resolve().parents[1] / "docs" / "networks.md"
# ranks 5..60 lie inside every spectrum below; intervals only where a test looks at them
FIT = {"fit_range": (4, 60), "ci": None, "seed": 0, "progress": False}


def power_law_layer(alpha: float, n_stimuli: int = 150, n_units: int = 120, seed: int = 0, ids=None) -> xr.DataArray:
    """(stimulus, unit) activations whose PCA spectrum is exactly ``n**-alpha``."""
    rng = np.random.default_rng(seed)
    rank = min(n_stimuli - 1, n_units)
    basis = rng.standard_normal((n_stimuli, rank))
    basis -= basis.mean(axis=0)  # centred over stimuli, as PCA sees it
    u, _ = np.linalg.qr(basis)
    v, _ = np.linalg.qr(rng.standard_normal((n_units, rank)))
    values = (u * np.arange(1, rank + 1) ** (-alpha / 2)) @ v.T * np.sqrt(n_stimuli)
    ids = np.arange(n_stimuli) if ids is None else ids
    return xr.DataArray(values.astype(np.float64), dims=("stimulus", "unit"), coords={"stimulus": ids})


@pytest.fixture(scope="module")
def recording() -> xr.Dataset:
    return v1ann.simulate_recording(alpha=1.0, n_stimuli=150, n_neurons=400, noise_scale=0.5, seed=0)


@pytest.fixture(scope="module")
def layers() -> dict[str, xr.DataArray]:
    return {"steep": power_law_layer(1.6, seed=1), "flat": power_law_layer(0.7, seed=2)}


def test_table_columns_and_known_exponents(recording, layers):
    table = compare({"sim": recording}, layers, **FIT)
    assert isinstance(table, pd.DataFrame)
    assert tuple(table.columns) == COLUMNS == (
        "source", "layer", "kind", "alpha", "alpha_ci_low", "alpha_ci_high", "r2",
        "fit_lo", "fit_hi", "delta_alpha", "method", "n_stimuli", "n_units",
    )
    assert table["layer"].tolist() == ["brain", "steep", "flat"]
    assert table["kind"].tolist() == ["brain", "layer", "layer"]
    assert (table["source"] == "sim").all()
    rows = table.set_index("layer")
    # exact power laws: recovered to numerical precision
    assert rows.loc["steep", "alpha"] == pytest.approx(1.6, abs=1e-6)
    assert rows.loc["flat", "alpha"] == pytest.approx(0.7, abs=1e-6)
    assert rows.loc["steep", "r2"] == pytest.approx(1.0, abs=1e-9)
    brain_alpha = rows.loc["brain", "alpha"]
    assert rows.loc["brain", "delta_alpha"] == 0.0
    np.testing.assert_allclose(
        rows.loc[["steep", "flat"], "delta_alpha"], [1.6 - brain_alpha, 0.7 - brain_alpha], atol=1e-6
    )
    assert (table["fit_lo"] == 5).all() and (table["fit_hi"] == 60).all()
    assert rows.loc["brain", "n_units"] == 400 and rows.loc["steep", "n_units"] == 120
    assert (table["n_stimuli"] == 150).all()
    low, high = table["alpha_ci_low"], table["alpha_ci_high"]
    has_ci = low.notna()
    assert (low[has_ci] <= table["alpha"][has_ci]).all() and (table["alpha"][has_ci] <= high[has_ci]).all()


def test_shared_api_one_call_for_neurons_and_layers(recording):
    """The same ``v1ann.estimate_alpha`` call measures a recording and a network layer."""
    torch.manual_seed(0)
    model = mlp(hidden=(300, 200))
    images = torch.rand(150, 1, 28, 28, generator=torch.Generator().manual_seed(3))
    layer = activations(model, images, progress=False)["act1"]
    same_call = {**FIT, "ci": 0.9, "n_bootstrap": 10}
    fits = {name: v1ann.estimate_alpha(x, **same_call) for name, x in {"neurons": recording, "act1": layer}.items()}
    for fit in fits.values():
        assert isinstance(fit, v1ann.PowerLawFit) and np.isfinite(fit.alpha)
    table = compare({"sim": recording}, {"act1": layer}, **same_call).set_index("layer")
    # the same call, up to round-off: threaded LAPACK results depend on memory alignment
    # (1 ulp seen on a fresh clone); other random draws move alpha by ~1e-2
    for row, fit in (("brain", fits["neurons"]), ("act1", fits["act1"])):
        assert table.loc[row, "alpha"] == pytest.approx(fit.alpha, rel=1e-9)
        assert [table.loc[row, "alpha_ci_low"], table.loc[row, "alpha_ci_high"]] == pytest.approx(fit.alpha_ci,
                                                                                                  rel=1e-9)
        assert table.loc[row, "alpha_ci_low"] < table.loc[row, "alpha_ci_high"]
    assert table.loc["brain", "method"] == fits["neurons"].method
    assert table.loc["act1", "method"] == fits["act1"].method


def test_fits_are_used_as_given_and_match_measuring(recording, layers):
    brain_fit = v1ann.estimate_alpha(recording, **FIT)
    layer_fits = {name: v1ann.estimate_alpha(x, **FIT) for name, x in layers.items()}
    from_fits = compare(brain_fit, layer_fits)
    measured = compare(recording, layers, **FIT)
    pd.testing.assert_frame_equal(from_fits, measured)
    assert (from_fits["source"] == "brain").all()


def test_several_recordings_each_get_their_own_delta(recording, layers):
    steeper = v1ann.simulate_recording(alpha=1.5, n_stimuli=150, n_neurons=400, noise_scale=0.5, seed=1)
    table = compare({"a": recording, "b": steeper}, layers, **FIT)
    assert table["source"].tolist() == ["a"] * 3 + ["b"] * 3
    for source, rows in table.groupby("source"):
        brain = rows[rows["kind"] == "brain"]["alpha"].item()
        np.testing.assert_allclose(rows["delta_alpha"], rows["alpha"] - brain)
    alphas = table[table["kind"] == "brain"]["alpha"].to_numpy()
    assert alphas[1] > alphas[0]  # the steeper recording reads steeper


def test_layers_are_measured_on_the_recordings_stimuli(recording):
    wide = power_law_layer(1.2, n_stimuli=200, ids=np.arange(200))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # same stimuli after matching: nothing to warn about
        table = compare({"sim": recording}, {"wide": wide}, **FIT)
    assert table.set_index("layer").loc["wide", "n_stimuli"] == 150
    expected = v1ann.estimate_alpha(wide.sel(stimulus=np.arange(150)), **FIT).alpha
    assert table.set_index("layer").loc["wide", "alpha"] == pytest.approx(expected)
    with pytest.warns(V1AnnWarning, match="'sim' has 150 stimuli, 'wide' 200"):
        unmatched = compare({"sim": recording}, {"wide": wide}, match_stimuli=False, **FIT)
    assert unmatched.set_index("layer").loc["wide", "n_stimuli"] == 200


def test_different_stimuli_raise_one_warning(recording):
    elsewhere = power_law_layer(1.2, n_stimuli=150, ids=np.arange(1000, 1150))
    with pytest.warns(V1AnnWarning, match="different stimuli") as record:
        compare({"sim": recording}, {"a": elsewhere, "b": elsewhere}, **FIT)
    assert len([w for w in record if issubclass(w.category, V1AnnWarning)]) == 1
    assert "lacks 150" in str(record[0].message)


def test_layers_shorter_than_the_fit_range_are_fitted_to_their_last_rank_with_one_warning(recording, layers):
    narrow = {"narrow": power_law_layer(1.0, n_units=20), "tiny": power_law_layer(1.0, n_units=8)}
    with pytest.warns(V1AnnWarning, match=r"2 layer.s. have fewer ranks.*narrow ranks 5..20; tiny ranks 5..8") as record:
        table = compare({"sim": recording}, {**layers, **narrow}, **FIT).set_index("layer")
    assert len(record) == 1
    assert table.loc["narrow", "fit_hi"] == 20 and table.loc["steep", "fit_hi"] == FIT["fit_range"][1]
    assert table.loc["narrow", "alpha"] == pytest.approx(
        v1ann.estimate_alpha(narrow["narrow"], **{**FIT, "fit_range": (4, 20)}).alpha)


def test_layers_ending_before_the_fit_range_starts_are_left_out_with_one_warning(recording, layers):
    stubs = {"stub": power_law_layer(1.0, n_units=5), "dot": power_law_layer(1.0, n_units=3)}
    with pytest.warns(V1AnnWarning, match="2 layer.s. left out.*stub: 5 components < 6.*dot: 3") as record:
        table = compare({"sim": recording}, {**layers, **stubs}, **FIT)
    assert len(record) == 1
    assert table["layer"].tolist() == ["brain", "steep", "flat"]
    with pytest.raises(InvalidInputError, match="no layer has enough"), pytest.warns(V1AnnWarning):
        compare({"sim": recording}, stubs, **FIT)


def test_layers_as_dataset_and_single_dataarray(recording):
    ds = xr.Dataset({"x": power_law_layer(1.1, seed=4), "y": power_law_layer(0.9, seed=5)})
    assert compare(recording, ds, **FIT)["layer"].tolist() == ["brain", "x", "y"]
    named = power_law_layer(1.1, seed=4).rename("conv3")
    assert compare(recording, named, **FIT)["layer"].tolist() == ["brain", "conv3"]


def test_bad_inputs_name_the_culprit(recording, layers):
    with pytest.raises(InvalidInputError, match="layers must be"):
        compare(recording, [1, 2, 3])
    with pytest.raises(InvalidInputError, match="layers is empty"):
        compare(recording, {})
    with pytest.raises(InvalidInputError, match="brain is an empty dict"):
        compare({}, layers)
    with pytest.raises(InvalidInputError, match="brain 'brain'.*fit_range"):
        compare(recording, layers, **{**FIT, "fit_range": (200, 500)})  # 150 stimuli: the range starts past them
    with pytest.raises(InvalidInputError, match="layer 'bad'.*NaN"):
        compare(recording, {"bad": layers["flat"].where(layers["flat"] < 1e9, np.nan).fillna(np.nan) * np.nan},
                **FIT)
    with pytest.raises(InvalidInputError, match="DataFrame from v1ann.compare"):
        alpha_by_layer(pd.DataFrame({"alpha": [1.0]}))


def test_figures(recording, layers, tmp_path):
    brain_fits, layer_fits = fit_brain_and_layers({"sim": recording}, layers, **FIT)
    fig = spectra(brain_fits, layer_fits["sim"])
    assert isinstance(fig, matplotlib.figure.Figure)
    ax = fig.axes[0]
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert any(re.match(r"sim\s+α=\d\.\d\d", text) for text in labels)
    assert any(text.startswith("steep  α=1.60") for text in labels)
    assert len(ax.get_lines()) == 2 * 3  # spectrum + fitted line per curve
    save_figure(fig, tmp_path / "spectra.png")

    table = compare(brain_fits, layer_fits["sim"])
    fig = alpha_by_layer(table)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["steep", "flat"]
    save_figure(fig, tmp_path / "alpha.png")
    assert (tmp_path / "spectra.png").stat().st_size > 10_000 and (tmp_path / "alpha.png").stat().st_size > 10_000


def test_alpha_by_layer_with_several_recordings_and_cis():
    table = pd.DataFrame(
        {
            "source": ["a", "a", "a", "b", "b", "b"],
            "layer": ["brain", "l1", "l2"] * 2,
            "kind": ["brain", "layer", "layer"] * 2,
            "alpha": [1.0, 1.3, 0.8, 1.2, 1.3, 0.8],
            "alpha_ci_low": [0.9, 1.2, 0.7, 1.1, 1.2, 0.7],
            "alpha_ci_high": [1.1, 1.4, 0.9, 1.3, 1.4, 0.9],
        }
    )
    fig = alpha_by_layer(table)
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert labels == ["a  α=1.00 [0.90, 1.10]", "b  α=1.20 [1.10, 1.30]"]


def _example_code() -> str:
    text = DOCS.read_text()
    match = re.search(r"<!-- networks-example -->\s*```python\n(.*?)```", text, re.S)
    assert match, "docs/networks.md lost its marked example"
    return match.group(1)


def test_docs_example_runs_and_produces_table_and_figures(tmp_path, monkeypatch):
    """The notebook-sized example of docs/networks.md, as written there (CPU, well under a minute)."""
    monkeypatch.chdir(tmp_path)
    script = tmp_path / "example.py"
    script.write_text(_example_code())
    namespace = runpy.run_path(str(script), run_name="__main__")
    table = namespace["table"]
    assert tuple(table.columns) == COLUMNS
    assert (table["kind"] == "layer").sum() >= 2
    assert np.isfinite(table["alpha"]).all()
    for name in ("spectra.png", "alpha_by_layer.png"):
        assert (tmp_path / name).stat().st_size > 10_000
