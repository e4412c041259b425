"""`ganalyze-mem import-scores`: a header-less score file (MachineMem's machinemem_scores.txt / humanmem_scores.txt)
paired with its images becomes a scores CSV."""

from __future__ import annotations

import click


@click.command("import-scores", context_settings={"show_default": True})
@click.argument("scores", required=False, type=click.Path(dir_okay=False, path_type=str))
@click.option("--images", "-i", type=click.Path(file_okay=False, path_type=str), default=None,
              help="Folder of the images: without --list, its image files sorted by name are the image order; with "
                   "--list, the folder the listed names are relative to.")
@click.option("--list", "lists", multiple=True, type=click.Path(dir_okay=False, path_type=str),
              help="File naming the images in score order, one per line ('name' or 'name score', e.g. LaMem's "
                   "splits/train_1.txt); repeat to concatenate files in the order given.")
@click.option("--out", "-o", required=True, type=click.Path(dir_okay=False, path_type=str),
              help="Scores CSV to write (path,score; paths relative to its folder).")
@click.option("--score-range", default="0,1", help="LO,HI: a score outside is an error ('any' = no check).")
@click.option("--test-last", type=click.IntRange(min=0), default=0,
              help="Also write OUT_test.txt listing the last N images, for fit-predictor --test-list (the MachineMem "
                   "repository's script holds out LaMem's last 1000). 0 = no list.")
@click.option("--force", is_flag=True, help="Replace --out (and OUT_test.txt) if it exists.")
def import_scores_cmd(scores, images, lists, out, score_range, test_last, force) -> None:
    """Pair SCORES (one number per line, no header, in image order: the MachineMem repository's
    machinemem_scores.txt or humanmem_scores.txt) with the images they belong to, and write the scores CSV that
    fit-predictor --scores and validate --scores read. The n-th score goes with the n-th image; counts that differ
    are refused. Without SCORES, the scores come from the list files themselves (LaMem's split files carry each
    image's HumanMem score).

    \b
    Examples:
      ganalyze-mem import-scores machinemem_scores.txt --images lamem/images -o lamem_machinemem.csv --test-last 1000
      ganalyze-mem import-scores humanmem_scores.txt --list lamem/lamem_images.txt -o lamem_humanmem.csv
      ganalyze-mem import-scores --list lamem/splits/train_1.txt --list lamem/splits/test_1.txt -o lamem_split1.csv
      ganalyze-mem fit-predictor --scores lamem_machinemem.csv --backbone resnet50
    """
    from ..score_import import import_scores
    from .fit_predictor import _pair

    rng = None if score_range.strip().lower() == "any" else _pair(score_range, "--score-range")
    path = import_scores(scores, out, images=images, lists=lists, score_range=rng, force=force, test_last=test_last)
    with open(path, encoding="utf-8") as f:
        n = sum(1 for _ in f) - 1
    click.echo(f"Wrote {path} ({n} images with scores).")
    test = f" --test-list {path.with_name(path.stem + '_test.txt')}" if test_last else ""
    click.echo(f"Train a predictor on it: ganalyze-mem fit-predictor --scores {path}{test}")
