"""Stimulus Gram matrices of two repeat halves, streamed over neuron chunks.

Every quantity cvPCA needs is a function of the Gram matrix of the stacked halves
``Z = [A; B]`` (``A``, ``B``: (stimulus, neuron) responses of the two halves of the
repeats) and of the per-stimulus sums over neurons. Both are sums over neurons, so
they are accumulated one neuron chunk at a time: memory is O(n_stimuli² + chunk)
whatever the number of neurons, and the chunks can come from numpy, h5py, zarr or dask.

When a ``dask.distributed`` client is active and the input is dask-backed (or a zarr
array), the chunk products are a dask graph that runs on the cluster.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

import dask
import dask.array as da
import numpy as np
import torch
import xarray as xr
from scipy.linalg.blas import dsyrk, ssyrk

from v1ann._checks import check_option
from v1ann._docs import fill_doc
from v1ann._progress import progress_bar
from v1ann._threads import uses_thread_budget
from v1ann._utils import resolve_device
from v1ann.errors import InvalidInputError
from v1ann.recording.schema import stimulus_responses

__all__ = ["RepeatGram", "repeat_gram"]

REPEAT_DIMS = ("repeat", "stimulus", "neuron")
# float64 bytes of one neuron chunk of the repeat array (all repeats, all stimuli).
_CHUNK_BYTES = 64 * 2**20
PRODUCT_DTYPES = {"float64": np.float64, "float32": np.float32}


@dataclass(frozen=True)
class RepeatGram:
    """Sufficient statistics of a (repeat, stimulus, neuron) response array for cvPCA.

    Attributes
    ----------
    gram : torch.Tensor
        (2 S, 2 S) float64, ``Z Z^T`` for ``Z = [A; B]``: the blocks are ``A A^T``,
        ``A B^T``, ``B A^T``, ``B B^T``, summed over neurons (units: response²·neurons).
    sums : torch.Tensor
        (2 S,) float64, ``Z`` summed over neurons.
    n_stimuli, n_neurons, n_repeats : int
        Shape of the input. ``A`` is the mean of repeats ``[0, R // 2)`` and ``B`` the
        mean of repeats ``[R // 2, R)``; with two repeats they are the repeats themselves.
    source : str
        What the input was (file and variable, or a description), for messages.
    """

    gram: "torch.Tensor"  # noqa: F821
    sums: "torch.Tensor"  # noqa: F821
    n_stimuli: int
    n_neurons: int
    n_repeats: int
    source: str


@uses_thread_budget
@fill_doc
def repeat_gram(
    responses,
    *,
    chunk_size: int | None = None,
    products: str = "float64",
    device="auto",
    progress: bool = True,
) -> RepeatGram:
    """Accumulate the stimulus Gram matrix of the two repeat halves over neuron chunks.

    Parameters
    ----------
    responses : xarray.Dataset, xarray.DataArray, array-like
        A stimulus recording (see :func:`v1ann.stimulus_responses`), a DataArray with dims
        (``repeat``, ``stimulus``, ``neuron``) backed by numpy or dask, or an array in that
        order: numpy, dask, h5py dataset or zarr array. At least two repeats.
    chunk_size : int, optional
        Neurons per chunk. Default: about 64 MiB of float64 per chunk, rounded to the
        storage chunks of h5py/zarr/dask inputs.
    products : {"float64", "float32"}
        Precision of each chunk's product (summed in float64 either way). ``"float32"``
        halves the time on CPU at a relative rounding of about 1e-7 per chunk
        (``cvpca(solver="float32")``); a dask cluster always computes in float64.
    %(device)s
    %(progress)s

    Returns
    -------
    RepeatGram
        Gram matrix and sums in float64 on ``device``.

    Raises
    ------
    InvalidInputError
        Wrong dims/shape, fewer than two repeats, or a chunk holding NaN/Inf (the message
        names the neuron range and the source).
    """
    check_option("products", products, PRODUCT_DTYPES)
    data, source = _repeat_array(responses)
    n_repeats, n_stimuli, n_neurons = (int(n) for n in data.shape)
    chunk = _chunk_size(data, chunk_size)
    dev = resolve_device(device)
    if _distributed_client() is not None and _is_daskable(data):
        gram, sums = _gram_on_cluster(data, chunk, source)
        gram, sums = _to_torch(gram, dev), _to_torch(sums, dev)
    else:
        gram, sums = _gram_streamed(data, chunk, source, dev, PRODUCT_DTYPES[products], progress)
    return RepeatGram(gram, sums, n_stimuli, n_neurons, n_repeats, source)


def _repeat_array(responses):
    """Return the (repeat, stimulus, neuron) array behind ``responses`` and its description."""

    if isinstance(responses, xr.Dataset):

        responses = stimulus_responses(responses)
    if isinstance(responses, xr.DataArray):
        if set(responses.dims) != set(REPEAT_DIMS):
            raise InvalidInputError(
                f"responses must have dims {REPEAT_DIMS}, got {responses.dims}"
            )
        source = responses.attrs.get("source") or (
            f"DataArray {responses.name!r}" if responses.name is not None else "responses"
        )
        data = responses.transpose(*REPEAT_DIMS).data
    else:
        data, source = _as_array(responses), _describe(responses)
    if getattr(data, "ndim", None) != 3:
        raise InvalidInputError(
            f"responses ({source}) must be 3-D (repeat, stimulus, neuron), "
            f"got shape {getattr(data, 'shape', None)}"
        )
    if not np.issubdtype(np.dtype(data.dtype), np.number) or np.issubdtype(
        np.dtype(data.dtype), np.complexfloating
    ):
        raise InvalidInputError(f"responses ({source}) must be real numbers, got dtype {data.dtype}")
    n_repeats, n_stimuli, n_neurons = data.shape
    if n_repeats < 2:
        raise InvalidInputError(
            f"responses ({source}) has {n_repeats} repeat(s); cross-validated spectra need "
            "at least 2 repeats of every stimulus"
        )
    if n_stimuli < 2 or n_neurons < 2:
        raise InvalidInputError(
            f"responses ({source}) needs at least 2 stimuli and 2 neurons, got shape {data.shape}"
        )
    return data, str(source)


def _as_array(obj):
    if hasattr(obj, "shape") and hasattr(obj, "dtype") and hasattr(obj, "__getitem__"):
        if type(obj).__module__.startswith("torch"):
            return obj.detach().cpu().numpy()
        return obj  # numpy, dask, h5py and zarr all slice lazily or cheaply
    return np.asarray(obj)


def _describe(obj) -> str:
    module = type(obj).__module__
    if module.startswith("h5py"):
        return f"{obj.file.filename}:{obj.name}"
    if module.startswith("zarr"):
        store = getattr(obj, "store", None)
        root = getattr(store, "root", None) or getattr(store, "path", None) or store
        return f"zarr {root}:{obj.path or '/'}"
    return f"{module.split('.')[0]} {type(obj).__name__} of shape {tuple(obj.shape)}"


def _storage_chunk(data) -> int | None:
    """Neurons per storage chunk for chunked inputs (dask, zarr, h5py), else None."""
    chunks = getattr(data, "chunks", None)
    if not chunks:
        return None
    last = chunks[-1]
    return int(max(last)) if isinstance(last, tuple) else int(last)


def _chunk_size(data, chunk_size: int | None) -> int:
    """Neurons per chunk of an array with neurons on its last axis.

    Default: about ``_CHUNK_BYTES`` of float64, rounded down to whole storage chunks when
    those are smaller (each is then read once); a storage chunk bigger than that is read
    in pieces rather than held whole.
    """
    n_neurons = int(data.shape[-1])
    if chunk_size is not None:
        if isinstance(chunk_size, bool) or int(chunk_size) < 1:
            raise InvalidInputError(f"chunk_size must be a positive number of neurons, got {chunk_size!r}")
        return min(int(chunk_size), n_neurons)
    target = max(1, _CHUNK_BYTES // (8 * int(np.prod(data.shape[:-1]))))
    stored = _storage_chunk(data)
    if stored and stored <= target:
        target = target // stored * stored
    return min(target, n_neurons)


def _halves(block: np.ndarray, dtype=np.float64) -> np.ndarray:
    """(repeat, stimulus, n) block → Z = [A; B], (2 S, n) C-contiguous in ``dtype``."""
    block = np.asarray(block)
    half = block.shape[0] // 2
    if block.shape[0] == 2:
        return np.concatenate([block[0], block[1]], axis=0, dtype=dtype)
    return np.concatenate(
        [block[:half].mean(axis=0, dtype=np.float64), block[half:].mean(axis=0, dtype=np.float64)],
        axis=0, dtype=dtype,
    )


def _check_chunk(z: np.ndarray, start: int, stop: int, source: str, name: str = "responses") -> None:
    """Raise if the chunk of neurons ``start:stop`` (``z``'s last axis) holds NaN/Inf."""
    bad = ~np.isfinite(z)
    if bad.any():
        first = start + int(np.flatnonzero(bad.reshape(-1, bad.shape[-1]).any(axis=0))[0])
        raise InvalidInputError(
            f"{name} ({source}): neurons {start}:{stop} contain {int(bad.sum())} NaN/Inf "
            f"value(s) (first in neuron {first}); drop or fill those neurons before computing spectra"
        )


def read_neuron_chunks(data, chunk: int, source: str, *, prepare=np.asarray, name="responses", desc="", progress=True):
    """Yield ``(start, stop, block)`` over chunks of ``chunk`` neurons (the last axis of ``data``).

    Each block is read (computed, for dask), passed through ``prepare`` (numpy array →
    numpy array, e.g. a cast or a reduction over repeats) and checked for NaN/Inf; the error
    names ``name``, ``source`` and the neuron range. One block is in memory at a time.
    """
    n_neurons = int(data.shape[-1])
    starts = range(0, n_neurons, chunk)
    for start in progress_bar(starts, desc=desc, progress=progress and len(starts) >= 2):
        stop = min(start + chunk, n_neurons)
        block = data[..., start:stop]
        if hasattr(block, "compute"):
            block = block.compute()
        block = prepare(np.asarray(block))
        _check_chunk(block, start, stop, source, name)
        yield start, stop, block


def _gram_streamed(data, chunk: int, source: str, dev, dtype, progress: bool):
    """Sequential accumulation: one chunk in memory at a time, its product in ``dtype``."""
    total = _accumulator(2 * data.shape[1], dev, dtype)
    for _, _, block in read_neuron_chunks(data, chunk, source, desc="Gram over neuron chunks", progress=progress):
        total.add_repeats(block)
    return total.result()


def _accumulator(size: int, dev, dtype=np.float64):
    return _SyrkAccumulator(size, dtype) if dev.type == "cpu" else _TorchAccumulator(size, dev, dtype)


class _SyrkAccumulator:
    """CPU: BLAS syrk fills the lower triangle in place, half the flops of a matmul, no temporary.

    With float32 products each chunk goes through ``ssyrk`` into a float32 scratch that is
    added to the float64 total, so rounding does not grow with the number of chunks.
    """

    def __init__(self, size: int, dtype=np.float64):
        self.gram = np.zeros((size, size), order="F")
        self.sums = np.zeros(size)
        self.dtype = np.dtype(dtype)
        self.scratch = np.zeros((size, size), dtype=np.float32, order="F") if self.dtype == np.float32 else None

    def add_repeats(self, block: np.ndarray) -> None:
        """Add a (repeat, stimulus, n) block through its halves ``Z = [A; B]``."""
        self.add(_halves(block, self.dtype))

    def add(self, z: np.ndarray) -> None:

        if self.scratch is None:
            self.gram = dsyrk(1.0, z.T, beta=1.0, c=self.gram, trans=1, lower=1, overwrite_c=1)
        else:
            self.scratch = ssyrk(1.0, z.T, beta=0.0, c=self.scratch, trans=1, lower=1, overwrite_c=1)
            self.gram += self.scratch
        self.sums += z.sum(axis=1, dtype=np.float64)

    def result(self):

        _symmetrize_lower(self.gram)
        # Symmetric, so the transpose of this Fortran array is the same matrix in C order.
        return torch.from_numpy(self.gram.T), torch.from_numpy(self.sums)


class _TorchAccumulator:
    """Any torch device (CUDA): chunks are copied over and multiplied there."""

    def __init__(self, size: int, dev, dtype=np.float64):

        self.gram = torch.zeros((size, size), dtype=torch.float64, device=dev)
        self.sums = torch.zeros(size, dtype=torch.float64, device=dev)
        self.dtype = torch.float32 if np.dtype(dtype) == np.float32 else torch.float64

    def add_repeats(self, block: np.ndarray) -> None:
        """Add a (repeat, stimulus, n) block, its halves ``Z = [A; B]`` formed on the device.

        The block crosses the bus as stored (float32 at half the bytes of float64), so the
        host does no per-element work beyond the NaN check.
        """

        if block.dtype not in (np.float32, np.float64):  # counts: torch reduces few integer types
            block = block.astype(np.float64)
        block = torch.from_numpy(np.ascontiguousarray(block)).to(self.gram.device)
        half = block.shape[0] // 2  # the device's twin of _halves
        halves = [block[:half].mean(dim=0, dtype=torch.float64), block[half:].mean(dim=0, dtype=torch.float64)]
        self.add(torch.cat(halves))

    def add(self, z) -> None:
        """Add a (rows, n) float64 chunk: numpy, or a tensor already on any device."""

        zt = torch.as_tensor(z).to(self.gram.device)
        if self.dtype == torch.float32:
            low = zt.to(torch.float32)
            self.gram += low @ low.T
        else:
            self.gram.addmm_(zt, zt.T)
        self.sums += zt.sum(dim=1)

    def result(self):
        return self.gram, self.sums


def _symmetrize_lower(gram: np.ndarray, block: int = 1024) -> None:
    """Copy the lower triangle onto the upper one in place, a block row at a time."""
    size = gram.shape[0]
    for i in range(0, size, block):
        j = min(i + block, size)
        gram[i:j, j:] = gram[j:, i:j].T
        tile = gram[i:j, i:j]
        tile[...] = np.tril(tile) + np.tril(tile, -1).T


def _distributed_client():
    # A running client means distributed is already imported; importing it here only to
    # find none would add 0.4 s to every first call.
    if "distributed" not in sys.modules:
        return None
    from distributed import default_client

    try:
        return default_client()
    except ValueError:
        return None


def _is_daskable(data) -> bool:
    module = type(data).__module__
    return module.startswith("dask") or module.startswith("zarr")


def _checked_block(block, source: str, block_info=None):
    location = block_info[0]["array-location"][-1] if block_info else (0, block.shape[-1])
    _check_chunk(block, location[0], location[1], source)
    return block


def _gram_on_cluster(data, chunk: int, source: str):
    """The same sums as a dask graph; with a distributed client it runs on the workers."""

    arr = data if type(data).__module__.startswith("dask") else da.from_array(data, chunks=(-1, -1, chunk))
    arr = arr.rechunk({0: -1, 1: -1, 2: chunk})
    half = arr.shape[0] // 2
    z = da.concatenate(
        [arr[:half].mean(axis=0, dtype=np.float64), arr[half:].mean(axis=0, dtype=np.float64)], axis=0
    )
    z = z.map_blocks(_checked_block, source=source, dtype=np.float64)
    gram, sums = dask.compute(z @ z.T, z.sum(axis=1))
    return np.asarray(gram), np.asarray(sums)


def _to_torch(arr: np.ndarray, dev):

    return torch.from_numpy(np.ascontiguousarray(arr)).to(dev)
