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
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from PIL import Image

from ..core.devices import pick_device
from ..core.files import atomic_path, atomic_write_text
from ..errors import GanalyzeError, UnknownNameError, WeightsError
from ..images import save_image
from ..rundir import RunDir
from ..seeding import parse_seeds
from .alpha_report import summarize, write_report
from .strips_config import StripsConfig  # noqa: F401 (the options live there)

# Imported inside functions, to keep `ganalyze-mem --help` and `import ganalyze_mem` fast: `tqdm` and modules of ours
# that load them.

GRID_CLASSES = 32  # grid.png shows the first seed of at most this many classes
COLOURS = [(200, 30, 30), (30, 70, 200), (20, 130, 40), (150, 60, 170), (200, 110, 0)]


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
    """One line per assessor under an image: its full name and score, in the assessor's colour."""
    return [(f"{n} {scores[n]:.3f}", COLOURS[i % len(COLOURS)]) for i, n in enumerate(names)]


STRIP_DPI = 100  # images are drawn at their own pixel size at this dpi (small ones enlarged to MIN_IMAGE_IN)
MIN_IMAGE_IN = 1.0  # inches: a 32 px image is shown 100 px wide
FONT = 8.5  # points


def _text_in(text: str, size: float = FONT) -> float:
    """Width in inches that `text` takes at `size` points (DejaVu Sans averages about 0.6 em per character)."""
    return len(text) * size * 0.6 / 72


def strip_figure(images: torch.Tensor, labels: list[list[list[tuple[str, tuple]]]], alphas: list[float],
                 title: str = "", row_labels: list[str] | None = None):
    """R x K images (R x K x 3 x H x W) as a matplotlib figure: alpha over each column, a row label (class and seed)
    left of each row, the full assessor names and scores under each image; the seed column (alpha 0) is framed so
    the eye finds the middle of the strip. Laid out in inches, so nothing overlaps whatever the names' length."""
    from matplotlib.figure import Figure

    rows, cols, _, h, w = images.shape
    img_w = max(w / STRIP_DPI, MIN_IMAGE_IN)
    img_h = img_w * h / w
    line = FONT * 1.35 / 72
    n_lines = max((len(cell) for row in labels for cell in row), default=0)
    texts = [t for row in labels for cell in row for t, _ in cell]
    cell_w = max(img_w, max((_text_in(t) for t in texts), default=0.0)) + 0.15
    cell_h = img_h + n_lines * line + 0.12
    row_lines = [str(t).split("\n") for t in (row_labels or [""] * rows)]
    left = max((_text_in(t, FONT + 0.5) for lines in row_lines for t in lines), default=0.0) + 0.2
    top = line * 1.6 + (line * 1.9 if title else 0.0)
    width, height = left + cols * cell_w + 0.1, top + rows * cell_h + 0.05
    fig = Figure(figsize=(width, height), dpi=STRIP_DPI)
    if title:
        fig.text(0.1 / width, 1 - 0.08 / height, title, ha="left", va="top", fontsize=FONT + 1.5, weight="bold")
    for k, a in enumerate(alphas):
        x = (left + k * cell_w + cell_w / 2) / width
        fig.text(x, 1 - (top - line * 0.4) / height, "seed (alpha 0)" if a == 0 else f"alpha {a:+.3g}",
                 ha="center", va="bottom", fontsize=FONT + 0.5, weight="bold" if a == 0 else "normal")
    for r in range(rows):
        y_img = height - top - r * cell_h - img_h  # bottom of the image row, inches from the figure's bottom
        if row_labels:
            fig.text((left - 0.12) / width, (y_img + img_h / 2) / height, "\n".join(row_lines[r]), ha="right",
                     va="center", fontsize=FONT + 0.5)
        for k in range(cols):
            x0 = left + k * cell_w + (cell_w - img_w) / 2
            ax = fig.add_axes((x0 / width, y_img / height, img_w / width, img_h / height))
            ax.imshow(images[r, k].detach().float().clamp(0, 1).permute(1, 2, 0).cpu().numpy(),
                      interpolation="nearest" if w < img_w * STRIP_DPI else "antialiased")
            ax.set_xticks([])
            ax.set_yticks([])
            seed = alphas[k] == 0
            for spine in ax.spines.values():
                spine.set_visible(seed)
                spine.set_linewidth(2.0)
                spine.set_color("black")
            for i, (text, colour) in enumerate(labels[r][k]):
                fig.text((left + k * cell_w + cell_w / 2) / width, (y_img - 0.03 - i * line) / height, text,
                         ha="center", va="top", fontsize=FONT, color=tuple(v / 255 for v in colour))
    return fig


