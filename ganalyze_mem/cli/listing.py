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
    changed = _changed_folders(kind, names)
    rows = [(n, reg.describe(n), reg.is_ready(n)) for n in names]
    for n, description, _ in rows:
        flag = f"  [SHA256 MISMATCH: {changed[n]}]" if n in changed else ""
        click.echo(f"{n:<{width}}  {description}{flag}")
    if changed:
        click.echo(f"{len(changed)} of them hold weights that do not match their card's sha256.", err=True)
    return kind, rows


def _changed_folders(kind: str, names: list[str]) -> dict[str, str]:
    """Predictor folders among `names` whose weights no longer match their card's sha256 (name -> why)."""
    if kind != "assessors":
        return {}
    from ..assessors.folders import predictor_folders
    from ..weights import card_mismatch

    out = {}
    for folder in predictor_folders():
        model = folder / "model.safetensors"
        if folder.name in names and model.is_file():
            why = card_mismatch(model, {})
            if why:
                out[folder.name] = why
    return out
