"""What a new user copies from the README and the docs must work as written.

* Every ``v1ann ...`` line in a shell code block of README.md or docs/*.md names a real
  command whose options and arguments parse (the commands themselves run elsewhere: the
  README's set-up commands in CI, each command's behaviour in its own tests).
* The Python snippets of the README and of the pages a newcomer reads first (home,
  install, concepts, real data) run, except those that need a downloaded recording.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import click
import pytest

from v1ann.cli import cli
from v1ann.cli._options import OutputPath

REPO = Path(__file__).resolve().parents[1]
PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```", re.S | re.M)
SHELL = {"bash", "sh", "shell", "console"}
# Snippets that download real recordings or read files the reader must have; they are
# exercised by the tests of fetch_stringer and the loaders instead.
NEEDS_REAL_FILES = re.compile(r"fetch_stringer\(|load_stringer\(|load_nwb\(|load_stimulus_images\(")


def code_blocks(languages: set[str]):
    for page in PAGES:
        for match in FENCE.finditer(page.read_text()):
            if match.group(1) in languages:
                yield page, match.group(2)


def shell_commands() -> list[tuple[str, str]]:
    """(page, command line) for every v1ann invocation, including ones after ``&&``."""
    found = []
    for page, block in code_blocks(SHELL):
        block = re.sub(r"\\\n\s*", " ", block)  # join continued lines
        for line in block.splitlines():
            line = line.split(" #", 1)[0].strip().removeprefix("$ ")
            for part in re.split(r"&&|\|\||;|\|", line):
                part = part.strip()
                if part.startswith("v1ann ") or part == "v1ann":
                    found.append((page.relative_to(REPO).as_posix(), part))
    return found


def check_parses(argv: list[str]) -> None:
    """Resolve argv through the click groups and parse it as the leaf command would.

    Options, arities, choices, numbers and required arguments are checked by click itself
    (``make_context``); callers patch :class:`click.Path` so that file names standing for
    the reader's own files need not exist here.
    """
    command: click.Command = cli
    ctx = click.Context(cli, info_name="v1ann")
    while isinstance(command, click.Group):
        flags = []
        while argv and argv[0].startswith("-"):
            flags.append(argv.pop(0))
        if not argv:
            assert flags, "a group needs a sub-command or a flag"
            argv = flags
            break
        if flags:
            _make_context(command, ctx.info_name, flags, ctx.parent)
        name = argv.pop(0)
        sub = command.get_command(ctx, name)
        assert sub is not None, f"no command {name!r} under {ctx.command_path!r}"
        ctx = click.Context(sub, info_name=name, parent=ctx)
        command = sub
    _make_context(command, ctx.info_name, argv, ctx.parent)


def _make_context(command, name, args, parent) -> None:
    try:
        command.make_context(name, list(args), parent=parent)
    except click.exceptions.Exit:  # --help, --version
        pass


COMMANDS = shell_commands()


def test_the_readme_and_docs_show_commands():
    assert any(cmd.startswith("v1ann demo") for _, cmd in COMMANDS)
    assert any(cmd.startswith("v1ann datasets fetch") for _, cmd in COMMANDS)


@pytest.mark.parametrize(("page", "command"), COMMANDS, ids=[f"{p}: {c}" for p, c in COMMANDS])
def test_cli_command_parses(page, command, monkeypatch):
    # "..." stands for options shown elsewhere on the page; the rest must parse
    argv = [token for token in shlex.split(command)[1:] if token != "..."]
    monkeypatch.setattr(click.Path, "convert", lambda self, value, param, ctx: value)
    monkeypatch.setattr(OutputPath, "convert", lambda self, value, param, ctx: value)  # its folder need not exist here
    try:
        check_parses(argv)
    except click.UsageError as exc:
        pytest.fail(f"{page}: `{command}` does not parse: {exc}")


def test_every_command_has_help():
    from click.testing import CliRunner

    names = {shlex.split(cmd)[1] for _, cmd in COMMANDS if len(shlex.split(cmd)) > 1}
    for name in sorted(n for n in names if not n.startswith("-")):
        result = CliRunner().invoke(cli, [name, "--help"])
        assert result.exit_code == 0, f"v1ann {name} --help failed: {result.output}"


FIRST_HOUR = {"README.md", "index.md", "install.md", "concepts.md", "real-data.md"}
PYTHON = [
    (page, block)
    for page, block in code_blocks({"python"})
    if page.name in FIRST_HOUR and not NEEDS_REAL_FILES.search(block)
]


def test_readme_has_a_quickstart_snippet():
    assert any(page.name == "README.md" for page, _ in PYTHON)


@pytest.mark.slow  # each snippet estimates alpha with the bias-corrected estimator
@pytest.mark.parametrize(
    ("page", "code"), PYTHON, ids=[f"{p.relative_to(REPO).as_posix()}#{i}" for i, (p, _) in enumerate(PYTHON)]
)
def test_python_snippet_runs(page, code, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    exec(compile(code, f"{page.name} snippet", "exec"), {"__name__": "__snippet__"})
