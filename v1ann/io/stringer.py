"""The Stringer et al. 2019 figshare deposits (.mat) to and from the recording schema.

Stimulus files (``natimg2800*``, ``natimg32``, ``ori32``) hold a struct ``stim`` with
``resp`` (trials x neurons), ``istim`` (trials, 1-based stimulus id; ``n + 1`` marks a
grey-screen trial), ``spont`` (time x neurons) and, for ori32, ``ori``; plus ``med``
(neurons x 3 positions) and the struct array ``stat`` (``redcell`` marks interneurons).
Spontaneous-behaviour files (``spont_*``) hold ``Fsp`` (neurons x time), ``med``,
``stat`` and ``beh`` (``runSpeed``, ``pupil.area``, ``face.motionSVD``).

Files written by :func:`save_stringer_mat` also carry ``v1ann_attrs`` (the recording's
attrs as JSON, incl. the stimulus-set size) and, for simulations,
``v1ann_true_signal_spectrum``, so a simulated recording survives the round trip.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from v1ann._checks import check_int, check_path, check_target
from v1ann._utils import make_rng, to_jsonable
from v1ann.errors import DataFileError, InvalidInputError
from v1ann.io._matfile import H5Variable, read_mat, struct_field, to_numpy, write_mat
from v1ann.recording.schema import (
    make_recording,
    make_spontaneous_recording,
    validate_recording,
)

__all__ = ["load_stringer", "save_stringer_mat", "parse_deposit_name"]

# Responses larger than this are opened lazily (dask) when lazy=None and the file is v7.3.
LAZY_THRESHOLD_BYTES = 512 * 2**20
# scipy's v5 writer cannot store a variable of 2 GiB or more.
V5_MAX_BYTES = 2**31 - 1

# Stimulus-set sizes of the deposit (blank trials carry istim = size + 1).
STIMULUS_SET_SIZES = {"natimg2800": 2800, "natimg2800_white": 2800, "natimg32": 32, "ori32": 32}

_NAME = re.compile(
    r"^(?P<stimulus_set>[A-Za-z0-9]+(?:_(?!M\d)[A-Za-z0-9]+)*)_(?P<mouse>M\d+_MP\d+)_(?P<date>\d{4}-\d{2}-\d{2})$"
)


def parse_deposit_name(path: str | os.PathLike) -> dict[str, str]:
    """``stimulus_set``, ``mouse`` and ``date`` from a deposit file name; {} if it doesn't match.

    >>> parse_deposit_name("natimg2800_M170717_MP034_2017-09-11.mat")
    {'stimulus_set': 'natimg2800', 'mouse': 'M170717_MP034', 'date': '2017-09-11'}
    """
    match = _NAME.match(Path(path).stem)
    return match.groupdict() if match else {}


def _saved_attrs(tree: dict[str, Any], path: Path) -> dict[str, Any]:
    raw = tree.get("v1ann_attrs")
    if raw is None:
        return {}
    try:
        attrs = json.loads(str(raw))
    except ValueError:
        raise DataFileError(f"{path}: v1ann_attrs is not valid JSON") from None
    if not isinstance(attrs, dict):
        raise DataFileError(f"{path}: v1ann_attrs is not a JSON object")
    n_stimuli = attrs.get("n_stimuli", 0)
    if not isinstance(attrs.get("preprocessing", []), list) or not isinstance(n_stimuli, int) or n_stimuli < 0:
        raise DataFileError(f"{path}: v1ann_attrs has a malformed 'preprocessing' or 'n_stimuli'")
    return attrs


def _resolve_n_stimuli(istim0: np.ndarray, n_stimuli, saved: dict, name: dict) -> int:
    """Size of the stimulus set; trials with the 0-based id ``n_stimuli`` are blanks."""
    if n_stimuli is not None:
        return check_int(n_stimuli, "n_stimuli", minimum=0)
    if "n_stimuli" in saved:
        return check_int(saved["n_stimuli"], "the file's saved n_stimuli", minimum=0)
    stimulus_set = name.get("stimulus_set")
    if stimulus_set in STIMULUS_SET_SIZES:
        return STIMULUS_SET_SIZES[stimulus_set]
    if stimulus_set:  # another deposit file: its convention is that the largest id is blank
        return int(istim0.max())
    return int(istim0.max()) + 1  # unknown origin: no blanks unless n_stimuli says so


def _unsqueezed(resp, n_trials: int):
    """A response vector as the (trials, neurons) matrix it was before MATLAB squeezed it."""
    if isinstance(resp, np.ndarray) and resp.ndim == 1:
        return resp[:, None] if resp.size == n_trials else resp[None, :] if n_trials == 1 else resp
    return resp


def _maybe_lazy(value, lazy: bool | None):
    if isinstance(value, H5Variable):
        nbytes = int(np.prod(value.shape)) * value.dtype.itemsize
        if lazy or (lazy is None and nbytes > LAZY_THRESHOLD_BYTES):
            return value.dask()
        return value.numpy()
    return None if value is None else np.asarray(value)


def _numeric(value, what: str, path: Path) -> np.ndarray:
    """A tree leaf as an in-memory numeric array, or DataFileError naming the field."""
    array = to_numpy(value)
    if not (np.issubdtype(array.dtype, np.number) or array.dtype == bool):
        raise DataFileError(f"{path}: {what} is not numeric (MATLAB class of dtype {array.dtype})")
    return array


def _get(node, key: str, path: Path, where: str):
    if not isinstance(node, dict) or key not in node:
        have = sorted(node) if isinstance(node, dict) else type(node).__name__
        raise DataFileError(f"{path}: {where} has no {key!r} field (found: {have})")
    return node[key]


def _positions(tree, n_neurons: int, path: Path):
    med = tree.get("med")
    if med is None:
        return None
    med = _numeric(med, "med", path).astype(float)
    if med.ndim == 2 and med.shape[0] != n_neurons and med.shape[1] == n_neurons:
        med = med.T
    if med.ndim != 2 or med.shape[0] != n_neurons:
        raise DataFileError(f"{path}: med has shape {med.shape}; expected ({n_neurons}, 3)")
    return med


def _redcell(tree, n_neurons: int, path: Path):
    stat = tree.get("stat")
    if stat is None:
        return None
    red = struct_field(stat, "redcell")
    if red is None:
        return None
    if red.size != n_neurons or not (np.issubdtype(red.dtype, np.number) or red.dtype == bool):
        raise DataFileError(f"{path}: stat.redcell must hold one number per neuron ({n_neurons})")
    return red.astype(bool)


def load_stringer(
    path: str | os.PathLike,
    *,
    lazy: bool | None = None,
    drop_bad_neurons: bool = False,
    n_stimuli: int | None = None,
) -> xr.Dataset:
    """Load one file of the Stringer et al. 2019 deposits as a recording.

    Parameters
    ----------
    path : path-like
        A ``natimg2800*``, ``natimg32``, ``ori32`` or ``spont_*`` .mat file (MATLAB v5/v7 or
        v7.3), or a file written by :func:`save_stringer_mat`.
    lazy : bool, optional
        Open the response matrices of a v7.3 (HDF5) file as dask arrays, chunked over
        neurons, instead of reading them. Default: lazily when the responses exceed
        512 MiB. v5/v7 files are always read whole (the format has no random access).
    drop_bad_neurons : bool
        Drop neurons with NaN/Inf or zero-variance responses (counted in one
        :class:`~v1ann.errors.V1AnnWarning`) instead of raising. Not applied to lazy data.
    n_stimuli : int, optional
        Size of the stimulus set (ids above it are grey-screen trials). Default: stored by
        v1ann, else known from the deposit's file name (2,800 for natimg2800), else the
        deposit convention that the largest id marks blanks; files of unknown origin are
        taken to have no blank trials.

    Returns
    -------
    xarray.Dataset
        Stimulus files: ``trial_response`` (``trial``, ``neuron``) float32 with coords
        ``stimulus`` (0-based; blanks have id ``n_stimuli``), ``is_blank``, ``orientation``
        (ori32, degrees), ``spont``, neuron coords ``x``, ``y``, ``z``, ``is_interneuron``.
        Spontaneous files: ``activity`` (``time``, ``neuron``), ``run_speed``,
        ``pupil_area``, ``face_motion`` (``time``, ``face_pc``). attrs: ``source`` (file
        name) and, when the name follows the deposit's pattern, ``stimulus_set``,
        ``mouse``, ``date``.

    Raises
    ------
    DataFileError
        Missing, truncated or corrupt file; no ``stim`` (or ``Fsp``); ``istim`` length
        differs from the rows of ``resp``.
    InvalidInputError
        NaN/Inf or zero-variance neurons (unless ``drop_bad_neurons``).
    """
    path = check_path(path)
    tree = read_mat(path)
    name = parse_deposit_name(path)
    saved = _saved_attrs(tree, path)
    attrs = {**saved, **name, "source": path.name}
    attrs.pop("n_stimuli", None)
    if "Fsp" in tree:
        return _load_spontaneous(tree, path, attrs, lazy, drop_bad_neurons)
    if "stim" not in tree:
        raise DataFileError(
            f"{path}: no 'stim' struct (nor 'Fsp'): not a Stringer deposit file "
            f"(variables: {sorted(tree)})"
        )
    stim = tree["stim"]
    istim = _numeric(_get(stim, "istim", path, "stim"), "stim.istim", path).ravel()
    # MATLAB (and scipy.io) squeeze a one-neuron (trials x 1) matrix to a vector
    resp = _unsqueezed(_get(stim, "resp", path, "stim"), istim.size)
    if len(getattr(resp, "shape", ())) != 2 or not np.issubdtype(np.dtype(getattr(resp, "dtype", object)), np.number):
        raise DataFileError(f"{path}: stim.resp must be a numeric (trials, neurons) matrix")
    n_trials, n_neurons = resp.shape
    if istim.size != n_trials:
        raise DataFileError(
            f"{path}: stim.istim has {istim.size} entries but stim.resp has {n_trials} rows (trials)"
        )
    if not np.all(np.isfinite(istim)) or np.any(istim < 1) or np.any(istim != np.round(istim)):
        raise DataFileError(f"{path}: stim.istim must hold 1-based integer stimulus ids")
    istim0 = istim.astype(np.int64) - 1
    n_set = _resolve_n_stimuli(istim0, n_stimuli, saved, name)

    response = _maybe_lazy(resp, lazy)
    spont = stim.get("spont")
    spont = _maybe_lazy(spont if getattr(spont, "ndim", 2) != 1 or n_neurons != 1 else spont[:, None], lazy)
    ds = make_recording(
        response,
        istim0,
        n_stimuli=n_set,
        spont=spont,
        positions=_positions(tree, n_neurons, path),
        is_interneuron=_redcell(tree, n_neurons, path),
        attrs=attrs,
        drop_bad_neurons=drop_bad_neurons,
        source=str(path),
    )
    ds.attrs["source"] = path.name
    if "ori" in stim:
        ds = _attach_orientation(ds, _numeric(stim["ori"], "stim.ori", path).ravel().astype(float), path)
    if "v1ann_true_signal_spectrum" in tree:
        spectrum = _numeric(tree["v1ann_true_signal_spectrum"], "v1ann_true_signal_spectrum", path).ravel().astype(float)
        ds["true_signal_spectrum"] = ("rank", spectrum)
        ds = ds.assign_coords(rank=np.arange(1, spectrum.size + 1))
    return ds


def _attach_orientation(ds: xr.Dataset, ori: np.ndarray, path: Path) -> xr.Dataset:
    """``stim.ori`` per trial, or per stimulus id (then spread over trials); NaN on blanks."""
    if ori.size == ds.sizes["trial"]:
        per_trial = ori
    elif ori.size == ds.attrs["n_stimuli"]:
        ids = ds["stimulus"].values
        per_trial = np.where(ds["is_blank"].values, np.nan, ori[np.minimum(ids, ori.size - 1)])
    else:
        raise DataFileError(
            f"{path}: stim.ori has {ori.size} entries; expected one per trial "
            f"({ds.sizes['trial']}) or per stimulus ({ds.attrs['n_stimuli']})"
        )
    return ds.assign_coords(orientation=("trial", per_trial))


def _load_spontaneous(tree, path: Path, attrs, lazy, drop_bad_neurons) -> xr.Dataset:
    fsp = tree["Fsp"]
    if isinstance(fsp, np.ndarray) and fsp.ndim == 1:  # one neuron, squeezed by MATLAB
        fsp = fsp[None, :]
    if len(getattr(fsp, "shape", ())) != 2 or not np.issubdtype(np.dtype(getattr(fsp, "dtype", object)), np.number):
        raise DataFileError(f"{path}: Fsp must be a numeric (neurons, time) matrix")
    n_neurons = fsp.shape[0]
    activity = _maybe_lazy(fsp, lazy).T
    beh = tree.get("beh") if isinstance(tree.get("beh"), dict) else {}

    def behaviour(*keys):
        node = beh
        for key in keys:
            if not isinstance(node, dict) or key not in node:
                return None
            node = node[key]
        return _numeric(node, "beh." + ".".join(keys), path)

    face = behaviour("face", "motionSVD")
    return make_spontaneous_recording(
        activity,
        run_speed=behaviour("runSpeed"),
        pupil_area=behaviour("pupil", "area"),
        face_motion=None if face is None else np.atleast_2d(face),
        positions=_positions(tree, n_neurons, path),
        is_interneuron=_redcell(tree, n_neurons, path),
        attrs={**attrs, "stimulus_set": attrs.get("stimulus_set", "spont")},
        drop_bad_neurons=drop_bad_neurons,
        source=str(path),
    ).assign_attrs(source=path.name)


# ---------------------------------------------------------------- writing


def presentation_order(stimulus: np.ndarray, seed=None) -> np.ndarray:
    """A random trial order in which each stimulus' presentations keep their order.

    Returns trial indices ``order`` such that ``stimulus[order]`` is shuffled but the
    k-th presentation of every stimulus in the new order is its k-th in the old one, so
    repeat numbers survive the shuffle.
    """
    stimulus = np.asarray(stimulus)
    shuffled = make_rng(seed).permutation(stimulus.size)
    order = np.empty(stimulus.size, dtype=np.int64)
    order[np.argsort(stimulus[shuffled], kind="stable")] = np.argsort(stimulus, kind="stable")
    return order


def _neuron_tree(ds: xr.Dataset) -> dict[str, Any]:
    tree: dict[str, Any] = {}
    if all(c in ds.coords for c in "xyz"):
        tree["med"] = np.stack([ds[c].values for c in "xyz"], axis=1).astype(float)
    if "is_interneuron" in ds.coords:
        tree["stat"] = [{"redcell": float(v)} for v in ds["is_interneuron"].values]
    return tree


def save_stringer_mat(ds: xr.Dataset, path: str | os.PathLike, *, version: str = "auto", seed=0) -> Path:
    """Write a recording in the deposit's .mat layout, atomically.

    Parameters
    ----------
    ds : xarray.Dataset
        A stimulus recording (written as ``stim.resp``, ``stim.istim``, ``stim.spont``,
        ``stim.ori``, ``med``, ``stat.redcell``) or a spontaneous one (``Fsp``, ``beh``).
    path : path-like
        Destination.
    version : {"auto", "5", "7", "7.3"}
        MATLAB v5 (scipy.io), v7 (v5 with zlib compression, MATLAB's default) or v7.3
        (HDF5 via h5py, readable lazily). "auto" is "5", or "7.3" when a variable reaches
        the 2 GiB limit of v5/v7.
    seed : int or None
        Seed of the shuffled presentation order (trials are written in a random order,
        as in the experiment, keeping each stimulus' repeats in order).

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    validate_recording(ds, name="save_stringer_mat(ds)")
    if version not in ("auto", "5", "7", "7.3"):
        raise InvalidInputError(f"version must be 'auto', '5', '7' or '7.3', got {version!r}")
    path = check_target(path)
    attrs = dict(ds.attrs)
    if "trial_response" in ds:
        stimulus = ds["stimulus"].values
        order = presentation_order(stimulus, seed)
        resp = np.asarray(ds["trial_response"].values, dtype=np.float32)[order]
        stim: dict[str, Any] = {"resp": resp, "istim": (stimulus[order] + 1).astype(float)}
        if "spont" in ds:
            stim["spont"] = np.asarray(ds["spont"].values, dtype=np.float32)
        if "orientation" in ds.coords:
            stim["ori"] = ds["orientation"].values[order].astype(float)
        data = {"stim": stim}
        attrs.setdefault("n_stimuli", int(stimulus[~ds["is_blank"].values].max()) + 1 if stimulus.size else 0)
        largest = max(resp.nbytes, stim.get("spont", resp[:0]).nbytes)
    else:
        fsp = np.asarray(ds["activity"].values, dtype=np.float32).T
        beh: dict[str, Any] = {}
        if "run_speed" in ds:
            beh["runSpeed"] = ds["run_speed"].values
        if "pupil_area" in ds:
            beh["pupil"] = {"area": ds["pupil_area"].values}
        if "face_motion" in ds:
            beh["face"] = {"motionSVD": ds["face_motion"].values}
        data = {"beh": beh, "Fsp": fsp} if beh else {"Fsp": fsp}
        largest = fsp.nbytes
    # The data go last: a file cut at any variable boundary then loses them and is
    # refused, instead of loading without its metadata (e.g. the stimulus-set size).
    tree: dict[str, Any] = {"v1ann_attrs": json.dumps(to_jsonable(attrs))}
    if "true_signal_spectrum" in ds:
        tree["v1ann_true_signal_spectrum"] = ds["true_signal_spectrum"].values.astype(float)
    tree.update(_neuron_tree(ds))
    tree.update(data)
    if version == "auto":
        version = "7.3" if largest > V5_MAX_BYTES else "5"
    elif version in ("5", "7") and largest > V5_MAX_BYTES:
        raise InvalidInputError(
            f"{path}: a variable of {largest / 2**30:.1f} GiB exceeds MATLAB v{version}'s 2 GiB limit; use version='7.3'"
        )
    write_mat(path, tree, version=version)
    return path
