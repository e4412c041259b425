"""`ganalyze-mem import-predictor`: an official MachineMem/HumanMem predictor checkpoint becomes an assessor."""

from __future__ import annotations

import click

from ..heads import HEADS


@click.command("import-predictor", context_settings={"show_default": True})
@click.argument("file", type=click.Path(dir_okay=False, path_type=str))
@click.option("--backbone", type=click.Choice(list(HEADS)), default="resnet50",
              help="Architecture of the checkpoint (the official predictors are timm ResNet-50s).")
@click.option("--name", required=True, help="Assessor name to create (assessors/NAME/).")
@click.option("--image-size", type=int, default=224, help="Input side the predictor was trained at.")
@click.option("--normalization", type=click.Choice(["imagenet", "none"]), default="imagenet",
              help="Input normalisation the predictor was trained with.")
@click.option("--score-range", default="0,1", help="LO,HI range of the scores it predicts.")
@click.option("--higher-is", default="more memorable (to machines)",
              help="What a higher score means, e.g. 'more memorable (to people)' for the HumanMem predictor.")
@click.option("--out", "-o", type=click.Path(file_okay=False, path_type=str), default=None,
              help="Folder to create NAME/ in. Default: the repository's assessors/.")
@click.option("--preprocess", type=click.Choice(["official-machinemem", "toolkit"]), default="official-machinemem",
              help="How it prepares an image, recorded in card.json: the official evaluation's (centre crop to an "
                   "aspect ratio in [3/4, 4/3], alpha dropped, no EXIF rotation) or the toolkit's (stretch resize, "
                   "alpha on white, EXIF applied).")
@click.option("--force", is_flag=True, help="Replace an existing predictor folder of that name.")
def import_predictor_cmd(file, backbone, name, image_size, normalization, score_range, higher_is, preprocess, out,
                         force) -> None:
    """Convert an official MachineMem/HumanMem predictor checkpoint (timm ResNet-50 under "state_dict") into
    assessors/NAME/ (model.safetensors + card.json), so that `--assessor NAME` works in every command.

    \b
    Examples:
      ganalyze-mem import-predictor machinemem_predictor.pth.tar --name machinemem-official
      ganalyze-mem import-predictor humanmem_predictor.pth.tar --name humanmem-resnet50 \\
          --higher-is "more memorable (to people)"
    """
    from ..predictor.promote import import_checkpoint
    from .fit_predictor import _pair

    folder = import_checkpoint(file, backbone, name, out=out, force=force, image_size=image_size,
                               normalization=normalization, score_range=_pair(score_range, "--score-range"),
                               higher_is=higher_is, preprocess=preprocess)
    click.echo(f"Wrote {folder}; use it with: --assessor {name}")
