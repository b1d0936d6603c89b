"""Figures (matplotlib/seaborn): each function draws results it is given and returns the Figure."""

from v1ann.plot._style import save_figure
from v1ann.plot.fit import bias_study, powerlaw_fit
from v1ann.plot.robustness import (
    accuracy_vs_eps,
    measured_vs_target_alpha,
    robust_accuracy_vs_alpha,
)
from v1ann.plot.spectra import alpha_by_layer, spectra
from v1ann.plot.training import layer_spectrum_vs_target, training_history

__all__ = [
    "accuracy_vs_eps",
    "alpha_by_layer",
    "bias_study",
    "layer_spectrum_vs_target",
    "measured_vs_target_alpha",
    "powerlaw_fit",
    "robust_accuracy_vs_alpha",
    "save_figure",
    "spectra",
    "training_history",
]
