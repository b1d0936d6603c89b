"""The figures of the ``v1ann demo`` report, drawn from the results of :func:`v1ann.experiments.demo.run`."""

from __future__ import annotations

from pathlib import Path

from v1ann.plot._style import new_figure, save_figure
from v1ann.plot.fit import powerlaw_fit
from v1ann.plot.robustness import accuracy_vs_eps
from v1ann.plot.spectra import alpha_by_layer, spectra
from v1ann.plot.training import layer_spectrum_vs_target, training_history


def save_demo_figures(results: dict, config, folder: Path) -> list[Path]:
    """Draw every figure the demo's results allow into ``folder``; returns the paths written.

    ``results`` is the demo pipeline's dict (keys ``brain_fit``, ``reference_fit``,
    ``histories``, ``digit_spectra``, ``robustness``, ``layer_fits``, ``comparison``);
    a figure whose results are missing (a skipped stage) is not drawn.
    """
    written = []
    for name, draw in _figures(results, config).items():
        written.append(save_figure(draw(), Path(folder) / name))
    return written


def _figures(r: dict, config) -> dict:
    figures = {}
    if "brain_fit" in r:
        figures["brain_spectrum.png"] = lambda: _brain(r, config)
    if "comparison" in r:
        brain = {"brain (simulated)": r["brain_fit"]}
        figures["network_spectra.png"] = lambda: spectra(brain, r["layer_fits"], title="Brain and network spectra")
        figures["alpha_by_layer.png"] = lambda: alpha_by_layer(r["comparison"], title="Exponent by network and layer")
    if "histories" in r:
        figures["training_history.png"] = lambda: training_history(r["histories"]["matched"], title="matched network")
        figures["layer_spectrum_vs_target.png"] = lambda: layer_spectrum_vs_target(
            r["digit_spectra"], r["brain_fit"], tau=config.tau, title="Hidden layer on test digits")
    for name, result in r.get("robustness", {}).items():
        figures[f"robustness_{name}.png"] = lambda result=result, name=name: _robustness(result, name)
    return figures


def _brain(r: dict, config):
    fig, axes = new_figure(ncols=2, width=5.0, height=4.0)
    powerlaw_fit(r["brain_fit"], ax=axes[0], title=f"simulated recording (true alpha {config.true_alpha:g})")
    powerlaw_fit(r["reference_fit"], ax=axes[1], title="Stringer et al. 2019 (real, published)")
    return fig


def _robustness(result, name: str):
    fig = accuracy_vs_eps(result)
    ax = fig.axes[0]
    ax.set_title(f"{name} network, {ax.get_title()}" if ax.get_title() else f"{name} network")
    return fig
