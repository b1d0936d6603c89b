"""Recordings as zarr stores: chunked over neurons, written atomically, read lazily.

A zarr store is a directory of chunk files. :func:`save_zarr` writes to a temporary
directory and renames it into place, so a store at ``path`` is always complete when
written. :func:`load_zarr` opens the response matrices as dask arrays (nothing is read
until computed) and guards against damage made afterwards: a store missing chunk files
(an interrupted copy) is refused at load time, and a chunk that cannot be decoded raises
:class:`~v1ann.errors.DataFileError` naming the store, variable and chunk when computed.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import dask.array as da
import numpy as np
import xarray as xr
import zarr

from v1ann._checks import check_path, check_target
from v1ann._utils import atomic_path, recover_interrupted_replace
from v1ann.errors import DataFileError, InvalidInputError
from v1ann.recording.schema import is_lazy, validate_recording

__all__ = ["save_zarr", "load_zarr"]

# Target bytes per chunk of a (trial|time, neuron) matrix; chunks hold all rows.
CHUNK_BYTES = 64 * 2**20
_MATRICES = ("trial_response", "spont", "activity")


def _neuron_chunk(n_rows: int, itemsize: int, chunk_bytes: int) -> int:
    return int(max(1, chunk_bytes // max(1, n_rows * itemsize)))


def save_zarr(ds: xr.Dataset, path: str | os.PathLike, *, chunk_bytes: int = CHUNK_BYTES) -> Path:
    """Write a recording to a zarr store, atomically.

    Parameters
    ----------
    ds : xarray.Dataset
        A recording (numpy- or dask-backed; dask data are written chunk by chunk).
    path : path-like
        Store directory; replaced if it exists.
    chunk_bytes : int
        Size of the chunks of ``trial_response``/``spont``/``activity``: every chunk holds
        all trials (time points) of a block of neurons, the layout the out-of-core
        spectra stream over.

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    validate_recording(ds, name="save_zarr(ds)")
    path = check_target(path, directory=True)
    out = ds.copy()
    out.attrs = {**ds.attrs, _COMPLETE: 1}
    encoding = {}
    for name in _MATRICES:
        if name not in out:
            continue
        n_rows = out[name].shape[0]
        size = _neuron_chunk(n_rows, out[name].dtype.itemsize, chunk_bytes)
        chunks = {out[name].dims[0]: -1, "neuron": size}
        out[name] = out[name].chunk(chunks) if is_lazy(out[name]) else out[name]
        encoding[name] = {"chunks": (n_rows, min(size, out.sizes["neuron"]))}
    for var in out.variables.values():
        var.encoding = {}  # stale encodings (e.g. from load_zarr) would override ours
    with atomic_path(path, suffix=".zarr") as tmp:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*[Cc]onsolidated metadata.*")
            out.to_zarr(tmp, mode="w", encoding=encoding, write_empty_chunks=True, consolidated=False)
    return path


class _ChunkReader:
    """Array-like over one zarr variable for ``dask.array.from_array``, with errors named.

    Picklable (path and name only; the store is reopened per read), so it runs on
    ``dask.distributed`` workers too.
    """

    def __init__(self, path: str, name: str, shape, dtype):
        self.path, self.name = path, name
        self.shape, self.dtype, self.ndim = tuple(shape), np.dtype(dtype), len(shape)

    def __getitem__(self, index):

        try:
            return np.asarray(zarr.open_array(self.path, path=self.name, mode="r")[index])
        except Exception as exc:  # noqa: BLE001 -- codecs raise many types on damaged chunks
            where = ", ".join(f"{s.start}:{s.stop}" for s in index) if isinstance(index, tuple) else str(index)
            raise DataFileError(
                f"{self.path}: cannot read chunk [{where}] of {self.name!r} "
                f"(store truncated or damaged?): {type(exc).__name__}: {exc}"
            ) from None


# save_zarr writes every chunk (write_empty_chunks=True) and says so in this attribute, so a
# missing chunk file in its stores is a truncation. Other writers (plain ``ds.to_zarr()``) skip
# chunks that equal the fill value, which then read back as that value: nothing is missing.
_COMPLETE = "v1ann_all_chunks_written"


def _check_complete(path: Path) -> None:
    group = zarr.open_group(str(path), mode="r")
    if not group.attrs.get(_COMPLETE):
        return
    for name, array in group.arrays():
        if array.nchunks_initialized < array.nchunks:
            raise DataFileError(
                f"{path}: store is truncated: {name!r} has {array.nchunks_initialized} of "
                f"{array.nchunks} chunk files"
            )


def load_zarr(path: str | os.PathLike) -> xr.Dataset:
    """Open a recording written by :func:`save_zarr`, lazily.

    Parameters
    ----------
    path : path-like
        Store directory.

    Returns
    -------
    xarray.Dataset
        The recording; ``trial_response``, ``spont`` and ``activity`` are dask arrays with
        the store's chunks (all rows x a block of neurons); coords and small variables are
        in memory.

    Raises
    ------
    DataFileError
        Missing path, not a zarr store, missing chunk files, or (when computed) a chunk
        that cannot be decoded.
    InvalidInputError
        The store does not hold a recording.
    """
    path = check_path(path)
    recover_interrupted_replace(path)  # a save killed between its two renames
    if not path.exists():
        raise DataFileError(f"{path}: no such zarr store")
    try:
        _check_complete(path)
        ds = xr.open_zarr(str(path), chunks=None, consolidated=False)
    except DataFileError:
        raise
    except Exception as exc:  # noqa: BLE001 -- zarr/xarray report bad stores with many types
        raise DataFileError(f"{path}: not a readable zarr store: {type(exc).__name__}: {exc}") from None
    try:
        for name in list(ds.variables):
            var = ds[name]
            raw = var.encoding.get("dtype", var.dtype) == var.dtype and not {"scale_factor", "add_offset"} & set(var.encoding)
            if name in _MATRICES and raw:
                reader = _ChunkReader(str(path), name, var.shape, var.dtype)
                chunks = var.encoding.get("chunks") or var.shape
                ds[name] = (var.dims, da.from_array(reader, chunks=chunks, asarray=True, lock=False), var.attrs)
            elif name in _MATRICES:
                ds[name] = var.chunk()
            else:
                ds[name] = var.load() if name in ds.data_vars else var
        ds = ds.assign_coords({name: ds[name].load() for name in ds.coords})
    except Exception as exc:  # noqa: BLE001
        raise DataFileError(f"{path}: cannot read the store's coordinates: {type(exc).__name__}: {exc}") from None
    ds.attrs = {k: v for k, v in ds.attrs.items() if k != _COMPLETE}
    ds.attrs["preprocessing"] = list(ds.attrs.get("preprocessing", []))
    if "is_blank" in ds.coords:
        ds = ds.assign_coords(is_blank=ds["is_blank"].astype(bool))
    try:
        return validate_recording(ds, name=str(path), check_values=False)
    except InvalidInputError as exc:
        raise InvalidInputError(f"{path}: not a v1ann recording store: {exc}") from None
