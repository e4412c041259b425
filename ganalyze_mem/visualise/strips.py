"""GANalyze strips (Goetschalckx et al., ICCV 2019): the seed image in the middle, made less (left) and more (right)
to the assessor by a trained transformer, every image annotated with its scores; then the per-alpha report.

Two ways to step, as in GANalyze's test script: ``bigger_step`` (the paper's) applies T once with alpha * k for
k = -steps..steps; ``iterative`` applies T with +-alpha k times in a row. Either way the image at position k targets a
score change of alpha * k. Outputs: one PNG per class (a row per seed), ``grid.png`` (the first seed of each of the
first 32 classes), every image on its own under ``images/``, ``scores.csv`` (class, seed, alpha, a score per assessor)
and the per-alpha report (`alpha_report`).
"""

from __future__ import annotations

import csv
import io
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import torch
from PIL import Image, ImageDraw

from ..bounds import Bound
from ..bounds import problems as bound_problems
from ..errors import GanalyzeError, UnknownNameError, WeightsError
from ..images import font, save_image, to_pil
from ..rundir import RunDir, atomic_path, atomic_write_text
from ..seeding import parse_seeds
from .alpha_report import summarize, write_report

GRID_CLASSES = 32  # grid.png shows the first seed of at most this many classes
COLOURS = [(200, 30, 30), (30, 70, 200), (20, 130, 40), (150, 60, 170), (200, 110, 0)]


# Bounds declared once (`StripsConfig.validate` and `strips`'s option types): 2 * steps + 1 images per strip.
BOUNDS: dict[str, Bound] = {
    "alpha": Bound(0, 1e6, low_open=True, note="the assessor's units"),
    "steps": Bound(1, 100, integer=True, note="2 * steps + 1 images per strip"),
    "batch_size": Bound(1, 1 << 14, integer=True),
}


@dataclass
class StripsConfig:
    """Every strips option with its default; shared by `ganalyze-mem strips` and the Python API."""

    classes: str | None = None  # names or indices; None: 8 classes spread over the generator's classes
    seeds: str = "0-9"
    alpha: float | None = None  # None: the training range's largest |alpha| / steps (from the transformer's card)
    steps: int = 3
    mode: str = "bigger_step"
    truncation: float | None = None  # None: the truncation the transformer was trained with
    also_score: str | None = None  # more assessors, comma separated
    classifier: str = "auto"  # auto: humanmem's ResNet-152 for ImageNet generators when available; none; a name
    batch_size: int = 16
    device: str = "auto"
    out: str = "outputs/strips"
    save_images: bool = True
    generator_weights: str | None = None
    assessor_weights: str | None = None

    def validate(self) -> StripsConfig:
        if self.mode not in ("bigger_step", "iterative"):
            raise GanalyzeError(f"--mode must be bigger_step or iterative, got {self.mode!r}.")
        if self.steps < 1 or (self.alpha is not None and not self.alpha > 0):
            raise GanalyzeError(f"Need --steps >= 1 and --alpha > 0; got {self.steps} and {self.alpha}.")
        if self.batch_size < 1:
            raise GanalyzeError("--batch-size must be at least 1.")
        bad = bound_problems(self, BOUNDS)
        if bad:
            raise GanalyzeError("; ".join(bad) + ".")
        return self

    def resolved(self, card: dict[str, Any]) -> StripsConfig:
        """This config with the default alpha step taken from a trained transformer's card."""
        if self.alpha is not None:
            return self
        if card.get("strip_alpha") is not None:  # an imported GANalyze transformer: its test script's step
            return replace(self, alpha=float(card["strip_alpha"]))
        top = max(abs(float(card.get("alpha_min", -0.5))), abs(float(card.get("alpha_max", 0.5))))
        return replace(self, alpha=round(top / self.steps, 10))

    @property
    def alphas(self) -> list[float]:
        if self.alpha is None:
            raise GanalyzeError("StripsConfig.alpha is not set: give an alpha step, or use cfg.resolved(card).")
        return [round(k * self.alpha, 10) for k in range(-self.steps, self.steps + 1)]


