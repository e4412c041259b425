"""`ganalyze-mem measure`: ground-truth MachineMem scores with the MachineMem measurer (Han et al., section 3)."""

from __future__ import annotations

import click

from ..measurer.config import (
    BELOW_BAR,
    BOUNDS,
    CALIBRATION_MODES,
    EXECUTORS,
    MAX_IMAGE_SIZE,
    MIN_IMAGE_SIZE,
    PRECISIONS,
    PRESETS,
    SCORES,
)
from .common import DEVICE, DEVICE_HELP, MACHINE_NAMES, int_range, json_command

P = PRESETS["paper"]


def _opt(*names, help: str, paper=None, **kw):
    """An option whose default comes from --preset (None here); the help names the paper's value."""
    suffix = f"  [paper: {paper}]" if paper is not None else ""
    bound = BOUNDS.get(names[0].split("/")[0].lstrip("-").replace("-", "_"))
    if bound is not None:  # the one declaration of its range (`measurer.config.BOUNDS`)
        kw["type"] = bound.click_type()
    return click.option(*names, default=None, show_default=False, help=help + suffix, **kw)


@click.command("measure")
@click.argument("target", nargs=-1, type=click.Path())
@click.option("--pool", "-p", multiple=True, type=click.Path(),
              help="Folder(s) or files that sets B and C are drawn from (needs at least 2 x --set-size images). "
                   "The same as TARGET: whole-dataset mode.")
@click.option("--preset", type=click.Choice(sorted(PRESETS)), default="paper", show_default=True,
              help="Starting values: 'paper' (section 3, appendix B), 'cpu' (tiny_cnn_lite, 32 px, batch 32, |A| = n "
                   "= 80, 40 episodes per part, 20 stage-(a) epochs: the faithful protocol on a laptop; add "
                   "--precision bf16 --score continuous to reach a given reliability 6-8x sooner than tiny_cnn in "
                   "float32 with the paper's score (6.1x and 7.8x measured by bench/measure_throughput.py)), "
                   "'test' (seconds).")
@_opt("--machine", "-m", help="Machine (see `ganalyze-mem list machines`)." + MACHINE_NAMES,
      paper=P.machine)
@_opt("--episodes", type=int, help="Episodes m; each image's score is a fraction of them.", paper=P.episodes)
@_opt("--set-size", "-n", type=int, help="Images n in each of sets B and C.", paper=P.set_size)
@_opt("--pretext-epochs", type=int, help="Stage (a) epochs; default: appendix B for the machine's category "
      "(60 conventional/modern CNNs, 70 classic CNNs/ViTs, 30 with --init).")
@_opt("--seen-epochs", type=int, help="Stage (b) epochs (stage c runs after each).", paper=P.seen_epochs)
@_opt("--image-size", type=int_range(MIN_IMAGE_SIZE, MAX_IMAGE_SIZE),
      help="Square input size in pixels.", paper=P.image_size)
@_opt("--batch-size", type=int, help="Batch size (1 mirrors the memory game).", paper=P.batch_size)
@_opt("--lr", type=float, help="Stage (a) learning rate; default: appendix B (0.01 conventional/modern CNNs, "
      "0.0005 classic CNNs/ViTs).")
@_opt("--seen-lr", type=float, help="Stage (b) learning rate.", paper=P.seen_lr)
@_opt("--seed", type=int, help="Run seed; episode i uses a seed derived from (seed, i).", paper=P.seed)
@_opt("--calibration", type=click.Choice(CALIBRATION_MODES),
      help="Judge calibration on set A ('seen', section 3) or on held-out seen and unseen images ('heldout', "
           "appendix D).", paper=P.calibration)
@_opt("--heldout-size", type=int, help="Held-out images per half with --calibration heldout [default: as many as "
      "targets, at most --set-size].")
@_opt("--bin-size", type=int, help="Adaptive binning: at least this many predictions per bin.", paper=P.bin_size)
@_opt("--part-size", type=int, help="Targets per part |A|; more targets are measured in balanced parts, each "
      "against its own draws of B and C; 0: all targets in one part  [default: --set-size, the paper's |A| = n].")
