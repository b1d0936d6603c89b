"""Networks beside the brain: activations, models, spectral regularizer, training, attacks."""

from .._lazy import attach

__getattr__, __dir__, __all__ = attach(
    __name__,
    {
        "activations": ".activations",
        "prepare_images": ".images",
        "SpectralRegularizer": ".regularizer",
        "train": ".train",
        "robustness": ".robustness",
    },
    submodules=("models", "datasets"),
)
