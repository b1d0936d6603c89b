"""Loaders and writers: Stringer 2019 .mat deposits, NWB, zarr, stimulus images."""

from .._lazy import attach

__getattr__, __dir__, __all__ = attach(
    __name__,
    {
        "load_stringer": ".stringer",
        "save_stringer_mat": ".stringer",
        "load_stimulus_images": ".images",
        "load_nwb": ".nwb",
        "save_nwb": ".nwb",
        "load_zarr": ".zarrstore",
        "save_zarr": ".zarrstore",
    },
)
