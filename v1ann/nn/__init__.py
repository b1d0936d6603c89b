"""Networks beside the brain: models, activations, the spectral regularizer, training, attacks.

Function names shadow their modules (``train``, ``activations``, ``robustness``): the
imports below bind the functions, and modules are reached as ``v1ann.nn.train`` only
through ``sys.modules`` (``import v1ann.nn.train as m``).
"""

from v1ann.nn import models, training_data
from v1ann.nn.activations import activations
from v1ann.nn.inputs import prepare_images
from v1ann.nn.regularizer import SpectralRegularizer
from v1ann.nn.robustness import robustness
from v1ann.nn.train import train
from v1ann.nn.training_data import load_training_data

__all__ = [
    "SpectralRegularizer",
    "activations",
    "load_training_data",
    "models",
    "prepare_images",
    "robustness",
    "train",
    "training_data",
]
