"""Argument checks: one wording for every bad option, count or number (as MNE's ``_check_option``).

Every public function validates its options through these helpers before any heavy work,
so the same mistake reads the same wherever it is made.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Collection

import numpy as np

from v1ann.errors import InvalidInputError


def check_option(name: str, value, allowed: Collection):
    """Return ``value`` if it is one of ``allowed``, else raise naming the parameter and the choices.

    >>> check_option("method", "pca", ("pca", "cvpca"))
    'pca'
    >>> check_option("method", "pcaa", ("pca", "cvpca"))
    Traceback (most recent call last):
    ...
    v1ann.errors.InvalidInputError: Invalid value for the 'method' parameter: 'pcaa'. Allowed values are 'pca' and 'cvpca'.
    """
    try:
        ok = value in allowed
    except TypeError:  # an unhashable value against a set or dict
        ok = False
    if not ok:
        options = [repr(v) for v in allowed]
        listed = options[0] if len(options) == 1 else ", ".join(options[:-1]) + f" and {options[-1]}"
        raise InvalidInputError(
            f"Invalid value for the {name!r} parameter: {value!r}. Allowed values are {listed}."
        )
    return value


def check_int(value, name: str, *, minimum: int = 1, allow_none: bool = False) -> int | None:
    """``value`` as an int that is at least ``minimum``; bools, floats and strings are refused.

    >>> check_int(3, "n_shuffles")
    3
    >>> check_int(2.5, "n_shuffles")
    Traceback (most recent call last):
    ...
    v1ann.errors.InvalidInputError: n_shuffles=2.5 must be an integer >= 1
    """
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        none = " or None" if allow_none else ""
        raise InvalidInputError(f"{name}={value!r} must be an integer >= {minimum}{none}")
    return int(value)


def check_number(value, name: str, *, minimum: float | None = None, positive: bool = False) -> float:
    """``value`` as a finite float, optionally ``>= minimum`` or ``> 0``.

    >>> check_number(1e-3, "lr", positive=True)
    0.001
    """
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = math.nan
    if isinstance(value, bool) or not math.isfinite(number):
        raise InvalidInputError(f"{name}={value!r} must be a finite number")
    if positive and number <= 0:
        raise InvalidInputError(f"{name}={value!r} must be a finite number > 0")
    if minimum is not None and number < minimum:
        raise InvalidInputError(f"{name}={value!r} must be a finite number >= {minimum:g}")
    return number


def check_n_components(n_components, limit: int, limit_text: str, default: int | None = None) -> int:
    """Validate a number of components against the ``limit`` the data allow.

    ``None`` gives ``default`` (or ``limit``); ``limit_text`` says where the limit comes from,
    e.g. ``"min(n_stimuli, n_neurons - 1)"``, for the error message.
    """
    if n_components is None:
        return limit if default is None else min(default, limit)
    n_components = check_int(n_components, "n_components")
    if n_components > limit:
        raise InvalidInputError(f"n_components={n_components} exceeds {limit_text} = {limit}")
    return n_components


def check_path(path, name: str = "path") -> Path:
    """``path`` as a :class:`~pathlib.Path`; anything but a str or os.PathLike is refused.

    >>> check_path(123)
    Traceback (most recent call last):
    ...
    v1ann.errors.InvalidInputError: path must be a file path (str or os.PathLike), got int 123
    """
    if not isinstance(path, (str, os.PathLike)) or isinstance(path, bytes):
        raise InvalidInputError(f"{name} must be a file path (str or os.PathLike), got {type(path).__name__} {path!r}")
    return Path(path)


def available_memory() -> int | None:
    """Bytes of memory the system can still give (None where the platform does not say)."""
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def check_memory(n_bytes: float, what: str) -> None:
    """Refuse up front an allocation larger than the memory available, naming what asked for it."""
    free = available_memory()
    if free is not None and n_bytes > free:
        raise InvalidInputError(
            f"{what} needs {n_bytes / 2**30:.3g} GiB but only {free / 2**30:.3g} GiB of memory is available"
        )


def check_target(path, name: str = "path", *, directory: bool = False) -> Path:
    """A path to write to: its folder must exist, and it must not be a folder (or a file, when ``directory``).

    Checked before any work; nothing is created.
    """
    path = check_path(path, name)
    if not path.parent.is_dir():
        raise InvalidInputError(f"{name} {path}: the folder {path.parent} does not exist; create it first")
    if path.is_dir() and not directory:
        raise InvalidInputError(f"{name} {path}: is a folder; give a file name")
    if path.exists() and directory and not path.is_dir():
        raise InvalidInputError(f"{name} {path}: is a file; give a folder name")
    return path