@click.option("--whole-dataset", is_flag=True, default=None,
              help="Measure every image of TARGET in parts, each against the rest of the folder (as the paper did "
                   "for LaMem); no --pool needed.")
@_opt("--min-pretext-accuracy", type=float, help="The rotation bar of stage (a).", paper=P.min_pretext_accuracy)
@_opt("--enforce-bar/--no-enforce-bar", help="Train stage (a) past --pretext-epochs (in rounds of half as many, "
      "each a cosine schedule from a tenth of --lr) until the bar is met, up to --max-pretext-epochs  [default: on].")
@_opt("--max-pretext-epochs", type=int, help="Cap on stage-(a) epochs when enforcing the bar  [default: 3 x "
      "--pretext-epochs].")
@_opt("--below-bar", type=click.Choice(BELOW_BAR), help="An episode that never reaches the bar: 'drop' it and run "
      "a replacement, or 'keep' it  [default: drop].")
@_opt("--precision", type=click.Choice(PRECISIONS), help="'bf16': channels_last + bfloat16 autocast, about 2x on "
      "CPUs with AVX512-BF16/AMX and on GPUs, statistically the same scores; part of the run's identity  "
      "[default: fp32].")
@_opt("--score", type=click.Choice(SCORES), help="What the `score` column holds: 'paper' (fraction of episodes "
      "predicted seen) or 'continuous' (mean p(seen), as reliable with about half the episodes); both are always "
      "written  [default: paper].")
@_opt("--until-reliability", type=float, help="Add episodes to every part until its split-half consistency "
      "(Spearman-Brown, of --score) reaches this, e.g. 0.8.")
@_opt("--max-episodes", type=int, help="Most counted episodes per part with --until-reliability  [default: 4 x "
      "--episodes].")
@_opt("--bootstrap", type=int, help="Bootstrap resamples for the reliability intervals  [default: 1000].")
@_opt("--init", type=click.Path(exists=True, dir_okay=False),
      help="Checkpoint to initialise every layer but the last (pre-training study).")
@_opt("--vectorize", type=int, help="Train this many episodes at once with torch.func (for GPUs; the same "
      "computation as sequential but not bit-identical; not for alexnet, vgg16, maxvit_t)  [default: 1].")
@_opt("--device", type=DEVICE, help=DEVICE_HELP + "  [default: auto]")
@_opt("--workers", "-j", type=int_range(1, 256), help="Episodes run at once (processes, or Ray CPUs)  [default: 1].")
@_opt("--executor", type=click.Choice(EXECUTORS), help="Run episodes here ('local') or as Ray tasks  "
      "[default: local].")
@_opt("--ray-address", help="Address of an existing Ray cluster (e.g. 'auto' or 'ray://host:10001'); without "
      "it a local Ray with --workers CPUs is started.")
@_opt("--num-gpus", type=float, help="GPUs per Ray task (0.25: four episodes share a GPU)  [default: 0].")
@click.option("--dry-run", is_flag=True, help="Print the plan (parts, episodes, units) and a time estimate from a "
              "short timed probe episode; run nothing else.")
@click.option("--out", "-o", type=click.Path(file_okay=False), default="outputs/measure", show_default=True,
              help="Folder for run directories.")
@click.option("--resume", type=click.Path(exists=True, file_okay=False),
              help="Continue an interrupted run directory; its own options and images are used.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bars.")
@json_command(lambda r: {"run": r.path, "scores_csv": r.path / "scores.csv", "report": r.path / "report.html",
                         "images": len(r.files), **{k: r.summary.get(k) for k in (
                             "score_kind", "scores", "reliability", "episodes_per_part")},
                         "exit_code": 1 if _skipped(r.summary) else 0})
