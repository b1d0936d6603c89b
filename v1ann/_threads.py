"""One thread budget for v1ann's heavy work, so that torch's and OpenBLAS's pools do not fight.

torch computes on its OpenMP pool (MKL included); numpy and scipy on OpenBLAS's own
threads. Both spin while they wait, and on a 2-core machine with other work on one core
the README quickstart took 80-101 s instead of 4.6 s single-threaded (issue 25). Measured
side by side (``benchmarks/bench_threads.py``, table in docs/install.md): OpenMP stops
spinning under ``OMP_WAIT_POLICY=PASSIVE``; OpenBLAS cannot, and with two threads under
load its ``eigh`` was 1.5x slower than with one. So v1ann

- sets ``OMP_WAIT_POLICY=PASSIVE`` when it is imported, unless the user set it (it must
  be set before torch starts its pool: import v1ann first, or set it yourself);
- runs each heavy call with OpenBLAS on one thread and torch on its own default (the
  cores the process may use), unless :func:`set_threads` gave a number: then both pools
  get it, one at a time.
"""

from __future__ import annotations

import contextlib
import functools
import os
from typing import Callable, Iterator, TypeVar

from v1ann._checks import check_int

__all__ = ["available_cores", "get_threads", "set_threads", "thread_budget", "uses_thread_budget"]

F = TypeVar("F", bound=Callable)
_threads: int | None = None


def available_cores() -> int:
    """The cores this process may run on (its CPU affinity, not the machine's count).

    >>> available_cores() >= 1
    True
    """
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def set_threads(threads: int | None = None) -> None:
    """Set how many threads v1ann's heavy calls use; ``None`` restores the default.

    The default gives torch the cores the process may use (:func:`available_cores`) and
    OpenBLAS (numpy, scipy) one thread, the setting that was never slower than
    ``OMP_NUM_THREADS=1``, idle or with other work on the machine. A number gives both
    pools that many threads; v1ann never runs the two at once. ``v1ann --threads N``
    sets it for a command.

    >>> set_threads(1); get_threads()
    1
    >>> set_threads(None); get_threads() is None
    True
    """
    global _threads
    _threads = check_int(threads, "threads", minimum=1, allow_none=True)


def get_threads() -> int | None:
    """The number set by :func:`set_threads` (``None``: the default budget)."""
    return _threads


@contextlib.contextmanager
def thread_budget() -> Iterator[None]:
    """Run the block under the budget of :func:`set_threads`; restore torch's threads after."""
    import torch
    from threadpoolctl import threadpool_limits

    previous = torch.get_num_threads()
    if _threads is not None:
        torch.set_num_threads(_threads)
    try:
        with threadpool_limits(limits=_threads or 1, user_api="blas"):
            yield
    finally:
        torch.set_num_threads(previous)


def uses_thread_budget(func: F) -> F:
    """Decorate a heavy public function so that it runs under :func:`thread_budget`."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        with thread_budget():
            return func(*args, **kwargs)

    return wrapper  # type: ignore[return-value]
