"""Exceptions raised by v1ann.

Every error that bad input can cause derives from :class:`V1AnnError`, so a caller
(and the CLI) can catch one class. Messages name the file or argument at fault and
say what is wrong with it.
"""

from __future__ import annotations


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
