"""`ganalyze-mem score`: score image files and folders with an assessor and write a CSV (path, score)."""

from __future__ import annotations

import sys

import click

from ..scoring import DEFAULTS, MAX_SIZE, MIN_SIZE
from .common import POSITIVE_INT, WORKERS, device_option, int_range, warnings_as_lines


@click.command("score")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=str))
@click.option("--assessor", "-a", default=DEFAULTS.assessor, show_default=True,
              help="Assessor preset (see `ganalyze-mem list assessors`).")
@click.option("--out", "-o", type=click.Path(dir_okay=False, path_type=str), default=None,
              help="CSV to write (path,score), atomically. Default: print the CSV to stdout.")
@click.option("--batch-size", "-b", type=POSITIVE_INT, default=DEFAULTS.batch_size, show_default=True,
              help="Images per forward pass.")
@click.option("--workers", "-j", type=WORKERS, default=DEFAULTS.workers, show_default=True,
              help="Worker processes decoding images (0 = decode in the main process).")
@device_option()
@click.option("--weights", type=click.Path(path_type=str), default=None,
              help="Weights file or folder for the assessor (overrides the usual search).")
@click.option("--size", type=int_range(MIN_SIZE, MAX_SIZE), default=None,
              help="Resize every image to SIZE x SIZE when loading. Default: the assessor's input size "
                   "(256 for assessors that take any size).")
@click.option("--amp/--no-amp", default=DEFAULTS.amp, show_default=True, help="float16 autocast on a GPU.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
def score_cmd(paths, assessor, out, batch_size, workers, device, weights, size, amp, quiet) -> None:
    """Score image files and folders (searched recursively) with an assessor; write a CSV of path,score.

    Bad files (corrupt, truncated, not images, too small or too large, unreadable) are each reported on one line
    naming the file and the reason; the good files are still scored, and the exit code is 1 when anything failed.

    \b
    Examples:
      ganalyze-mem score photos/ --assessor humanmem --out scores.csv
      ganalyze-mem score a.jpg b.png --assessor brightness
      ganalyze-mem score photos/ -a resnet50 --weights assessors/my_predictor -b 64 -j 4
    """
    from ..scoring import score_files

    def report(problem) -> None:
        from tqdm.auto import tqdm

        tqdm.write(f"error: {problem}", file=sys.stderr)

    with warnings_as_lines():
        result = score_files(paths, assessor, batch_size=batch_size, workers=workers, device=device,
                             weights=weights, size=size, amp=amp, progress=not quiet, on_problem=report)
    from ..paths import is_escaped, warn_escaped

    warn_escaped(sum(is_escaped(p) for p, _ in result.scores), out or "the CSV")
    if out:
        result.write_csv(out)
        click.echo(f"Wrote {len(result.scores)} scores to {out}", err=True)
    else:
        click.echo(result.to_csv(), nl=False)
    if result.problems:
        click.echo(f"{len(result.problems)} path(s) failed; {len(result.scores)} image(s) scored.", err=True)
        sys.exit(1)
