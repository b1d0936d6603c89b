"""Sweeps over target exponents: train, measure α, attack — as tasks on a dask.distributed cluster.

A sweep is a grid of runs. Each run (one :class:`RunPoint`: a target α or vanilla, a
regularizer strength and anchor rank ``tau``, and a seed) trains a network, measures the
exponent of each hidden representation on held-out images and evaluates its adversarial
robustness. Runs are independent tasks on a ``dask.distributed`` client: a ``LocalCluster``
by default, or any scheduler (``client="tcp://host:8786"``) for a real cluster. Workers that
advertise a ``GPU`` resource (``dask worker --resources GPU=1``) get one run at a time each.

Results go to one store (netCDF, or zarr when the path ends in ``.zarr``) with a ``run`` dim.
Only the client process writes it: after each finished run the whole store is rewritten to
a temporary file and renamed over the old one, so the store on disk always holds every
finished run and nothing half-written. Re-running the same sweep skips the runs already
stored, so a crash, an interrupt or a lost worker costs at most the runs in flight.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
import math
import os
import re
import socket
import time
import uuid
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator, Mapping, Sequence

import numpy as np
import pandas as pd
import torch
import xarray as xr

from v1ann._checks import check_int, check_option
from v1ann._loglog import DEFAULT_FIT_RANGE, fit_range_pair
from v1ann._progress import progress_bar
from v1ann._threads import available_cores, get_threads
from v1ann._utils import atomic_path, recover_interrupted_replace
from v1ann.errors import (
    DataFileError,
    InvalidInputError,
    TrainingError,
    V1AnnWarning,
    warn,
)
from v1ann.experiments.recipe import shape_kwargs, train_network
from v1ann.nn.regularizer import METHOD_DEFAULTS
from v1ann.nn.robustness import robustness
from v1ann.nn.training_data import load_training_data

GRID_KEYS = ("target_alpha", "strength", "tau")
ARCHS = ("mlp", "cnn")


@dataclass(frozen=True)
class RunPoint:
    """One run of a sweep.

    Attributes
    ----------
    target_alpha : float or None
        Target exponent of the spectral regularizer; None trains without one (vanilla).
    strength : float
        Regularizer strength (0 for vanilla runs).
    tau : int
        1-based anchor rank of the target line (0 for vanilla runs).
    seed : int
        Seeds the weights' initialisation, the data order and the attacks' random starts.
    """

    target_alpha: float | None
    strength: float
    tau: int
    seed: int

    @property
    def vanilla(self) -> bool:
        return self.target_alpha is None

    @property
    def run_id(self) -> str:
        """A readable key, unique within a sweep, e.g. ``"alpha=1|strength=1|tau=10|seed=0"``.

        Numbers are written exactly (shortest round-trip form): two targets that differ in
        the seventh digit are two runs, never one.
        """
        if self.vanilla:
            return f"vanilla|seed={self.seed}"
        return f"alpha={_exact(self.target_alpha)}|strength={_exact(self.strength)}|tau={self.tau}|seed={self.seed}"


def _exact(value: float) -> str:
    """``value`` as the shortest text that reads back to the same float, without a trailing ``.0``."""
    text = repr(float(value))
    return text[:-2] if text.endswith(".0") else text


def expand_grid(
    grid, seeds: int | Iterable[int] = 3, *, default_strength: float = 1.0, default_tau: int = 10
) -> list[RunPoint]:
    """The runs of a sweep: every grid point × every seed, without duplicates, in order.

    Parameters
    ----------
    grid : mapping or iterable of mappings
        A mapping of keys ``target_alpha``, ``strength``, ``tau`` to a value or a list of
        values spans their Cartesian product, e.g. ``{"target_alpha": [None, 1, 2],
        "strength": [1.0]}``; an iterable of such mappings (scalar values) lists points
        one by one. ``target_alpha=None`` (or ``"vanilla"``) is a run without regularizer;
        its strength and tau are irrelevant and stored as 0. Defaults: strength
        ``default_strength``, tau ``default_tau``.
    seeds : int or iterable of int
        ``n`` means seeds ``0 .. n-1``.
    default_strength, default_tau : float, int
        Strength and tau of grid points that give none (:func:`sweep`: its method's defaults,
        :data:`v1ann.nn.regularizer.METHOD_DEFAULTS`).

    Returns
    -------
    list of RunPoint
    """
    seed_list = _seeds(seeds)
    if isinstance(grid, Mapping):
        _check_keys(grid, "grid")
        axes = [_as_list(grid.get(key, default)) for key, default in zip(GRID_KEYS, (None, default_strength, default_tau))]
        points = [dict(zip(GRID_KEYS, combo)) for combo in itertools.product(*axes)]
    else:
        try:
            points = [dict(p) for p in grid]
        except (TypeError, ValueError):
            raise InvalidInputError(
                f"grid must be a mapping of {GRID_KEYS} to values or a list of such mappings, got {grid!r}"
            ) from None
        for i, point in enumerate(points):
            _check_keys(point, f"grid[{i}]")
    runs: dict[str, RunPoint] = {}
    for point in points:
        alpha, strength, tau = (_grid_value(point, key, default_strength, default_tau) for key in GRID_KEYS)
        for seed in seed_list:
            run = RunPoint(alpha, strength, tau, seed) if alpha is not None else RunPoint(None, 0.0, 0, seed)
            runs.setdefault(run.run_id, run)
    if not runs:
        raise InvalidInputError("grid is empty: give at least one target_alpha (or None for vanilla)")
    return list(runs.values())


def sweep(
    grid,
    *,
    dataset: str = "mnist5k",
    arch: str = "mlp",
    epochs: int = 20,
    seeds: int | Iterable[int] = 3,
    client=None,
    store: str | os.PathLike = "sweep.nc",
    workers: int | None = None,
    attacks: Sequence[str] = ("fgsm", "pgd"),
    eps: Sequence[float] = (0, 0.05, 0.1, 0.2, 0.3),
    steps: int = 40,
    restarts: int = 1,
    n_eval: int | None = None,
    fit_range: tuple[int, int] = DEFAULT_FIT_RANGE,
    method: str = "loglog",
    batch_size: int = 128,
    lr: float = 2e-3,
    data_seed: int = 0,
    model_kwargs: Mapping | None = None,
    train_kwargs: Mapping | None = None,
    device: str = "auto",
    checkpoint_dir: str | os.PathLike | None = None,
    runner: Callable[[RunPoint, dict], xr.Dataset] | None = None,
    progress: bool = True,
    verbose: bool = False,
) -> xr.Dataset:
    """Train, measure and attack every run of a grid, in parallel, into one resumable store.

    Parameters
    ----------
    grid : mapping or iterable of mappings
        Target exponents (None for vanilla), strengths and taus; see :func:`expand_grid`.
    dataset : str
        Name for :func:`v1ann.nn.training_data.load` (train on its train split, measure and
        attack on its test split).
    arch : {"mlp", "cnn"}
        Model from :mod:`v1ann.nn.models`, built with ``model_kwargs``.
    epochs : int
    seeds : int or iterable of int
        ``n`` means seeds ``0 .. n-1``.
    client : None, str or distributed.Client
        None starts a ``LocalCluster`` (``workers`` single-threaded processes, one per GPU
        when CUDA is present) and closes it afterwards; a string is a scheduler address.
    store : path
        Results file: netCDF (``.nc``, via h5netcdf) or zarr (``.zarr``). Created on the
        first finished run; an existing store must have been written by a sweep with the
        same settings (everything here except ``client``, ``workers``, ``device``,
        ``checkpoint_dir`` and ``progress``).
    workers : int, optional
        Processes of the default LocalCluster; default one per CPU core (one per GPU).
    attacks, eps, steps, restarts : see :func:`v1ann.nn.robustness`
    n_eval : int, optional
        Test images attacked (the first ``n_eval``); default all. α is always measured
        on the whole test split.
    fit_range : (int, int)
        0-based half-open rank-index range of the held-out α fit (default ranks 12..500);
        the stop is clipped to the number of ranks (test images or units) where fewer.
    method : {"loglog", "nassar2020", "gerum2022"}
        Regularizer loss (:class:`v1ann.nn.SpectralRegularizer`); grid points without a
        strength or tau get the method's defaults.
    batch_size, lr : training settings of the recipe (:func:`v1ann.experiments.recipe.train_network`).
    data_seed : int
        Seed of the dataset's train/test split (the same for every run).
    model_kwargs, train_kwargs : mapping, optional
        JSON-serialisable extra arguments of :func:`v1ann.experiments.recipe.train_network`
        (e.g. ``{"hidden": [1000], "activation": "relu"}``, ``{"basis_every": 4}``).
    device : str
        Device on the workers; ``"auto"`` picks CUDA there when available.
    checkpoint_dir : path, optional
        Per-run training checkpoints (one folder per run, on a filesystem the workers
        share), so a run killed mid-training resumes from its last epoch.
    runner : callable, optional
        ``runner(point, config) -> xarray.Dataset`` replaces :func:`train_and_evaluate`
        (config is the dict of settings above). It must be importable or picklable by the
        workers and return the same variables for every run.
    progress : bool
        tqdm bar over runs (finished runs of earlier sessions count as done).
    verbose : bool
        Let dask.distributed's log lines and warnings through (hidden by default: a
        failing run is reported once, by the sweep, and the cluster's own messages about
        ports, nannies and closing workers read as alarms when nothing is wrong).

    Returns
    -------
    xarray.Dataset
        The whole store, over ``run`` (coords ``run`` = :attr:`RunPoint.run_id`,
        ``target_alpha`` (NaN for vanilla), ``vanilla``, ``strength``, ``tau``, ``seed``):
        ``accuracy`` (``run``, ``attack``, ``eps``), ``clean_accuracy``, ``alpha``,
        ``alpha_r2`` and ``alpha_fit_hi`` (``run``, ``layer``; see
        :func:`train_and_evaluate`), the training history as ``history_*``
        (``run``, ``epoch`` [, ``layer``]), ``attack_checks``, ``host`` and ``seconds``.
        ``attrs["sweep_config"]`` holds the settings as JSON.

    Warns
    -----
    V1AnnWarning
        When some runs failed; they are not stored, so running the sweep again retries them.

    Raises
    ------
    TrainingError
        When every run submitted failed (the first failure is chained).
    """
    check_option("method", method, METHOD_DEFAULTS)
    # a size the architecture cannot take fails here, not in every submitted run
    shape_kwargs(arch, **{k: v for k, v in (model_kwargs or {}).items() if k in ("hidden", "channels")})
    defaults = METHOD_DEFAULTS[method]
    points = expand_grid(grid, seeds, default_strength=defaults["strength"], default_tau=defaults["tau"])
    config = _config(
        dataset=dataset, arch=arch, epochs=epochs, attacks=attacks, eps=eps, steps=steps,
        restarts=restarts, n_eval=n_eval, fit_range=fit_range, method=method,
        batch_size=batch_size, lr=lr, data_seed=data_seed, model_kwargs=model_kwargs,
        train_kwargs=train_kwargs,
    )
    store = Path(store)
    task_config = dict(
        config, device=device, checkpoint_dir=None if checkpoint_dir is None else str(checkpoint_dir)
    )
    runner = train_and_evaluate if runner is None else runner
    results = ResultStore(store, config)
    todo = [p for p in points if p.run_id not in results]
    if todo:
        with _quiet_cluster(verbose), _connect(client, workers, len(todo), verbose) as dask_client:
            _run_all(dask_client, runner, todo, task_config, results, len(points), progress)
    return results.dataset()


def train_and_evaluate(point: RunPoint, config: dict) -> xr.Dataset:
    """One run of a sweep: train with the recipe (:func:`~v1ann.experiments.recipe.train_network`), attack.

    Parameters
    ----------
    point : RunPoint
    config : dict
        The sweep's settings (see :func:`sweep`), plus ``device`` and ``checkpoint_dir``.

    Returns
    -------
    xarray.Dataset
        ``accuracy`` (``attack``, ``eps``), ``clean_accuracy``, ``alpha``, ``alpha_r2`` and
        ``alpha_fit_hi`` (``layer``: held-out α, its r² and the last rank fitted; NaN where
        a layer ends before the fit range starts), ``history_*``
        (``epoch`` [, ``layer``]), ``attack_checks``, ``host``, ``seconds``.
    """
    started = time.perf_counter()
    device = _worker_device(config["device"])
    train_set, test_set = load_training_data(config["dataset"], seed=config["data_seed"])
    checkpoints = None
    if config.get("checkpoint_dir"):
        checkpoints = Path(config["checkpoint_dir"]) / re.sub(r"[^A-Za-z0-9_.=-]+", "_", point.run_id)
    run = train_network(
        train_set, test_set, target_alpha=point.target_alpha, arch=config["arch"], method=config["method"],
        strength=point.strength if not point.vanilla else None, tau=None if point.vanilla else point.tau, epochs=config["epochs"],
        batch_size=config["batch_size"], lr=config["lr"], fit_range=config["fit_range"], seed=point.seed,
        device=device, checkpoint_dir=checkpoints, progress=False, **config["model_kwargs"], **config["train_kwargs"],
    )
    layers = run.config["measured_layers"]
    nan = math.nan
    with warnings.catch_warnings():
        # recorded in attack_checks; the client reports them for the whole sweep
        warnings.simplefilter("ignore", V1AnnWarning)
        attacked = robustness(
            run.model, test_set, attacks=config["attacks"], eps=config["eps"], steps=config["steps"],
            restarts=config["restarts"], device=device, n_samples=config["n_eval"], seed=point.seed,
            progress=False,
        )
    result = xr.Dataset(
        {
            "accuracy": attacked["accuracy"],
            "clean_accuracy": attacked["clean_accuracy"],
            "alpha": ("layer", [run.heldout[n].alpha if n in run.heldout else nan for n in layers]),
            "alpha_r2": ("layer", [run.heldout[n].r2 if n in run.heldout else nan for n in layers]),
            # the fit range's stop actually used: the layer's last rank when it has fewer than asked
            "alpha_fit_hi": ("layer", [run.heldout[n].fit_range[1] if n in run.heldout else nan for n in layers]),
            "attack_checks": ((), attacked.attrs["checks"]),
            "host": ((), socket.gethostname()),
        },
        coords={"layer": layers},
    )
    for name, variable in run.history.data_vars.items():
        result[f"history_{name}"] = variable
    result["seconds"] = ((), time.perf_counter() - started)
    return result


def summarize(results: xr.Dataset):
    """Mean and standard deviation over seeds of every condition of a sweep.

    Parameters
    ----------
    results : xarray.Dataset
        A sweep store (what :func:`sweep` returns).

    Returns
    -------
    pandas.DataFrame
        One row per condition (``"vanilla"`` first, then by target α, strength, tau), index
        ``condition``; columns ``target_alpha``, ``strength``, ``tau``, ``n_seeds``, then for
        each measure a mean and a ``_sd`` column: ``alpha`` (held-out, first layer),
        ``clean_accuracy`` and ``{attack}@{eps}`` for every attack and eps > 0.
    """

    if not isinstance(results, xr.Dataset) or "run" not in results.dims:
        raise InvalidInputError("results must be a sweep store (an xarray.Dataset with a run dim)")
    measures = {"clean_accuracy": results["clean_accuracy"]}
    if "alpha" in results:
        measures = {"alpha": results["alpha"].isel(layer=0)} | measures
    for attack in results["attack"].values:
        for eps in results["eps"].values:
            if eps > 0:
                measures[f"{attack}@{eps:g}"] = results["accuracy"].sel(attack=attack, eps=eps)
    frame = pd.DataFrame({name: values.values for name, values in measures.items()})
    frame["vanilla"] = results["vanilla"].values.astype(bool)
    frame["target_alpha"] = results["target_alpha"].values
    frame["strength"] = results["strength"].values
    frame["tau"] = results["tau"].values
    frame["condition"] = [
        "vanilla" if v else f"alpha={a:g}|strength={s:g}|tau={t}"
        for v, a, s, t in zip(frame["vanilla"], frame["target_alpha"], frame["strength"], frame["tau"])
    ]
    keys = ["condition", "vanilla", "target_alpha", "strength", "tau"]
    grouped = frame.groupby(keys, dropna=False, sort=False)[list(measures)]
    table = grouped.mean().join(grouped.std().add_suffix("_sd")).join(grouped.size().rename("n_seeds"))
    table = table.reset_index().sort_values(["vanilla", "target_alpha", "strength", "tau"],
                                            ascending=[False, True, True, True])
    ordered = ["target_alpha", "strength", "tau", "n_seeds"]
    for name in measures:
        ordered += [name, f"{name}_sd"]
    return table.set_index("condition")[ordered]


class ResultStore:
    """The results of a sweep on disk, one entry per finished run, rewritten atomically.

    Parameters
    ----------
    path : path
        ``.zarr`` → zarr directory store; anything else → netCDF via h5netcdf.
    config : dict
        The sweep's settings; an existing store must carry the same.
    """

    def __init__(self, path: Path, config: dict):
        self.path = Path(path)
        self.config = config
        self._runs: dict[str, xr.Dataset] = {}
        recover_interrupted_replace(self.path)
        if self.path.exists():
            existing = self._read()
            self._check_config(existing)
            for run_id in existing["run"].values.tolist():
                self._runs[run_id] = existing.sel(run=[run_id])

    def __contains__(self, run_id: str) -> bool:
        return run_id in self._runs

    def __len__(self) -> int:
        return len(self._runs)

    def append(self, point: RunPoint, result: xr.Dataset) -> None:
        """Add one finished run and rewrite the store; a run already stored is ignored."""
        if point.run_id in self._runs:
            return
        entry = result.expand_dims(run=[point.run_id]).assign_coords(
            target_alpha=("run", [math.nan if point.vanilla else float(point.target_alpha)]),
            vanilla=("run", [point.vanilla]),
            strength=("run", [float(point.strength)]),
            tau=("run", [int(point.tau)]),
            seed=("run", [int(point.seed)]),
        )
        self._runs[point.run_id] = entry
        try:
            self._write(self.dataset())
        except Exception:
            del self._runs[point.run_id]
            raise

    def dataset(self) -> xr.Dataset:
        """Every stored run, concatenated over ``run`` (an empty Dataset before the first)."""
        if not self._runs:
            return xr.Dataset(attrs=self._attrs())
        combined = xr.concat(list(self._runs.values()), dim="run", join="outer", combine_attrs="drop")
        combined.attrs = self._attrs()
        return combined

    def _attrs(self) -> dict:
        return {"sweep_config": json.dumps(self.config, sort_keys=True), "source": "v1ann.sweep"}

    def _read(self) -> xr.Dataset:
        try:
            if self.path.suffix == ".zarr":
                stored = xr.open_zarr(self.path).load()
            else:
                stored = xr.load_dataset(self.path, engine="h5netcdf")
        except Exception as exc:  # every backend has its own errors for a damaged file
            raise DataFileError(f"sweep store {self.path} cannot be read: {exc}") from None
        # Strings come back fixed-width (e.g. <U14, the longest of the first write); concatenated
        # with longer ones later they would be cut. Python strings have no width.
        for name, variable in stored.variables.items():
            if variable.dtype.kind in "US":
                stored[name] = variable.astype(object)
        return stored

    def _write(self, ds: xr.Dataset) -> None:
        with atomic_path(self.path) as tmp:
            if self.path.suffix == ".zarr":
                ds.to_zarr(tmp, mode="w")
            else:
                ds.to_netcdf(tmp, engine="h5netcdf")

    def _check_config(self, existing: xr.Dataset) -> None:
        try:
            stored = json.loads(existing.attrs["sweep_config"])
        except (KeyError, ValueError):
            raise DataFileError(f"{self.path} is not a v1ann sweep store (no sweep_config attribute)") from None
        if "run" not in existing.dims:
            raise DataFileError(f"{self.path} is not a v1ann sweep store (no run dim)")
        differ = sorted(k for k in set(stored) | set(self.config) if stored.get(k) != self.config.get(k))
        if differ:
            details = ", ".join(f"{k}: stored {stored.get(k)!r}, now {self.config.get(k)!r}" for k in differ)
            raise InvalidInputError(
                f"store {self.path} holds a sweep with other settings ({details}); "
                "use another store path or the same settings"
            )


def _run_all(client, runner, todo, config, results: ResultStore, n_total: int, progress: bool) -> None:
    """Submit every run, store each as it finishes, and report the failures."""
    from distributed import as_completed
    resources = {"GPU": 1} if _workers_have_gpus(client) else None
    batch = uuid.uuid4().hex[:8]  # fresh keys: a long-lived client may still hold an erred task of an old sweep
    futures = {
        client.submit(runner, point, config, key=f"v1ann-sweep-{point.run_id}-{batch}", resources=resources): point
        for point in todo
    }
    failures: list[tuple[RunPoint, BaseException]] = []
    suspicious: list[str] = []
    bar = progress_bar(total=n_total, initial=len(results), desc="sweep", unit="run", progress=progress)
    try:
        for future in as_completed(futures):
            point = futures[future]
            try:
                result = future.result()
                if not isinstance(result, xr.Dataset):
                    raise TypeError(f"runner returned {type(result).__name__}, not an xarray.Dataset")
            except Exception as exc:  # one run's failure (or lost worker) must not cost the others
                failures.append((point, exc))
                bar.set_postfix(failed=len(failures), refresh=False)
                continue
            finally:
                future.release()
            results.append(point, result)
            if "attack_checks" in result and str(result["attack_checks"].values) != "passed":
                suspicious.append(point.run_id)
            bar.update()
    finally:
        bar.close()
        pending = [f for f in futures if not f.done()]
        if pending:
            client.cancel(pending)
    if suspicious:
        warn(f"the attack sanity checks failed in {len(suspicious)} run(s), e.g. {suspicious[0]}; "
            "their accuracies may overstate robustness (see the attack_checks variable)")
    if failures:
        point, first = failures[0]
        message = (
            f"{len(failures)} of {len(todo)} runs failed and were not stored in {results.path} "
            f"(run the sweep again to retry them); first: {point.run_id}: {type(first).__name__}: {first}"
        )
        if len(failures) == len(todo):
            raise TrainingError(message) from first
        warn(message)


@contextlib.contextmanager
def _quiet_cluster(verbose: bool) -> Iterator[None]:
    """Hide distributed's log records below ERROR and its warnings, unless ``verbose``."""
    if verbose:
        yield
        return
    loggers = [logging.getLogger(name) for name in ("distributed", "tornado", "bokeh")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", module=r"(distributed|tornado|bokeh)(\.|$)")
            yield
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)


