"""`ganalyze-mem list`: what is registered, one line each."""

from __future__ import annotations

import click

from ..api.models import REGISTRIES, registry


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
    reg = registry(kind)  # the API's: predictor folders promoted since start-up are listed too
    names = reg.names(pattern)
    if not names:
        raise click.ClickException(f"No {kind} match '{pattern}'. Run `ganalyze-mem list {kind}` for all names.")
    width = max(len(n) for n in names)
    for n in names:
        click.echo(f"{n:<{width}}  {reg.describe(n)}")
