"""`ganalyze-mem verify`: the closed loop of a GANalyze run, held-out strips measured with the MachineMem measurer."""

from __future__ import annotations

import click

from ..measurer.config import PRESETS
from ..visualise.verify_config import VerifyConfig
from .common import MACHINE_NAMES, device_option, json_command

D = VerifyConfig()


@click.command("verify")
@click.argument("run", required=False, type=click.Path(file_okay=False))
@click.option("--seeds", default=D.seeds, show_default=True, help="Held-out target seeds (per-seed latents, never "
              "drawn in training); they must differ from the run's --eval-seeds, which may have chosen its stop.")
@click.option("--points", default=D.points, show_default=True, type=click.IntRange(2),
              help="Alphas evenly over the run's training range (0 added).")
@click.option("--alphas", default=None, help="Explicit alphas, comma separated (e.g. -0.1,0,0.1); overrides --points.")
@click.option("--pool", default=D.pool, show_default=True, help="Sets B and C of the measurer: 'matched' (one image "
              "per other held-out seed, alphas spread over the same grid: the targets' own distribution, as the "
              "paper draws A, B and C from one dataset), 'alpha0' (unedited images of other seeds) or a folder.")
@click.option("--preset", default=D.preset, show_default=True, type=click.Choice(list(PRESETS)),
              help="The measurer's preset: 'paper' (ResNet-50, 100 episodes: a GPU), 'cpu' (tiny_cnn_lite at 32 px: "
              "about a minute for 8 seeds x 5 alphas on 2 cores with -j 2), 'test' (seconds, unreliable).")
@click.option("--machine", default=None,
              help="Measurer machine (see `ganalyze-mem list machines`)." + MACHINE_NAMES + "  [default: the preset's]")
@click.option("--episodes", default=None, type=click.IntRange(2), help="Episodes  [default: the preset's]")
@click.option("--set-size", "-n", default=None, type=click.IntRange(1), help="n = |A| = |B| = |C|; the pool needs "
              "2n images  [default: the preset's n, at most the number of targets]")
@click.option("--image-size", default=None, type=click.IntRange(16), help="Measurer input side  [default: the "
              "preset's]")
@click.option("--seed", default=D.seed, show_default=True, type=int, help="Seed of the episodes' draws, the matched "
              "pool's alphas and the bootstrap.")
@click.option("--workers", "-j", default=D.workers, show_default=True, type=click.IntRange(1),
              help="Episodes run in parallel.")
@device_option()
@click.option("--batch-size", "-b", default=D.batch_size, show_default=True, type=click.IntRange(1),
              help="Images per batch when generating and scoring.")
@click.option("--bootstrap", default=D.bootstrap, show_default=True, type=click.IntRange(100),
              help="Resamples of seeds for the slopes' intervals.")
@click.option("--out", "-o", default=D.out, show_default=True, help="Folder for numbered verify runs.")
@click.option("--generator-weights", default=None, help="Generator weights, when not the ones trained with.")
@click.option("--assessor-weights", default=None, help="Weights of the training assessor, when not found by name.")
@click.option("--resume", type=click.Path(exists=True, file_okay=False),
              help="Continue an interrupted verify folder (its own options; the measurement resumes).")
@click.option("--quiet", "-q", is_flag=True, help="No progress bars.")
@click.pass_context
@json_command(lambda r: {"run": r.path, "report": r.path / "report.html", "verdict": r.verdict, "summary": r.summary})
def verify_cmd(ctx: click.Context, run: str | None, resume: str | None, quiet: bool, **options):
    """Does steering change MEASURED machine memorability? Check the GANalyze run RUN (a folder `ganalyze-mem train`
    wrote) against the ground truth.

    Generates held-out strips (seeds x alphas over the run's training range), measures every image with the
    MachineMem measurer against a pool, scores the same image files with the run's assessor, and reports the slope
    of each score on alpha (mean per-seed slope, 95% bootstrap interval over seeds), the measurement's split-half
    reliability (Spearman-Brown) and a verdict: measured memorability "rises" or "falls" with alpha only where the
    interval excludes 0, else "inconclusive". Writes verify.json, verify.png, strips.png, scores.csv, the
    measurement under measure/, and report.html.

    \b
    Examples:
      ganalyze-mem verify outputs/train/00000-brightness-one_direction-tiny --preset cpu -j 2 --seeds 1000-1007
      ganalyze-mem verify RUN --preset paper --device cuda --seeds 1000-1063 --points 7
      ganalyze-mem verify --resume outputs/verify/00000-brightness-one_direction-tiny
    """
    from ..errors import GanalyzeError

    if resume:
        from ..api.verify import verify

        if run:
            raise GanalyzeError("--resume uses the verify run's own training run; drop RUN.")
        given = {k: v for k, v in options.items()
                 if ctx.get_parameter_source(k) is not click.core.ParameterSource.DEFAULT}
        result = verify(resume=resume, progress=not quiet, echo=click.echo, **given)
    else:
        if not run:
            raise GanalyzeError("Give the training run to verify: `ganalyze-mem verify RUN_DIR` (a folder that "
                                "`ganalyze-mem train` printed), or --resume VERIFY_DIR.")
        from ..visualise.verify_config import training_run
        from ..weight_specs import preflight_trained

        VerifyConfig.from_options(options).validate()  # options, the run, names and weights before torch loads
        training_run(run)
        preflight_trained(run, options.get("generator_weights"), options.get("assessor_weights"))
        from ..api.verify import verify

        result = verify(run, progress=not quiet, echo=click.echo, **options)
    click.echo(f"Report: {result.path / 'report.html'}")
    return result
