"""One reader and one writer for every recording format, chosen by the file's suffix.

Like pynapple's ``load_file``: the command line, the notebooks and user code open a
recording the same way, whatever format it is in.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import xarray as xr

from v1ann._checks import check_memory, check_option, check_path
from v1ann.errors import DataFileError
from v1ann.io.nwb import load_nwb, save_nwb
from v1ann.io.stringer import load_stringer, save_stringer_mat
from v1ann.io.zarrstore import load_zarr, save_zarr

READERS = {".mat": load_stringer, ".nwb": load_nwb, ".zarr": load_zarr}
WRITERS = {"mat": save_stringer_mat, "nwb": save_nwb, "zarr": save_zarr}


def recording_format(path: str | os.PathLike, fmt: str | None = None) -> str:
    """The format (``"mat"``, ``"nwb"`` or ``"zarr"``) named by ``fmt`` or by ``path``'s suffix."""
    if fmt is not None:
        return check_option("fmt", fmt, WRITERS)
    suffix = check_path(path).suffix.lower()
    if f"{suffix}" not in READERS:
        raise DataFileError(
            f"{path}: cannot tell the recording format from the suffix {suffix!r}; "
            f"expected one of {sorted(READERS)}"
        )
    return suffix[1:]


def load(path: str | os.PathLike, **options) -> xr.Dataset:
    """Read a recording from a Stringer ``.mat``, an ``.nwb`` file or a ``.zarr`` store.

    Parameters
    ----------
    path : path
        The file; its suffix picks the reader (:func:`load_stringer`, :func:`load_nwb`,
        :func:`load_zarr`).
    **options
        Keyword options of that reader.

    Returns
    -------
    xarray.Dataset
        A recording (see :func:`v1ann.recording.validate_recording`).

    Examples
    --------
    >>> import tempfile, v1ann
    >>> rec = v1ann.simulate_recording(alpha=1.0, n_stimuli=50, n_neurons=40, seed=0)
    >>> path = v1ann.io.save(rec, tempfile.mkdtemp() + "/rec.zarr")
    >>> v1ann.io.load(path).sizes["neuron"]
    40
    """
    return READERS["." + recording_format(path)](path, **options)


def save(ds: xr.Dataset, path: str | os.PathLike, *, fmt: str | None = None, **options) -> Path:
    """Write a recording in the format named by ``fmt`` or by ``path``'s suffix; returns the path."""
    return WRITERS[recording_format(path, fmt)](ds, path, **options)


def load_any(path: str | os.PathLike) -> tuple[str, object]:
    """What ``path`` holds, for :func:`v1ann.estimate_alpha`: ``("data", obj)`` or ``("spectrum", values)``.

    ``.mat``/``.nwb``/``.zarr``: a recording (:func:`load`). ``.csv``: a spectrum, one value
    per rank (the last column; a header line is skipped). ``.npy``: a 1-D spectrum, 2-D
    (stimulus, unit) activations or 3-D (repeat, stimulus, neuron) responses, returned as a
    labelled DataArray; its header is checked against the memory available before the
    array is read.
    """
    path = check_path(path)
    suffix = path.suffix.lower()
    if not path.exists():
        raise DataFileError(f"{path}: no such file or directory")
    if suffix in READERS:
        return "data", load(path)
    if suffix == ".csv":
        try:
            table = np.genfromtxt(path, delimiter=",", skip_header=_has_header(path))
        except (ValueError, UnicodeDecodeError) as exc:
            raise DataFileError(f"{path}: not a numeric CSV spectrum ({exc})") from None
        table = np.atleast_1d(table)
        return "spectrum", table[:, -1] if table.ndim == 2 else table
    if suffix == ".npy":
        try:  # the header first: a damaged file may claim a terabyte-sized array
            mapped = np.load(path, mmap_mode="r", allow_pickle=False)
        except (ValueError, EOFError, OSError) as exc:
            raise DataFileError(f"{path}: unreadable or truncated .npy ({exc or 'empty file'})") from None
        check_memory(mapped.nbytes, f"{path} (an array of shape {mapped.shape})")
        array = np.array(mapped)
        if array.ndim == 1:
            return "spectrum", array
        # the documented layouts of a .npy file, labelled so that nothing is guessed later
        dims = {2: ("stimulus", "unit"), 3: ("repeat", "stimulus", "neuron")}.get(array.ndim)
        if dims is None:
            raise DataFileError(f"{path}: a {array.ndim}-D array; expected 1-D, 2-D (stimulus, unit) or 3-D "
                                "(repeat, stimulus, neuron)")
        return "data", xr.DataArray(array, dims=dims, attrs={"source": path.name})
    raise DataFileError(
        f"{path}: unsupported file type {suffix!r}; expected .mat, .nwb, .zarr (recordings), "
        ".csv or .npy (spectra, activations, responses)"
    )


def _has_header(path: Path) -> int:
    with open(path) as fh:
        first = fh.readline()
    try:
        [float(v) for v in first.strip().split(",") if v]
    except ValueError:
        return 1
    return 0