def default_classes(num_classes: int, count: int = 8) -> list[int]:
    """`count` classes spread evenly over the generator's (all of them when it has fewer)."""
    if num_classes <= count:
        return list(range(num_classes))
    return [round(i * num_classes / count) for i in range(count)]


@torch.no_grad()
def strip_latents(transformer, z: torch.Tensor, y: torch.Tensor, alpha: float, steps: int, mode: str) -> torch.Tensor:
    """Latents of every strip position: S x (2 steps + 1) x dim_z, the seed's z in the middle."""
    out = [None] * (2 * steps + 1)
    out[steps] = z
    for sign in (-1, 1):
        current = z
        for k in range(1, steps + 1):
            if mode == "bigger_step":
                current = transformer(z, y, torch.full((len(z),), sign * k * alpha, device=z.device))
            else:
                current = transformer(current, y, torch.full((len(z),), sign * alpha, device=z.device))
            out[steps + sign * k] = current
    return torch.stack(out, dim=1)


def _classifier(spec: str, generator, assessors: dict[str, Any], device) -> tuple[Any, str]:
    """An object with ``classify(images) -> logits`` and its name, or (None, reason)."""
    if spec == "none":
        return None, "off (--classifier none)"
    if generator.num_classes != 1000:
        return None, f"off ({generator.name} has {generator.num_classes} classes, not ImageNet's 1000)"
    if spec == "auto" and getattr(generator, "weights_source", "") == "random":
        return None, f"off ({generator.name} has random weights, so its classes mean nothing; name one to force it)"
    from ..assessors import ASSESSORS

    name = "humanmem" if spec == "auto" else spec
    obj = assessors.get(name)
    if obj is None:
        try:
            obj = ASSESSORS.create(name).to(device)
        except (WeightsError, UnknownNameError) as e:
            if spec == "auto":
                return None, f"off (humanmem unavailable: {str(e).splitlines()[0]})"
            raise
    if not callable(getattr(obj, "classify", None)):
        raise GanalyzeError(f"--classifier {name}: this assessor has no ImageNet classifier (no classify method); "
                            "use humanmem or --classifier none.")
    return obj, name


def _cell_labels(scores: dict[str, float], names: list[str]) -> list[tuple[str, tuple[int, int, int]]]:
    short = {n: (n if len(n) <= 12 else n[:11] + "~") for n in names}
    return [(f"{short[n]} {scores[n]:.3f}", COLOURS[i % len(COLOURS)]) for i, n in enumerate(names)]