@contextlib.contextmanager
def _connect(client, workers: int | None, n_runs: int, verbose: bool = False) -> Iterator:
    """A distributed Client: the given one, one connected to an address, or a new LocalCluster."""
    from distributed import Client, LocalCluster

    if client is not None and not isinstance(client, str):
        yield client
        return
    if isinstance(client, str):
        try:
            connection = Client(client)  # waits distributed.comm.timeouts.connect
        except (OSError, TimeoutError, ValueError) as exc:
            raise InvalidInputError(f"client={client!r}: cannot reach the dask scheduler: {exc}") from None
        with connection:
            yield connection
        return

    gpus = torch.cuda.device_count()
    check_int(workers, "workers", allow_none=True)
    n_workers = min(int(workers or gpus or available_cores()), n_runs)
    # each worker process gets its share of the cores: more would make the pools fight
    threads = get_threads() or max(1, available_cores() // n_workers)
    cluster = LocalCluster(
        n_workers=n_workers,
        threads_per_worker=1,
        processes=True,
        env={"OMP_NUM_THREADS": str(threads), "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY", "PASSIVE")},
        dashboard_address=None,
        resources={"GPU": 1} if gpus else None,
        # a failing run is reported once, by the sweep; the workers' own tracebacks would bury it
        silence_logs=logging.WARNING if verbose else logging.CRITICAL,
    )
    with cluster, Client(cluster) as connection:
        yield connection


