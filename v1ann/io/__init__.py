"""Every reader and writer: Stringer 2019 ``.mat`` deposits, NWB, zarr, stimulus images, downloads.

:func:`load` opens any recording by its suffix; the format-specific pairs
(``load_x(path) -> Dataset``, ``save_x(ds, path) -> Path``) take format options.
"""

from v1ann.io.deposits import fetch_stringer, list_stringer
from v1ann.io.files import load, load_any, save
from v1ann.io.nwb import load_nwb, save_nwb
from v1ann.io.stimulus_images import load_stimulus_images
from v1ann.io.stringer import load_stringer, save_stringer_mat
from v1ann.io.zarrstore import load_zarr, save_zarr

__all__ = [
    "fetch_stringer",
    "list_stringer",
    "load",
    "load_any",
    "load_nwb",
    "load_stimulus_images",
    "load_stringer",
    "load_zarr",
    "save",
    "save_nwb",
    "save_stringer_mat",
    "save_zarr",
]
