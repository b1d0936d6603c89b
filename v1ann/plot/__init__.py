"""Figures (matplotlib/seaborn). Each function returns the matplotlib Figure it drew."""

from .._lazy import attach

__getattr__, __dir__, __all__ = attach(
    __name__,
    {
        # spectrum fits (v1ann/plot/fit.py)
        "powerlaw_fit": ".fit",
        "bias_study": ".fit",
        # brain vs network (v1ann/plot/spectra.py)
        "spectra": ".spectra",
        "alpha_by_layer": ".spectra",
        # training (v1ann/plot/training.py)
        "layer_spectrum_vs_target": ".training",
        "training_history": ".training",
        # robustness and sweeps (v1ann/plot/robustness.py)
        "accuracy_vs_eps": ".robustness",
        "robust_accuracy_vs_alpha": ".robustness",
        "measured_vs_target_alpha": ".robustness",
        "save_figure": "._style",
    },
)
