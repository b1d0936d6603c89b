"""One progress bar for every long loop: tqdm, shown only where ``progress`` is true.

Every function with a long loop takes ``progress: bool = True`` and makes its bar here,
so bars look and behave the same everywhere (and tests silence them in one place).
"""

from __future__ import annotations

from tqdm.auto import tqdm


def progress_bar(iterable=None, *, progress: bool = True, desc: str, total: int | None = None, **options) -> tqdm:
    """A tqdm bar over ``iterable`` (or one updated by hand when it is None), hidden unless ``progress``.

    ``options`` go to tqdm (``unit``, ``initial``, ``leave``, ...).

    >>> sum(progress_bar(range(3), progress=False, desc="demo"))
    3
    """
    return tqdm(iterable, total=total, desc=desc, disable=not progress, dynamic_ncols=True, **options)


def finish(bar: tqdm) -> None:
    """Close a bar whose total was an upper bound (a search that may stop early) at 100 %.

    >>> import io
    >>> bar = progress_bar(total=10, desc="search", file=io.StringIO())
    >>> _ = bar.update(4); finish(bar)
    >>> bar.n, bar.total
    (4, 4)
    """
    if bar.total is not None and bar.n < bar.total:
        bar.total = bar.n
        bar.refresh()
    bar.close()
