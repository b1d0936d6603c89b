"""Exceptions raised by v1ann.

Every error that bad input can cause derives from :class:`V1AnnError`, so a caller
(and the CLI) can catch one class. Messages name the file or argument at fault and
say what is wrong with it.
"""

from __future__ import annotations

import contextlib
import inspect
import os
import warnings


class V1AnnError(Exception):
    """Base class of every v1ann error caused by input, data or environment."""


class DataFileError(V1AnnError):
    """A file is missing, unreadable, truncated, or lacks a field the format requires."""


class InvalidInputError(V1AnnError, ValueError):
    """An argument or array is unusable: wrong dims or shape, NaN/Inf, too few repeats, ..."""


class MissingDependencyError(V1AnnError, ImportError):
    """An optional dependency is needed for this call; the message says how to install it."""


class TrainingError(V1AnnError, RuntimeError):
    """Training cannot go on, e.g. the loss became NaN or Inf."""


class DownloadError(V1AnnError):
    """A remote file could not be fetched or failed its checksum."""


class V1AnnWarning(UserWarning):
    """Something was dropped or adjusted on the user's behalf (counted in the message)."""


def warn(message: str, category: type[Warning] = V1AnnWarning) -> None:
    """Issue ``message`` attributed to the first caller outside v1ann.

    A fixed ``stacklevel`` breaks whenever a call goes through one more v1ann function
    (a decorator, a wrapper); walking the stack does not (pandas does the same).
    """
    package = os.path.dirname(os.path.abspath(__file__)) + os.sep
    frame, level = inspect.currentframe(), 1
    while frame is not None and frame.f_code.co_filename.startswith(package):
        frame, level = frame.f_back, level + 1
    warnings.warn(message, category, stacklevel=level)


@contextlib.contextmanager
def collected_warnings():
    """Yield a list that receives the messages of the :class:`V1AnnWarning` s issued in the block.

    The warnings still reach the caller (shown once each, where they were issued), so a
    result can carry what was said about it (``fit.attrs["warnings"]``).
    """
    messages: list[str] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield messages
    for w in caught:
        if issubclass(w.category, V1AnnWarning) and str(w.message) not in messages:
            messages.append(str(w.message))
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno, source=w.source)
