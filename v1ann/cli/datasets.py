"""``v1ann datasets list|fetch``: the public Stringer 2019 files and a local cache of them."""

from __future__ import annotations

import json

import click

from v1ann.io.deposits import fetch_stringer, list_stringer


@click.group()
def datasets():
    """List and download files of the public Stringer et al. 2019 deposits."""


@datasets.command("list")
@click.option(
    "--kind",
    type=click.Choice(["recording", "images", "spontaneous"]),
    default=None,
    help="Only files of this kind.",
)
@click.option("--json", "as_json", is_flag=True, help="One JSON array instead of a table.")
def list_command(kind, as_json):
    """Show the deposit files that `v1ann datasets fetch` can download."""

    files = list_stringer(kind)
    if as_json:
        click.echo(json.dumps([f.to_dict() for f in files], indent=2))
        return
    width = max(len(f.name) for f in files)
    click.echo(f"{'name':<{width}}  {'kind':<11}  {'size':>8}  md5      description")
    for f in files:
        size = f"{f.size / 1e6:.0f} MB" if f.size else "?"
        pinned = "pinned" if f.md5 else "figshare"
        click.echo(f"{f.name:<{width}}  {f.kind:<11}  {size:>8}  {pinned:<9}{f.description}")
    click.echo(
        "\nmd5 'pinned': checked against the checksum in v1ann's registry; 'figshare': against "
        "the checksum figshare reports at download time."
    )


@datasets.command("fetch")
@click.argument("name")
@click.option(
    "--cache-dir",
    type=click.Path(file_okay=False, writable=True),
    default=None,
    help="Cache folder (default: $V1ANN_CACHE_DIR or the OS cache, e.g. ~/.cache/v1ann).",
)
@click.option(
    "--base-url",
    default=None,
    metavar="URL",
    help="Fetch URL/NAME from a mirror instead of figshare (default: $V1ANN_DATA_URL).",
)
@click.option("--verify/--no-verify", default=True, show_default=True,
              help="Refuse a file whose checksum is not known (--no-verify: accept it after its size check).")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def fetch_command(name, cache_dir, base_url, verify, quiet):
    """Download NAME into the cache (resuming a partial download) and print its path."""

    click.echo(str(fetch_stringer(name, cache_dir=cache_dir, progress=not quiet, base_url=base_url, verify=verify)))
