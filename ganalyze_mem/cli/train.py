"""`ganalyze-mem train`: learn a latent direction that changes an assessor's score (GANalyze)."""

from __future__ import annotations

import click

from ..visualise.train_config import BOUNDS, TrainConfig
from .common import ASSESSOR_NAMES, device_option, json_command

TB = {name: bound.click_type() for name, bound in BOUNDS.items()}  # option types from the one declaration

D = TrainConfig()


@click.command("train")
@click.option("--assessor", "-a", default=None, help="Assessor preset to steer (see `ganalyze-mem list assessors`). "
              "Required unless --resume." + ASSESSOR_NAMES)
@click.option("--generator", "-g", default=D.generator, show_default=True,
              help="Generator preset (see `ganalyze-mem list generators`); 'tiny' runs on a CPU.")
@click.option("--transformer", "-t", default=D.transformer, show_default=True,
              help="Transformer preset: one_direction, class_dependent or nonlinear.")
@click.option("--renorm", type=click.Choice(["sample", "batch"]), default=D.renorm, show_default=True,
              help="Rescale z' to each sample's norm (batch-independent), or to the batch's as GANalyze's code does "
                   "(exact replication; a sample's step then depends on its batch).")
@click.option("--samples", default=D.samples, show_default=True, type=TB["samples"],
              help="Training samples in total (GANalyze: 400k).")
@click.option("--batch-size", "-b", default=D.batch_size, show_default=True, type=TB["batch_size"],
              help="Samples per step (GANalyze: 4); raise it on a GPU.")
@click.option("--alpha-range", default=D.alpha_range, show_default=True, type=click.Choice(["auto", "raw"]),
              help="Units of alpha. auto: measure the assessor's SD over 256 generator samples (their own random "
              "stream) and draw alpha in +-(--alpha-sd) SDs, so the target is a change the assessor gives on this "
              "generator; raw: --alpha-min/--alpha-max in the assessor's own units (--alpha-range raw alone is "
              "GANalyze's +-0.5, which fits MemNet's scale and few others). The SD and range are recorded in "
              "config.yaml; reports give alpha raw and in SDs.")
@click.option("--alpha-sd", default=D.alpha_sd, show_default=True, type=TB["alpha_sd"],
              help="With --alpha-range auto: alpha spans +-this many SDs of the assessor (> 0).")
@click.option("--alpha-min", default=None, type=TB["alpha_min"],
              help="With --alpha-range raw: smallest alpha drawn, in the assessor's units [default: -0.5].")
@click.option("--alpha-max", default=None, type=TB["alpha_max"],
              help="With --alpha-range raw: largest alpha drawn, in the assessor's units [default: 0.5].")
@click.option("--max-step", default=D.max_step, show_default=True, type=TB["max_step"],
              help="Bound on the latent step, as a fraction of |z|: |z' - z| <= max-step |z| at the range's largest "
              "|alpha| (growing linearly beyond, for strips), by a smooth norm clamp of the step, so that a "
              "direction edits images instead of replacing them (0.5: z turns by at most 30 degrees).")
@click.option("--keep", default=D.keep, show_default=True,
              help="Side assessors to hold fixed, comma separated (e.g. brightness,contrast): a penalty on their "
              "score change (in their SDs) asks for a direction that moves the assessor and not these, so you can "
              "ask whether 'more memorable' is more than 'brighter'. heldout.json reports each one's slope.")
@click.option("--keep-weight", default=D.keep_weight, show_default=True, type=TB["keep_weight"],
              help="Weight of the --keep penalty: a side change of one side SD costs this many times a missed target "
              "of one SD of the assessor.")
@click.option("--lr", default=D.lr, show_default=True, type=TB["lr"], help="Adam learning rate.")
@click.option("--lr-schedule", default=D.lr_schedule, show_default=True, type=click.Choice(["constant", "cosine"]),
              help="constant (GANalyze) or cosine: decays to 0 at the last step, so the direction settles instead of "
              "ending on a noisy step.")
@click.option("--truncation", default=D.truncation, show_default=True, type=TB["truncation"],
              help="BigGAN truncation in (0, 1].")
@click.option("--classes", default=D.classes, help="Train on these classes only (names or indices, comma "
              "separated, e.g. 'pizza,goldfish'); default: all of the generator's classes.")
@click.option("--seed", default=D.seed, show_default=True, type=TB["seed"], help="Seed of every random draw.")
@device_option()
@click.option("--amp", default=D.amp, show_default=True, type=click.Choice(["auto", "bf16", "fp32"]),
              help="auto: bf16 autocast on CUDA (loss stays fp32), fp32 on CPU.")
@click.option("--out", default=D.out, show_default=True, help="Folder for numbered run directories.")
@click.option("--generator-weights", default=None, help="BigGAN weights folder (pytorch_model.bin + config.json).")
@click.option("--assessor-weights", default=None, help="Assessor weights file or folder, when not found by name.")
@click.option("--checkpoint-every", default=D.checkpoint_every, show_default=True, type=TB["checkpoint_every"],
              help="Steps between checkpoints.")
@click.option("--log-every", default=D.log_every, type=TB["log_every"],
              help="Steps between metrics.jsonl lines. Default: auto, about 20 lines per run and at most 50 steps "
              "apart (40 steps: every 2); the value used is recorded in config.yaml.")
@click.option("--eval-every", default=D.eval_every, type=TB["eval_every"],
              help="Steps between held-out evaluations (achieved change vs alpha on --eval-seeds, slope with its 95% "
              "interval, logged to metrics.jsonl as kind=heldout); also at the last step. Default: auto, about 5 "
              "per run and at most 500 steps apart (40 steps: every 8); recorded in config.yaml.")
