"""NWB 2.x files (via pynwb) to and from the recording schema.

Reading: responses come from an ophys ``RoiResponseSeries`` (inside ``DfOverF`` or
``Fluorescence``); stimulus ids from a column of the ``trials`` (or ``epochs``) table.
When the series has one sample per trial (as :func:`save_nwb` writes) its rows are the
trial responses; when it is a continuous time series, each trial's response is the mean
over the samples whose timestamps fall in ``[start_time, stop_time)``.

Writing (:func:`save_nwb`): one ``PlaneSegmentation`` (ROI positions in columns ``x``,
``y``, ``z`` and a one-voxel mask, or a 1 x 1 image mask when positions are unknown;
``is_interneuron`` column), a ``DfOverF`` holding the
series ``trial_response`` (one sample per trial, at the trial's start) and ``spont``
(or ``activity`` for a spontaneous recording), the trials table with columns
``stimulus_id`` (0-based) and ``is_blank``, behaviour as ``TimeSeries`` in a ``behavior``
module, the recording's attrs as JSON in ``notes`` and, for simulations, the true
signal spectrum in ``scratch``.
"""

from __future__ import annotations

import datetime
import json
import os
import warnings
from pathlib import Path
from typing import Any

import dask.array as da
import h5py
import numpy as np
import xarray as xr

from v1ann._checks import check_path, check_target
from v1ann._utils import atomic_path, to_jsonable
from v1ann.errors import DataFileError, InvalidInputError
from v1ann.io._matfile import LAZY_CHUNK_BYTES, H5DatasetReader
from v1ann.recording.schema import (
    make_recording,
    make_spontaneous_recording,
    validate_recording,
)

__all__ = ["load_nwb", "save_nwb"]

STIMULUS_COLUMNS = ("stimulus_id", "stimulus", "stim_id", "image_id", "image_index", "istim")
LAZY_THRESHOLD_BYTES = 512 * 2**20
_NOTES_KEY = "v1ann_attrs"
_TRIAL_SECONDS = 1.0  # spacing of trials in files written here (Stringer: ~0.5 s image + grey)


def _series_in(nwbfile) -> dict[str, Any]:
    """Every RoiResponseSeries under a DfOverF or Fluorescence container, by name."""
    found = {}
    for module in nwbfile.processing.values():
        for container in module.data_interfaces.values():
            kind = type(container).__name__
            if kind in ("DfOverF", "Fluorescence"):
                for name, series in container.roi_response_series.items():
                    found.setdefault(name, series)
    return found