def compose_strips(images: torch.Tensor, labels: list[list[list[tuple[str, tuple]]]], alphas: list[float],
                   title: str = "", pad: int = 4, font_size: int = 11) -> Image.Image:
    """R x K images (R x K x 3 x H x W) into one annotated PNG: alpha over each column, scores under each image.

    The seed column (alpha 0) is framed so the eye finds the middle of the strip.
    """
    rows, cols, _, h, w = images.shape
    f = font(font_size)
    probe = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    line_h = max(probe.textbbox((0, 0), "Ag0.9", font=f)[3], font_size) + 2
    n_lines = max((len(cell) for row in labels for cell in row), default=0)
    label_h = n_lines * line_h + 2
    cell_w = max(w, max((probe.textbbox((0, 0), t, font=f)[2] for row in labels for cell in row for t, _ in cell),
                        default=0) + 4)
    head = line_h * (2 if title else 1) + 2
    canvas = Image.new("RGB", (pad + cols * (cell_w + pad), head + rows * (h + label_h + pad) + pad), "white")
    draw = ImageDraw.Draw(canvas)
    if title:
        draw.text((pad, 1), title, fill="black", font=f)
    for k, a in enumerate(alphas):
        text = "seed" if a == 0 else f"alpha {a:+.3g}"
        x0 = pad + k * (cell_w + pad)
        tw = draw.textbbox((0, 0), text, font=f)[2]
        draw.text((x0 + (cell_w - tw) / 2, head - line_h), text, fill="black", font=f)
    for r in range(rows):
        y0 = head + r * (h + label_h + pad)
        for k in range(cols):
            x0 = pad + k * (cell_w + pad)
            canvas.paste(to_pil(images[r, k]), (x0 + (cell_w - w) // 2, y0))
            if alphas[k] == 0:
                draw.rectangle([x0 + (cell_w - w) // 2 - 2, y0 - 2, x0 + (cell_w + w) // 2 + 1, y0 + h + 1],
                               outline=(0, 0, 0), width=2)
            for i, (text, colour) in enumerate(labels[r][k]):
                left, top, right, _ = draw.textbbox((0, 0), text, font=f)
                draw.text((x0 + (cell_w - (right - left)) / 2, y0 + h + 1 + i * line_h - top), text, fill=colour,
                          font=f)
    return canvas


@dataclass
class StripsResult:
    folder: Path
    rows: list[dict[str, Any]]
    report: dict[str, Any]
    classifier: str


def score_strips(generator, transformer, assessors: dict[str, Any], classes: list[int], seeds: list[int],
                 cfg: StripsConfig, truncation: float, classifier=None, device="cpu", on_class=None,
                 progress: bool = False) -> list[dict[str, Any]]:
    """Generate and score every strip; calls ``on_class(class, images S x K x 3 x H x W, rows)`` per class.

    Returns rows (class, seed, step, alpha, a score per assessor, and top-1 / class_kept with a classifier).
    """
    from tqdm.auto import tqdm

    alphas = cfg.alphas
    z_all = generator.latents(seeds, truncation).to(device)
    rows: list[dict[str, Any]] = []
    for c in tqdm(classes, desc="strips", unit="class", disable=not progress):
        y = generator.one_hot([c] * len(seeds)).to(device)
        zs = strip_latents(transformer, z_all, y, cfg.alpha, cfg.steps, cfg.mode)  # S x K x dim_z
        flat_z = zs.reshape(-1, zs.shape[-1])
        flat_y = y.repeat_interleave(len(alphas), dim=0)
        images, scores, top1 = [], {n: [] for n in assessors}, []
        with torch.no_grad():
            for i in range(0, len(flat_z), cfg.batch_size):
                x = generator(flat_z[i:i + cfg.batch_size], flat_y[i:i + cfg.batch_size])
                for n, a in assessors.items():
                    scores[n].append(a(x).float().cpu())
                if classifier is not None:
                    top1.append(classifier.classify(x).argmax(dim=1).cpu())
                images.append(x.cpu())
        images_t = torch.cat(images).reshape(len(seeds), len(alphas), *images[0].shape[1:])
        score_t = {n: torch.cat(v).reshape(len(seeds), len(alphas)) for n, v in scores.items()}
        top1_t = torch.cat(top1).reshape(len(seeds), len(alphas)) if top1 else None
        class_rows = []
        for si, s in enumerate(seeds):
            for k, a in enumerate(alphas):
                row = {"class": c, "seed": s, "step": k - cfg.steps, "alpha": a,
                       **{n: float(score_t[n][si, k]) for n in assessors}}
                if top1_t is not None:
                    row["top1"] = int(top1_t[si, k])
                    row["class_kept"] = int(top1_t[si, k] == c)
                class_rows.append(row)
        if on_class is not None:
            on_class(c, images_t, class_rows)
        rows.extend(class_rows)
    return rows


def make_strips(source: str | Path, cfg: StripsConfig | None = None, progress: bool = True,
                echo=print) -> StripsResult:
    """Strips, individual images, scores.csv and the per-alpha report for a trained transformer.

    `source` is a training run directory (finished or not), a transformer folder or a promoted name.
    """
    from ..generators import GENERATORS
    from ..scoring import build_assessor
    from ..transformers.store import load_trained
    from .train import resolve_device

    cfg = (cfg or StripsConfig()).validate()
    device = resolve_device(cfg.device)
    transformer, card = load_trained(source, device)
    cfg = cfg.resolved(card)
    sd = card.get("assessor_sd")
    step_text = f"alpha step {cfg.alpha:.4g}" + (f" ({cfg.alpha / sd:.2f} SD of the assessor)" if sd else "")
    truncation = float(cfg.truncation if cfg.truncation is not None else card.get("truncation", 1.0))
    generator = GENERATORS.create(card["generator"], truncation=truncation,
                                  weights=cfg.generator_weights or card.get("generator_weights")).to(device)
    if (generator.dim_z, generator.num_classes) != (card["dim_z"], card["num_classes"]):
        raise GanalyzeError(f"The transformer was trained for z of {card['dim_z']} and {card['num_classes']} classes, "
                            f"but {card['generator']} has {generator.dim_z} and {generator.num_classes}.")
    train_name = card["assessor"]
    extra = [n.strip() for n in (cfg.also_score or "").split(",") if n.strip()]
    names = [train_name] + [n for n in dict.fromkeys(extra) if n != train_name]
    assessors = {}
    for n in names:
        weights = (cfg.assessor_weights or card.get("assessor_weights")) if n == train_name else None
        assessors[n] = build_assessor(n, weights, str(device))
    classifier, classifier_note = _classifier(cfg.classifier, generator, assessors, device)
    classes = generator.resolve_classes(cfg.classes) if cfg.classes else default_classes(generator.num_classes)
    seeds = parse_seeds(cfg.seeds)
    class_names = generator.class_names()
    label = card.get("name") or Path(str(source)).name
    run = RunDir.create(cfg.out, f"{label}-{cfg.mode}",
                        {"options": {**asdict(cfg), "source": str(source)},
                         "resolved": {"transformer": card, "classes": classes, "seeds": seeds, "alphas": cfg.alphas,
                                      "truncation": truncation, "assessors": names, "classifier": classifier_note}})
    first_strips, first_labels = [], []

    def on_class(c: int, images: torch.Tensor, rows: list[dict[str, Any]]) -> None:
        cname = class_names[c] if class_names else str(c)
        slug = f"{c:04d}-{cname.replace(' ', '_').replace('/', '_')[:40]}"
        labels = [[_cell_labels(r, names) for r in rows[i * len(cfg.alphas):(i + 1) * len(cfg.alphas)]]
                  for i in range(images.shape[0])]
        title = f"class {c} ({cname}): {train_name}, {cfg.mode}, {step_text}"
        sheet = compose_strips(images, labels, cfg.alphas, title)
        with atomic_path(run.path / "strips" / f"{slug}.png") as tmp:
            sheet.save(tmp, format="PNG")
        if cfg.save_images:
            for r, img in zip(rows, images.reshape(-1, *images.shape[2:]), strict=True):
                save_image(img, run.path / "images" / slug / f"seed{r['seed']:05d}_alpha{r['alpha']:+.3f}.png")
        if len(first_strips) < GRID_CLASSES:  # the grid is an overview; memory stays bounded for 1000 classes
            first_strips.append(images[0])
            first_labels.append(labels[0])

    rows = score_strips(generator, transformer, assessors, classes, seeds, cfg, truncation, classifier, device,
                        on_class, progress)
    grid = compose_strips(torch.stack(first_strips), first_labels, cfg.alphas,
                          f"first seed of each class (at most {GRID_CLASSES}): {train_name}, {cfg.mode}, "
                          f"{step_text}")
    with atomic_path(run.path / "grid.png") as tmp:
        grid.save(tmp, format="PNG")
    atomic_write_text(run.path / "scores.csv", rows_to_csv(rows, names, class_names))
    report = summarize(rows, names)
    write_report(report, run.path, f"Per-alpha report: {label} ({cfg.mode})", train_assessor=train_name,
                 training=card)
    s = report["summary"][train_name]
    echo(f"{train_name}: slope {s['slope']:.3f} (R² {s['r2']:.3f}), Spearman {s['spearman']:.3f}, "
         f"rising strips {s['monotonic_rise']:.0%}. Classifier: {classifier_note}.")
    echo(f"Wrote {run.path} (strips/, grid.png, scores.csv, report.md/csv/png).")
    return StripsResult(run.path, rows, report, classifier_note)


def rows_to_csv(rows: list[dict[str, Any]], names: list[str], class_names: list[str] | None = None) -> str:
    buf = io.StringIO()
    extra = [k for k in ("top1", "class_kept") if rows and k in rows[0]]
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["class", "class_name", "seed", "step", "alpha", *names, *extra])
    for r in rows:
        cname = class_names[r["class"]] if class_names else ""
        w.writerow([r["class"], cname, r["seed"], r["step"], f"{r['alpha']:.6g}",
                    *[f"{r[n]:.6f}" for n in names], *[r[k] for k in extra]])
    return buf.getvalue()
