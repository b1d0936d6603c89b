"""Shared variance component analysis (Stringer, Pachitariu et al., Science 2019).

SVCA cross-validates over neurons and time at once. Neurons are split into two sets
(on a spatial checkerboard when positions exist, so that neighbours with shared
neuropil or optical crosstalk fall into different sets; at random otherwise) and time
into interleaved train and test segments. The singular vectors of the train-time
covariance between the two sets define paired components (``u_k`` over set 1, ``v_k``
over set 2); on test time, the covariance of the two sets' projections on ``u_k`` and
``v_k`` is the variance of component ``k`` that is *reliable* — shared between disjoint
neurons and predictable across time — and their mean variance is its total variance.

Both passes are sums over time points, so the recording is read one time chunk at a
time: memory is O(n_set1 × n_set2 + chunk).
"""

from __future__ import annotations

import warnings

import numpy as np
import xarray as xr

from .._utils import check_n_components, make_rng, resolve_device
from ..errors import InvalidInputError, V1AnnWarning

__all__ = ["svca", "neuron_split", "time_split"]

ACTIVITY_DIMS = ("time", "neuron")
_CHUNK_BYTES = 64 * 2**20


def svca(
    activity,
    n_components: int | None = None,
    seed=None,
    *,
    split: str = "auto",
    square_size: float = 60.0,
    segment_length: int = 60,
    device="auto",
    chunk_size: int | None = None,
    progress: bool = True,
) -> xr.DataArray:
    """Reliable (shared, cross-validated) variance per SVCA component.

    Parameters
    ----------
    activity : xarray.Dataset, xarray.DataArray or array-like
        (time, neuron) activity: a recording Dataset with ``spont`` or ``activity``, a
        DataArray with dims (``time``, ``neuron``) (numpy- or dask-backed; ``x``/``y``
        neuron coords enable the checkerboard split), or an array (numpy, dask, h5py,
        zarr, torch) in that order.
    n_components : int, optional
        Components returned. Default and maximum: ``min(n_set1, n_set2, n_train - 1)``.
    seed : int, numpy.random.Generator or None
        Seed of the random neuron split (unused by the checkerboard).
    split : {"auto", "checkerboard", "random"}
        Neuron split. ``"auto"``: checkerboard when ``x`` and ``y`` coords exist.
    square_size : float
        Checkerboard square side, in the units of ``x``/``y`` (µm in Stringer data).
    segment_length : int
        Time points per segment; segments alternate train, test, train, ...
    device : str or torch.device
        ``"auto"``: CUDA when available, else CPU.
    chunk_size : int, optional
        Time points read at once (default: about 64 MiB of float64).
    progress : bool
        Show progress bars.

    Returns
    -------
    xarray.DataArray
        ``reliable_variance`` over ``rank`` (1-based), float64, activity units² per time
        point: test-time covariance of the two sets' projections. Coord
        ``total_variance`` over ``rank``: mean of the two projections' test-time variances.
        Attrs ``method="svca"``, ``n_time``, ``n_neurons``, ``n_train``, ``n_test``,
        ``n_set1``, ``n_set2``, ``split``, ``seed``, ``source``.

    Raises
    ------
    InvalidInputError
        Wrong dims, too few neurons or time points, NaN/Inf (the message names the time
        range), no positions for ``split="checkerboard"``, bad arguments.
    """
    data, xy, source = _activity_array(activity)
    n_time, n_neurons = (int(n) for n in data.shape)
    set1, set2, split_used = neuron_split(n_neurons, xy, split=split, square_size=square_size, seed=seed)
    is_train = time_split(n_time, segment_length)
    n_train, n_test = int(is_train.sum()), int((~is_train).sum())
    if n_train < 2 or n_test < 2:
        raise InvalidInputError(
            f"activity ({source}) has {n_time} time points: too few for train and test segments "
            f"of segment_length={segment_length}"
        )
    limit = min(set1.size, set2.size, n_train - 1)
    n_components = _n_components(n_components, limit)
    dev = resolve_device(device)
    chunk = _chunk_size(data, chunk_size)
    reader = _ChunkReader(data, chunk, source, dev, progress)

    u, v = _train_components(reader, is_train, set1, set2, n_components)
    reliable, total = _test_variances(reader, ~is_train, set1, set2, u, v)
    attrs = {
        "method": "svca",
        "n_time": n_time,
        "n_neurons": n_neurons,
        "n_train": n_train,
        "n_test": n_test,
        "n_set1": int(set1.size),
        "n_set2": int(set2.size),
        "split": split_used,
        "seed": seed if isinstance(seed, (int, np.integer)) else None,
        "source": source,
    }
    return xr.DataArray(
        reliable,
        dims=("rank",),
        coords={"rank": np.arange(1, n_components + 1), "total_variance": ("rank", total)},
        name="reliable_variance",
        attrs=attrs,
    )


