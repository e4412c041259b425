"""`ganalyze-mem weights status`: for every preset that needs weights, where they were looked for and what was found.

Looks only on disk (`ganalyze_mem.weights.lookup`, the same search `resolve_weights` makes); never downloads.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import click


@dataclass
class PresetStatus:
    """The weights situation of one preset."""

    kind: str
    name: str
    found: Path | None = None
    source: str = ""
    sha256: str = ""
    tried: list[tuple[str, Path, str]] = field(default_factory=list)
    files: dict[str, str] = field(default_factory=dict)  # file name -> sha256, for every file of a found folder
    downloadable: bool = False
    error: str = ""
    mismatch: str = ""  # the card beside the weights records another sha256 (the file changed after its card)


def registries(kinds: list[str] | None = None) -> tuple[dict, list[str]]:
    """{kind: registry} for the registries that import, and a note for each that does not."""
    from ..api.models import registry
    from .listing import REGISTRIES

    regs, notes = {}, []
    for kind in REGISTRIES:
        if kinds and kind not in kinds:
            continue
        try:
            regs[kind] = registry(kind)  # the API's: predictor folders promoted since start-up are included
        except (ImportError, AttributeError) as e:
            notes.append(f"{kind}: skipped, the registry does not import yet ({type(e).__name__}: {e})")
    return regs, notes


def weights_status(pattern: str = "*", kinds: list[str] | None = None,
                   hash_files: bool = True) -> tuple[list[PresetStatus], list[str]]:
    """Status of every preset matching `pattern` whose weight spec is not None, and notes on skipped registries."""
    import os

    from ..weights import ENV_OFFLINE, card_mismatch, lookup, sha256_file

    regs, notes = registries(kinds)
    out: list[PresetStatus] = []
    for kind, reg in regs.items():
        for name in reg.names(pattern):
            st = PresetStatus(kind, name)
            try:
                spec = reg.weight_spec(name)
            except Exception as e:  # noqa: BLE001 - one broken preset must not hide the others
                st.error = f"could not build its weight spec ({type(e).__name__}: {e})"
                out.append(st)
                continue
            if spec is None:
                continue
            lk = lookup(spec)
            st.tried, st.found, st.source = lk.tried, lk.found, lk.source
            st.downloadable = bool(spec.urls) and not os.environ.get(ENV_OFFLINE)
            if lk.found is not None and hash_files:
                st.sha256 = sha256_file(lk.found)
                for fname in spec.files:
                    f = lk.found.parent / fname
                    if f.is_file():
                        st.files[fname] = st.sha256 if f == lk.found else sha256_file(f)
                st.mismatch = card_mismatch(lk.found, st.files)
            out.append(st)
    return out, notes




@click.group("weights")
def weights_group() -> None:
    """Inspect the weights that presets need (nothing is downloaded)."""


@weights_group.command("status", short_help="Where each preset's weights were looked for, found or not, sha256.")
@click.argument("pattern", default="*")
@click.option("--kind", "kinds", multiple=True,
              type=click.Choice(["assessors", "generators", "transformers", "machines", "backbones"]),
              help="Only these registries (repeatable); default: all.")
@click.option("--verbose", "-v", is_flag=True, help="Also list every place looked at and the sha256 of every file.")
def status_cmd(pattern: str, kinds: tuple[str, ...], verbose: bool) -> None:
    """For every preset needing weights (optionally matching a glob PATTERN): found or not, where, and the sha256.

    \b
    Examples:
      ganalyze-mem weights status
      ganalyze-mem weights status 'biggan*' --verbose
    """
    rows, notes = weights_status(pattern, list(kinds) or None)
    for note in notes:
        click.echo(f"note: {note}", err=True)
    if not rows:
        click.echo(f"No preset that needs weights matches '{pattern}'.")
        return
    if verbose:
        import os

        from ..weights import ENV_DIR, cache_dir

        env = os.environ.get(ENV_DIR)
        click.echo(f"${ENV_DIR}: {env if env else 'not set'}; cache folder: {cache_dir()}")
    width = max(len(f"{r.kind[:-1]}/{r.name}") for r in rows)
    click.echo(f"{'preset':<{width}}  {'status':<8}  {'sha256':<64}  where")
    for r in rows:
        label = f"{r.kind[:-1]}/{r.name}"
        if r.error:
            click.echo(f"{label:<{width}}  {'error':<8}  {'-':<64}  {r.error}")
        elif r.found is not None and r.mismatch:
            click.echo(f"{label:<{width}}  {'MISMATCH':<8}  {r.sha256:<64}  {r.found} ({r.source}): {r.mismatch}")
        elif r.found is not None:
            click.echo(f"{label:<{width}}  {'found':<8}  {r.sha256:<64}  {r.found} ({r.source})")
        else:
            where = f"not in {len(r.tried)} places" + ("; downloadable" if r.downloadable else "")
            click.echo(f"{label:<{width}}  {'missing':<8}  {'-':<64}  {where}")
        if verbose:
            for source, path, outcome in r.tried:
                click.echo(f"    {source}: {path} ({outcome})")
            for fname, digest in r.files.items():
                click.echo(f"    sha256 {fname}: {digest}")
    missing = sum(r.found is None for r in rows)
    bad = sum(bool(r.mismatch) for r in rows)
    click.echo(f"{len(rows) - missing} of {len(rows)} presets have their weights"
               + (f", {bad} of them NOT matching their card's sha256" if bad else "")
               + "; see `ganalyze-mem weights status -v` for every place looked at.")
