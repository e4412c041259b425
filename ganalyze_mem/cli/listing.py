"""`ganalyze-mem list`: what is registered, one line each."""

from __future__ import annotations

import importlib

import click

REGISTRIES = {
    "assessors": "ganalyze_mem.assessors:ASSESSORS",
    "generators": "ganalyze_mem.generators:GENERATORS",
    "transformers": "ganalyze_mem.transformers:TRANSFORMERS",
    "machines": "ganalyze_mem.machines:MACHINES",
}


def get_registry(kind: str):
    module, _, attr = REGISTRIES[kind].partition(":")
    return getattr(importlib.import_module(module), attr)


@click.command("list")
@click.argument("kind", type=click.Choice(sorted(REGISTRIES)))
@click.argument("pattern", default="*")
def list_cmd(kind: str, pattern: str) -> None:
    """List registered names of KIND, optionally filtered by a glob PATTERN (e.g. 'resnet*').

    \b
    Examples:
      ganalyze-mem list assessors
      ganalyze-mem list machines 'resnet*'
    """
    reg = get_registry(kind)
    names = reg.names(pattern)
    if not names:
        raise click.ClickException(f"No {kind} match '{pattern}'. Run `ganalyze-mem list {kind}` for all names.")
    width = max(len(n) for n in names)
    for n in names:
        click.echo(f"{n:<{width}}  {reg.describe(n)}")
