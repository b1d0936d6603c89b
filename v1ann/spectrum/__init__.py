"""Eigenspectra (cvPCA, SVCA, PCA) and power-law fits.

Function names shadow their modules (``cvpca``, ``svca``): the imports below bind the
functions, and modules are reached only through ``sys.modules``.
"""

from v1ann.spectrum.broken import (
    BrokenPowerLawFit,
    compare_powerlaw_models,
    fit_broken_powerlaw,
)
from v1ann.spectrum.cvpca import cvpca
from v1ann.spectrum.estimate import estimate_alpha
from v1ann.spectrum.gram import repeat_gram
from v1ann.spectrum.pca import pca_spectrum
from v1ann.spectrum.powerlaw import PowerLawFit, fit_powerlaw
from v1ann.spectrum.svca import svca

__all__ = [
    "BrokenPowerLawFit",
    "PowerLawFit",
    "compare_powerlaw_models",
    "cvpca",
    "estimate_alpha",
    "fit_broken_powerlaw",
    "fit_powerlaw",
    "pca_spectrum",
    "repeat_gram",
    "svca",
]
