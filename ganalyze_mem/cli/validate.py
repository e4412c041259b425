"""`ganalyze-mem validate STUDY`: the paper's trend checks and analyses (sections 5.1, 5.2, 6; appendices E, F, H),
each writing a report folder outputs/reports/<NNNNN>-<study>/ with report.md, a self-contained report.html, tables
as CSV and figures as PNG."""

from __future__ import annotations

import functools
from pathlib import Path

import click

from ..errors import GanalyzeError
from ..validation.config import (
    MIN_RESAMPLES,
    AttributesConfig,
    ClassesConfig,
    FoodConfig,
    MachinesConfig,
    NerfViewsConfig,
    RenderConfig,
    ShapesConfig,
)
from .common import ASSESSOR_NAMES, MACHINE_NAMES, device_option, int_range

SH, RC, NV, FC, AC, CC, MC = (ShapesConfig(), RenderConfig(), NerfViewsConfig(), FoodConfig(), AttributesConfig(),
                              ClassesConfig(), MachinesConfig())

OUT_HELP = "Folder that receives the numbered report folder."


def score_options(f):
    """--assessor / --scores / --measure (+ its pool and preset), device, batch size, image size, --check."""
    opts = [
        click.option("--assessor", "-a", default=None, help="Score with this assessor preset (see `ganalyze-mem list "
                     "assessors`), e.g. a MachineMem predictor, humanmem, or brightness as a control."
                     + ASSESSOR_NAMES),
        click.option("--weights", default=None, type=click.Path(path_type=str),
                     help="Weights file or folder for --assessor (overrides the usual search)."),
        click.option("--scores", "scores_csv", default=None, type=click.Path(dir_okay=False, path_type=str),
                     help="Use scores made earlier: a CSV with path,score (from `ganalyze-mem score` or `measure`)."),
        click.option("--score-range", default=None, metavar="LO,HI",
                     help="With --scores: the scores' declared range; a score outside it is an error [default: 0,1 "
                          "for a measurer CSV (it has an 'episodes' column), else any finite value]."),
        click.option("--measure", is_flag=True, help="Measure ground-truth MachineMem scores of the study's images "
                     "with the measurer (needs --pool)."),
        click.option("--pool", multiple=True, type=click.Path(exists=True, path_type=str),
                     help="With --measure: folder(s) of other images the measurer draws sets B and C from."),
        click.option("--measure-preset", default="cpu", show_default=True,
                     help="With --measure: measurer preset ('paper', 'cpu', 'test'; see `ganalyze-mem measure`)."),
        click.option("--machine", default=None,
                     help="With --measure: machine to measure with (overrides preset)." + MACHINE_NAMES),
        device_option(),
        click.option("--batch-size", "-b", type=int, default=16, show_default=True, help="Images per forward pass."),
        click.option("--image-size", type=int, default=None,
                     help="Resize images to this square size before scoring, as `ganalyze-mem score --size` does "
                          "[default: the assessor's input size, or 256 for assessors that take any size]."),
        click.option("--out", "-o", type=click.Path(file_okay=False, path_type=str), default="outputs/reports",
                     show_default=True, help=OUT_HELP),
        click.option("--check/--no-check", default=False, show_default=True,
                     help="Open report.html in headless Chromium, save screenshot.png, and fail on page errors."),
    ]
    for opt in reversed(opts):
        f = opt(f)
    return f


SCORER_OPTIONS = ("assessor", "weights", "measure", "pool", "measure_preset", "machine", "device", "batch_size",
                  "image_size")


def _scorer_options(kw: dict) -> dict:
    """The score options of a study command, as `gm.validate` takes them (taken out of `kw`)."""
    out = {k: kw.pop(k) for k in SCORER_OPTIONS}
    out["scores"] = kw.pop("scores_csv")
    out["score_range"] = _range(kw.pop("score_range"))
    return out


def _range(text: str | None) -> tuple[float, float] | None:
    if text is None:
        return None
    try:
        lo, hi = (float(v) for v in text.split(","))
    except ValueError:
        raise GanalyzeError(f"--score-range takes two numbers LO,HI (e.g. 0,1), got {text!r}.") from None
    if not lo < hi:
        raise GanalyzeError(f"--score-range must be LO,HI with LO < HI, got {text!r}.")
    return lo, hi


def _finish(path: Path, check: bool) -> None:
    click.echo(f"Report: {path / 'report.html'}")
    if check:
        from ..validation.browser import check_page

        result = check_page(path / "report.html", screenshot=path / "screenshot.png")
        click.echo(f"Rendered in Chromium: {result.images} figures, screenshot {path / 'screenshot.png'}")
        if not result.loaded or result.errors or result.broken_images:
            raise GanalyzeError(f"{path / 'report.html'} did not render cleanly: loaded={result.loaded}, "
                                f"broken images={result.broken_images}, errors={result.errors[:5]}")


