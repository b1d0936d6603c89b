"""The ``v1ann`` command line.

Each sub-command lives in its own module of this package and is imported only when
invoked, so ``v1ann --help`` is fast. Errors caused by input (:class:`V1AnnError`,
unreadable paths) print one line to stderr and exit with status 2, never a traceback.
"""

from __future__ import annotations

import importlib
import sys
import warnings

import click

from ..errors import V1AnnError, V1AnnWarning

# name -> "module:function"; modules are relative to v1ann.cli
COMMANDS = {
    "demo": "demo:demo",
    "simulate": "simulate:simulate",
    "fit": "fit:fit",
    "compare": "compare:compare",
    "train": "train:train",
    "sweep": "sweep:sweep",
    "datasets": "datasets:datasets",
}


class LazyGroup(click.Group):
    """A click group whose sub-commands are imported on first use."""

    def list_commands(self, ctx):
        return sorted(COMMANDS)

    def get_command(self, ctx, name):
        target = COMMANDS.get(name)
        if target is None:
            return None
        module, func = target.split(":")
        try:
            mod = importlib.import_module(f"{__name__}.{module}")
        except ModuleNotFoundError as exc:
            if exc.name == f"{__name__}.{module}":
                return None  # command not built yet
            raise
        return getattr(mod, func)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="v1ann")
def cli():
    """v1ann: power-law spectra of mouse V1 and of artificial neural networks."""


def fail(message: str) -> None:
    """Print one error line and exit 2 (the CLI's answer to bad input)."""
    click.echo(f"v1ann: error: {message}", err=True)
    sys.exit(2)


def _show_warning(message, category, filename, lineno, file=None, line=None):
    """The package's warnings as one line each, like its errors; others as Python shows them."""
    if issubclass(category, V1AnnWarning):
        click.echo(f"v1ann: warning: {message}", err=True)
    else:
        _python_show_warning(message, category, filename, lineno, file, line)


_python_show_warning = warnings.showwarning


def main(argv=None) -> None:
    """Entry point of the ``v1ann`` console script."""
    warnings.showwarning = _show_warning
    try:
        cli.main(args=argv, prog_name="v1ann", standalone_mode=False)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:  # usage errors: click's own one-line message
        exc.show()
        sys.exit(2)
    except click.Abort:
        click.echo("v1ann: aborted", err=True)
        sys.exit(130)
    except V1AnnError as exc:
        fail(str(exc))
    except OSError as exc:  # disk full, permission denied, ...: still one line
        fail(f"{getattr(exc, 'filename', '') or ''}: {exc.strerror or exc}".lstrip(": "))
    except KeyboardInterrupt:
        click.echo("v1ann: interrupted", err=True)
        sys.exit(130)
    finally:
        warnings.showwarning = _python_show_warning
