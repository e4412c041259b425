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
    changed = _changed_folders(kind, names)
    for n in names:
        flag = f"  [SHA256 MISMATCH: {changed[n]}]" if n in changed else ""
        click.echo(f"{n:<{width}}  {reg.describe(n)}{flag}")
    if changed:
        click.echo(f"{len(changed)} of them hold weights that do not match their card's sha256.", err=True)


def _changed_folders(kind: str, names: list[str]) -> dict[str, str]:
    """Predictor folders among `names` whose weights no longer match their card's sha256 (name -> why)."""
    if kind != "assessors":
        return {}
    from ..assessors.folders import predictor_folders
    from .weights import card_mismatch

    out = {}
    for folder in predictor_folders():
        model = folder / "model.safetensors"
        if folder.name in names and model.is_file():
            why = card_mismatch(model, {})
            if why:
                out[folder.name] = why
    return out