def study_command(name: str, **kw):
    """Register a study command on the group with the shared score options. The command's body returns the study's
    inputs and options; the study runs through the Python API (`gm.validate`), the one code path of both."""
    def deco(f):
        @validate_group.command(name, **kw)
        @score_options
        @functools.wraps(f)
        def wrapper(**options):
            if options.get("assessor"):
                from ..weight_specs import preflight

                preflight(assessor=options["assessor"], assessor_weights=options.get("weights"))  # before torch
            from ..api.runs import validate

            check, out = options.pop("check"), options.pop("out")
            scorer = _scorer_options(options)
            inputs, study = f(**options)
            _finish(validate(name, *inputs, out=out, **scorer, **study).path, check)
        return wrapper
    return deco


@click.group("validate")
def validate_group() -> None:
    """Validation studies with reports (the paper's sections 5.1, 5.2, 6 and appendices E, F, H).

    Each study scores images with an assessor (--assessor), with scores made earlier (--scores CSV), or with the
    MachineMem measurer (--measure --pool DIR), and writes outputs/reports/<NNNNN>-<study>/ holding report.md,
    report.html (self-contained), tables as CSV and figures as PNG.

    \b
    Examples:
      ganalyze-mem validate shapes --assessor resnet50
      ganalyze-mem validate nerf-views --render lego --views 100 --assessor resnet50
      ganalyze-mem validate nerf-views --scene nerf_synthetic/mic --assessor resnet50
      ganalyze-mem validate food food/tasty food/not_tasty --assessor resnet50
      ganalyze-mem validate attributes lamem/images --assessor resnet50
      ganalyze-mem validate classes imagenet/train --assessor resnet50 --max-per-class 100
      ganalyze-mem validate machines runs/*/scores.csv --names alexnet,vgg16,resnet50
    """


@study_command("shapes")
@click.option("--per-set", type=int, default=SH.per_set, show_default=True,
              help="Drawings per set, before 4 rotations.")
@click.option("--size", type=int, default=SH.size, show_default=True, help="Image side in pixels.")
@click.option("--seed", type=int, default=SH.seed, show_default=True, help="Seed of the drawings and the tests.")
@click.option("--resamples", type=int_range(MIN_RESAMPLES), default=SH.resamples,
              show_default=True, help="Permutation/bootstrap resamples.")
def shapes_cmd(per_set, size, seed, resamples):
    """Regular vs irregular shapes (appendix H): mean +/- 95% CI per set and a permutation test.

    \b
    Example:
      ganalyze-mem validate shapes --assessor resnet50 --per-set 25
    """
    return (), {"per_set": per_set, "size": size, "seed": seed, "resamples": resamples}


@study_command("nerf-views")
@click.option("--scene", type=click.Path(exists=True, file_okay=False, path_type=str), default=None,
              help="A NeRF-synthetic scene folder (transforms_*.json + images), e.g. nerf_synthetic/lego.")
@click.option("--render", "render_obj", default=None,
              help="Render this object offline instead: lego, duck, mug, teddy, r2d2, cube, or a .urdf/.obj path.")
@click.option("--views", type=int, default=RC.views, show_default=True, help="With --render: cameras on the sphere.")
@click.option("--size", type=int, default=RC.size, show_default=True, help="With --render: image side in pixels.")
@click.option("--splits", default=NV.splits, show_default=True, help="With --scene: splits to read.")
@click.option("--top", type=int, default=NV.top, show_default=True, help="Views shown at each end.")
def nerf_views_cmd(scene, render_obj, views, size, splits, top):
    """Viewing angle (appendix H): score every view of an object; top/bottom views; correlations with how much
    a view shows (area, silhouette, edges, visible faces).

    \b
    Examples:
      ganalyze-mem validate nerf-views --render lego --views 100 --assessor resnet50
      ganalyze-mem validate nerf-views --scene nerf_synthetic/lego --assessor resnet50
    """
    return (), {"scene": scene, "render": render_obj, "views": views, "size": size, "splits": splits, "top": top}


@study_command("food")
@click.argument("folder_a", type=click.Path(exists=True, file_okay=False, path_type=str))
@click.argument("folder_b", type=click.Path(exists=True, file_okay=False, path_type=str))
@click.option("--names", default=",".join(FC.names), show_default=True, help="Names of the two sets.")
@click.option("--seed", type=int, default=FC.seed, show_default=True, help="Seed of the bootstrap and permutations.")
@click.option("--resamples", type=int_range(MIN_RESAMPLES), default=FC.resamples,
              show_default=True, help="Bootstrap/permutation resamples.")
