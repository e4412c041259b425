"""Scoring image files with an assessor: the Python API under ``ganalyze-mem score``.

Files and folders (searched recursively) are decoded in DataLoader worker processes, each image resized at load time
to the assessor's input size by `images.load_resized` (the project's one loader and resize) so that images of
any size batch together; batches run under mixed precision on a GPU. Unreadable files never stop a run: each becomes
one `ImageError` naming the file and the reason, and the good files are still scored.
"""

from __future__ import annotations

import copy
import csv
import io
import os
import weakref
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch

from .core.devices import autocast, pick_device
from .core.files import atomic_write_text
from .core.paths import path_to_text
from .errors import GanalyzeError, ImageError
from .images import (  # noqa: F401 (FALLBACK_SIZE re-exported)
    FALLBACK_SIZE,
    PRESETS,
    Preprocess,
    assessor_recipe,
    assessor_side,
    find_images,
    load_resized,
    side_of,
)
from .score_config import (  # noqa: F401 (the options live there)
    DEFAULTS,
    MAX_SIZE,
    MIN_SIZE,
    ScoreConfig,
    check_precision,
)

# Imported inside functions, to keep `ganalyze-mem --help` and `import ganalyze_mem` fast: `tqdm` and modules of ours
# that load them.


@dataclass
class ScoreResult:
    """Scores of the good files (in input order) and one problem per bad file or path."""

    assessor: str
    scores: list[tuple[Path, float]] = field(default_factory=list)
    problems: list[ImageError] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_csv(self) -> str:
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(["path", "score"])
        for path, score in self.scores:
            writer.writerow([path_to_text(path), f"{score:.8g}"])
        return buf.getvalue()

    def write_csv(self, out: str | os.PathLike) -> Path:
        """Write ``path,score`` rows atomically (a temporary file renamed into place)."""
        out = Path(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        return atomic_write_text(out, self.to_csv())


class ImageFiles(torch.utils.data.Dataset):
    """Items are (image, index, error): a failed file gives a blank image and the reason, so a batch never breaks."""

    def __init__(self, files: list[Path], size: int | Preprocess):
        self.files, self.size, self.side = files, size, side_of(size)

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i: int):
        try:
            return load_resized(self.files[i], self.size), i, ""
        except ImageError as e:
            return torch.zeros(3, self.side, self.side), i, e.reason
        except Exception as e:  # noqa: BLE001 - one odd file must not end the run; its reason is reported
            return torch.zeros(3, self.side, self.side), i, f"could not be read ({type(e).__name__}: {e})"


def _worker_init(_: int) -> None:
    torch.set_num_threads(1)  # each worker decodes one image at a time; do not oversubscribe the cores


def build_assessor(name: str, weights: str | os.PathLike | None = None, device: str = "cpu"):
    """Create the assessor `name` (registering new predictor folders first), frozen, on `device`."""
    from .assessors import ASSESSORS
    from .assessors.folders import register_predictor_folders

    register_predictor_folders(ASSESSORS)
    if name not in ASSESSORS and weights is not None:  # a promoted folder under a weights folder, by its name
        from .assessors.folders import CARD_FILE
        from .assessors.machinemem import from_folder

        for folder in (Path(weights).expanduser() / name, Path(weights).expanduser()):
            if (folder / CARD_FILE).is_file():
                return from_folder(folder, name).freeze().to(device)
    overrides = {"weights": str(weights)} if weights is not None else {}
    try:
        assessor = ASSESSORS.create(name, **overrides)
    except TypeError as e:
        if overrides and "weights" in str(e):
            from .weight_options import weights_option

            raise GanalyzeError(f"Assessor '{name}' takes no weights; drop {weights_option('assessor') or 'weights'}."
                                ) from None
        raise
    return assessor.freeze().to(device)


Row = tuple[int, "float | None", str]  # (index into the file list, score or None, error reason or "")


