"""`ganalyze-mem demo`: the whole pipeline offline on bundled data, linked from one index.html."""

from __future__ import annotations

import click

from ..demo import SIZES, DemoConfig

D = DemoConfig()


@click.command("demo")
@click.option("--out", default=D.out, show_default=True, help="Folder of the demo run (created; reused on rerun).")
@click.option("--size", default=D.size, show_default=True, type=click.Choice(sorted(SIZES)),
              help="small: under 10 minutes on 2 CPU cores; test: under a minute on an idle 2-core machine "
              "(its numbers mean little).")
@click.option("--fresh", is_flag=True, help="Delete the demo folder's previous results and start over.")
@click.option("--seed", default=D.seed, show_default=True, type=int, help="Seed of every stage.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bars.")
def demo_cmd(out: str, size: str, fresh: bool, seed: int, quiet: bool) -> None:
    """Run every part of the toolkit on the bundled demo photos and write OUT/index.html.

    \b
    Stages (each checkpointed; a rerun skips finished ones and resumes a started one):
      1. measure      MachineMem scores of ~330 photos (tiny_cnn_lite machine, in parts of <= 80, each part
                      against the rest of the photos; each part's split-half reliability)
      2. predictor    fit a resnet18 regressor and frozen EfficientNet-Lite0 features + ridge on them; keep
                      the better on the validation split, promote it to OUT/weights/demo-machinemem
      3. pair         which generator (photoedit-64: edits of real photos, or collage) the predictor's
                      gradients agree on across latents (against random directions)
      4. train        GANalyze transformer against that predictor on that generator, 3 times with
                      independent seeds (parallel one-thread processes); alpha in SDs of the predictor; each
                      run's held-out slope, identity and diagnosis in heldout.json
      5. strips       alpha strips scored by the predictor, humanmem, brightness and contrast
      6. factors      which factors (photoedit: each edit parameter) each seed's transformer moves;
                      per-seed effects with 95% intervals, a Holm-corrected combined test, and agrees /
                      opposes / inconclusive per paper claim, only where every replicate passes the check
                      (held-out slope >= 0.7 with identity kept) (OUT/answer.json)
      7. verify       the edited images measured with the measurer: measured MachineMem against alpha
      8. validation   attributes, shapes and nerf-views reports

    \b
    Examples:
      ganalyze-mem demo                              # outputs/demo/index.html
      ganalyze-mem demo --size test --out /tmp/demo  # quick smoke run
      ganalyze-mem demo --fresh                      # start over
    """
    from ..demo import run_demo

    index = run_demo(DemoConfig(out=out, size=size, fresh=fresh, seed=seed, progress=not quiet),
                     echo=lambda m: click.echo(m, err=True))
    click.echo(f"Open {index}")
