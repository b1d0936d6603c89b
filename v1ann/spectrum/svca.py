"""Shared variance component analysis (Stringer, Pachitariu et al., Science 2019).

SVCA cross-validates over neurons and time at once. Neurons are split into two sets
(on a spatial checkerboard when positions exist, so that neighbours with shared
neuropil or optical crosstalk fall into different sets; at random otherwise) and time
into interleaved train and test segments. The singular vectors of the train-time
covariance between the two sets define paired components (``u_k`` over set 1, ``v_k``
over set 2); on test time, the covariance of the two sets' projections on ``u_k`` and
``v_k`` is the variance of component ``k`` that is *reliable* — shared between disjoint
neurons and predictable across time — and their mean variance is its total variance.

Two exact formulations, one per axis that is streamed:

- ``stream="time"``: the (n_set1, n_set2) train cross-covariance ``C = F^T G`` and the
  test projections are sums over time points, read one time chunk at a time. Memory
  O(n_set1 · n_set2 + chunk): the choice when neurons are few.
- ``stream="neurons"``: everything is expressed through time × time Gram matrices, which
  are sums over neurons, read one neuron chunk at a time. With ``K1 = F F^T = U1 S1 U1^T``
  and ``K2 = G G^T = U2 S2 U2^T``, ``F = U1 S1^½ W1^T`` with ``W1 = F^T U1 S1^-½``
  orthonormal (likewise ``G``), so ``C = W1 M W2^T`` with ``M = S1^½ U1^T U2 S2^½``; the
  SVD ``M = A Σ B^T`` gives ``u = W1 A``, ``v = W2 B`` and the singular values ``Σ`` of
  ``C``. ``u`` and ``v`` are never formed: the test projections are
  ``F_test u = (F_test F^T) U1 S1^-½ A``, from the (n_test, n_train) cross-Gram
  ``F_test F^T`` (likewise set 2). Memory O(n_train² + n_test · n_train + chunk),
  whatever the number of neurons: the choice for 100k+ neurons.
"""

from __future__ import annotations

import numpy as np
import torch
import xarray as xr

from v1ann._checks import check_int, check_n_components, check_option
from v1ann._docs import fill_doc
from v1ann._linalg import symmetric_eigh
from v1ann._progress import progress_bar
from v1ann._threads import uses_thread_budget
from v1ann._utils import make_rng, resolve_device
from v1ann.errors import InvalidInputError, warn
from v1ann.spectrum.gram import _accumulator, read_neuron_chunks
from v1ann.spectrum.gram import _chunk_size as _neuron_chunk_size

__all__ = ["svca", "neuron_split", "time_split"]

ACTIVITY_DIMS = ("time", "neuron")
SPLITS = ("auto", "checkerboard", "strips", "random")
# The published split (incNeurSVCA.m, Stringer et al. 2019): 16 strips along the first
# position column (``med(:,1)``, v1ann's ``x``), alternate strips to the two sets, the last
# 10 position units (pixels) of every strip left out so no neuron borders the other set.
PUBLISHED_STRIPS = 16
PUBLISHED_BAND = 10.0
STREAMS = ("auto", "time", "neurons")
# float64 bytes of one time chunk (all neurons) for stream="time".
_CHUNK_BYTES = 64 * 2**20


