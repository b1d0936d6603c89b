"""Every figure v1ann draws, rendered at its default size and checked for what misleads a reader:
tick labels that overlap, a legend that hides data, a log axis stretched to rounding noise."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
import pytest
import torch
import xarray as xr
from matplotlib.figure import Figure

import v1ann
from v1ann import plot
from v1ann.experiments.sweeps import ResultStore, expand_grid

MAX_DECADES = 8  # a log axis wider than this shows float rounding, not data
MAX_HIDDEN = 0.03  # share of a curve's points a legend may cover


def _along(points: np.ndarray, step: float = 2.0) -> np.ndarray:
    """Points every ``step`` pixels along a polyline, so that a log axis's dense tail does not
    outweigh its head."""
    length = np.r_[0, np.cumsum(np.hypot(*np.diff(points, axis=0).T))]
    at = np.arange(0, length[-1] + step, step)
    return np.column_stack([np.interp(at, length, points[:, 0]), np.interp(at, length, points[:, 1])])


def check_readable(fig: Figure) -> None:
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    for ax in fig.axes:
        labels = [t for t in ax.get_xticklabels() if t.get_visible() and t.get_text()]
        boxes = [t.get_window_extent(renderer) for t in labels]
        for a, b in zip(boxes, boxes[1:]):
            assert not a.overlaps(b), f"x tick labels overlap in {ax.get_title()!r}"
        if ax.get_yscale() == "log":
            low, high = ax.get_ylim()
            assert high / low < 10**MAX_DECADES, f"y axis of {ax.get_title()!r} spans {np.log10(high / low):.0f} decades"
        legend = ax.get_legend()
        if legend is None:
            continue
        box = legend.get_window_extent(renderer)
        for line in ax.get_lines():
            xy = line.get_xydata()
            xy = xy[np.isfinite(xy).all(axis=1)]
            if len(xy) < 5 or line.get_label().startswith("_"):
                continue
            points = _along(line.get_transform().transform(xy))  # evenly in display space
            frame = ax.get_window_extent(renderer)
            points = points[(points[:, 0] >= frame.x0) & (points[:, 0] <= frame.x1)
                            & (points[:, 1] >= frame.y0) & (points[:, 1] <= frame.y1)]  # what is drawn
            if len(points) == 0:
                continue
            covered = (points[:, 0] >= box.x0) & (points[:, 0] <= box.x1) & (points[:, 1] >= box.y0) & (
                points[:, 1] <= box.y1)
            assert covered.mean() <= MAX_HIDDEN, (
                f"the legend of {ax.get_title()!r} hides {covered.mean():.0%} of {line.get_label()!r}")


@pytest.fixture(scope="module")
def recording():
    return v1ann.simulate_recording(1.0, n_stimuli=300, n_neurons=600, seed=1)


@pytest.fixture(scope="module")
def layers():
    torch.manual_seed(0)
    x = torch.randn(300, 50)
    out = {}
    for name, width in [("features.0.conv", 120), ("features.3.conv", 200), ("classifier.fc1", 150),
                        ("classifier.fc2", 80)]:
        x_layer = torch.tanh(x @ torch.randn(50, width))
        out[name] = xr.DataArray(x_layer.numpy(), dims=("stimulus", "unit"))
    return out


FIT = {"fit_range": (5, 100), "seed": 0, "progress": False}


@pytest.mark.parametrize("method", ["cvpca-matched", "cvpca"])
def test_fit_figure_of_a_recording(recording, method):
    check_readable(plot.powerlaw_fit(v1ann.estimate_alpha(recording, method=method, n_shuffles=3, **FIT)))


def test_fit_figure_of_a_layer_whose_tail_is_rounding_noise(layers):
    values = layers["classifier.fc2"].values
    tail = np.random.default_rng(0).normal(size=(300, 40)) * 1e-6  # ranks past 80: ~1e-13 of the first
    layer = xr.DataArray(np.hstack([values, tail]), dims=("stimulus", "unit"))
    fit = v1ann.estimate_alpha(layer, ci=None, **{**FIT, "fit_range": (5, 60)})
    check_readable(plot.powerlaw_fit(fit))


def test_fit_figure_of_the_published_spectrum():
    from v1ann._resources import stringer_reference_spectrum

    check_readable(plot.powerlaw_fit(v1ann.fit_powerlaw(stringer_reference_spectrum())))


def test_brain_and_layer_figures(recording, layers):
    kwargs = {**FIT, "ci": None}
    check_readable(plot.spectra({"sim": recording}, layers, **kwargs))
    check_readable(plot.alpha_by_layer(v1ann.compare({"sim": recording}, layers, **kwargs)))


def test_layer_spectrum_vs_target():
    ranks = np.arange(1, 1001.0)
    spectra = {"act1": ranks**-1.5, "act2": np.r_[ranks[:600] ** -1.0, np.full(400, 1e-19)]}
    check_readable(plot.layer_spectrum_vs_target(spectra, 1.5, tau=10))


def test_training_history():
    epochs = np.arange(1, 11)
    history = xr.Dataset(
        {
            "train_loss": ("epoch", 2.0 / epochs), "val_loss": ("epoch", 2.2 / epochs),
            "train_accuracy": ("epoch", 1 - 0.5 / epochs), "val_accuracy": ("epoch", 1 - 0.6 / epochs),
            "alpha": (("epoch", "layer"), np.c_[1 + 0.5 / epochs, 1.2 + 0.3 / epochs]),
        },
        coords={"epoch": epochs, "layer": ["act1", "act2"]},
        attrs={"target_alpha": 1.0},
    )
    check_readable(plot.training_history(history))


@pytest.fixture
def sweep_results(tmp_path):
    store = ResultStore(tmp_path / "s.nc", {"fit_range": [11, 500]})
    eps = [0.0, 0.05, 0.1, 0.2]
    for point in expand_grid({"target_alpha": [None, 0.5, 1, 2, 3]}, seeds=3):
        a = 1.5 if point.vanilla else point.target_alpha
        clean = 0.95 - 0.01 * point.seed
        accuracy = [[clean * np.exp(-e * (8 - a)) for e in eps], [clean * np.exp(-e * (10 - a)) for e in eps]]
        store.append(point, xr.Dataset(
            {"accuracy": (("attack", "eps"), accuracy), "clean_accuracy": ((), clean),
             "alpha": ("layer", [a * 0.95 + 0.02 * point.seed]), "alpha_fit_hi": ("layer", [500])},
            coords={"attack": ["fgsm", "pgd"], "eps": eps, "layer": ["act1"]},
        ))
    return store.dataset()


def test_sweep_figures(sweep_results):
    check_readable(plot.accuracy_vs_eps(sweep_results))
    check_readable(plot.robust_accuracy_vs_alpha(sweep_results, eps=0.1))
    check_readable(plot.measured_vs_target_alpha(sweep_results))


def test_measured_alpha_axis_names_the_ranks_actually_fitted(sweep_results):
    narrow = sweep_results.assign(alpha_fit_hi=sweep_results["alpha_fit_hi"] * 0 + 64)
    assert "ranks 12–64" in plot.measured_vs_target_alpha(narrow).axes[0].get_ylabel()
    assert "ranks 12–500" in plot.measured_vs_target_alpha(sweep_results).axes[0].get_ylabel()


def test_bias_study():
    rng = np.random.default_rng(0)
    rows = []
    for estimator in ("published", "cvpca-matched"):
        for true in (0.5, 1.0, 2.0):
            for ratio in (0.5, 1, 4):
                for _ in range(4):
                    hat = true * (0.85 if estimator == "published" else 1.0) + rng.normal(0, 0.02)
                    rows.append(dict(estimator=estimator, true_alpha=true, noise_ratio=ratio, n_neurons=2000,
                                     alpha_hat=hat, ci_low=hat - 0.05, ci_high=hat + 0.05))
    check_readable(plot.bias_study(pd.DataFrame(rows)))


def test_the_checker_catches_what_it_looks_for():
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(2, 2))
    ax.bar(range(6), range(6))
    ax.set_xticks(range(6), [f"a_very_long_layer_name_{i}" for i in range(6)])
    with pytest.raises(AssertionError, match="overlap"):
        check_readable(fig)
    fig, ax = plt.subplots()
    ax.loglog(np.arange(1, 100), np.arange(1, 100.0) ** -8.0)
    with pytest.raises(AssertionError, match="decades"):
        check_readable(fig)
    fig, ax = plt.subplots()
    ax.plot(np.linspace(0, 1, 50), np.linspace(1, 0, 50), label="data")
    ax.legend(loc="upper left", fontsize=40)
    with pytest.raises(AssertionError, match="hides"):
        check_readable(fig)
    plt.close("all")