def neuron_split(n_neurons: int, xy=None, *, split: str = "auto", square_size: float = 60.0, seed=None):
    """Split neurons into two disjoint sets.

    Parameters
    ----------
    n_neurons : int
    xy : ndarray (n_neurons, 2), optional
        Neuron positions; needed for ``"checkerboard"``.
    split : {"auto", "checkerboard", "random"}
    square_size : float
        Side of the checkerboard squares (units of ``xy``).
    seed : int, Generator or None
        For ``"random"``.

    Returns
    -------
    set1, set2 : ndarray of int
        Sorted neuron indices.
    split : str
        The split used.
    """
    if split not in ("auto", "checkerboard", "random"):
        raise InvalidInputError(f"split must be 'auto', 'checkerboard' or 'random', got {split!r}")
    if xy is not None:
        xy = np.asarray(xy, dtype=float)
        unplaced = int((~np.isfinite(xy).all(axis=1)).sum())
        if unplaced and split == "checkerboard":
            raise InvalidInputError(f"split='checkerboard': {unplaced} neuron(s) have no finite x/y position")
        if unplaced:
            warnings.warn(
                f"{unplaced} of {n_neurons} neurons have no finite x/y position; "
                "SVCA splits neurons at random instead of on a checkerboard",
                V1AnnWarning,
                stacklevel=3,
            )
            xy = None
    if split == "auto":
        split = "random" if xy is None else "checkerboard"
    if split == "checkerboard":
        if xy is None:
            raise InvalidInputError("split='checkerboard' needs neuron positions (x and y neuron coords)")
        if not np.isfinite(square_size) or square_size <= 0:
            raise InvalidInputError(f"square_size must be positive, got {square_size!r}")
        cell = np.floor((xy - xy.min(axis=0)) / square_size).astype(np.int64)
        in_first = (cell[:, 0] + cell[:, 1]) % 2 == 0
    else:
        in_first = np.zeros(n_neurons, dtype=bool)
        in_first[make_rng(seed).permutation(n_neurons)[: n_neurons // 2]] = True
    set1, set2 = np.flatnonzero(in_first), np.flatnonzero(~in_first)
    if set1.size < 1 or set2.size < 1:
        raise InvalidInputError(
            f"the {split} split left a neuron set empty ({set1.size} and {set2.size} neurons); "
            "use a smaller square_size or split='random'"
        )
    return set1, set2, split


def time_split(n_time: int, segment_length: int = 60) -> np.ndarray:
    """(n_time,) bool, True on train time points: segments of ``segment_length`` alternate train, test."""
    if isinstance(segment_length, bool) or not isinstance(segment_length, (int, np.integer)) or segment_length < 1:
        raise InvalidInputError(f"segment_length must be a positive integer, got {segment_length!r}")
    return (np.arange(n_time) // int(segment_length)) % 2 == 0


class _ChunkReader:
    """Reads selected rows of (time, neuron) activity a time chunk at a time, as float64 tensors."""

    def __init__(self, data, chunk: int, source: str, dev, progress: bool):
        self.data, self.chunk, self.source, self.dev, self.progress = data, chunk, source, dev, progress

    def __call__(self, rows: np.ndarray, desc: str):
        import torch
        from tqdm.auto import tqdm

        n_time = self.data.shape[0]
        starts = range(0, n_time, self.chunk)
        for start in tqdm(starts, desc=desc, disable=not self.progress or len(starts) < 2):
            stop = min(start + self.chunk, n_time)
            picked = np.flatnonzero(rows[start:stop])
            if picked.size == 0:
                continue
            block = self.data[start:stop]
            if hasattr(block, "compute"):
                block = block.compute()
            block = torch.as_tensor(np.asarray(block)[picked]).to(self.dev, torch.float64)
            finite = torch.isfinite(block)
            if not finite.all():
                raise InvalidInputError(
                    f"activity ({self.source}): time points {start}:{stop} contain "
                    f"{int((~finite).sum())} NaN/Inf value(s)"
                )
            yield block


def _train_components(reader, is_train, set1, set2, n_components):
    """Top singular vectors of the train-time covariance between the two neuron sets."""
    import torch

    dev = reader.dev
    idx1, idx2 = torch.as_tensor(set1, device=dev), torch.as_tensor(set2, device=dev)
    cov = torch.zeros((set1.size, set2.size), dtype=torch.float64, device=dev)
    sum1 = torch.zeros(set1.size, dtype=torch.float64, device=dev)
    sum2 = torch.zeros(set2.size, dtype=torch.float64, device=dev)
    for block in reader(is_train, "SVCA train covariance"):
        f, g = block[:, idx1], block[:, idx2]
        cov.addmm_(f.T, g)
        sum1 += f.sum(dim=0)
        sum2 += g.sum(dim=0)
    cov.addr_(sum1, sum2, alpha=-1.0 / int(is_train.sum()))  # centre each neuron over train time
    u, _, vh = torch.linalg.svd(cov, full_matrices=False)
    return u[:, :n_components], vh[:n_components].T


def _test_variances(reader, is_test, set1, set2, u, v):
    """Covariance and mean variance of the two sets' test-time projections, per component."""
    import torch

    dev = reader.dev
    idx1, idx2 = torch.as_tensor(set1, device=dev), torch.as_tensor(set2, device=dev)
    k = u.shape[1]
    totals = {name: torch.zeros(k, dtype=torch.float64, device=dev) for name in ("p1", "p2", "p1p2", "p1p1", "p2p2")}
    for block in reader(is_test, "SVCA test projections"):
        p1, p2 = block[:, idx1] @ u, block[:, idx2] @ v
        totals["p1"] += p1.sum(dim=0)
        totals["p2"] += p2.sum(dim=0)
        totals["p1p2"] += (p1 * p2).sum(dim=0)
        totals["p1p1"] += (p1 * p1).sum(dim=0)
        totals["p2p2"] += (p2 * p2).sum(dim=0)
    n = int(is_test.sum())
    mean1, mean2 = totals["p1"] / n, totals["p2"] / n
    reliable = totals["p1p2"] / n - mean1 * mean2
    total = 0.5 * (totals["p1p1"] / n - mean1**2 + totals["p2p2"] / n - mean2**2)
    return reliable.cpu().numpy(), total.cpu().numpy()


def _activity_array(activity):
    """(time, neuron) array, (n_neurons, 2) positions or None, and a description."""
    xy = None
    if isinstance(activity, xr.Dataset):
        name = next((v for v in ("spont", "activity") if v in activity.data_vars), None)
        if name is None:
            raise InvalidInputError(
                f"the recording ({activity.attrs.get('source', 'Dataset')}) has neither 'spont' nor "
                "'activity'; SVCA needs (time, neuron) activity"
            )
        activity = activity[name].assign_attrs(source=activity.attrs.get("source") or name)
    if isinstance(activity, xr.DataArray):
        if set(activity.dims) != set(ACTIVITY_DIMS):
            raise InvalidInputError(f"activity must have dims {ACTIVITY_DIMS}, got {activity.dims}")
        if "x" in activity.coords and "y" in activity.coords:
            xy = np.column_stack([activity["x"].values, activity["y"].values])
        source = activity.attrs.get("source") or (
            f"DataArray {activity.name!r}" if activity.name is not None else "activity"
        )
        data = activity.transpose(*ACTIVITY_DIMS).data
    else:
        data = activity
        if type(data).__module__.startswith("torch"):
            data = data.detach().cpu().numpy()
        elif not hasattr(data, "shape") or not hasattr(data, "__getitem__"):
            data = np.asarray(data)
        source = f"{type(activity).__name__} of shape {tuple(data.shape)}"
    if len(data.shape) != 2:
        raise InvalidInputError(f"activity ({source}) must be 2-D (time, neuron), got shape {tuple(data.shape)}")
    dtype = np.dtype(data.dtype)
    if not np.issubdtype(dtype, np.number) or np.issubdtype(dtype, np.complexfloating):
        raise InvalidInputError(f"activity ({source}) must hold real numbers, got dtype {data.dtype}")
    if data.shape[1] < 2:
        raise InvalidInputError(f"activity ({source}) needs at least 2 neurons, got {data.shape[1]}")
    return data, xy, str(source)


def _chunk_size(data, chunk_size):
    if chunk_size is not None:
        if isinstance(chunk_size, bool) or int(chunk_size) < 1:
            raise InvalidInputError(f"chunk_size must be a positive number of time points, got {chunk_size!r}")
        return int(chunk_size)
    return max(1, _CHUNK_BYTES // (8 * data.shape[1]))


def _n_components(n_components, limit: int) -> int:
    if limit < 1:
        raise InvalidInputError("SVCA needs at least 2 training time points and a neuron in each set")
    return check_n_components(n_components, limit, "min(n_set1, n_set2, n_train - 1)")
