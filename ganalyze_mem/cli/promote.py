"""`ganalyze-mem promote`: keep a trained transformer under transformers/NAME/ for use by name."""

from __future__ import annotations

import click


@click.command("promote")
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False))
@click.argument("name")
@click.option("--out", "-o", type=click.Path(file_okay=False), default=None,
              help="Folder to create NAME/ in. Default: your weights folder ($GANALYZE_MEM_WEIGHTS/transformers, "
                   "else ~/.cache/ganalyze_mem/transformers), found by name; the repository's transformers/ is "
                   "found by name too; elsewhere pass the folder OUT/NAME as the strips SOURCE.")
@click.option("--force", is_flag=True, help="Replace an existing promoted transformer of that name.")
def promote_cmd(run_dir: str, name: str, out: str | None, force: bool) -> None:
    """Copy the transformer, its card and config from RUN_DIR into your weights folder as NAME/.

    \b
    Examples:
      ganalyze-mem promote outputs/train/00003-resnet50-one_direction-biggan-deep-128 resnet50-biggan128
      ganalyze-mem strips resnet50-biggan128 --seeds 0-9
    """
    from ..transformers.store import promote

    dest = promote(run_dir, name, force=force, out=out)
    click.echo(f"Promoted {run_dir} to {dest}. Use it with: ganalyze-mem strips {name if out is None else dest}")
