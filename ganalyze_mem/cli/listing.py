"""`ganalyze-mem list`: what is registered, one line each."""

from __future__ import annotations

import click

from ..api.models import REGISTRIES, registry
from .common import json_command


@click.command("list")
@click.argument("kind", type=click.Choice(sorted(REGISTRIES)))
@click.argument("pattern", default="*")
@json_command(lambda rows: {"kind": rows[0], "entries": [{"name": n, "description": d, "ready": ready}
                                                         for n, d, ready in rows[1]]})
def list_cmd(kind: str, pattern: str):
    """List registered names of KIND, optionally filtered by a glob PATTERN (e.g. 'resnet*').

    \b
    Examples:
      ganalyze-mem list assessors
      ganalyze-mem list machines 'resnet*'
    """
    reg = registry(kind)  # the API's: predictor folders promoted since start-up are listed too
    names = reg.names(pattern)
    if not names:
        raise click.ClickException(f"No {kind} match '{pattern}'. Run `ganalyze-mem list {kind}` for all names.")
    width = max(len(n) for n in names)
    rows = [(n, reg.describe(n), reg.is_ready(n)) for n in names]
    for n, description, _ in rows:
        click.echo(f"{n:<{width}}  {description}")
    return kind, rows
