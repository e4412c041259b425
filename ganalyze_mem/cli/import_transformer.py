"""`ganalyze-mem import-transformer`: a transformer trained by GANalyze's own code becomes a transformer folder."""

from __future__ import annotations

import click


@click.command("import-transformer", context_settings={"show_default": True})
@click.argument("checkpoint", type=click.Path(dir_okay=False, path_type=str))
@click.option("--name", required=True, help="Transformer name to create (transformers/NAME/), used by `strips NAME`.")
@click.option("--generator", "-g", default="biggan-deep-256",
              help="Generator it was trained on; its z size must be the transformer's.")
@click.option("--assessor", "-a", default=None,
              help="Assessor it was trained with (scores the strips). Default: from opts.json (emonet -> valence).")
@click.option("--opts", type=click.Path(dir_okay=False, path_type=str), default=None,
              help="GANalyze's opts.json. Default: the one beside CHECKPOINT, if any.")
@click.option("--truncation", type=float, default=1.0, help="Truncation to make strips at, unless opts.json says.")
@click.option("--out", "-o", type=click.Path(file_okay=False, path_type=str), default=None,
              help="Folder to create NAME/ in. Default: the repository's transformers/.")
@click.option("--force", is_flag=True, help="Replace an existing transformer folder of that name.")
def import_transformer_cmd(checkpoint, name, generator, assessor, opts, truncation, out, force) -> None:
    """Import a transformer saved by GANalyze's PyTorch code: one direction ({'w': 1 x dim_z}) or class-dependent
    (NN_output weight and bias), with its opts.json. Its z size must be a registered generator's (GANalyze's
    BigGAN-256 transformers, z of 140, are refused). Strips use GANalyze's test settings by default (alpha 0.1,
    3 bigger steps each way).

    \b
    Examples:
      ganalyze-mem import-transformer pytorch_model_emonet.pth --name ganalyze-valence -g biggan-deep-256
      ganalyze-mem strips ganalyze-valence --classes "pizza,goldfish" --seeds 0-9
    """
    from ..transformers.ganalyze_import import import_transformer

    folder = import_transformer(checkpoint, name, generator=generator, assessor=assessor, opts=opts,
                                truncation=truncation, out=out, force=force)
    click.echo(f"Wrote {folder}; make strips with: ganalyze-mem strips {folder if out else name}")
