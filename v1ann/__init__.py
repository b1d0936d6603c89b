"""v1ann: power-law spectra of mouse V1 recordings and artificial neural networks.

The top-level namespace holds the calls most users need; heavier pieces load on first use.

>>> import v1ann
>>> rec = v1ann.simulate_recording(alpha=1.0, n_stimuli=500, n_neurons=2000, seed=0)
>>> fit = v1ann.estimate_alpha(rec)           # doctest: +SKIP
"""

from ._lazy import attach

__version__ = "0.1.0"

__getattr__, __dir__, __all__ = attach(
    __name__,
    {
        # recordings: schema, loaders, simulator, preprocessing
        "stimulus_responses": ".schema",
        "validate_recording": ".schema",
        "load_stringer": ".io.stringer",
        "save_stringer_mat": ".io.stringer",
        "load_stimulus_images": ".io.images",
        "load_nwb": ".io.nwb",
        "save_nwb": ".io.nwb",
        "load_zarr": ".io.zarrstore",
        "save_zarr": ".io.zarrstore",
        "simulate_recording": ".simulate",
        "preprocess": ".preprocessing",
        # spectra and exponents
        "cvpca": ".spectrum.cvpca",
        "svca": ".spectrum.svca",
        "pca_spectrum": ".spectrum.pca",
        "fit_powerlaw": ".spectrum.powerlaw",
        "PowerLawFit": ".spectrum.powerlaw",
        "fit_broken_powerlaw": ".spectrum.broken",
        "BrokenPowerLawFit": ".spectrum.broken",
        "compare_powerlaw_models": ".spectrum.broken",
        "estimate_alpha": ".spectrum.estimate",
        # brain vs network
        "compare": ".comparison",
        "sweep": ".sweeps",
        "V1AnnError": ".errors",
    },
    submodules=("io", "spectrum", "nn", "plot", "datasets", "errors"),
)
