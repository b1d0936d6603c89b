"""One thread budget for v1ann's heavy work, so that torch's and OpenBLAS's pools do not fight.

torch computes on its OpenMP pool (MKL included); numpy and scipy on OpenBLAS's own
threads. Both spin while they wait, and on a 2-core machine with other work on one core
the README quickstart took 80-101 s instead of 4.6 s single-threaded (issue 25). Measured
side by side (``benchmarks/bench_threads.py``, table in docs/install.md): OpenMP stops
spinning under ``OMP_WAIT_POLICY=PASSIVE``; no thread pool gains from a core that other
work holds (two threads on one free core were 1.15-1.5x slower than one). So v1ann

- sets ``OMP_WAIT_POLICY=PASSIVE`` when it is imported, unless the user set it (it must
  be set before torch starts its pool: import v1ann first, or set it yourself);
- runs each heavy call with both pools on the same number of threads, never at once:
  by default the cores of the process that are idle when the call starts (sampled
  from ``/proc/stat`` for 50 ms; capped by ``OMP_NUM_THREADS`` when set), or the number
  given to :func:`set_threads`.
"""

from __future__ import annotations

import contextlib
import functools
import os
import time
from typing import Callable, Iterator, TypeVar

from v1ann._checks import check_int

__all__ = ["available_cores", "default_threads", "get_threads", "set_threads", "thread_budget", "uses_thread_budget"]

F = TypeVar("F", bound=Callable)
_threads: int | None = None
_depth = 0  # nested heavy calls keep the budget of the outermost one
_sampled: tuple[float, int] = (-1e9, 1)  # (when, idle cores) of the last sample
SAMPLE_SECONDS = 0.05
REUSE_SECONDS = 2.0  # calls in quick succession share one sample


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

    The default gives each heavy call as many threads as the process has idle cores when
    it starts (:func:`default_threads`), the setting that was never slower than
    ``OMP_NUM_THREADS=1``, idle or with other work on the machine. torch's pool and
    OpenBLAS (numpy, scipy) get the same number and v1ann never runs the two at once.
    ``v1ann --threads N`` sets it for a command.

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


def default_threads() -> int:
    """The cores of this process that are idle now (at least 1, at most ``OMP_NUM_THREADS`` if set).

    >>> 1 <= default_threads() <= available_cores()
    True
    """
    global _sampled
    cap = available_cores()
    try:
        cap = max(1, min(cap, int(os.environ["OMP_NUM_THREADS"])))
    except (KeyError, ValueError):
        pass
    now = time.monotonic()
    if now - _sampled[0] > REUSE_SECONDS:
        _sampled = (now, _idle_cores())
    return max(1, min(cap, _sampled[1]))


def _idle_cores() -> int:
    """Idle cores among those the process may use, from two reads of ``/proc/stat``."""
    try:
        cpus = {f"cpu{i}" for i in os.sched_getaffinity(0)}
        first = _cpu_times(cpus)
        time.sleep(SAMPLE_SECONDS)
        second = _cpu_times(cpus)
    except (OSError, AttributeError, ValueError):  # not Linux: trust the affinity
        return available_cores()
    idle = 0.0
    for cpu, (busy, total) in second.items():
        if cpu in first and total > first[cpu][1]:
            idle += 1 - (busy - first[cpu][0]) / (total - first[cpu][1])
    # a core counts as idle when at least 3/4 of it is free
    return int(idle + 0.25) if second else available_cores()


def _cpu_times(cpus: set[str]) -> dict[str, tuple[int, int]]:
    """``{cpu: (busy jiffies, total jiffies)}`` for the named cpus."""
    times = {}
    with open("/proc/stat") as f:
        for line in f:
            name, *fields = line.split()
            if name in cpus:
                values = [int(v) for v in fields[:8]]  # user nice system idle iowait irq softirq steal
                total = sum(values)
                times[name] = (total - values[3] - values[4], total)
    return times


@contextlib.contextmanager
def thread_budget() -> Iterator[None]:
    """Run the block with torch and OpenBLAS on the budget's threads; restore torch's after.

    Nested blocks keep the outermost budget (one sample per top-level call).
    """
    global _depth
    if _depth:
        _depth += 1
        try:
            yield
        finally:
            _depth -= 1
        return

    import torch
    from threadpoolctl import threadpool_limits

    threads = _threads or default_threads()
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    _depth = 1
    try:
        with threadpool_limits(limits=threads, user_api="blas"):
            yield
    finally:
        _depth = 0
        torch.set_num_threads(previous)


def uses_thread_budget(func: F) -> F:
    """Decorate a heavy public function so that it runs under :func:`thread_budget`."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        with thread_budget():
            return func(*args, **kwargs)

    return wrapper  # type: ignore[return-value]
