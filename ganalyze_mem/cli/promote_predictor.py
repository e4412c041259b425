"""`ganalyze-mem promote-predictor`: a fit-predictor run becomes the assessor ``--assessor NAME``."""

from __future__ import annotations

import json

import click


@click.command("promote-predictor", context_settings={"show_default": True})
@click.argument("run_dir", type=click.Path(file_okay=False, path_type=str))
@click.argument("name")
@click.option("--checkpoint", type=click.Choice(["best", "last"]), default="best",
              help="The best held-out epoch (by Spearman's rho) or the last one.")
@click.option("--out", "-o", type=click.Path(file_okay=False, path_type=str), default=None,
              help="Folder to create NAME/ in. Default: your weights folder ($GANALYZE_MEM_WEIGHTS, else "
                   "~/.cache/ganalyze_mem/assessors), found by every command. Pass the repository's assessors/ to "
                   "share it with everyone using this checkout; another folder is found once GANALYZE_MEM_WEIGHTS "
                   "names it.")
@click.option("--force", is_flag=True, help="Replace an existing predictor folder of that name, and promote a "
              "predictor whose test rho interval includes 0 (or that has no test split).")
def promote_predictor_cmd(run_dir, name, checkpoint, out, force) -> None:
    """Write a fit-predictor run's weights (safetensors) and card (backbone, image size, sha256, training-data
    hash, metrics) to your weights folder as NAME/, so that `--assessor NAME` works in every command. A predictor
    whose test-split rho interval includes 0 is refused unless you pass --force.

    \b
    Examples:
      ganalyze-mem promote-predictor outputs/predictor/00003-resnet50-scores machinemem-lamem
      ganalyze-mem score photos/ --assessor machinemem-lamem
      ganalyze-mem promote-predictor outputs/predictor/00004-resnet50-scores resnet50 --force
    """
    from ..predictor.promote import promote

    folder = promote(run_dir, name, out=out, force=force, checkpoint=checkpoint)
    card = json.loads((folder / "card.json").read_text())
    m = card["metrics"]
    rho, ci = m.get("test_spearman"), m.get("test_spearman_ci")
    click.echo(f"Wrote {folder} ({card['backbone']}, {card['image_size']} px, epoch {m['epoch']}"
               + (f", test rho {rho:.4f} [95% CI {ci[0]:.3f}, {ci[1]:.3f}], n = {m.get('test_n')}"
                  if rho is not None and ci else f"; {m.get('test_note', 'no test figures')}") + ")")
    click.echo(f"Use it with: --assessor {name}")
