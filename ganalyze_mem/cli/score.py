"""`ganalyze-mem score`: score image files and folders with an assessor and write a CSV (path, score)."""

from __future__ import annotations

import sys

import click

from ..score_config import DEFAULTS, EXECUTORS, MAX_SIZE, MIN_SIZE, PRECISIONS, SHARD_SIZE
from .common import ASSESSOR_NAMES, POSITIVE_INT, WORKERS, device_option, int_range, json_command, warnings_as_lines


@click.command("score")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=str))
@click.option("--assessor", "-a", default=DEFAULTS.assessor, show_default=True,
              help="Assessor preset (see `ganalyze-mem list assessors`)." + ASSESSOR_NAMES)
@click.option("--out", "-o", type=click.Path(dir_okay=False, path_type=str), default=None,
              help="CSV to write (path,score). Rows go to OUT.part as they are scored (flushed every batch); OUT "
                   "appears, complete, when every file is done. Default: print the CSV to stdout.")
@click.option("--resume", is_flag=True,
              help="Continue an interrupted run of the same command: keep the rows in OUT.part, score the rest.")
@click.option("--batch-size", "-b", type=POSITIVE_INT, default=DEFAULTS.batch_size, show_default=True,
              help="Images per forward pass.")
@click.option("--workers", "-j", type=WORKERS, default=DEFAULTS.workers, show_default=True,
              help="Worker processes decoding images (0 = decode in the main process); with --executor ray, the "
                   "CPUs of the local Ray it starts.")
@device_option()
@click.option("--weights", type=click.Path(path_type=str), default=None,
              help="Weights file or folder for the assessor (overrides the usual search).")
@click.option("--size", type=int_range(MIN_SIZE, MAX_SIZE), default=None,
              help="Resize every image to SIZE x SIZE when loading. Default: the assessor's input size "
                   "(256 for assessors that take any size).")
@click.option("--preprocess", type=click.Choice(["toolkit", "official-machinemem"]), default=None,
              help="Prepare images this way instead of the assessor's own recipe (its card.json; a warning says "
                   "when they differ): 'toolkit' stretch-resizes, composites alpha on white and applies EXIF; "
                   "'official-machinemem' centre-crops to an aspect ratio in [3/4, 4/3], drops alpha, ignores EXIF.")
@click.option("--amp/--no-amp", default=DEFAULTS.amp, show_default=True,
              help="float16 autocast on a GPU: faster, but its scores differ slightly from the float32 ones that "
                   "validate, the predictor's evaluation and the CPU give. Ignored on the CPU.")
@click.option("--precision", type=click.Choice(PRECISIONS), default=DEFAULTS.precision, show_default=True,
              help="bf16: bfloat16 autocast with channels_last, faster on CPUs with bf16 units (AVX512-BF16/AMX; "
                   "refused on a CPU known to lack them) and on GPUs. Its scores differ slightly from float32 ones: "
                   "the CSV's run record names the precision and --resume refuses to mix them.")
@click.option("--executor", type=click.Choice(EXECUTORS), default="local", show_default=True,
              help="Score here, or in shards of files as Ray tasks (same rows, same numbers).")
@click.option("--shard-size", type=POSITIVE_INT, default=SHARD_SIZE, show_default=True,
              help="With --executor ray: files per task (rounded up to whole batches).")
@click.option("--ray-address", default=None,
              help="With --executor ray: an existing cluster ('auto', 'ray://host:10001'), whose workers see the "
                   "same paths; without it a local Ray with --workers CPUs is started.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
@json_command(lambda r: r, pass_flag=True)
def score_cmd(paths, assessor, out, resume, batch_size, workers, device, weights, size, preprocess, amp, precision,
              executor, shard_size, ray_address, quiet, as_json=False):
    """Score image files and folders (searched recursively) with an assessor; write a CSV of path,score.

    One row per good file, in a fixed order (arguments in order, each folder sorted). Bad files (corrupt,
    truncated, not images, too small or too large, unreadable, FIFOs, devices, dangling links) are each reported on
    one line naming the file and the reason; the good files are still scored, and the exit code is 1 when anything
    failed. A run killed at any moment continues with the same command plus --resume. File names that are not valid
    UTF-8 are written with \\xHH escapes (one warning says how many).

    \b
    Examples:
      ganalyze-mem score photos/ --assessor humanmem --out scores.csv
      ganalyze-mem score a.jpg b.png --assessor brightness
      ganalyze-mem score photos/ -a resnet50 --weights assessors/my_predictor -b 64 -j 4
      ganalyze-mem score imagenet/train -a humanmem -o in1k.csv --resume
      ganalyze-mem score imagenet/train -a humanmem -o in1k.csv --executor ray --ray-address auto
    """
    from ..score_config import ScoreConfig
    from ..weight_specs import preflight

    # options, the assessor's name and its weights are checked before torch loads: a mistake is reported at once
    ScoreConfig(assessor=assessor, batch_size=batch_size, workers=workers, device=device, weights=weights, size=size,
                amp=amp, preprocess=preprocess, precision=precision)
    if executor == "local" or ray_address is None:
        preflight(assessor=assessor, assessor_weights=weights)
    from ..api.runs import score
    from ..score_run import ScoreStats, stats_line

    def report(problem) -> None:
        from ..progress import write

        write(f"error: {problem}", file=sys.stderr)

    with warnings_as_lines():
        result = score(list(paths), assessor, out=out, resume=resume, executor=executor, shard_size=shard_size,
                       ray_address=ray_address, progress=not quiet, on_problem=report, batch_size=batch_size,
                       workers=workers, device=device, weights=weights, size=size, amp=amp, preprocess=preprocess,
                       precision=precision)
    if out is None and not as_json:
        sys.stdout.write(result.to_csv())
    stats = result.stats or ScoreStats(scored=len(result.rows), failed=len(result.problems))
    click.echo(stats_line(stats), err=True)
    if as_json:  # the scores themselves only when no CSV holds them; the exit code after the JSON is printed
        return {"assessor": assessor, "out": out, "scored": stats.scored, "failed": stats.failed,
                "kept": getattr(stats, "kept", 0), "problems": [str(p) for p in result.problems],
                **({} if out else {"scores": [{"path": str(p), "score": s} for p, s in result.rows]}),
                "exit_code": 1 if stats.failed else 0}
    if stats.failed:
        sys.exit(1)