def compose_strips(images: torch.Tensor, labels: list[list[list[tuple[str, tuple]]]], alphas: list[float],
                   title: str = "", row_labels: list[str] | None = None) -> Image.Image:
    """`strip_figure` rendered to a PIL image (RGB)."""
    buf = io.BytesIO()
    strip_figure(images, labels, alphas, title, row_labels).savefig(buf, format="png", dpi=STRIP_DPI,
                                                                     facecolor="white")
    buf.seek(0)
    with Image.open(buf) as im:
        return im.convert("RGB")


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
    from ..progress import bar

    alphas = cfg.alphas
    z_all = generator.latents(seeds, truncation).to(device)
    rows: list[dict[str, Any]] = []
    for c in bar(classes, desc="strips", unit="class", show=progress):
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

    cfg = (cfg or StripsConfig()).validate()
    device = torch.device(pick_device(cfg.device))
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
    label = card.get("name") or re.sub(r"^\d{5}-", "", Path(str(source)).name)  # one run number: 00001-brightness-...
    run = RunDir.create(cfg.out, f"{label}-{cfg.mode}",
                        {"options": {**asdict(cfg), "source": str(source)},
                         "resolved": {"transformer": card, "classes": classes, "seeds": seeds, "alphas": cfg.alphas,
                                      "truncation": truncation, "assessors": names, "classifier": classifier_note}})
    first_strips, first_labels, first_rows = [], [], []

    def on_class(c: int, images: torch.Tensor, rows: list[dict[str, Any]]) -> None:
        cname = class_names[c] if class_names else str(c)
        slug = f"{c:04d}-{cname.replace(' ', '_').replace('/', '_')[:40]}"
        labels = [[_cell_labels(r, names) for r in rows[i * len(cfg.alphas):(i + 1) * len(cfg.alphas)]]
                  for i in range(images.shape[0])]
        title = f"class {c} ({cname}): {train_name}, {cfg.mode}, {step_text}"
        seeds_here = [r["seed"] for r in rows[::len(cfg.alphas)]]
        sheet = compose_strips(images, labels, cfg.alphas, title, [_row_label(c, cname, s) for s in seeds_here])
        with atomic_path(run.path / "strips" / f"{slug}.png") as tmp:
            sheet.save(tmp, format="PNG")
        if cfg.save_images:
            for r, img in zip(rows, images.reshape(-1, *images.shape[2:]), strict=True):
                save_image(img, run.path / "images" / slug / f"seed{r['seed']:05d}_alpha{r['alpha']:+.3f}.png")
        if len(first_strips) < GRID_CLASSES:  # the grid is an overview; memory stays bounded for 1000 classes
            first_strips.append(images[0])
            first_labels.append(labels[0])
            first_rows.append(_row_label(c, cname, rows[0]["seed"]))

    rows = score_strips(generator, transformer, assessors, classes, seeds, cfg, truncation, classifier, device,
                        on_class, progress)
    grid = compose_strips(torch.stack(first_strips), first_labels, cfg.alphas,
                          f"first seed of each class (at most {GRID_CLASSES}): {train_name}, {cfg.mode}, "
                          f"{step_text}", first_rows)
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


def _row_label(c: int, cname: str, seed: int) -> str:
    """A strip row's label: its class (index and name, wrapped) and its seed."""
    import textwrap

    name = "\n".join(textwrap.wrap(str(cname), 22)[:2]) if cname and cname != str(c) else ""
    return f"class {c}" + (f"\n{name}" if name else "") + f"\nseed {seed}"


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
