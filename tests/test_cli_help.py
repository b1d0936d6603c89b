"""`v1ann --help` lists every command from cli.COMMANDS without importing them: the summaries must match."""

from __future__ import annotations

import importlib
import re

import pytest

from v1ann.cli import COMMANDS


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_help_summary_is_the_first_line_of_the_commands_docstring(name):
    target, summary = COMMANDS[name]
    module, func = target.split(":")
    command = getattr(importlib.import_module(f"v1ann.cli.{module}"), func)
    assert command.help.strip().splitlines()[0] == summary


def test_demo_help_states_the_epochs_the_demo_runs():
    from click.testing import CliRunner

    from v1ann.cli.demo import demo
    from v1ann.experiments.demo import DemoConfig

    help_text = CliRunner().invoke(demo, ["--help"]).output
    assert f"[default: {DemoConfig.epochs};" in " ".join(help_text.split())


def _commands():
    import click

    from v1ann.cli import cli

    ctx = click.Context(cli)
    for name in sorted(COMMANDS):
        command = cli.get_command(ctx, name)
        if isinstance(command, click.Group):
            yield from ((f"{name} {sub}", c) for sub, c in command.commands.items())
        else:
            yield name, command


def _library_defaults():
    """The library call behind each command whose options share its parameter names."""
    import dataclasses
    import inspect

    import v1ann
    from v1ann.experiments.demo import DemoConfig
    from v1ann.experiments.recipe import train_network
    from v1ann.experiments.sweeps import sweep

    def of(func):
        return {n: p.default for n, p in inspect.signature(func).parameters.items() if p.default is not p.empty}

    return {
        "fit": of(v1ann.estimate_alpha), "compare": of(v1ann.estimate_alpha), "train": of(train_network),
        "sweep": of(sweep), "simulate": of(v1ann.simulate_recording),
        "demo": {f.name: f.default for f in dataclasses.fields(DemoConfig)},
    }


# A CLI default that differs from the library's on purpose, and why
INTENDED = {
    ("compare", "seed"): "the CLI's random network must be the same on every call",
    ("simulate", "alpha"): "required on the CLI; the library's None means 'a spectrum is given instead'",
    ("train", "weight_norm"): "an unset --weight-norm/--no-weight-norm is the library's 'auto'",
    ("train", "basis_every"): "an unset --basis-every is the library's 'auto'",
}


def _same(a, b) -> bool:
    from pathlib import PurePath

    def norm(v):
        if isinstance(v, (list, tuple)):
            return tuple(norm(x) for x in v)
        return str(v) if isinstance(v, PurePath) else v

    return norm(a) == norm(b)


def test_cli_defaults_are_the_librarys_defaults():
    import click

    library = _library_defaults()
    differ = []
    for name, command in _commands():
        for param in command.params:
            if not isinstance(param, click.Option) or param.multiple or param.name not in library.get(name, {}):
                continue
            default = param.default if not param.is_flag or isinstance(param.default, bool) else False
            if (name, param.name) not in INTENDED and not _same(default, library[name][param.name]):
                differ.append(f"{name} --{param.name}: CLI {default!r}, library {library[name][param.name]!r}")
    assert not differ, differ


def test_defaults_written_into_help_texts_are_the_ones_used():
    """Options whose default is computed (multiple values, per method) say it by hand: check each."""
    import inspect

    from v1ann.experiments.sweeps import sweep
    from v1ann.nn import models
    from v1ann.nn.regularizer import METHOD_DEFAULTS

    written = {}
    for name, command in _commands():
        for param in command.params:
            match = re.search(r"\[default: ([^\]]+)\]", param.help or "") if hasattr(param, "help") else None
            if match and not getattr(param, "show_default", False):
                written[name, param.name] = " ".join(match.group(1).split())
    sweep_defaults = inspect.signature(sweep).parameters
    def per_method(setting):
        return ", ".join(f"{'all' if d[setting] is None else d[setting]} for {m}" for m, d in METHOD_DEFAULTS.items())

    strengths = ", ".join(f"{d['strength']:g} for {m}" for m, d in METHOD_DEFAULTS.items())
    expected = {
        ("train", "hidden"): " ".join(str(h) for h in inspect.signature(models.mlp).parameters["hidden"].default),
        ("sweep", "hidden"): " ".join(str(h) for h in inspect.signature(models.mlp).parameters["hidden"].default),
        ("train", "strength"): strengths,
        ("sweep", "strengths"): strengths,
        ("train", "tau"): per_method("tau"),
        ("sweep", "taus"): per_method("tau"),
        ("train", "n_components"): per_method("n_components"),
        ("sweep", "attacks"): " ".join(sweep_defaults["attacks"].default),
        ("sweep", "eps"): " ".join(f"{e:g}" for e in sweep_defaults["eps"].default),
    }
    for key, value in expected.items():
        assert written.get(key) == value, (key, written.get(key), value)
