"""Eigenspectra (cvPCA, SVCA, PCA) and power-law fits.

Imported eagerly (not lazily like the top-level package): several functions share their
module's name (``cvpca``, ``svca``), and only an eager ``from .x import x`` guarantees the
package attribute is the function even after the module itself has been imported.
"""

from .broken import BrokenPowerLawFit, compare_powerlaw_models, fit_broken_powerlaw
from .cvpca import cvpca
from .estimate import estimate_alpha
from .gram import repeat_gram
from .pca import pca_spectrum
from .powerlaw import PowerLawFit, fit_powerlaw
from .svca import svca

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