def _workers_have_gpus(client) -> bool:
    workers = client.scheduler_info().get("workers", {})
    return any(info.get("resources", {}).get("GPU", 0) > 0 for info in workers.values())


def _worker_device(device: str) -> str:
    """Spread runs over a machine's GPUs: LocalCluster worker ``i`` uses ``cuda:i`` (mod count)."""
    if device != "auto":
        return device

    if torch.cuda.device_count() < 2:
        return device
    try:
        from distributed import get_worker

        name = get_worker().name
    except ValueError:  # not running on a worker
        return device
    return f"cuda:{name % torch.cuda.device_count()}" if isinstance(name, int) else device


def _config(**settings) -> dict:
    """The sweep's settings, validated and normalised to JSON types (what the store records)."""
    check_option("arch", settings["arch"], ARCHS)
    for name in ("epochs", "steps", "restarts", "batch_size"):
        check_int(settings[name], name)
    check_int(settings["n_eval"], "n_eval", allow_none=True)
    fit_range = fit_range_pair(settings["fit_range"])
    if not (isinstance(settings["lr"], (int, float)) and math.isfinite(settings["lr"]) and settings["lr"] > 0):
        raise InvalidInputError(f"lr={settings['lr']!r} must be a finite positive number")
    attacks = [settings["attacks"]] if isinstance(settings["attacks"], str) else list(settings["attacks"])
    config = dict(
        settings,
        attacks=attacks,
        eps=[float(e) for e in np.atleast_1d(settings["eps"])],
        fit_range=list(fit_range),
        lr=float(settings["lr"]),
        epochs=int(settings["epochs"]),
        steps=int(settings["steps"]),
        restarts=int(settings["restarts"]),
        batch_size=int(settings["batch_size"]),
        data_seed=int(settings["data_seed"]),
        n_eval=None if settings["n_eval"] is None else int(settings["n_eval"]),
        model_kwargs=dict(settings["model_kwargs"] or {}),
        train_kwargs=dict(settings["train_kwargs"] or {}),
    )
    try:
        return json.loads(json.dumps(config))
    except TypeError as exc:
        raise InvalidInputError(f"sweep settings must be JSON-serialisable (they are stored): {exc}") from None