class Blocks:
    """A batch sampler of fixed blocks: block k holds the files k * batch ... (k + 1) * batch - 1 of the whole list.

    Only the blocks numbered in `todo` are yielded. Because a batch is always the same block of files, whether the
    run is fresh, resumed or split into Ray shards, the scores do not depend on how the work was divided.
    """

    def __init__(self, n: int, batch: int, todo: Iterable[int] | None = None):
        self.n, self.batch = n, batch
        self.todo = range(-(-n // batch)) if todo is None else list(todo)

    def __len__(self) -> int:
        return len(self.todo)

    def __iter__(self):
        for k in self.todo:
            yield list(range(k * self.batch, min(self.n, (k + 1) * self.batch)))


_FOLDED: "weakref.WeakKeyDictionary[torch.nn.Module, torch.nn.Module]" = weakref.WeakKeyDictionary()


def fold_batchnorm(module: torch.nn.Module) -> torch.nn.Module:
    """Fold every evaluation-mode ``BatchNorm2d`` that directly follows its convolution into that convolution, in place:
    torchvision's ResNet pattern (``convK`` then ``bnK`` in one block, ``Sequential(conv, bn)`` downsamples). Only the
    exact ``nn.BatchNorm2d`` type is folded (a subclass may carry an activation). Scores move by ~1e-7 in float32."""
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    for child in module.children():
        fold_batchnorm(child)
    if isinstance(module, torch.nn.Sequential):
        for k in range(len(module) - 1):
            conv, bn = module[k], module[k + 1]
            if isinstance(conv, torch.nn.Conv2d) and type(bn) is torch.nn.BatchNorm2d:
                module[k], module[k + 1] = fuse_conv_bn_eval(conv, bn), torch.nn.Identity()
    for k in range(1, 10):
        conv, bn = getattr(module, f"conv{k}", None), getattr(module, f"bn{k}", None)
        if isinstance(conv, torch.nn.Conv2d) and type(bn) is torch.nn.BatchNorm2d:
            setattr(module, f"conv{k}", fuse_conv_bn_eval(conv, bn))
            setattr(module, f"bn{k}", torch.nn.Identity())
    return module


def inference_copy(net: torch.nn.Module) -> torch.nn.Module:
    """The network ``--precision bf16`` runs: a copy of `net` (in evaluation mode; the caller's model is left as it
    was) with batch norm folded into the convolutions and channels_last weights, built once per model. Folding
    removes a memory-bound pass per layer: the bf16 forward pass of ResMem's ResNet-152 takes ~17% less time."""
    if net.training:
        return net.to(memory_format=torch.channels_last)  # folding is only exact in evaluation mode
    if net not in _FOLDED:
        _FOLDED[net] = fold_batchnorm(copy.deepcopy(net)).to(memory_format=torch.channels_last)
    return _FOLDED[net]


def score_batches(net: torch.nn.Module, files: Sequence[str | os.PathLike], batches: Iterable[list[int]], side: int,
                  device: str, amp: bool = True, workers: int = 0, precision: str = "fp32") -> Iterable[list[Row]]:
    """Yield, batch by batch and in the order of `batches`, one row per file: (index, score, "") or (index, None,
    reason). Files are decoded in `workers` DataLoader processes (0: here). ``precision="bf16"`` runs the network
    under bfloat16 autocast on `inference_copy` (batch norm folded, channels_last; on a CPU with bf16 units as on a
    GPU)."""
    loader = torch.utils.data.DataLoader(
        ImageFiles(files, side), batch_sampler=batches, num_workers=workers,
        pin_memory=device.startswith("cuda"), worker_init_fn=_worker_init if workers else None,
    )
    use_amp = amp and device.startswith("cuda")
    bf16 = precision == "bf16"
    if bf16:
        net = inference_copy(net)
    for images, index, errors in loader:
        good = [k for k, err in enumerate(errors) if not err]
        out: list[float] = []
        if good:
            x = images[good].to(device, non_blocking=True)
            if bf16:
                x = x.contiguous(memory_format=torch.channels_last)
            with torch.no_grad(), autocast(device, torch.bfloat16 if bf16 else torch.float16 if use_amp else None):
                out = net(x).float().cpu().tolist()
        scores = dict(zip(good, out, strict=True))
        yield [(int(index[k]), scores.get(k), err) for k, err in enumerate(errors)]


def score_files(
    paths: Iterable[str | os.PathLike],
    assessor: str = DEFAULTS.assessor,
    *,
    batch_size: int = DEFAULTS.batch_size,
    workers: int = DEFAULTS.workers,
    device: str = DEFAULTS.device,
    weights: str | os.PathLike | None = DEFAULTS.weights,
    size: int | None = DEFAULTS.size,
    amp: bool = DEFAULTS.amp,
    precision: str = DEFAULTS.precision,
    progress: bool = True,
    on_problem: Callable[[ImageError], None] | None = None,
    model: torch.nn.Module | None = None,
    preprocess: str | None = DEFAULTS.preprocess,
) -> ScoreResult:
    """Score every image under `paths` with `assessor`; bad files are collected, never raised.

    `model` may pass an already built assessor (then `assessor` is only its name in the result). For folders too
    large to hold in memory, or runs that must resume, write the CSV as you go with `score_run.score_to_csv`.
    """
    from .progress import bar as progress_bar

    ScoreConfig(assessor, batch_size, workers, device, None, size, amp, preprocess, precision)  # checks every value
    paths = list(paths)
    if not paths:
        raise GanalyzeError("No paths given: name image files or folders to score.")
    dev = pick_device(device)
    check_precision(precision, dev)
    files, problems = find_images(paths)
    result = ScoreResult(assessor)
    report = on_problem or (lambda e: None)
    for e in problems:
        report(e)
    result.problems += problems
    if not files:
        return result
    net = model if model is not None else build_assessor(assessor, weights, dev)
    side = assessor_recipe(net, size, preprocess)
    with progress_bar(total=len(files), desc=f"scoring ({assessor})", unit="img", show=progress) as bar:
        for rows in score_batches(net, files, Blocks(len(files), batch_size), side, dev, amp, workers,
                                  precision):
            for i, score, err in rows:
                if err:
                    problem = ImageError(files[i], err)
                    report(problem)
                    result.problems.append(problem)
                else:
                    result.scores.append((files[i], score))
            bar.update(len(rows))
    return result
