"""`ganalyze-mem sample`: images from a generator for given classes and seeds, plus a CSV describing them.

Latents are drawn per seed (`Generator.latents`), so the image for (class, seed) is the same whatever the batch size
or the other classes and seeds asked for.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from pathlib import Path

import click

from ..errors import GanalyzeError
from .common import POSITIVE_INT, device_option


@dataclass(frozen=True)
class SampleOptions:
    """Defaults shared by the CLI and `sample_images`."""

    generator: str = "biggan-deep-128"
    classes: str | None = None  # None: DEFAULT_CLASSES classes spread evenly over the generator's classes
    seeds: str = "0-3"
    truncation: float = 1.0
    batch_size: int = 8
    device: str = "auto"


DEFAULTS = SampleOptions()
DEFAULT_CLASSES = 8


def spread_classes(num_classes: int, count: int = DEFAULT_CLASSES) -> list[int]:
    """`count` class indices spread evenly over 0..num_classes-1 (every class when there are fewer)."""
    count = min(count, num_classes)
    return sorted({int(i * num_classes / count) for i in range(count)})


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:40] or "class"


def sample_images(generator, classes: list[int], seeds: list[int], out: str | Path,
                  batch_size: int = DEFAULTS.batch_size, device: str = "cpu", progress: bool = True) -> list[dict]:
    """Render every (class, seed) pair to ``out/<index>-<name>-seed<seed>.png``; write ``out/samples.csv``.

    Returns the CSV rows (file, class_index, class_name, seed).
    """
    import torch

    from ..core.files import atomic_write_text
    from ..images import save_image
    from ..progress import bar as progress_bar

    if batch_size < 1:
        raise GanalyzeError(f"--batch-size must be at least 1, got {batch_size}.")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    names = generator.class_names()
    pairs = [(c, s) for c in classes for s in seeds]
    rows: list[dict] = []
    generator = generator.to(device)
    with progress_bar(total=len(pairs), desc=f"sampling {generator.name}", unit="img", show=progress) as bar:
        for start in range(0, len(pairs), batch_size):
            chunk = pairs[start:start + batch_size]
            z = generator.latents([s for _, s in chunk]).to(device)
            y = generator.one_hot([c for c, _ in chunk]).to(device)
            with torch.no_grad():
                images = generator(z, y).cpu()
            for (c, s), img in zip(chunk, images, strict=True):
                name = names[c] if names else str(c)
                fname = f"{c:03d}-{_slug(name)}-seed{s}.png"
                save_image(img, out / fname)
                rows.append({"file": fname, "class_index": c, "class_name": name, "seed": s})
            bar.update(len(chunk))
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=["file", "class_index", "class_name", "seed"], lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(out / "samples.csv", buf.getvalue())
    return rows


def _list_classes(ctx: click.Context, _param, value: bool) -> None:
    if not value or ctx.resilient_parsing:
        return
    from ..generators.classes import imagenet_categories, synonyms

    unique, ambiguous, source = synonyms()
    extra: dict[int, list[str]] = {}
    for name, idx in unique.items():
        extra.setdefault(idx, []).append(name)
    for i, cat in enumerate(imagenet_categories()):
        also = f"  (also: {', '.join(extra[i])})" if i in extra else ""
        click.echo(f"{i:3d}  {cat}{also}")
    click.echo(f"# ImageNet-1k classes; synonyms from the {source}; ambiguous: {', '.join(sorted(ambiguous))}")
    ctx.exit(0)


@click.command("sample")
@click.option("--generator", "-g", default=DEFAULTS.generator, show_default=True,
              help="Generator preset (see `ganalyze-mem list generators`).")
@click.option("--classes", "-c", default=DEFAULTS.classes,
              help="Comma-separated class names, WordNet synonyms or indices, e.g. 'pizza,giant panda,3'  "
                   f"[default: {DEFAULT_CLASSES} classes spread evenly over the generator's, e.g. 0,125,...,875 "
                   "for ImageNet's 1000].")
@click.option("--seeds", default=DEFAULTS.seeds, show_default=True, help="Seeds, e.g. '0-9' or '0-3,7'.")
@click.option("--truncation", type=float, default=DEFAULTS.truncation, show_default=True,
              help="Truncation in (0, 1]: smaller gives more typical, less varied images.")
@click.option("--out", "-o", type=click.Path(file_okay=False), required=True, help="Output folder.")
@click.option("--generator-weights", "weights", type=click.Path(), default=None,
              help="Weights folder (for BigGAN: pytorch_model.bin + config.json; for photoedit: your photos). "
                   "Default: search $GANALYZE_MEM_WEIGHTS, the repo and the cache (`ganalyze-mem weights status`).")
@click.option("--weights", "old_weights", type=click.Path(), default=None, hidden=True,
              help="Deprecated name of --generator-weights.")
@click.option("--batch-size", "-b", type=POSITIVE_INT, default=DEFAULTS.batch_size, show_default=True,
              help="Images per forward pass (the images do not depend on it).")
@device_option(DEFAULTS.device)
@click.option("--list-classes", is_flag=True, expose_value=False, is_eager=True, callback=_list_classes,
              help="List the ImageNet class names and synonyms, then exit.")
def sample_cmd(generator: str, classes: str | None, seeds: str, truncation: float, out: str, weights: str | None,
               old_weights: str | None, batch_size: int, device: str) -> None:
    """Write images for every class x seed to OUT as PNGs, plus OUT/samples.csv (file, class, seed).

    \b
    Examples:
      ganalyze-mem sample --generator tiny --classes "pizza,giant panda" --seeds 0-3 --out samples/
      ganalyze-mem sample --generator biggan-deep-128 --classes "pizza,giant panda" --seeds 0-3 \\
          --truncation 0.4 --generator-weights ~/weights/biggan-deep-128 --out samples/
      ganalyze-mem sample --generator collage --out samples/      # 8 classes, seeds 0-3
      ganalyze-mem sample --generator photoedit --generator-weights ~/my_photos --out edits/   # edits of yours
    """

    from ..core.devices import pick_device
    from ..generators import GENERATORS
    from ..seeding import parse_seeds

    if old_weights is not None:
        click.echo("warning: --weights is deprecated for `sample`; use --generator-weights (as `train` and "
                   "`strips` do).", err=True)
        weights = weights or old_weights
    if classes is not None and not classes.strip(" ,"):
        raise GanalyzeError("--classes is empty; give class names or indices, e.g. --classes 'pizza,giant panda', "
                            f"or leave it out for {DEFAULT_CLASSES} classes spread over the generator's.")
    if batch_size < 1:
        raise GanalyzeError(f"--batch-size must be at least 1, got {batch_size}.")
    seed_list = parse_seeds(seeds)
    from ..weight_specs import preflight

    preflight(generator=generator, generator_weights=weights)  # the name and weights, before torch loads
    dev = pick_device(device)
    gen = GENERATORS.create(generator, truncation=truncation, weights=weights)
    class_list = gen.resolve_classes(classes) if classes is not None else spread_classes(gen.num_classes)
    rows = sample_images(gen, class_list, seed_list, out, batch_size=batch_size, device=dev)
    click.echo(f"Wrote {len(rows)} images and samples.csv to {out}")