def _grid_value(point: Mapping, key: str, default_strength: float, default_tau: int):
    value = point.get(key, {"target_alpha": None, "strength": default_strength, "tau": default_tau}[key])
    if key == "target_alpha":
        if value is None or (isinstance(value, str) and value.lower() == "vanilla"):
            return None
        try:
            value = float(value)
        except (TypeError, ValueError):
            raise InvalidInputError(f"grid target_alpha={value!r} must be a number or None (vanilla)") from None
        if not math.isfinite(value) or value <= 0:
            raise InvalidInputError(f"grid target_alpha={value!r} must be finite and > 0")
        return value
    if key == "strength":
        try:
            value = float(value)
        except (TypeError, ValueError):
            value = math.nan
        if not math.isfinite(value) or value < 0:
            raise InvalidInputError(f"grid strength={point.get(key)!r} must be a finite number >= 0")
        return value
    if isinstance(value, bool) or not isinstance(value, (int, np.integer, float)) or int(value) != value or value < 0:
        raise InvalidInputError(f"grid tau={value!r} must be an integer >= 0 (ranks above it are penalised)")
    return int(value)


def _check_keys(point: Mapping, name: str) -> None:
    unknown = sorted(set(point) - set(GRID_KEYS))
    if unknown:
        raise InvalidInputError(f"{name} has unknown keys {unknown}; allowed: {list(GRID_KEYS)}")


def _as_list(value) -> list:
    if value is None or isinstance(value, (str, int, float, np.number)):
        return [value]
    return list(value)


def _seeds(seeds) -> list[int]:
    if isinstance(seeds, (int, np.integer)) and not isinstance(seeds, bool):
        if seeds < 1:
            raise InvalidInputError(f"seeds={seeds!r} must be >= 1 (a count) or a list of seeds")
        return list(range(int(seeds)))
    try:
        values = [int(s) for s in seeds]
    except (TypeError, ValueError):
        raise InvalidInputError(f"seeds={seeds!r} must be a count or a list of integers") from None
    if not values or len(set(values)) != len(values):
        raise InvalidInputError(f"seeds={seeds!r} must be a non-empty list of distinct integers")
    return values
