"""Small helpers shared across v1ann: device choice, atomic writes, input checks."""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterator

import numpy as np
import torch

from v1ann.errors import InvalidInputError, MissingDependencyError


def resolve_device(device: str | None = "auto"):
    """Return a ``torch.device``; ``"auto"`` (or None) picks CUDA when available, else CPU."""

    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise InvalidInputError(f"device={device!r} is not a torch device: {exc}") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise InvalidInputError(f"device={device!r} requested but CUDA is not available")
    return dev


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success rename it onto ``path``.

    Readers never see a half-written file: either the old content or the new one.
    Works for files and for directory stores (zarr). On error the temporary is removed
    and ``path`` is left untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    recover_interrupted_replace(path)
    suffix = path.suffix if suffix is None else suffix
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=f".tmp{suffix}", dir=path.parent)
    os.close(fd)
    os.unlink(tmp)  # writers (h5py, zarr, torch.save) create it themselves
    tmp = Path(tmp)
    try:
        yield tmp
        if tmp.is_dir() and path.exists():
            # A directory cannot be renamed over another: move the old one aside first. A kill
            # between the two renames leaves it aside, and recover_interrupted_replace puts it back.
            old = _aside(path)
            shutil.rmtree(old, ignore_errors=True)
            os.replace(path, old)
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
    finally:
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        elif tmp.exists():
            tmp.unlink()


def _aside(path: Path) -> Path:
    return path.with_name(f".{path.name}.old")


def recover_interrupted_replace(path: str | os.PathLike) -> bool:
    """Put back a directory store that :func:`atomic_path` moved aside when it was killed mid-replace.

    Returns whether anything was recovered. Readers of directory stores call it before
    reading, and every atomic write calls it first, so the only old copy is never deleted.
    """
    path = Path(path)
    old = _aside(path)
    if not path.exists() and old.is_dir():
        os.replace(old, path)
        return True
    return False


def check_finite(values, name: str) -> None:
    """Raise :class:`InvalidInputError` naming ``name`` if ``values`` holds NaN or Inf."""
    arr = np.asarray(values)
    if not np.issubdtype(arr.dtype, np.number):
        return
    bad = ~np.isfinite(arr)
    if bad.any():
        raise InvalidInputError(
            f"{name} contains {int(bad.sum())} NaN/Inf value(s) of {arr.size}; "
            "clean or drop them explicitly before this step"
        )


def optional_import(module: str, extra: str, pip_name: str | None = None):
    """Import an optional dependency or raise :class:`MissingDependencyError` saying how to get it."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        pip_name = pip_name or module
        raise MissingDependencyError(
            f"{module} is needed here but could not be imported ({exc}); "
            f"install it with `pip install 'v1ann[{extra}]'` (or `pip install {pip_name}`)"
        ) from None


def make_rng(seed) -> np.random.Generator:
    """A numpy Generator from an int, None or an existing Generator."""
    if isinstance(seed, np.random.Generator):
        return seed
    return np.random.default_rng(seed)


def release_freed_memory() -> None:
    """Return memory freed by this process to the OS (glibc only; a no-op elsewhere).

    glibc raises its mmap threshold each time a large block is freed, so later blocks of
    tens of MB come from the heap and stay resident after they are freed. In a loop that
    allocates such blocks (one per cvPCA shuffle) the resident size grew by ~300 MB over
    five shuffles at 2,800 stimuli without this (peak 632 MiB above the input; 568 with).
    """
    import ctypes
    import ctypes.util

    try:
        ctypes.CDLL(ctypes.util.find_library("c")).malloc_trim(0)
    except (OSError, AttributeError, TypeError):  # not glibc: nothing to do
        pass


def to_jsonable(value, *, digits: int | None = None, fallback=str):
    """``value`` with numpy scalars and arrays, tuples and NaN/Inf turned into JSON types.

    NaN and ±Inf become None (JSON has no such numbers); floats are rounded to ``digits``
    when given; anything else JSON cannot hold goes through ``fallback`` (default ``str``).

    >>> to_jsonable({"a": np.float32(0.5), "b": (1, np.nan), "c": np.arange(2)})
    {'a': 0.5, 'b': [1, None], 'c': [0, 1]}
    """
    if isinstance(value, dict):
        return {str(k): to_jsonable(v, digits=digits, fallback=fallback) for k, v in value.items()}
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v, digits=digits, fallback=fallback) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        if not math.isfinite(value):
            return None
        return round(value, digits) if digits is not None else value
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if str(value) == "<NA>":  # pandas' missing value
        return None
    return fallback(value)


def write_json(path: str | os.PathLike, data) -> Path:
    """Write ``data`` (made JSON-ready by :func:`to_jsonable`) to ``path`` atomically; returns the path."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(to_jsonable(data), indent=2) + "\n")
    return Path(path)
