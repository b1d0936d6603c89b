"""Figures (matplotlib/seaborn). Each function returns the matplotlib Figure it drew.

Imported eagerly: ``spectra`` shares its module's name, and only an eager import keeps the
package attribute bound to the function after the module itself has been imported.
"""

from ._style import save_figure
from .fit import bias_study, powerlaw_fit
from .robustness import accuracy_vs_eps, measured_vs_target_alpha, robust_accuracy_vs_alpha
from .spectra import alpha_by_layer, spectra
from .training import layer_spectrum_vs_target, training_history

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
