"""v1ann: power-law spectra of mouse V1 recordings and artificial neural networks.

The top-level namespace holds the calls most users need. It loads them on first use
(``lazy_loader``), so ``import v1ann`` and the command line start without importing torch.

>>> import v1ann
>>> rec = v1ann.simulate_recording(alpha=1.0, n_stimuli=200, n_neurons=400, seed=0)
>>> rec.sizes["trial"], rec.sizes["neuron"]
(400, 400)
"""

import os as _os

import lazy_loader as _lazy

# OpenMP threads (torch's pool) that spin while they wait slow every other pool on the same
# cores; set before torch starts its pool. See v1ann/_threads.py and docs/install.md.
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.1.0"

__getattr__, __dir__, __all__ = _lazy.attach(
    __name__,
    submodules=["errors", "experiments", "io", "nn", "plot", "recording", "spectrum"],
    submod_attrs={
        "_threads": ["set_threads", "get_threads"],
        "recording": [
            "preprocess", "simulate_recording", "simulate_spontaneous", "stimulus_responses", "validate_recording",
        ],
        "io": [
            "fetch_stringer", "load", "load_nwb", "load_stimulus_images", "load_stringer", "load_zarr",
            "save_nwb", "save_stringer_mat", "save_zarr",
        ],
        "spectrum": [
            "BrokenPowerLawFit", "PowerLawFit", "compare_powerlaw_models", "cvpca", "estimate_alpha",
            "fit_broken_powerlaw", "fit_powerlaw", "pca_spectrum", "svca",
        ],
        "experiments": ["compare", "sweep"],
        "errors": ["V1AnnError"],
    },
)