@click.option("--eval-seeds", default=D.eval_seeds, show_default=True,
              help="Held-out seeds (per-seed latents that training never draws), e.g. 0-31.")
@click.option("--stop-on-plateau/--no-stop-on-plateau", default=D.stop_on_plateau, show_default=True,
              help="Stop once the held-out slope has not improved by --plateau-tol in --plateau-patience evaluations "
              "(off by default: GANalyze trains for a fixed number of samples).")
@click.option("--plateau-patience", default=D.plateau_patience, show_default=True, type=TB["plateau_patience"],
              help="Evaluations without improvement before --stop-on-plateau stops.")
@click.option("--plateau-tol", default=D.plateau_tol, show_default=True, type=TB["plateau_tol"],
              help="Smallest improvement of the held-out slope (target 1) that counts.")
@click.option("--range-seeds", default=D.range_seeds, show_default=True, type=TB["range_seeds"],
              help="Held-out seeds whose latent is optimised freely at the end, to measure the assessor's attainable "
              "range on this generator within the step bound (heldout.json).")
@click.option("--range-steps", default=D.range_steps, show_default=True, type=TB["range_steps"],
              help="Adam steps of that optimisation; 0 skips it.")
@click.option("--resume", default=None, type=click.Path(exists=True, file_okay=False),
              help="Continue this run directory from its latest checkpoint (options must match; --samples may grow).")
@click.option("--dry-run", is_flag=True, help="Check options, build the models, print the plan; train nothing.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
@click.pass_context
@json_command(lambda run: {"run": run.path, "report": run.path and run.path / "report.html", "steps": run.steps,
                           "total_steps": run.total_steps, "done": run.done, "last": run.last})
def train_cmd(ctx: click.Context, resume: str | None, dry_run: bool, quiet: bool, **options):
    """Train a transformer so that ASSESSOR scores G(T(z, y, alpha)) as A(G(z, y)) + alpha (GANalyze).

    Writes a run directory (config.yaml, metrics.jsonl, checkpoints/, transformer.safetensors, heldout.json and
    heldout.png: the held-out slope during training; whether the direction edits the seeds or replaces them
    (identity, diversity, image integrity: "reaches target", "template collapse", "image destroyed"); whether a
    shortfall is under-training, the assessor's range or the objective; whether the assessor has a consistent
    direction on the generator). Ctrl-C once stops after the current step with a checkpoint; resume with
    --resume RUN_DIR, which ends bit-identical on the CPU and writes the same metrics lines. A run directory is locked
    (train.lock) while a process trains it.

    \b
    Examples:
      ganalyze-mem train --assessor brightness --generator tiny --samples 2000 --batch-size 8 \\
          --lr 0.3                                           # a CPU positive control in minutes
      ganalyze-mem train --assessor resnet50 --alpha-range raw    # GANalyze's alpha in [-0.5, 0.5]
      ganalyze-mem train --assessor resnet50 --keep brightness,contrast
      ganalyze-mem train --assessor resnet50 --generator-weights ~/weights/biggan-deep-128
      ganalyze-mem train --resume outputs/train/00000-resnet50-one_direction-biggan-deep-128
    """
    from ..errors import GanalyzeError

    if resume is not None:
        given = {k: v for k, v in options.items()
                 if ctx.get_parameter_source(k) != click.core.ParameterSource.DEFAULT}
        if dry_run:
            raise GanalyzeError("--dry-run cannot be combined with --resume.")
        from ..api.runs import train

        run = train(resume=resume, progress=not quiet, echo=click.echo, **given)  # the API: report.html at its end
        if run.path is not None:
            click.echo(f"Report: {run.path / 'report.html'}")
        return run
    if options.get("alpha_range") == "auto":  # --config of an auto run: its resolved range is measured again
        for k in ("alpha_min", "alpha_max"):
            if ctx.get_parameter_source(k) == click.core.ParameterSource.DEFAULT_MAP:
                options[k] = None
    if not options.get("assessor"):
        raise GanalyzeError("Missing --assessor NAME (see `ganalyze-mem list assessors`), or pass --resume RUN_DIR.")
    cfg = TrainConfig.from_options(options).validate()
    from ..weight_specs import preflight

    # names and weights are checked before torch is imported: a missing file is reported in a second, not a minute
    preflight(assessor=cfg.assessor, assessor_weights=cfg.assessor_weights, generator=cfg.generator,
              generator_weights=cfg.generator_weights, keep=cfg.kept(), transformer=cfg.transformer)
    from ..api.runs import train
    from ..visualise.calibrate import describe, record
    from ..visualise.train import build_components

    if dry_run:
        c = build_components(cfg)
        click.echo(f"Would train {cfg.transformer} ({sum(p.numel() for p in c.transformer.parameters())} parameters) "
                   f"on {cfg.generator} against {cfg.assessor}: {cfg.samples} samples in {cfg.steps} steps of "
                   f"{cfg.batch_size}, {describe(record(c.cfg))}, lr {cfg.lr}, "
                   f"{len(c.classes)} classes, device {c.device}, "
                   f"autocast {c.autocast_dtype or 'none'}. Runs would go under {cfg.out}/.")
        return
    run = train(options.pop("assessor"), progress=not quiet, echo=click.echo, **options)
    if run.path is not None:
        click.echo(f"Report: {run.path / 'report.html'}")
    return run
