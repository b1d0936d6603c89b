"""The recording schema: one ``xarray.Dataset`` layout for every source of data.

A stimulus recording holds ``trial_response`` (``trial``, ``neuron``) with the per-trial
coords ``stimulus`` (0-based id; blanks have id ``n_stimuli``) and ``is_blank``; optional
``spont`` (``time``, ``neuron``); neuron coords ``x``, ``y``, ``z`` and ``is_interneuron``;
and provenance in ``attrs``. A spontaneous-behaviour recording holds ``activity``
(``time``, ``neuron``) and behaviour variables over ``time``. See ``docs/data-model.md``.

Loaders, the simulator and the writers build datasets only through
:func:`make_recording` and :func:`make_spontaneous_recording`, so every source
yields the same layout and the same checks.
"""

from __future__ import annotations

from typing import Any, Mapping

import dask.array as da
import numpy as np
import xarray as xr

from v1ann._checks import check_int, check_option
from v1ann._utils import check_finite
from v1ann.errors import InvalidInputError, warn

__all__ = [
    "make_recording",
    "make_spontaneous_recording",
    "validate_recording",
    "stimulus_responses",
    "is_lazy",
]

RESPONSE = "trial_response"
ACTIVITY = "activity"


def is_lazy(array) -> bool:
    """True when ``array`` (ndarray, DataArray or dask array) is dask-backed."""
    data = getattr(array, "data", array)
    return type(data).__module__.startswith("dask")


def _describe(source: str | None) -> str:
    return f"{source}: " if source else ""


