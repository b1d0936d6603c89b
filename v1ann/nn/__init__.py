"""Networks beside the brain: activations, models, spectral regularizer, training, attacks.

Imported eagerly: ``activations``, ``train`` and ``robustness`` share their module's name,
and only an eager ``from .x import x`` keeps the package attribute bound to the function
after the module itself has been imported.
"""

from . import datasets, models
from .activations import activations
from .images import prepare_images
from .regularizer import SpectralRegularizer
from .robustness import robustness
from .train import train

__all__ = [
    "SpectralRegularizer",
    "activations",
    "datasets",
    "models",
    "prepare_images",
    "robustness",
    "train",
]
