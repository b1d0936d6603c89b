"""`v1ann --help` lists every command from cli.COMMANDS without importing them: the summaries must match."""

from __future__ import annotations

import importlib

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
