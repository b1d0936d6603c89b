"""Eigenspectra (cvPCA, SVCA, PCA) and power-law fits."""

from .._lazy import attach

__getattr__, __dir__, __all__ = attach(
    __name__,
    {
        "cvpca": ".cvpca",
        "svca": ".svca",
        "pca_spectrum": ".pca",
        "fit_powerlaw": ".powerlaw",
        "PowerLawFit": ".powerlaw",
        "fit_broken_powerlaw": ".broken",
        "BrokenPowerLawFit": ".broken",
        "compare_powerlaw_models": ".broken",
        "estimate_alpha": ".estimate",
        "repeat_gram": ".gram",
    },
)
