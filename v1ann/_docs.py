"""Parameter documentation written once and filled into docstrings (as MNE's ``fill_doc``).

A docstring line that is only ``%(name)s`` is replaced by the entry ``name`` below,
indented like the placeholder. Only these placeholders are touched, so a docstring may
otherwise hold ``%`` freely.
"""

from __future__ import annotations

import re

PARAMETERS = {
    "device": """device : str
    ``"auto"`` (default) uses CUDA when available, else the CPU; or a torch device
    such as ``"cpu"``, ``"cuda"``, ``"cuda:1"``.""",
    "seed": """seed : int, numpy.random.Generator or None
    Seeds every random choice of the call; None draws fresh randomness.""",
    "progress": """progress : bool
    Show a progress bar over the long loop (default True).""",
    "fit_range": """fit_range : (int, int) or str
    0-based half-open rank-index range of the power-law fit: ``(11, 500)`` (the
    default) fits ranks 12..500 as Stringer et al.'s (2019) Python notebook does. Their
    MATLAB code, which made the figures, fits other windows; choose one by name:
    ``"notebook"`` (ranks 12..500), ``"matlab"`` (11..500), ``"matlab-fig2"`` (10..500).
    Data with fewer ranks are fitted up to their last one (``fit.fit_range`` is the
    range used).""",
}

_PLACEHOLDER = re.compile(r"^(?P<indent>[ \t]*)%\((?P<name>\w+)\)s[ \t]*$", re.M)


def fill_doc(func):
    """Replace each ``%(name)s`` line of ``func.__doc__`` by ``PARAMETERS[name]``; returns ``func``."""

    def entry(match):
        indent = match.group("indent")
        return "\n".join(indent + line for line in PARAMETERS[match.group("name")].splitlines())

    if func.__doc__:
        func.__doc__ = _PLACEHOLDER.sub(entry, func.__doc__)
    return func