def measure_cmd(target, pool, preset, out, resume, quiet, dry_run, **options):
    """Measure MachineMem scores of the TARGET images (files or folders): the fraction of episodes in which a
    machine, trained on rotation prediction over them and n pool images and then on seen vs unseen pool images,
    predicts each target as seen.

    \b
    Examples:
      ganalyze-mem measure targets/ --pool pool/ --preset cpu -j 2
      ganalyze-mem measure photos/ --pool photos/ --preset cpu --precision bf16 --until-reliability 0.8
      ganalyze-mem measure photos/ --whole-dataset --preset cpu --dry-run
      ganalyze-mem measure targets/ --pool lamem/ --machine resnet50          (the paper's setting; GPU)
      ganalyze-mem measure targets/ --pool pool/ --machine vgg16 --calibration heldout
      ganalyze-mem measure targets/ --pool pool/ --executor ray --ray-address auto
      ganalyze-mem measure --resume outputs/measure/00003-tiny_cnn-50img
    """
    from ..api.runs import measure, measure_setup
    from ..errors import GanalyzeError

    if resume and (target or pool):
        raise GanalyzeError("--resume uses the run's own targets and pool; drop TARGET and --pool.")
    if not resume and not target:
        raise GanalyzeError("Give the TARGET images (files or folders) to measure, e.g. "
                            "`ganalyze-mem measure targets/ --pool pool/ --preset cpu`.")
    if not resume and not pool and not options.get("whole_dataset"):
        raise GanalyzeError("Give --pool: a folder of images (at least 2 x --set-size) that sets B and C are "
                            "drawn from, disjoint from the targets; or --whole-dataset to measure every image "
                            "of TARGET against the rest.")
    if dry_run:
        from ..measurer.plan import dry_run as plan

        targets, pools, config = measure_setup(list(target), list(pool), preset=preset, resume=resume, **options)
        click.echo(plan(targets, pools, config, resume=resume, progress=not quiet))
        return
    # the API's run (report.html written at its end): .path, .files, .scores, .summary
    result = measure(list(target), list(pool), preset=preset, out=out, resume=resume, progress=not quiet, **options)
    s = result.summary
    d, rel = s["scores"], s["reliability"]

    def r(x: dict) -> str:
        sb, (lo, hi) = x["spearman_brown"], x["ci95"]
        return "n/a" if sb is None else f"{sb:.2f} [{'n/a' if lo is None else f'{lo:.2f}'}, " \
            f"{'n/a' if hi is None else f'{hi:.2f}'}]"

    m = s["episodes_per_part"]
    click.echo(f"{len(result.files)} images in {len(s['parts'])} part(s) x "
               f"{m[0] if min(m) == max(m) else f'{min(m)}-{max(m)}'} episodes: "
               f"mean {d['mean']:.3f} (SD {d['sd']:.3f}, min {d['min']:.3f}, max {d['max']:.3f}); stage (a) "
               f"accuracy {s['stages']['pretext_accuracy']['mean']:.1%}")
    click.echo(f"Split-half (Spearman-Brown, 95% CI): paper score {r(rel['paper'])}, continuous "
               f"{r(rel['continuous'])}; per part ({s['score_kind']}): "
               + ", ".join(r(p["reliability"][s["score_kind"]]) for p in s["parts"][:8])
               + (" ..." if len(s["parts"]) > 8 else ""))
    click.echo(f"Scores: {result.path / 'scores.csv'}")
    click.echo(f"Summary: {result.path / 'summary.md'}")
    click.echo(f"Report: {result.path / 'report.html'}")
    skipped = _skipped(s)
    if skipped:  # as `score`: every bad file on its own line, a count, and exit code 1
        for problem in skipped:
            click.echo(f"error: {problem}", err=True)
        click.echo(f"{len(skipped)} file(s) could not be read and were skipped (the scores cover the rest); fix or "
                   "remove them and measure again for a complete run.", err=True)
        if not click.get_current_context().params.get("as_json"):
            raise SystemExit(1)
    return result  # with --json, the exit code (1 when files were skipped) follows the JSON


def _skipped(summary: dict) -> list[str]:
    """The target and pool files a measure run could not read (its summary's inputs)."""
    inputs = summary.get("inputs") or {}
    return [*inputs.get("unreadable_targets", []), *inputs.get("unreadable_pool", [])]
