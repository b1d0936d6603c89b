"""The ``v1ann`` command line.

Each sub-command lives in its own module of this package and is imported only when
invoked; ``v1ann --help`` lists them from the summaries below without importing any, so
it stays fast while the command modules import the library at module level. Errors caused by input (:class:`V1AnnError`,
unreadable paths) print one line to stderr and exit with status 2, never a traceback.
"""

from __future__ import annotations

import importlib
import sys
import warnings

import click

from v1ann.errors import V1AnnError, V1AnnWarning

# name -> ("module:function" relative to v1ann.cli, the one-line summary `v1ann --help` shows);
# tests/test_cli_help.py checks each summary against its command's docstring.
COMMANDS = {
    "demo": ("demo:demo", "Simulate a recording, fit its exponent, compare a network, train one to match, attack both."),
    "simulate": ("simulate:simulate", "Simulate a recording whose signal spectrum is exactly rank^-ALPHA and write it to OUT."),
    "fit": ("fit:fit", "Estimate the power-law exponent alpha of the spectrum in PATH."),
    "compare": ("compare:compare", "Fit the power-law exponent of RECORDING and of each layer of a network shown its images."),
    "train": ("train:train", "Train a classifier on DATASET, its hidden spectrum pulled towards n^-alpha."),
    "sweep": ("sweep:sweep", "Train every (alpha or vanilla, strength, tau, seed), measure alpha, attack; store each run."),
    "datasets": ("datasets:datasets", "List and download files of the public Stringer et al. 2019 deposits."),
}


class LazyGroup(click.Group):
    """A click group whose sub-commands are imported on first use."""

    def list_commands(self, ctx):
        return sorted(COMMANDS)

    def get_command(self, ctx, name):
        target = COMMANDS.get(name)
        if target is None:
            return None
        module, func = target[0].split(":")
        try:
            mod = importlib.import_module(f"{__name__}.{module}")
        except ModuleNotFoundError as exc:
            if exc.name == f"{__name__}.{module}":
                return None  # command not built yet
            raise
        return getattr(mod, func)

    def format_commands(self, ctx, formatter):
        rows = [(name, COMMANDS[name][1]) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="v1ann")
@click.option("--threads", type=click.IntRange(min=1), default=None,
              help="Threads of torch and of numpy/scipy for the heavy work  [default: the cores of the "
                   "process that are idle when a heavy call starts; see docs/install.md]")
def cli(threads):
    """v1ann: power-law spectra of mouse V1 and of artificial neural networks."""
    from v1ann._threads import set_threads

    set_threads(threads)


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
    except click.UsageError as exc:  # one line too, with the command it concerns
        command = exc.ctx.command_path if exc.ctx is not None else "v1ann"
        fail(f"{exc.format_message()} (see `{command} --help`)")
    except click.ClickException as exc:
        fail(exc.format_message())
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
