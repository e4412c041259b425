"""Pieces every study uses: the report folder (a `RunDir` under outputs/reports/), montages of scored images, and a
few matplotlib figure helpers (Agg backend, so reports render on machines without a display)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import Any

import matplotlib

# Imported inside functions, to keep `ganalyze-mem --help` and `import ganalyze_mem` fast: modules of ours that load
# torch or the model registries.

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402
from torchvision.utils import make_grid  # noqa: E402

from ..errors import GanalyzeError
from ..images import annotate, load_image, to_pil  # noqa: E402
from ..rundir import RunDir  # noqa: E402
from .report import Report  # noqa: E402
from .scoring import Scorer  # noqa: E402

DEFAULT_OUT = Path("outputs") / "reports"


def open_report_dir(study: str, out: str | os.PathLike | None, options: Any, scorer: Scorer | None) -> RunDir:
    """outputs/reports/<NNNNN>-<study>/ with config.yaml (the study's options and score source)."""
    opts = asdict(options) if is_dataclass(options) else dict(options)
    config = {"study": study, "options": opts, "scores": scorer.describe() if scorer else None}
    return RunDir.create(Path(out) if out else DEFAULT_OUT, study, config)


def new_report(title: str, study: str, scorer: Scorer | None, run: RunDir, **meta: Any) -> Report:
    head = {"study": f"`{study}`", "folder": str(run.path)}
    if scorer is not None:
        head["scores"] = f"{scorer.describe()} (higher = {scorer.higher_is})"
    head.update(meta)
    return Report(title, meta=head)


def montage(files: Sequence[str | os.PathLike | None], labels: Sequence[str], ncol: int = 5,
            cell: int = 128) -> Image.Image:
    """A labelled grid of image files, each resized to cell x cell (aspect kept, padded white); None = blank."""
    tiles = []
    for f in files:
        if f is None:
            tiles.append(torch.ones(3, cell, cell))
            continue
        im = load_image(f)
        _, h, w = im.shape
        scale = cell / max(h, w)
        im = torch.nn.functional.interpolate(im[None], size=(max(1, round(h * scale)), max(1, round(w * scale))),
                                             mode="bilinear", antialias=True, align_corners=False)[0].clamp(0, 1)
        tile = torch.ones(3, cell, cell)
        top, left = (cell - im.shape[1]) // 2, (cell - im.shape[2]) // 2
        tile[:, top:top + im.shape[1], left:left + im.shape[2]] = im
        tiles.append(tile)
    ncol = max(1, min(ncol, len(tiles)))
    rows = []
    for start in range(0, len(tiles), ncol):
        chunk = tiles[start:start + ncol]
        chunk += [torch.ones(3, cell, cell)] * (ncol - len(chunk))
        grid = to_pil(make_grid(torch.stack(chunk), nrow=ncol, padding=2, pad_value=1.0))
        row_labels = list(labels[start:start + ncol]) + [""] * (ncol - len(labels[start:start + ncol]))
        rows.append(annotate(grid, row_labels, cell_width=cell + 2))
    out = Image.new("RGB", (rows[0].width, sum(r.height for r in rows)), "white")
    y = 0
    for r in rows:
        out.paste(r, (0, y))
        y += r.height
    return out


def distribution_figure(groups: dict[str, np.ndarray], ylabel: str, title: str = ""):
    """Box plots with every point jittered on top, and the mean +/- 95% CI marked."""
    from ..stats import mean_ci

    fig, ax = plt.subplots(figsize=(1.8 + 1.6 * len(groups), 4.2))
    names = list(groups)
    data = [np.asarray(groups[n], dtype=float) for n in names]
    ax.boxplot(data, showfliers=False, widths=0.5)
    ax.set_xticks(range(1, len(names) + 1), names)
    rng = np.random.default_rng(0)
    for i, d in enumerate(data, start=1):
        ax.scatter(i + rng.uniform(-0.15, 0.15, len(d)), d, s=9, alpha=0.45, color="tab:blue", zorder=3)
        ci = mean_ci(d)
        if np.isfinite(ci.low):
            ax.errorbar(i + 0.3, ci.mean, yerr=[[ci.mean - ci.low], [ci.high - ci.mean]], fmt="o", color="tab:red",
                        capsize=4, zorder=4, label="mean ± 95% CI" if i == 1 else None)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.1), fontsize=8, frameon=False)
    ax.grid(axis="y", alpha=0.3)
    return fig


def histogram_figure(groups: dict[str, np.ndarray], xlabel: str):
    fig, ax = plt.subplots(figsize=(6.5, 3.6))
    values = np.concatenate([np.asarray(v, dtype=float) for v in groups.values()])
    bins = np.histogram_bin_edges(values[np.isfinite(values)], bins="auto")
    for name, v in groups.items():
        ax.hist(v, bins=bins, alpha=0.5, label=f"{name} (n={len(v)})")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("images")
    ax.legend(fontsize=8)
    return fig


def score_kept(scorer: Scorer, files: Sequence[Path], report: Report | None = None) -> tuple[list[Path], np.ndarray]:
    """Score `files`; drop the ones that could not be read (noted in the report) and return the rest."""
    before = len(getattr(scorer, "problems", []))
    notes_before = len(getattr(scorer, "notes", []))
    scores = scorer.score_files(files)
    if report is not None:
        for note in getattr(scorer, "notes", [])[notes_before:]:
            report.text(note, note=True)
    ok = np.isfinite(scores)
    if not ok.all() and report is not None:
        problems = getattr(scorer, "problems", [])[before:]
        first = f" First: {problems[0]}" if problems else ""
        report.text(f"{int((~ok).sum())} of {len(files)} images could not be read or scored and are left out.{first}",
                    note=True)
    return [f for f, k in zip(files, ok, strict=True) if k], scores[ok]


def disjoint_sets(sets: dict[str, list[Path]]) -> dict[str, list[Path]]:
    """Refuse image sets that share files (the same file, by resolved path, in two sets would be counted twice and
    give a wrong n); the error says how many and which sets."""
    owner: dict[str, str] = {}
    shared: dict[tuple[str, str], list[str]] = {}
    for name, files in sets.items():
        for f in files:
            key = os.path.realpath(f)
            if key in owner and owner[key] != name:
                shared.setdefault((owner[key], name), []).append(str(f))
            owner.setdefault(key, name)
    if shared:
        parts = [f"{len(v)} image(s) are in both '{a}' and '{b}' (first: {v[0]})" for (a, b), v in shared.items()]
        raise GanalyzeError("The image sets overlap: " + "; ".join(parts) + ". Each image must belong to one set, or "
                            "it is counted twice; pass folders that do not contain each other or share files.")
    return sets


def score_label(scorer: Scorer) -> str:
    return f"score ({scorer.describe()})"
