"""`ganalyze-mem strips`: images made less and more to the assessor, with scores and a per-alpha report."""

from __future__ import annotations

import click

from ..visualise.strips_config import BOUNDS, StripsConfig
from .common import device_option

SB = {name: bound.click_type() for name, bound in BOUNDS.items()}  # option types from the one declaration

D = StripsConfig()


@click.command("strips")
@click.argument("source")
@click.option("--classes", default=None, help="Classes (names or indices, comma separated); default: 8 classes "
              "spread over the generator's.")
@click.option("--seeds", default=D.seeds, show_default=True, help="Seed images, e.g. '0-9' or '3,7,12'.")
@click.option("--alpha", default=None, type=SB["alpha"], help="Alpha step between neighbours, in the assessor's units "
              "[default: the training range's largest |alpha| / --steps, so the outer images sit at the range's edge; "
              "report.md gives alpha in the assessor's SDs too].")
@click.option("--steps", default=D.steps, show_default=True, type=SB["steps"],
              help="Steps each side of the seed image.")
@click.option("--mode", default=D.mode, show_default=True, type=click.Choice(["bigger_step", "iterative"]),
              help="bigger_step: T(z, k*alpha) (the paper's); iterative: T applied k times with alpha.")
@click.option("--truncation", default=None, type=SB["truncation"], help="BigGAN truncation  [default: the trained one]")
@click.option("--also-score", default=None, help="More assessors to score every image with, comma "
              "separated (e.g. humanmem,brightness), to see whether steering one moves the others.")
@click.option("--classifier", default=D.classifier, show_default=True,
              help="Class-kept check: 'auto' (humanmem's ImageNet ResNet-152 for real ImageNet generators), "
                   "'none', or an assessor name with a classifier.")
@click.option("--batch-size", "-b", default=D.batch_size, show_default=True, type=SB["batch_size"])
@device_option()
@click.option("--out", default=D.out, show_default=True, help="Folder for numbered strip directories.")
@click.option("--no-images", is_flag=True, help="Do not save every image on its own.")
@click.option("--generator-weights", default=None, help="BigGAN weights folder, when not the one trained with.")
@click.option("--assessor-weights", default=None, help="Weights of the training assessor, when not found by name.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
def strips_cmd(source: str, no_images: bool, quiet: bool, **options) -> None:
    """Strips for SOURCE: a training run directory, a transformer folder, or a promoted name.

    The seed image sits in the middle, made less to the left and more to the right; every image is annotated with
    its scores. Writes one PNG per class, grid.png, images/, scores.csv, report.md/.csv/.png (mean score vs alpha
    with 95% CI, slope and R² of achieved vs target change, Spearman, monotonic fraction, class kept) and
    report.html.

    \b
    Examples:
      ganalyze-mem strips outputs/train/00000-brightness-one_direction-tiny --seeds 0-4 --classes 0,1
      ganalyze-mem strips resnet50-biggan128 --classes pizza,goldfish --also-score humanmem,brightness
    """
    from ..weight_specs import preflight_trained

    also = [n.strip() for n in (options.get("also_score") or "").split(",") if n.strip()]
    preflight_trained(source, options.get("generator_weights"), options.get("assessor_weights"), also)
    from ..api.runs import strips

    run = strips(source, save_images=not no_images, progress=not quiet, echo=click.echo, **options)
    if run.path is not None:
        click.echo(f"Report: {run.path / 'report.html'}")