def food_cmd(folder_a, folder_b, names, seed, resamples):
    """Two image sets (appendix H, "tasty"): distributions, difference with a bootstrap CI, tests.

    No photos ship with the project: collect your own two folders (e.g. web images for "tasty food" and for
    "disgusting food" / "overcooked food", as the paper did).

    \b
    Example:
      ganalyze-mem validate food food/tasty food/not_tasty --assessor resnet50
    """
    parts = tuple(n.strip() for n in names.split(","))
    if len(parts) != 2 or not all(parts) or parts[0] == parts[1]:
        raise GanalyzeError(f"--names needs two different names separated by a comma, got '{names}'.")
    return (folder_a, folder_b), {"names": parts, "seed": seed, "resamples": resamples}


@study_command("attributes")
@click.argument("images", type=click.Path(exists=True, path_type=str))
@click.option("--groups", type=int, default=AC.groups, show_default=True,
              help="Score groups (the paper's Figure 3: 10).")
@click.option("--only", default=AC.only, help="Comma-separated attributes to compute [default: all 13].")
@click.option("--max-side", type=int, default=AC.max_side, show_default=True,
              help="Compute attributes on images downscaled to this longer side (0 = full size).")
def attributes_cmd(images, groups, only, max_side):
    """Image attributes vs scores (section 5.1, Figure 3): 10 score groups and a Spearman table.

    Attributes: hue, saturation, value, colourfulness, contrast (global contrast factor), entropy, NIQE, BRISQUE,
    objects and classes (need a detector: skipped), HumanMem, aesthetics and valence (via assessors, when their
    weights are available). The report lists what was skipped and why.

    \b
    Example:
      ganalyze-mem validate attributes lamem/images --assessor resnet50
      ganalyze-mem validate attributes photos/ --scores scores.csv --only value,contrast,niqe
    """
    return (images,), {"groups": groups, "only": only, "max_side": max_side}


@study_command("classes")
@click.argument("root", type=click.Path(exists=True, file_okay=False, path_type=str))
@click.option("--top", type=int, default=CC.top, show_default=True, help="Classes shown at each end.")
@click.option("--examples", type=int, default=CC.examples, show_default=True, help="Example images per shown class.")
@click.option("--max-per-class", type=int, default=CC.max_per_class, show_default=True,
              help="Score at most this many images per class (seeded random subset; 0 = all).")
@click.option("--min-per-class", type=int, default=CC.min_per_class, show_default=True,
              help="Leave out classes with fewer images (small classes give wide intervals).")
@click.option("--groups", "groups_csv", type=click.Path(exists=True, dir_okay=False, path_type=str), default=None,
              help="CSV with columns class,group: also rank supercategories (appendix F).")
@click.option("--seed", type=int, default=CC.seed, show_default=True, help="Seed of subsets and example picks.")
def classes_cmd(root, top, examples, max_per_class, min_per_class, groups_csv, seed):
    """Mean score per class over ROOT/<class>/images (section 5.2 Figure 4, appendix E and F).

    \b
    Example:
      ganalyze-mem validate classes imagenet/train --assessor resnet50 --max-per-class 100
    """
    return (root,), {"top": top, "examples": examples, "max_per_class": max_per_class,
                     "min_per_class": min_per_class, "seed": seed, "groups": groups_csv}


@validate_group.command("machines")
@click.argument("csvs", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=str))
@click.option("--names", default=None, help="Comma-separated names, one per CSV [default: file or folder names].")
@click.option("--groups", default=None, help="Categories for within/between means, e.g. 'alexnet=classic,"
              "vgg16=classic,resnet50=modern'.")
@click.option("--key", type=click.Choice(["auto", "path", "name"]), default=MC.key, show_default=True,
              help="Match images across CSVs by full path or by file name.")
@click.option("--out", "-o", type=click.Path(file_okay=False, path_type=str), default="outputs/reports",
              show_default=True, help=OUT_HELP)
@click.option("--check/--no-check", default=False, show_default=True,
              help="Open report.html in headless Chromium, save screenshot.png, and fail on page errors.")
def machines_cmd(csvs, names, groups, key, out, check):
    """Memory across machines (section 6, Figure 7): Spearman matrix and heatmap of score CSVs.

    \b
    Example:
      ganalyze-mem validate machines a/scores.csv b/scores.csv c/scores.csv --names alexnet,vgg16,resnet50
    """
    from ..api.runs import validate

    group_map = {}
    for item in (groups or "").split(","):
        if item.strip():
            if "=" not in item:
                raise GanalyzeError(f"--groups: expected name=category pairs, got '{item}'.")
            k, v = item.split("=", 1)
            group_map[k.strip()] = v.strip()
    name_list = [n.strip() for n in names.split(",")] if names else None
    _finish(validate("machines", *csvs, names=name_list, groups=group_map or None, key=key, out=out).path, check)