def _bad_neurons(values, axis: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Boolean masks over neurons: any NaN/Inf, and zero variance over ``axis``.

    Streams over row blocks so a float64 copy of the whole matrix is never made.
    """
    values = np.asarray(values)
    n_rows = values.shape[axis]
    moved = np.moveaxis(values, axis, 0)
    nonfinite = np.zeros(moved.shape[1], dtype=bool)
    vmin = np.full(moved.shape[1], np.inf)
    vmax = np.full(moved.shape[1], -np.inf)
    step = max(1, 2**22 // max(1, moved.shape[1]))
    for start in range(0, n_rows, step):
        block = moved[start : start + step]
        finite = np.isfinite(block)
        nonfinite |= ~finite.all(axis=0)
        vmin = np.minimum(vmin, np.where(finite, block, np.inf).min(axis=0))
        vmax = np.maximum(vmax, np.where(finite, block, -np.inf).max(axis=0))
    constant = ~nonfinite & (vmax <= vmin)
    return nonfinite, constant


def _screen_neurons(
    values, axis: int, what: str, source: str | None, drop_bad_neurons: bool
) -> np.ndarray | None:
    """Raise on NaN/Inf or zero-variance neurons, or return the mask of neurons to keep.

    Returns None when every neuron is fine (the common case: no copy needed).
    """
    nonfinite, constant = _bad_neurons(values, axis)
    n_bad = int((nonfinite | constant).sum())
    if n_bad == 0:
        return None
    detail = (
        f"{int(nonfinite.sum())} neuron(s) with NaN/Inf and "
        f"{int(constant.sum())} zero-variance neuron(s) in {what}"
    )
    if not drop_bad_neurons:
        raise InvalidInputError(
            f"{_describe(source)}{detail}; pass drop_bad_neurons=True to drop them"
        )
    keep = ~(nonfinite | constant)
    if not keep.any():
        raise InvalidInputError(f"{_describe(source)}{detail}: no usable neuron is left")
    warn(f"{_describe(source)}dropped {n_bad} of {keep.size} neurons ({detail})")
    return keep


def _neuron_coords(
    n_neurons: int, positions, is_interneuron, source: str | None
) -> dict[str, Any]:
    coords: dict[str, Any] = {"neuron": np.arange(n_neurons)}
    if positions is not None:
        positions = np.asarray(positions, dtype=float)
        if positions.ndim != 2 or positions.shape[0] != n_neurons or positions.shape[1] not in (2, 3):
            raise InvalidInputError(
                f"{_describe(source)}neuron positions (med) have shape {positions.shape}; "
                f"expected ({n_neurons}, 3)"
            )
        for k, name in enumerate("xyz"[: positions.shape[1]]):
            coords[name] = ("neuron", positions[:, k])
    if is_interneuron is not None:
        is_interneuron = np.asarray(is_interneuron).astype(bool).ravel()
        if is_interneuron.size != n_neurons:
            raise InvalidInputError(
                f"{_describe(source)}redcell has {is_interneuron.size} entries for "
                f"{n_neurons} neurons"
            )
        coords["is_interneuron"] = ("neuron", is_interneuron)
    return coords


def _clean_attrs(attrs: Mapping[str, Any] | None) -> dict[str, Any]:
    out = {k: v for k, v in dict(attrs or {}).items() if v is not None}
    out["preprocessing"] = preprocessing_steps(out.get("preprocessing", []))
    return out


def preprocessing_steps(value) -> list[str]:
    """``attrs["preprocessing"]`` as a new list of step names; one name is one step, not its letters."""
    if isinstance(value, str):
        return [value] if value else []
    if isinstance(value, np.ndarray):
        value = value.tolist()
    return [str(step) for step in value]


def _check_float32_range(values, name: str, source: str | None) -> None:
    """Refuse values that the float32 recording would turn into Inf (lazy arrays: checked when computed)."""
    if is_lazy(values) or values.dtype.itemsize <= 4 or not values.size:
        return
    with np.errstate(invalid="ignore"):
        largest = float(np.nanmax(np.abs(values)))
    if largest > float(np.finfo(np.float32).max):
        raise InvalidInputError(
            f"{_describe(source)}{name} holds values up to {largest:.3g}, beyond float32's range "
            f"({np.finfo(np.float32).max:.3g}) that recordings are stored in; rescale them"
        )


def _stimulus_ids(stimulus, n_trials: int, source: str | None) -> np.ndarray:
    """The trials' stimulus ids as int64, refused unless they are finite non-negative integers, one per trial."""
    stimulus = np.asarray(stimulus)
    if not np.issubdtype(stimulus.dtype, np.number) or np.iscomplexobj(stimulus):
        raise InvalidInputError(f"{_describe(source)}stimulus ids must be integers, got dtype {stimulus.dtype}")
    if stimulus.ndim != 1 or stimulus.size != n_trials:
        raise InvalidInputError(
            f"{_describe(source)}stimulus ids have {stimulus.size} entries but the response "
            f"matrix has {n_trials} rows (trials)"
        )
    if stimulus.size and not np.all(np.isfinite(stimulus)):
        raise InvalidInputError(f"{_describe(source)}stimulus ids contain NaN/Inf")
    if stimulus.size and np.any(stimulus != np.round(stimulus)):
        raise InvalidInputError(f"{_describe(source)}stimulus ids must be integers")
    if stimulus.size and stimulus.min() < 0:
        raise InvalidInputError(f"{_describe(source)}stimulus ids must be >= 0 (0-based)")
    if stimulus.size and stimulus.max() > np.iinfo(np.int64).max // 2:
        raise InvalidInputError(f"{_describe(source)}stimulus ids reach {stimulus.max():.3g}: not ids of a stimulus set")
    return stimulus.astype(np.int64)


def _label_blanks(stimulus: np.ndarray, is_blank, n_stimuli, source: str | None):
    """``(ids with blanks set to n_stimuli, is_blank, n_stimuli)``.

    Without ``is_blank``, only the id ``n_stimuli`` (the deposits' ``istim == n + 1``)
    marks a blank: an id above it is refused rather than silently turned into a blank.
    """
    if n_stimuli is not None:
        n_stimuli = check_int(n_stimuli, "n_stimuli", minimum=0)
    if is_blank is None:
        if n_stimuli is None:
            n_stimuli = int(stimulus.max()) + 1 if stimulus.size else 0
        is_blank = stimulus == n_stimuli
    else:
        is_blank = np.asarray(is_blank, dtype=bool).ravel()
        if is_blank.size != stimulus.size:
            raise InvalidInputError(
                f"{_describe(source)}is_blank has {is_blank.size} entries for {stimulus.size} trials"
            )
        if n_stimuli is None:
            shown = stimulus[~is_blank]
            n_stimuli = int(shown.max()) + 1 if shown.size else 0
    if np.any(stimulus[~is_blank] >= n_stimuli):
        raise InvalidInputError(
            f"{_describe(source)}stimulus ids reach {int(stimulus[~is_blank].max())} but the "
            f"stimulus set has {n_stimuli} stimuli (ids 0..{n_stimuli - 1}, blanks {n_stimuli})"
        )
    return np.where(is_blank, n_stimuli, stimulus), is_blank, n_stimuli


def make_recording(
    trial_response,
    stimulus,
    *,
    n_stimuli: int | None = None,
    is_blank=None,
    spont=None,
    positions=None,
    is_interneuron=None,
    attrs: Mapping[str, Any] | None = None,
    drop_bad_neurons: bool = False,
    source: str | None = None,
) -> xr.Dataset:
    """Build a stimulus recording in the v1ann schema.

    Parameters
    ----------
    trial_response : array (n_trials, n_neurons)
        Response of each neuron on each presentation; numpy or dask. Stored as float32.
    stimulus : array (n_trials,) of int
        0-based stimulus id of each trial. Blank (grey-screen) trials carry id
        ``n_stimuli`` unless ``is_blank`` says otherwise.
    n_stimuli : int, optional
        Size of the stimulus set; default ``max(stimulus) + 1`` over non-blank trials.
    is_blank : array (n_trials,) of bool, optional
        Grey-screen trials; default ``stimulus == n_stimuli``.
    spont : array (n_time, n_neurons), optional
        Spontaneous activity (grey screen, no stimulus).
    positions : array (n_neurons, 3), optional
        Neuron positions (the deposit's ``med``), stored as coords ``x``, ``y``, ``z``.
    is_interneuron : array (n_neurons,) of bool, optional
        The deposit's ``stat.redcell``.
    attrs : mapping, optional
        Provenance (``source``, ``stimulus_set``, ``mouse``, ``date``, ...). None values are
        left out; ``preprocessing`` defaults to an empty list.
    drop_bad_neurons : bool
        Neurons with NaN/Inf or zero variance raise :class:`InvalidInputError` unless this
        is True, in which case they are dropped and counted in one :class:`V1AnnWarning`.
        Dask-backed responses are not scanned here (that would read the whole file); their
        NaNs are caught chunk by chunk when the data are computed.
    source : str, optional
        File name used in error messages.

    Returns
    -------
    xarray.Dataset
        Inputs are not modified; numpy inputs are copied only when converted to float32
        or when neurons are dropped.
    """
    lazy = is_lazy(trial_response)
    response = trial_response if lazy else np.asarray(trial_response)
    if response.ndim != 2:
        raise InvalidInputError(
            f"{_describe(source)}trial_response must be 2-D (trial, neuron), got shape "
            f"{response.shape}"
        )
    if not np.issubdtype(response.dtype, np.number) or np.issubdtype(response.dtype, np.complexfloating):
        raise InvalidInputError(f"{_describe(source)}trial_response must be real numbers, got dtype {response.dtype}")
    _check_float32_range(response, "trial_response", source)
    n_trials, n_neurons = response.shape
    stimulus = _stimulus_ids(stimulus, n_trials, source)
    stimulus, is_blank, n_stimuli = _label_blanks(stimulus, is_blank, n_stimuli, source)

    if spont is not None:
        spont = spont if is_lazy(spont) else np.asarray(spont)
        if spont.ndim != 2 or spont.shape[1] != n_neurons:
            raise InvalidInputError(
                f"{_describe(source)}spont has shape {spont.shape}; expected (time, {n_neurons})"
            )

    if not lazy:
        keep = _screen_neurons(response, 0, "trial_response", source, drop_bad_neurons)
        if keep is not None:
            response = response[:, keep]
            spont = None if spont is None else spont[:, keep]
            positions = None if positions is None else np.asarray(positions)[keep]
            is_interneuron = None if is_interneuron is None else np.asarray(is_interneuron).ravel()[keep]
            n_neurons = int(keep.sum())
        response = response.astype(np.float32, copy=False)
    else:
        response = response.astype(np.float32)

    coords = _neuron_coords(n_neurons, positions, is_interneuron, source)
    coords.update(
        {
            "trial": np.arange(n_trials),
            "stimulus": ("trial", stimulus),
            "is_blank": ("trial", is_blank),
        }
    )
    data_vars: dict[str, Any] = {RESPONSE: (("trial", "neuron"), response)}
    if spont is not None:
        spont = spont.astype(np.float32) if is_lazy(spont) else spont.astype(np.float32, copy=False)
        if not is_lazy(spont):
            check_finite(spont, f"{_describe(source)}spont")
        data_vars["spont"] = (("time", "neuron"), spont)
    out_attrs = _clean_attrs(attrs)
    out_attrs["n_stimuli"] = int(n_stimuli)
    if source is not None:
        out_attrs.setdefault("source", source)
    return xr.Dataset(data_vars, coords=coords, attrs=out_attrs)


def make_spontaneous_recording(
    activity,
    *,
    run_speed=None,
    pupil_area=None,
    face_motion=None,
    positions=None,
    is_interneuron=None,
    attrs: Mapping[str, Any] | None = None,
    drop_bad_neurons: bool = False,
    source: str | None = None,
) -> xr.Dataset:
    """Build a spontaneous-behaviour recording.

    Parameters
    ----------
    activity : array (n_time, n_neurons)
        Neural activity over time (the deposit's ``Fsp``, transposed).
    run_speed, pupil_area : array (n_time,), optional
        Behaviour, one value per imaging frame.
    face_motion : array (n_time, n_face_pcs), optional
        Face-motion SVD components.
    positions, is_interneuron, attrs, drop_bad_neurons, source
        As in :func:`make_recording`.

    Returns
    -------
    xarray.Dataset
        ``activity`` (``time``, ``neuron``) plus the behaviour variables over ``time``.
    """
    lazy = is_lazy(activity)
    activity = activity if lazy else np.asarray(activity)
    if activity.ndim != 2:
        raise InvalidInputError(
            f"{_describe(source)}activity must be 2-D (time, neuron), got shape {activity.shape}"
        )
    if not np.issubdtype(activity.dtype, np.number):
        raise InvalidInputError(f"{_describe(source)}activity must be numeric, got dtype {activity.dtype}")
    n_time, n_neurons = activity.shape
    if not lazy:
        keep = _screen_neurons(activity, 0, "activity", source, drop_bad_neurons)
        if keep is not None:
            activity = activity[:, keep]
            positions = None if positions is None else np.asarray(positions)[keep]
            is_interneuron = None if is_interneuron is None else np.asarray(is_interneuron).ravel()[keep]
            n_neurons = int(keep.sum())
    activity = activity.astype(np.float32) if lazy else activity.astype(np.float32, copy=False)
    coords = _neuron_coords(n_neurons, positions, is_interneuron, source)
    coords["time"] = np.arange(n_time)
    data_vars: dict[str, Any] = {ACTIVITY: (("time", "neuron"), activity)}
    for name, values in (("run_speed", run_speed), ("pupil_area", pupil_area)):
        if values is None:
            continue
        values = np.asarray(values, dtype=float).ravel()
        if values.size != n_time:
            raise InvalidInputError(
                f"{_describe(source)}{name} has {values.size} samples for {n_time} time points"
            )
        data_vars[name] = ("time", values)
    if face_motion is not None:
        face_motion = np.asarray(face_motion, dtype=float)
        if face_motion.ndim == 1:
            face_motion = face_motion[:, None]
        if face_motion.ndim != 2:
            raise InvalidInputError(
                f"{_describe(source)}face motion SVDs must be 2-D (time, component), got shape {face_motion.shape}"
            )
        if face_motion.shape[0] != n_time and face_motion.shape[1] == n_time:
            face_motion = face_motion.T
        if face_motion.shape[0] != n_time:
            raise InvalidInputError(
                f"{_describe(source)}face motion SVDs have shape {face_motion.shape} for "
                f"{n_time} time points"
            )
        data_vars["face_motion"] = (("time", "face_pc"), face_motion)
    out_attrs = _clean_attrs(attrs)
    if source is not None:
        out_attrs.setdefault("source", source)
    return xr.Dataset(data_vars, coords=coords, attrs=out_attrs)


def validate_recording(ds, *, name: str = "recording", check_values: bool | None = None) -> xr.Dataset:
    """Check that ``ds`` follows the recording schema; return it unchanged.

    Parameters
    ----------
    ds : xarray.Dataset
        A stimulus recording (``trial_response``) or a spontaneous one (``activity``).
    name : str
        What to call ``ds`` in error messages; ``attrs["source"]`` is added when present.
    check_values : bool, optional
        Scan the values for NaN/Inf. Default: yes for in-memory data, no for dask-backed
        data (a full pass over a file bigger than memory); dask-backed data are checked
        chunk by chunk when :func:`stimulus_responses` results are computed.

    Raises
    ------
    InvalidInputError
        Naming the recording and what is missing or malformed.
    """
    if not isinstance(ds, xr.Dataset):
        raise InvalidInputError(
            f"{name} must be an xarray.Dataset in the v1ann recording schema, got "
            f"{type(ds).__name__}"
        )
    source = ds.attrs.get("source")
    label = f"{name} ({source})" if source else name
    if RESPONSE in ds:
        var = ds[RESPONSE]
        if var.dims != ("trial", "neuron"):
            raise InvalidInputError(f"{label}: {RESPONSE} has dims {var.dims}; expected ('trial', 'neuron')")
        for coord in ("stimulus", "is_blank"):
            if coord not in ds.coords or ds[coord].dims != ("trial",):
                raise InvalidInputError(f"{label}: coord {coord!r} over 'trial' is missing")
        if not np.issubdtype(ds["stimulus"].dtype, np.integer):
            raise InvalidInputError(f"{label}: coord 'stimulus' must hold integer ids, got {ds['stimulus'].dtype}")
        if ds["is_blank"].dtype != bool:
            raise InvalidInputError(f"{label}: coord 'is_blank' must be boolean")
        if ds.sizes["trial"] and int(ds["stimulus"].min()) < 0:
            raise InvalidInputError(f"{label}: stimulus ids must be >= 0 (0-based)")
        values = var
    elif ACTIVITY in ds:
        values = ds[ACTIVITY]
        if values.dims != ("time", "neuron"):
            raise InvalidInputError(f"{label}: {ACTIVITY} has dims {values.dims}; expected ('time', 'neuron')")
    else:
        raise InvalidInputError(
            f"{label} has neither {RESPONSE!r} (stimulus recording) nor {ACTIVITY!r} "
            f"(spontaneous recording); data variables: {sorted(ds.data_vars)}"
        )
    if "spont" in ds and ds["spont"].dims != ("time", "neuron"):
        raise InvalidInputError(f"{label}: spont has dims {ds['spont'].dims}; expected ('time', 'neuron')")
    if check_values is None:
        check_values = not is_lazy(values)
    if check_values:
        check_finite(values.values, f"{label} {values.name}")
    return ds


def _trial_table(stimulus: np.ndarray, is_blank: np.ndarray, label: str, min_repeats: int):
    """(repeat, stimulus) trial indices and stimulus ids, after the drop rules."""
    trials, unique, starts, counts = _presentations(stimulus, is_blank)
    enough = counts >= min_repeats
    if not enough.any():
        raise InvalidInputError(
            f"{label}: no stimulus was shown at least {min_repeats} times "
            f"({unique.size} stimuli, at most {int(counts.max()) if counts.size else 0} "
            "presentation(s) each); repeats are needed to separate signal from noise"
        )
    n_few = int((~enough).sum())
    n_repeats = int(counts[enough].min())
    n_extra = int((counts[enough] - n_repeats).sum())
    if n_few or n_extra:
        parts = []
        if n_few:
            parts.append(f"dropped {n_few} stimulus/stimuli with fewer than {min_repeats} repeats")
        if n_extra:
            parts.append(
                f"kept the first {n_repeats} presentations of each stimulus and discarded "
                f"{n_extra} extra presentation(s) of stimuli shown more often"
            )
        warn(f"{label}: " + "; ".join(parts))
    starts, kept_ids = starts[enough], unique[enough]
    table = trials[starts[None, :] + np.arange(n_repeats)[:, None]]
    return table, kept_ids


def _presentations(stimulus: np.ndarray, is_blank: np.ndarray):
    """Non-blank trials grouped by stimulus, each group in trial order; the ids, group starts, counts."""
    shown = np.flatnonzero(~is_blank)
    order = np.argsort(stimulus[shown], kind="stable")  # stable: presentations stay in trial order
    unique, starts, counts = np.unique(stimulus[shown][order], return_index=True, return_counts=True)
    return shown[order], unique, starts, counts


def _pair_table(stimulus: np.ndarray, is_blank: np.ndarray, label: str, min_repeats: int):
    """(2, pairs) trial indices of the pseudo-stimuli, with each pair's image id and pair number."""
    trials, unique, starts, counts = _presentations(stimulus, is_blank)
    enough = counts >= min_repeats
    if not enough.any():
        raise InvalidInputError(f"{label}: no stimulus was shown at least {min_repeats} times, so no trial pairs")
    if (~enough).any():
        warn(f"{label}: dropped {int((~enough).sum())} stimulus/stimuli with fewer than {min_repeats} repeats")
    first, second, image, pair = [], [], [], []
    for stim, start, count in zip(unique[enough], starts[enough], counts[enough]):
        own = trials[start : start + count]
        half = count // 2
        first.append(own[:half])
        second.append(own[half : 2 * half])
        image.append(np.full(half, stim))
        pair.append(np.arange(half))
    return (np.stack([np.concatenate(first), np.concatenate(second)]), np.concatenate(image),
            np.concatenate(pair))


def _finite_block_guard(block, label: str, block_info=None):
    if not np.isfinite(block).all():
        where = ""
        if block_info:
            loc = block_info[0]["array-location"]
            where = " in chunk " + ", ".join(f"{a}:{b}" for a, b in loc)
        raise InvalidInputError(
            f"{label}: {int((~np.isfinite(block)).sum())} NaN/Inf response value(s){where}"
        )
    return block


# Stimulus sets of few images shown ~96 times, whose published cvPCA pairs the trials
# (powerlaws/natimg32PCA.m of Stringer et al. 2019): 32 images would allow 32 components.
TRIAL_PAIR_SETS = ("natimg32", "ori32")


def stimulus_responses(ds: xr.Dataset, *, min_repeats: int = 2, trial_pairs: bool | str = "auto") -> xr.DataArray:
    """Responses arranged by repeat, stimulus and neuron.

    Blank trials are dropped. Stimuli shown fewer than ``min_repeats`` times are dropped
    and counted in one :class:`V1AnnWarning`. When stimuli were shown unequally often
    (ori32 and natimg32 have ~96 repeats, a few more or fewer), every kept stimulus keeps
    its first ``R`` presentations, ``R`` being the smallest count among kept stimuli; the
    discarded presentations are counted in the same warning.

    With ``trial_pairs``, each stimulus' ``n`` presentations instead become ``n // 2``
    pseudo-stimuli of two repeats: presentation ``j`` paired with presentation ``n // 2 + j``
    (in trial order), as the published cvPCA of natimg32 treats 32 images × 96 repeats as
    32 × 48 images shown twice. The spectrum then has as many ranks as pairs, not images;
    its signal is the images' plus whatever varies slowly across the session.

    Parameters
    ----------
    ds : xarray.Dataset
        A stimulus recording (see :func:`make_recording`).
    min_repeats : int
        Fewest presentations a stimulus needs to be kept (>= 2).
    trial_pairs : bool or "auto"
        Pair the trials into pseudo-stimuli (above). ``"auto"``: for the stimulus sets whose
        published analysis does (``ds.attrs["stimulus_set"]`` in ``TRIAL_PAIR_SETS``).

    Returns
    -------
    xarray.DataArray
        float32, dims (``repeat``, ``stimulus``, ``neuron``); ``repeat`` r is each
        stimulus' r-th presentation in trial order; ``stimulus`` holds the kept ids; neuron
        coords and ``ds.attrs`` are carried over. With trial pairs: two repeats,
        ``stimulus`` numbers the pseudo-stimuli, coords ``image`` (the stimulus id) and
        ``pair`` along it, and ``attrs["trial_pairs"] = 1``. Never contains NaN/Inf: in-memory data are
        checked here, dask-backed data raise :class:`InvalidInputError` naming the chunk
        when computed.

    Raises
    ------
    InvalidInputError
        Not a stimulus recording, NaN/Inf responses, or no stimulus with enough repeats.
    """
    validate_recording(ds, name="stimulus_responses(ds)", check_values=False)
    source = ds.attrs.get("source")
    label = f"stimulus_responses: {source}" if source else "stimulus_responses"
    if RESPONSE not in ds:
        raise InvalidInputError(
            f"{label}: the recording has no {RESPONSE!r} (a spontaneous recording has no "
            "stimulus repeats)"
        )
    if int(min_repeats) < 2:
        raise InvalidInputError(f"min_repeats must be >= 2, got {min_repeats}")
    check_option("trial_pairs", trial_pairs, (True, False, "auto"))
    if trial_pairs == "auto":
        trial_pairs = ds.attrs.get("stimulus_set") in TRIAL_PAIR_SETS
    stimulus_coords = {}
    if trial_pairs:
        table, image, pair = _pair_table(ds["stimulus"].values, ds["is_blank"].values, label, int(min_repeats))
        kept_ids = np.arange(table.shape[1])
        stimulus_coords = {"image": ("stimulus", image), "pair": ("stimulus", pair)}
    else:
        table, kept_ids = _trial_table(ds["stimulus"].values, ds["is_blank"].values, label, int(min_repeats))
    var = ds[RESPONSE]
    data = var.data
    if is_lazy(var):

        picked = da.stack([data[row] for row in table])
        picked = picked.map_blocks(
            _finite_block_guard, label=label, dtype=picked.dtype, meta=np.empty((0, 0, 0), picked.dtype)
        )
    else:
        picked = np.asarray(data)[table]
        _finite_block_guard(picked, label)
    coords = {
        "repeat": np.arange(table.shape[0]),
        "stimulus": kept_ids,
        **stimulus_coords,
        **{name: c for name, c in var.coords.items() if c.dims == ("neuron",)},
    }
    attrs = {**ds.attrs, "preprocessing": preprocessing_steps(ds.attrs.get("preprocessing", []))}
    if trial_pairs:
        attrs["trial_pairs"] = 1
    return xr.DataArray(picked, dims=("repeat", "stimulus", "neuron"), coords=coords, name="responses",
                        attrs=attrs)
