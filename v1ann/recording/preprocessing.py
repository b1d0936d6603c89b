"""Preprocessing of stimulus recordings as in Stringer et al. 2019.

Four optional steps, applied in this order, each appended to ``attrs["preprocessing"]``:

0. :func:`drop_interneurons` -- leave out red (tdTomato, GAD+) cells, marked by the
   deposit's ``stat.redcell`` (``is_interneuron``), as the published pipeline does
   (``processResp/compileResps.m``);
1. :func:`zscore_by_spont` -- subtract each neuron's mean spontaneous activity and divide
   by its spontaneous standard deviation (``spont`` is transformed too);
2. :func:`subtract_spont_pcs` -- project out the top ``k`` principal components of
   spontaneous activity (ongoing, stimulus-independent dimensions);
3. :func:`mean_center` -- subtract each neuron's mean response over stimulus trials.

Every step returns a new Dataset; the input is never modified. In-memory and
dask-backed responses are both handled (dask stays lazy, chunked over neurons).
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from v1ann._checks import check_int
from v1ann._linalg import top_eigenpairs
from v1ann.errors import InvalidInputError
from v1ann.recording.schema import is_lazy, preprocessing_steps, validate_recording

__all__ = ["preprocess", "drop_interneurons", "zscore_by_spont", "subtract_spont_pcs", "mean_center", "spont_pcs"]


def _label(ds: xr.Dataset) -> str:
    source = ds.attrs.get("source")
    return f"recording {source}" if source else "recording"


def _with_step(ds: xr.Dataset, step: str) -> xr.Dataset:
    out = ds.copy()  # shallow: data are shared, attrs dict is new
    out.attrs = dict(ds.attrs)
    out.attrs["preprocessing"] = [*preprocessing_steps(ds.attrs.get("preprocessing", [])), step]
    return out


def _require_stimulus_recording(ds: xr.Dataset, step: str) -> None:
    validate_recording(ds, name=f"{step}(ds)", check_values=False)
    if "trial_response" not in ds:
        raise InvalidInputError(f"{step}: {_label(ds)} has no trial_response (not a stimulus recording)")


def _require_spont(ds: xr.Dataset, step: str) -> xr.DataArray:
    if "spont" not in ds or ds.sizes.get("time", 0) < 2:
        raise InvalidInputError(
            f"{step}: {_label(ds)} has no spontaneous activity ('spont' with >= 2 time "
            "points), which this step needs; skip the step (e.g. preprocess(ds, zscore=False, "
            "n_spont_pcs=0))"
        )
    return ds["spont"]


def drop_interneurons(ds: xr.Dataset) -> xr.Dataset:
    """Leave out the neurons marked ``is_interneuron`` (the deposit's ``stat.redcell``).

    Stringer et al.'s pipeline removes these GAD+ cells before every spectrum
    (``compileResps.m``: ``resp(:, ~[dat.stat.redcell])``). A recording without the
    mark (most deposits) is returned unchanged, as a new object, and the step is not
    recorded.

    >>> import v1ann
    >>> rec = v1ann.simulate_recording(1.0, n_stimuli=20, n_neurons=6, seed=0)
    >>> rec = rec.assign_coords(is_interneuron=("neuron", [True, False, False, True, False, False]))
    >>> drop_interneurons(rec).sizes["neuron"]
    4
    """
    _require_stimulus_recording(ds, "drop_interneurons")
    if "is_interneuron" not in ds.coords:
        return ds.copy()
    out = _with_step(ds, "drop_interneurons")
    keep = ~ds["is_interneuron"].values.astype(bool)
    if not keep.any():
        raise InvalidInputError(f"drop_interneurons: every neuron of {_label(ds)} is marked as an interneuron")
    return out.isel(neuron=np.flatnonzero(keep))


def zscore_by_spont(ds: xr.Dataset) -> xr.Dataset:
    """Z-score every neuron by the mean and SD (ddof=0) of its spontaneous activity.

    Parameters
    ----------
    ds : xarray.Dataset
        Stimulus recording with ``spont`` (``time``, ``neuron``).

    Returns
    -------
    xarray.Dataset
        ``trial_response`` and ``spont`` as ``(x - mean_spont) / sd_spont``, float32.

    Raises
    ------
    InvalidInputError
        No ``spont``, or neurons whose spontaneous activity is constant (their z-score is
        undefined; drop them first, e.g. ``ds.isel(neuron=mask)``).
    """
    _require_stimulus_recording(ds, "zscore_by_spont")
    spont = _require_spont(ds, "zscore_by_spont")
    mean = spont.astype(np.float64).mean("time")
    sd = spont.astype(np.float64).std("time")
    mean, sd = (mean.compute(), sd.compute()) if is_lazy(spont) else (mean, sd)
    flat = ~(sd.values > 0)
    if flat.any():
        raise InvalidInputError(
            f"zscore_by_spont: {int(flat.sum())} neuron(s) of {_label(ds)} have zero (or NaN) "
            "spontaneous variance; drop them before z-scoring"
        )
    out = _with_step(ds, "zscore_by_spont")
    for name in ("trial_response", "spont"):
        out[name] = ((ds[name] - mean) / sd).astype(np.float32)
    return out


def spont_pcs(spont: xr.DataArray, n_components: int) -> np.ndarray:
    """Top principal axes of spontaneous activity over neurons.

    Parameters
    ----------
    spont : xarray.DataArray (``time``, ``neuron``)
        Numpy- or dask-backed; centred over time here.
    n_components : int
        Number of axes.

    Returns
    -------
    numpy.ndarray (n_neurons, n_components), float64
        Orthonormal columns, by decreasing variance. Computed from the smaller of the
        time x time and neuron x neuron Gram matrices, so memory is O(min(T, N)^2).
    """
    x = spont.data
    x = x.astype(np.float64) - x.astype(np.float64).mean(axis=0)
    n_time, n_neurons = x.shape
    if n_time <= n_neurons:
        evals, evecs = _top_eigenpairs(x @ x.T, n_components)
        axes = x.T @ (evecs / np.sqrt(evals))
        return np.asarray(axes.compute() if is_lazy(axes) else axes)
    return _top_eigenpairs(x.T @ x, n_components)[1]


def _top_eigenpairs(gram, n_components: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``n_components`` largest eigenvalues (all > 0) and eigenvectors of a Gram matrix."""
    gram = np.asarray(gram.compute() if is_lazy(gram) else gram, dtype=np.float64)
    evals, evecs = top_eigenpairs(gram, n_components)
    if np.any(evals <= 0):
        raise InvalidInputError(f"spontaneous activity has rank < {n_components}: cannot take that many PCs")
    return evals, evecs


def subtract_spont_pcs(ds: xr.Dataset, n_components: int = 32) -> xr.Dataset:
    """Project the top ``n_components`` spontaneous PCs out of responses and ``spont``.

    Parameters
    ----------
    ds : xarray.Dataset
        Stimulus recording with ``spont``; usually z-scored first.
    n_components : int
        Number of spontaneous PCs to remove (the paper: 32).

    Returns
    -------
    xarray.Dataset
        ``x - (x @ U) @ U.T`` for ``trial_response`` and ``spont``, ``U`` the
        (neuron, n_components) PC axes; float32.
    """
    _require_stimulus_recording(ds, "subtract_spont_pcs")
    spont = _require_spont(ds, "subtract_spont_pcs")
    n_components = int(n_components)
    limit = min(spont.sizes["time"] - 1, spont.sizes["neuron"])
    if not 1 <= n_components <= limit:
        raise InvalidInputError(
            f"n_spont_pcs={n_components} must be between 1 and {limit} for {_label(ds)} "
            f"({spont.sizes['time']} spontaneous time points, {spont.sizes['neuron']} neurons)"
        )
    axes = xr.DataArray(spont_pcs(spont, n_components), dims=("neuron", "spont_pc"))
    out = _with_step(ds, f"subtract_spont_pcs(n={n_components})")
    for name in ("trial_response", "spont"):
        x = ds[name].astype(np.float64)
        scores = xr.dot(x, axes, dim="neuron")
        out[name] = (x - xr.dot(scores, axes, dim="spont_pc")).transpose(*ds[name].dims).astype(np.float32)
    return out


def mean_center(ds: xr.Dataset) -> xr.Dataset:
    """Subtract each neuron's mean response over stimulus (non-blank) trials.

    Returns
    -------
    xarray.Dataset
        ``trial_response`` minus its mean over non-blank trials (blank trials shifted by
        the same amount), float32; ``spont`` unchanged.
    """
    _require_stimulus_recording(ds, "mean_center")
    shown = ~ds["is_blank"].values
    if not shown.any():
        raise InvalidInputError(f"mean_center: {_label(ds)} has no stimulus (non-blank) trials")
    resp = ds["trial_response"]
    mean = resp.isel(trial=np.flatnonzero(shown)).astype(np.float64).mean("trial")
    out = _with_step(ds, "mean_center")
    out["trial_response"] = (resp - mean).astype(np.float32)
    return out


def preprocess(ds: xr.Dataset, *, drop_red_cells: bool = True, zscore: bool = True, n_spont_pcs: int = 32,
               center: bool = True) -> xr.Dataset:
    """The paper's preprocessing: drop red cells, z-score by spont, remove spont PCs, centre.

    Parameters
    ----------
    ds : xarray.Dataset
        Stimulus recording (see :mod:`v1ann.recording.schema`).
    drop_red_cells : bool
        Apply :func:`drop_interneurons` (published: yes); False keeps the GAD+ cells.
    zscore : bool
        Apply :func:`zscore_by_spont`.
    n_spont_pcs : int
        Number of spontaneous PCs to project out (:func:`subtract_spont_pcs`); 0 skips it.
    center : bool
        Apply :func:`mean_center` (mean-centre each neuron over stimulus trials).

    Returns
    -------
    xarray.Dataset
        A new recording; ``attrs["preprocessing"]`` lists the steps applied, in order.
    """
    _require_stimulus_recording(ds, "preprocess")
    n_spont_pcs = check_int(n_spont_pcs, "n_spont_pcs", minimum=0)
    validate_recording(ds, name="preprocess(ds)", check_values=True)  # one NaN would spread to every neuron
    out = ds.copy()  # a new object even when every step is off; the data are shared, never modified
    out.attrs = {**ds.attrs, "preprocessing": preprocessing_steps(ds.attrs.get("preprocessing", []))}
    if drop_red_cells:
        out = drop_interneurons(out)
    if zscore:
        out = zscore_by_spont(out)
    if n_spont_pcs:
        out = subtract_spont_pcs(out, int(n_spont_pcs))
    if center:
        out = mean_center(out)
    return out
