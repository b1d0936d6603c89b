"""Options shared by several commands, defined once so that their help and defaults agree."""

from __future__ import annotations

from pathlib import Path

import click

from v1ann._loglog import DEFAULT_FIT_RANGE


def fit_range_option(what: str = ""):
    """``--fit-range LO HI``, the rank range of every fit the command makes (``what`` adds to the help)."""
    return click.option(
        "--fit-range", nargs=2, type=int, default=DEFAULT_FIT_RANGE, show_default=True, metavar="LO HI",
        help="0-based half-open rank indices (11 500 = ranks 12..500); data with fewer ranks are fitted "
             f"up to their last one{what}.",
    )


class OutputPath(click.Path):
    """A file or folder to write: its parent folder must exist. Checked as the command line is
    read, before any work, and nothing is created (a typo must not make folders)."""

    def __init__(self, **options):
        super().__init__(path_type=Path, **options)

    def convert(self, value, param, ctx):
        path = Path(super().convert(value, param, ctx))
        parent = path.absolute().parent
        if not parent.is_dir():
            self.fail(f"{path}: the folder {parent} does not exist; create it first", param, ctx)
        return path


def per_method_default(setting: str) -> str:
    """Each penalty's default of ``setting`` for a help text, e.g. ``"30 for loglog, 1 for nassar2020, ..."``."""
    from v1ann.nn.regularizer import METHOD_DEFAULTS

    return ", ".join(f"{'all' if d[setting] is None else format(d[setting], 'g')} for {m}"
                     for m, d in METHOD_DEFAULTS.items())