@uses_thread_budget
@fill_doc
def svca(
    activity,
    *,
    n_components: int | None = None,
    seed=None,
    split: str = "auto",
    square_size: float = 60.0,
    segment_length: int = 60,
    stream: str = "auto",
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
    split : {"auto", "checkerboard", "strips", "random"}
        Neuron split. ``"auto"``: checkerboard when ``x`` and ``y`` coords exist.
        ``"strips"`` is the published split (see :func:`neuron_split`); it leaves the
        neurons of the bands between strips out of both sets.
    square_size : float
        Checkerboard square side, in the units of ``x``/``y`` (µm in Stringer data).
    segment_length : int
        Time points per segment; segments alternate train, test, train, ...
    stream : {"auto", "time", "neurons"}
        Which axis is read in chunks; both give the same result (to float64 rounding).
        ``"time"`` holds the (n_set1, n_set2) train cross-covariance, about
        8 · n_set1 · n_set2 bytes (20 GB at 100k neurons) and several times that in its SVD;
        ``"neurons"`` holds time × time Gram matrices, 8 · n_train · n_time bytes per
        neuron set (0.1 GB at 5,000 time points) whatever the number of neurons (see the
        module docstring). ``"auto"`` picks the one whose working matrices are smaller,
        roughly ``"neurons"`` when neurons outnumber time points and ``"time"`` otherwise.
    %(device)s
    chunk_size : int, optional
        Time points (``stream="time"``) or neurons (``stream="neurons"``) read at once.
        Default: about 64 MiB of float64, for neurons rounded to whole storage chunks.
        With ``stream="auto"``, set ``stream`` too so the unit is unambiguous.
    %(progress)s

    Returns
    -------
    xarray.DataArray
        ``reliable_variance`` over ``rank`` (1-based), float64, activity units² per time
        point: test-time covariance of the two sets' projections. Coord
        ``total_variance`` over ``rank``: mean of the two projections' test-time variances.
        Attrs ``method="svca"``, ``stream`` (the formulation that ran), ``n_time``,
        ``n_neurons``, ``n_train``, ``n_test``, ``n_set1``, ``n_set2``, ``split``,
        ``seed``, ``source``. Fewer than ``n_components`` ranks (with a ``V1AnnWarning``)
        when the train cross-covariance has lower numerical rank, e.g. with silent or
        duplicated neurons: the directions of its zero singular values are arbitrary.

    Raises
    ------
    InvalidInputError
        Wrong dims, too few neurons or time points, NaN/Inf (the message names the time
        or neuron range), no positions for ``split="checkerboard"``, no train-time
        covariance between the sets at all, bad arguments.
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
    check_option("stream", stream, STREAMS)
    if stream == "auto":
        stream = min(("time", "neurons"), key=lambda s: _working_bytes(s, set1.size, set2.size, n_train, n_test))
    dev = resolve_device(device)

    if stream == "time":
        reader = _TimeChunkReader(data, _time_chunk_size(data, chunk_size), source, dev, progress)
        reliable, total = _svca_streaming_time(reader, is_train, set1, set2, n_components)
    else:
        chunk = _neuron_chunk_size(data, chunk_size)
        reliable, total = _svca_streaming_neurons(
            data, chunk, source, dev, progress, is_train, set1, set2, n_components
        )
    attrs = {
        "method": "svca",
        "stream": stream,
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
        coords={"rank": np.arange(1, reliable.size + 1), "total_variance": ("rank", total)},
        name="reliable_variance",
        attrs=attrs,
    )


def neuron_split(n_neurons: int, xy=None, *, split: str = "auto", square_size: float = 60.0, seed=None):
    """Split neurons into two disjoint sets.

    Parameters
    ----------
    n_neurons : int
    xy : ndarray (n_neurons, 2), optional
        Neuron positions; needed for ``"checkerboard"`` and ``"strips"``.
    split : {"auto", "checkerboard", "strips", "random"}
        ``"checkerboard"``: squares of ``square_size`` alternate between the sets (v1ann's
        default with positions: neighbours in both directions fall apart). ``"strips"``: as
        published (``incNeurSVCA.m``): the first position column, rounded, is cut into 16
        strips of ``floor(max / 16)`` units; odd strips go to set 1, even ones to set 2, and
        the last 10 units of every strip (and anything beyond the 16th) to neither.
        ``"random"``: halves at random. ``"auto"``: checkerboard with positions, else random.
    square_size : float
        Side of the checkerboard squares (units of ``xy``).
    seed : int, Generator or None
        For ``"random"``.

    Returns
    -------
    set1, set2 : ndarray of int
        Sorted neuron indices (with ``"strips"`` they need not cover every neuron).
    split : str
        The split used.

    Examples
    --------
    >>> import numpy as np
    >>> xy = np.column_stack([np.arange(1, 321), np.zeros(320)])   # one neuron per pixel row
    >>> set1, set2, _ = neuron_split(320, xy, split="strips")      # strips of 20 rows
    >>> set1[:12].tolist(), set2[:3].tolist()
    ([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 40, 41], [20, 21, 22])
    """
    check_option("split", split, SPLITS)
    if xy is not None:
        xy = np.asarray(xy, dtype=float)
        unplaced = int((~np.isfinite(xy).all(axis=1)).sum())
        if unplaced and split in ("checkerboard", "strips"):
            raise InvalidInputError(f"split={split!r}: {unplaced} neuron(s) have no finite x/y position")
        if unplaced:
            warn(f"{unplaced} of {n_neurons} neurons have no finite x/y position; "
                "SVCA splits neurons at random instead of on a checkerboard")
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
        in_second = ~in_first
    elif split == "strips":
        if xy is None:
            raise InvalidInputError("split='strips' needs neuron positions (x and y neuron coords)")
        in_first, in_second = _published_strips(xy[:, 0])
    else:
        in_first = np.zeros(n_neurons, dtype=bool)
        in_first[make_rng(seed).permutation(n_neurons)[: n_neurons // 2]] = True
        in_second = ~in_first
    set1, set2 = np.flatnonzero(in_first), np.flatnonzero(in_second)
    if set1.size < 1 or set2.size < 1:
        raise InvalidInputError(
            f"the {split} split left a neuron set empty ({set1.size} and {set2.size} neurons); "
            "use a smaller square_size or split='random'"
        )
    return set1, set2, split


def _published_strips(position: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The two sets of the published strip split, from the first position column."""
    height = np.floor(position.max() / PUBLISHED_STRIPS)
    if height <= PUBLISHED_BAND:
        raise InvalidInputError(
            f"split='strips': positions up to {position.max():g} make strips of {height:g} units, no wider "
            f"than the {PUBLISHED_BAND:g}-unit band left out of each (the published split assumes pixels of a "
            "field of view); use split='checkerboard'")
    row = np.round(position) - 1  # MATLAB's 1-based rows
    strip = np.floor(row / height)
    inside = (row >= 0) & (strip < PUBLISHED_STRIPS) & (row - strip * height < height - PUBLISHED_BAND)
    return inside & (strip % 2 == 0), inside & (strip % 2 == 1)


def time_split(n_time: int, segment_length: int = 60) -> np.ndarray:
    """(n_time,) bool, True on train time points: segments of ``segment_length`` alternate train, test."""
    check_int(segment_length, "segment_length")
    return (np.arange(n_time) // int(segment_length)) % 2 == 0


class _TimeChunkReader:
    """Reads selected rows of (time, neuron) activity a time chunk at a time, as float64 tensors."""

    def __init__(self, data, chunk: int, source: str, dev, progress: bool):
        self.data, self.chunk, self.source, self.dev, self.progress = data, chunk, source, dev, progress

    def __call__(self, rows: np.ndarray, desc: str):
        n_time = self.data.shape[0]
        starts = range(0, n_time, self.chunk)
        for start in progress_bar(starts, desc=desc, progress=self.progress and len(starts) >= 2):
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


def _svca_streaming_time(reader, is_train, set1, set2, n_components):
    """Time formulation: SVD of the (n_set1, n_set2) train cross-covariance, then test projections."""

    cov = _train_covariance(reader, is_train, set1, set2)
    u, singular, vh = torch.linalg.svd(cov, full_matrices=False)
    del cov
    k = _defined_components(singular, n_components, max(set1.size, set2.size), reader.source)
    return _test_variances(reader, ~is_train, set1, set2, u[:, :k], vh[:k].T)


def _train_covariance(reader, is_train, set1, set2):
    """(n_set1, n_set2) float64 ``F^T G``, each neuron centred over train time."""

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
    return cov


def _test_variances(reader, is_test, set1, set2, u, v):
    """Covariance and mean variance of the two sets' test-time projections, per component."""

    dev = reader.dev
    idx1, idx2 = torch.as_tensor(set1, device=dev), torch.as_tensor(set2, device=dev)
    moments = _ProjectionMoments(u.shape[1], dev)
    for block in reader(is_test, "SVCA test projections"):
        moments.add(block[:, idx1] @ u, block[:, idx2] @ v)
    return moments.variances()


def _svca_streaming_neurons(data, chunk, source, dev, progress, is_train, set1, set2, n_components):
    """Neuron formulation: time × time Gram matrices summed over neuron chunks (module docstring)."""

    (gram1, cross1), (gram2, cross2) = _time_grams(data, chunk, source, dev, progress, is_train, set1, set2)
    basis1, root1 = _gram_factor(gram1)
    del gram1  # one n_train² Gram and one eigendecomposition at a time
    basis2, root2 = _gram_factor(gram2)
    del gram2
    if root1.numel() == 0 or root2.numel() == 0:
        raise _no_shared_variance(source)
    # M = S1^½ U1^T U2 S2^½ has the singular values of C = F^T G; its singular vectors A, B
    # give C's as u = F^T U1 S1^-½ A and v = G^T U2 S2^-½ B.
    a, singular, bh = torch.linalg.svd((basis1 * root1).T @ (basis2 * root2), full_matrices=False)
    k = _defined_components(singular, n_components, max(set1.size, set2.size), source)
    p1 = cross1 @ ((basis1 / root1) @ a[:, :k])
    p2 = cross2 @ ((basis2 / root2) @ bh[:k].T)
    moments = _ProjectionMoments(k, dev)
    moments.add(p1, p2)
    return moments.variances()


def _time_grams(data, chunk, source, dev, progress, is_train, set1, set2):
    """Per neuron set, ``(F F^T, F_test F^T)`` summed over neuron chunks, as float64 tensors on ``dev``."""
    n_neurons = data.shape[1]
    train, test = np.flatnonzero(is_train), np.flatnonzero(~is_train)
    sets = []
    for members in (set1, set2):
        in_set = np.zeros(n_neurons, dtype=bool)
        in_set[members] = True
        sets.append((in_set, _SetGrams(train.size, test.size, dev)))
    chunks = read_neuron_chunks(
        data, chunk, source, prepare=_as_float64, name="activity", desc="SVCA Grams over neuron chunks",
        progress=progress,
    )
    for start, stop, block in chunks:
        for in_set, grams in sets:
            cols = np.flatnonzero(in_set[start:stop])
            if cols.size:
                grams.add(block[np.ix_(train, cols)], block[np.ix_(test, cols)])
    return [grams.result() for _, grams in sets]


class _SetGrams:
    """Train Gram ``F F^T`` (n_train, n_train) and cross-Gram ``F_test F^T`` (n_test, n_train) of one neuron set."""

    def __init__(self, n_train: int, n_test: int, dev):

        self.train = _accumulator(n_train, dev)
        self.cross = torch.zeros((n_test, n_train), dtype=torch.float64, device=dev)

    def add(self, train: np.ndarray, test: np.ndarray) -> None:
        """Add (n_train, n) and (n_test, n) float64 blocks of the same n neurons (fresh copies: centred in place)."""

        # Train centring is SVCA's; test centring only moves each projection by a constant,
        # which its covariance ignores, and keeps large baselines from cancelling digits.
        train -= train.mean(axis=0)
        test -= test.mean(axis=0)
        self.train.add(train)
        self.cross.addmm_(torch.from_numpy(test).to(self.cross.device), torch.from_numpy(train).to(self.cross.device).T)

    def result(self):
        gram, _ = self.train.result()
        return gram, self.cross


def _gram_factor(gram):
    """Eigenvectors (columns) and square-rooted eigenvalues of a Gram matrix, numerically zero ones dropped.

    Cutoff: eigenvalues at most ``size · eps · largest`` (scipy.linalg.pinvh's default) are
    rounding noise; centring over train time always leaves at least one such.
    """

    values, vectors = symmetric_eigh(gram, overwrite=True)
    keep = values > gram.shape[0] * torch.finfo(values.dtype).eps * values.max()
    return vectors[:, keep], torch.sqrt(values[keep])


def _defined_components(singular, n_components: int, size: int, source: str) -> int:
    """How many of the first ``n_components`` singular pairs of C have a defined direction.

    Singular values at most ``size · eps · largest`` (numpy.linalg.matrix_rank's cutoff)
    are zero to rounding; their singular vectors are arbitrary and are not returned.
    """

    if singular.numel() == 0 or not singular[0] > 0:
        raise _no_shared_variance(source)
    rank = int((singular > size * torch.finfo(singular.dtype).eps * singular[0]).sum())
    if rank < n_components:
        warn(f"SVCA of activity ({source}): the train cross-covariance of the two neuron sets has "
            f"numerical rank {rank}, below n_components={n_components} (silent or duplicated neurons?); "
            f"returning {rank} components")
    return min(rank, n_components)


def _no_shared_variance(source: str):
    return InvalidInputError(
        f"activity ({source}) has no train-time covariance between the two neuron sets (constant activity?); "
        "SVCA has no components"
    )


class _ProjectionMoments:
    """Running test-time sums of the two sets' projections → their covariance and mean variance."""

    def __init__(self, k: int, dev):

        self.n = 0
        self.sums = torch.zeros((5, k), dtype=torch.float64, device=dev)

    def add(self, p1, p2) -> None:
        """Add (n, k) projections of the same n test time points."""

        self.n += p1.shape[0]
        self.sums += torch.stack([p1.sum(0), p2.sum(0), (p1 * p2).sum(0), (p1 * p1).sum(0), (p2 * p2).sum(0)])

    def variances(self):
        mean1, mean2, mean12, mean11, mean22 = self.sums / self.n
        reliable = mean12 - mean1 * mean2
        total = 0.5 * (mean11 - mean1**2 + mean22 - mean2**2)
        return reliable.cpu().numpy(), total.cpu().numpy()


def _working_bytes(stream: str, n_set1: int, n_set2: int, n_train: int, n_test: int) -> int:
    """Rough float64 bytes of a formulation's largest working matrices (chunks excluded)."""
    if stream == "time":
        return 8 * (n_set1 * n_set2 + _svd_floats(n_set1, n_set2))
    # Both Gram pairs, then the larger of an eigendecomposition (vectors and workspace)
    # and the SVD of M (at most n_train × n_train).
    grams = 2 * n_train * n_train + 2 * n_test * n_train
    return 8 * (grams + max(4 * n_train * n_train, _svd_floats(n_train, n_train)))


def _svd_floats(rows: int, cols: int) -> int:
    """Floats of a thin SVD: a copy of the input, both factors and LAPACK gesdd's square workspaces."""
    m = min(rows, cols)
    return rows * cols + (rows + cols) * m + 4 * m * m


def _as_float64(block: np.ndarray) -> np.ndarray:
    return np.asarray(block, dtype=np.float64)


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


def _time_chunk_size(data, chunk_size):
    if chunk_size is not None:
        if isinstance(chunk_size, bool) or int(chunk_size) < 1:
            raise InvalidInputError(f"chunk_size must be a positive number of time points, got {chunk_size!r}")
        return int(chunk_size)
    return max(1, _CHUNK_BYTES // (8 * data.shape[1]))


def _n_components(n_components, limit: int) -> int:
    if limit < 1:
        raise InvalidInputError("SVCA needs at least 2 training time points and a neuron in each set")
    return check_n_components(n_components, limit, "min(n_set1, n_set2, n_train - 1)")