def _matrix(series, lazy: bool | None, path: Path) -> Any:
    data = series.data
    nbytes = int(np.prod(data.shape)) * np.dtype(data.dtype).itemsize
    if hasattr(data, "name") and (lazy or (lazy is None and nbytes > LAZY_THRESHOLD_BYTES)):

        n_rows = data.shape[0]
        cols = int(max(1, LAZY_CHUNK_BYTES // max(1, n_rows * np.dtype(data.dtype).itemsize)))
        reader = H5DatasetReader(str(path), data.name, tuple(data.shape), data.dtype)
        return da.from_array(reader, chunks=(n_rows, cols), asarray=True, lock=False)
    return np.asarray(data[()])


def _positions(series, n_neurons: int):
    try:
        table = series.rois.table
        rows = np.asarray(series.rois.data[()])
    except AttributeError:
        return None, None
    columns = set(table.colnames)
    positions = None
    if {"x", "y", "z"} <= columns:
        positions = np.stack([np.asarray(table[c].data[()], dtype=float)[rows] for c in "xyz"], axis=1)
    else:
        for mask in ("voxel_mask", "pixel_mask"):
            if mask in columns:
                centroids = []
                for i in rows:
                    entries = np.asarray([tuple(e) for e in table[mask][int(i)]], dtype=float)
                    w = entries[:, -1:] if entries[:, -1].sum() > 0 else np.ones((len(entries), 1))
                    centroids.append((entries[:, :-1] * w).sum(0) / w.sum())
                positions = np.array(centroids)
                break
    interneuron = None
    if "is_interneuron" in columns:
        interneuron = np.asarray(table["is_interneuron"].data[()]).astype(bool)[rows]
    if positions is not None and positions.shape[0] != n_neurons:
        positions = None
    return positions, interneuron


def _trial_table(nwbfile, stimulus_column: str | None, path: Path):
    for table in (nwbfile.trials, nwbfile.epochs):
        if table is None:
            continue
        names = [stimulus_column] if stimulus_column else [c for c in STIMULUS_COLUMNS if c in table.colnames]
        if names and names[0] in table.colnames:
            return table, names[0]
    if stimulus_column:
        raise DataFileError(f"{path}: no trials/epochs table with a column {stimulus_column!r}")
    raise DataFileError(
        f"{path}: no trials/epochs table with a stimulus-id column (looked for {', '.join(STIMULUS_COLUMNS)}; "
        "pass stimulus_column=...)"
    )


def _trial_means(series, data, starts: np.ndarray, stops: np.ndarray, path: Path) -> np.ndarray:
    if series.timestamps is not None:
        times = np.asarray(series.timestamps[()], dtype=float)
    elif series.rate:
        times = float(series.starting_time or 0.0) + np.arange(data.shape[0]) / float(series.rate)
    else:
        raise DataFileError(f"{path}: series {series.name!r} has neither timestamps nor a rate")
    first = np.searchsorted(times, starts, side="left")
    last = np.searchsorted(times, stops, side="left")
    empty = np.flatnonzero(last <= first)
    if empty.size:
        raise DataFileError(
            f"{path}: {empty.size} trial(s) contain no sample of series {series.name!r} "
            f"(first at {starts[empty[0]]:.3f} s)"
        )
    data = np.asarray(data)
    return np.stack([data[a:b].mean(axis=0) for a, b in zip(first, last)]).astype(np.float32)


def _saved_attrs(nwbfile) -> dict[str, Any]:
    try:
        notes = json.loads(nwbfile.notes or "")
    except (TypeError, ValueError):
        return {}
    return notes.get(_NOTES_KEY, {}) if isinstance(notes, dict) else {}


def load_nwb(
    path: str | os.PathLike,
    *,
    series: str | None = None,
    stimulus_column: str | None = None,
    lazy: bool | None = None,
    drop_bad_neurons: bool = False,
) -> xr.Dataset:
    """Load an NWB file as a recording.

    Parameters
    ----------
    path : path-like
        NWB 2.x (HDF5) file.
    series : str, optional
        Name of the RoiResponseSeries; default ``trial_response``, ``activity``, or the only
        one there is.
    stimulus_column : str, optional
        Column of the trials/epochs table with 0-based stimulus ids; default the first of
        ``stimulus_id``, ``stimulus``, ``stim_id``, ``image_id``, ``image_index``, ``istim``.
        A boolean ``is_blank`` column, when present, marks grey-screen trials.
    lazy : bool, optional
        Open one-sample-per-trial responses as a dask array (chunked over neurons) instead
        of reading them; default when larger than 512 MiB.
    drop_bad_neurons : bool
        As in :func:`v1ann.load_stringer`.

    Returns
    -------
    xarray.Dataset
        The recording schema; attrs ``source`` (file name), ``mouse`` (subject id), ``date``
        (session start) and whatever :func:`save_nwb` stored.

    Raises
    ------
    DataFileError
        Missing, truncated or non-NWB file; no RoiResponseSeries; no stimulus column.
    """
    import pynwb

    path = check_path(path)
    if not path.exists():
        raise DataFileError(f"{path}: no such file")
    try:
        if not h5py.is_hdf5(str(path)):
            raise DataFileError(f"{path}: not an HDF5 (NWB 2.x) file")
    except OSError as exc:
        raise DataFileError(f"{path}: cannot be read: {exc}") from None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with pynwb.NWBHDF5IO(str(path), "r") as io:
                return _read(io.read(), path, series, stimulus_column, lazy, drop_bad_neurons)
    except (DataFileError, InvalidInputError):
        raise
    except Exception as exc:  # noqa: BLE001 -- pynwb/hdmf/h5py report damage with many types
        raise DataFileError(f"{path}: not a readable NWB file (truncated or corrupt?): {type(exc).__name__}: {exc}") from None


def _read(nwbfile, path: Path, series_name, stimulus_column, lazy, drop_bad_neurons) -> xr.Dataset:
    available = _series_in(nwbfile)
    if not available:
        raise DataFileError(f"{path}: no RoiResponseSeries under DfOverF or Fluorescence")
    if series_name is None:
        for default in ("trial_response", "activity"):
            if default in available:
                series_name = default
                break
        else:
            candidates = [n for n in available if n != "spont"]
            if len(candidates) != 1:
                raise DataFileError(f"{path}: several RoiResponseSeries {sorted(available)}; pass series=...")
            series_name = candidates[0]
    if series_name not in available:
        raise DataFileError(f"{path}: no RoiResponseSeries {series_name!r} (found {sorted(available)})")
    series = available[series_name]
    saved = _saved_attrs(nwbfile)
    attrs = {**saved, "source": path.name}
    if not saved:  # another tool's file: provenance from the NWB metadata
        if nwbfile.subject is not None and nwbfile.subject.subject_id:
            attrs["mouse"] = nwbfile.subject.subject_id
        if nwbfile.session_start_time is not None:
            attrs["date"] = nwbfile.session_start_time.date().isoformat()
    n_stimuli = attrs.pop("n_stimuli", None)
    n_neurons = series.data.shape[1]
    positions, interneuron = _positions(series, n_neurons)

    if series_name == "activity" and (nwbfile.trials is None or attrs.get("stimulus_set") == "spont"):
        behaviour = {}
        module = nwbfile.processing.get("behavior")
        for name in ("run_speed", "pupil_area", "face_motion"):
            if module is not None and name in module.data_interfaces:
                behaviour[name] = np.asarray(module[name].data[()])
        return make_spontaneous_recording(
            _matrix(series, lazy, path), positions=positions, is_interneuron=interneuron, attrs=attrs,
            drop_bad_neurons=drop_bad_neurons, source=str(path), **behaviour,
        ).assign_attrs(source=path.name)

    table, column = _trial_table(nwbfile, stimulus_column, path)
    stimulus = np.asarray(table[column].data[()])
    if not np.issubdtype(stimulus.dtype, np.number):
        raise DataFileError(f"{path}: trials column {column!r} must hold integer stimulus ids")
    is_blank = np.asarray(table["is_blank"].data[()]).astype(bool) if "is_blank" in table.colnames else None
    if series.data.shape[0] == len(stimulus):
        response = _matrix(series, lazy, path)
    else:
        starts = np.asarray(table["start_time"].data[()], dtype=float)
        stops = np.asarray(table["stop_time"].data[()], dtype=float)
        response = _trial_means(series, series.data, starts, stops, path)
    spont = None
    if "spont" in available and available["spont"] is not series:
        spont = _matrix(available["spont"], lazy, path)
    if is_blank is not None and n_stimuli is None:
        shown = stimulus[~is_blank]
        n_stimuli = int(shown.max()) + 1 if shown.size else 0
    if is_blank is not None:
        stimulus = np.where(is_blank, n_stimuli, stimulus)
    ds = make_recording(
        response, stimulus, n_stimuli=n_stimuli, is_blank=is_blank, spont=spont, positions=positions,
        is_interneuron=interneuron, attrs=attrs, drop_bad_neurons=drop_bad_neurons, source=str(path),
    )
    if "true_signal_spectrum" in nwbfile.scratch:
        spectrum = np.asarray(nwbfile.get_scratch("true_signal_spectrum"), dtype=float)
        ds["true_signal_spectrum"] = ("rank", spectrum)
        ds = ds.assign_coords(rank=np.arange(1, spectrum.size + 1))
    return ds.assign_attrs(source=path.name)


def _session_start(attrs: dict[str, Any]) -> datetime.datetime:
    try:
        day = datetime.date.fromisoformat(str(attrs.get("date")))
    except ValueError:
        day = datetime.date(1970, 1, 1)
    return datetime.datetime(day.year, day.month, day.day, tzinfo=datetime.timezone.utc)


def save_nwb(ds: xr.Dataset, path: str | os.PathLike) -> Path:
    """Write a recording as an NWB 2.x file, atomically (see the module docstring for the layout).

    Parameters
    ----------
    ds : xarray.Dataset
        A stimulus or spontaneous recording.
    path : path-like
        Destination ``.nwb`` file.

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    import pynwb

    validate_recording(ds, name="save_nwb(ds)")
    path = check_target(path)
    attrs = dict(ds.attrs)
    if "trial_response" in ds:
        attrs.setdefault("n_stimuli", int(ds["stimulus"].values[~ds["is_blank"].values].max()) + 1)
    nwbfile = pynwb.NWBFile(
        session_description=f"v1ann recording ({attrs.get('stimulus_set', 'unknown stimulus set')})",
        identifier=f"v1ann-{attrs.get('source', 'recording')}",
        session_start_time=_session_start(attrs),
        notes=json.dumps({_NOTES_KEY: to_jsonable(attrs)}),
    )
    if attrs.get("mouse"):
        nwbfile.subject = pynwb.file.Subject(subject_id=str(attrs["mouse"]), species="Mus musculus")
    dff, region = _write_cells(nwbfile, ds)
    if "trial_response" in ds:
        _write_trials(nwbfile, dff, region, ds)
    else:
        _write_spontaneous(nwbfile, dff, region, ds)
    if "true_signal_spectrum" in ds:
        nwbfile.add_scratch(
            ds["true_signal_spectrum"].values, name="true_signal_spectrum",
            description="simulated ground truth: eigenvalues of the signal covariance over stimuli, by rank",
        )
    with atomic_path(path) as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pynwb.NWBHDF5IO(str(tmp), "w") as io:
            io.write(nwbfile)
    return path


def _write_cells(nwbfile, ds: xr.Dataset):
    """The imaging plane and one ROI per neuron (position, interneuron label); returns (DfOverF, ROI region)."""
    from pynwb.ophys import DfOverF, ImageSegmentation, OpticalChannel

    device = nwbfile.create_device(name="microscope")
    plane = nwbfile.create_imaging_plane(
        name="imaging_plane",
        optical_channel=OpticalChannel(name="green", description="calcium indicator", emission_lambda=525.0),
        description="mouse V1",
        device=device,
        excitation_lambda=920.0,
        indicator="GCaMP6s",
        location="V1",
    )
    ophys = nwbfile.create_processing_module(name="ophys", description="cell activity")
    segmentation = ImageSegmentation()
    ophys.add(segmentation)
    rois = segmentation.create_plane_segmentation(name="cells", description="segmented cells", imaging_plane=plane)
    n_neurons = ds.sizes["neuron"]
    has_positions = all(c in ds.coords for c in "xyz")
    positions = np.stack([ds[c].values for c in "xyz"], axis=1) if has_positions else None
    if has_positions:
        for c in "xyz":
            rois.add_column(c, f"neuron position ({c}, as in the deposit's med)")
    if "is_interneuron" in ds.coords:
        rois.add_column("is_interneuron", "red-labelled (stat.redcell)")
    for i in range(n_neurons):
        extra = {c: float(positions[i, k]) for k, c in enumerate("xyz")} if has_positions else {}
        if "is_interneuron" in ds.coords:
            extra["is_interneuron"] = bool(ds["is_interneuron"].values[i])
        if has_positions:
            voxel = tuple(int(max(0, round(v))) for v in positions[i]) + (1.0,)
            rois.add_roi(voxel_mask=[voxel], **extra)
        else:  # NWB needs a mask; a 1x1 image mask claims no position
            rois.add_roi(image_mask=np.ones((1, 1)), **extra)
    region = rois.create_roi_table_region(region=list(range(n_neurons)), description="all cells")
    dff = DfOverF(name="DfOverF")
    ophys.add(dff)
    return dff, region


def _write_trials(nwbfile, dff, region, ds: xr.Dataset) -> None:
    """Trial responses (one sample per trial), the trials table, and spontaneous activity where present."""
    n_trials = ds.sizes["trial"]
    starts = np.arange(n_trials) * _TRIAL_SECONDS
    dff.create_roi_response_series(
        name="trial_response", data=np.asarray(ds["trial_response"].values, dtype=np.float32),
        rois=region, unit="a.u.", timestamps=starts, description="one sample per trial (deconvolved response)",
    )
    nwbfile.add_trial_column("stimulus_id", "0-based stimulus id (blank trials: n_stimuli)")
    nwbfile.add_trial_column("is_blank", "grey-screen trial")
    for start, stim, blank in zip(starts, ds["stimulus"].values, ds["is_blank"].values):
        nwbfile.add_trial(start_time=float(start), stop_time=float(start) + 0.5, stimulus_id=int(stim), is_blank=bool(blank))
    if "spont" in ds:
        dff.create_roi_response_series(
            name="spont", data=np.asarray(ds["spont"].values, dtype=np.float32), rois=region, unit="a.u.",
            starting_time=float(n_trials * _TRIAL_SECONDS), rate=1.0 / _TRIAL_SECONDS,
            description="spontaneous activity (grey screen)",
        )


def _write_spontaneous(nwbfile, dff, region, ds: xr.Dataset) -> None:
    """Spontaneous activity and the behaviour time series of a spontaneous recording."""
    from pynwb.base import TimeSeries

    dff.create_roi_response_series(
        name="activity", data=np.asarray(ds["activity"].values, dtype=np.float32), rois=region,
        unit="a.u.", starting_time=0.0, rate=1.0 / _TRIAL_SECONDS, description="spontaneous activity",
    )
    behaviour = [name for name in ("run_speed", "pupil_area", "face_motion") if name in ds]
    if behaviour:
        module = nwbfile.create_processing_module(name="behavior", description="behaviour")
        for name in behaviour:
            module.add(TimeSeries(name=name, data=ds[name].values, unit="a.u.", starting_time=0.0, rate=1.0 / _TRIAL_SECONDS))
