"""Reading the measurer's image sets: the targets (set A) and the pool that sets B and C are drawn from.

Images are decoded once, resized to the machine's square input and kept as uint8. Bad inputs are handled so that
the measurement stays honest:
- unreadable files are skipped and each is reported by name with the reason;
- an image whose content is also among the targets is removed from the pool (otherwise a target could be trained on
  as "unseen" or as "seen" in stage b). Content means the decoded pixels at the working size, so a renamed copy
  or the same picture saved losslessly in another format is caught, not only a byte-identical file;
- duplicates inside the pool are kept once (the same picture in B and in C would be both seen and unseen);
- empty folders, or no usable target, are errors.

All images stay in memory as uint8 at the working size: 150 KB each at 224 px, so a 58k-image pool such as LaMem
needs about 9 GB.
"""

from __future__ import annotations

import hashlib
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ..errors import GanalyzeError, ImageError
from ..images import find_images, load_image
from ..progress import bar


@dataclass
class ImageSet:
    files: list[Path]
    images: torch.Tensor  # uint8 N x 3 x S x S
    hashes: list[str]
    skipped: list[ImageError] = field(default_factory=list)


@dataclass
class MeasureInputs:
    targets: ImageSet
    pool: ImageSet
    pool_duplicates_of_targets: list[tuple[str, str]]  # (pool file, target file)
    pool_duplicates: list[tuple[str, str]]  # (dropped pool file, kept pool file)

    def problems(self) -> dict[str, list[str]]:
        """What was skipped or excluded, for the summary."""
        return {
            "unreadable_targets": [str(e) for e in self.targets.skipped],
            "unreadable_pool": [str(e) for e in self.pool.skipped],
            "pool_images_identical_to_a_target": [f"{p} = {t}" for p, t in self.pool_duplicates_of_targets],
            "pool_duplicates_dropped": [f"{p} = {k}" for p, k in self.pool_duplicates],
        }


def content_hash(image_u8: torch.Tensor) -> str:
    return hashlib.sha256(image_u8.contiguous().numpy().tobytes()).hexdigest()


def read_set(paths: list[str | Path], size: int, what: str, progress: bool = True) -> ImageSet:
    """Load every image under `paths` (files or folders) as uint8 at size x size; skip and record unreadable ones."""
    if not paths:
        raise GanalyzeError(f"No {what} images given.")
    files, problems = find_images(paths)
    empty = [p for p in problems if "no images" in p.reason or "no such" in p.reason or "not a regular" in p.reason]
    if empty:
        raise GanalyzeError(f"The {what} could not be read:\n  " + "\n  ".join(str(p) for p in empty))
    kept: list[Path] = []
    images: list[torch.Tensor] = []
    skipped: list[ImageError] = list(problems)
    for f in bar(files, desc=f"loading {what}", unit="img", show=progress and len(files) >= 50):
        try:
            x = load_image(f, size)
        except ImageError as e:
            skipped.append(e)
            continue
        kept.append(f)
        images.append((x * 255.0).round_().clamp_(0, 255).to(torch.uint8))
    if skipped:
        warnings.warn(f"Skipped {len(skipped)} unreadable {what} image(s):\n  " + "\n  ".join(map(str, skipped)),
                      stacklevel=2)
    if not kept:
        raise GanalyzeError(f"None of the {len(files)} {what} file(s) could be read; see the reasons above.")
    stack = torch.stack(images)
    return ImageSet(kept, stack, [content_hash(x) for x in stack], skipped)


def identical_pairs(images: ImageSet) -> list[str]:
    """'later = first' for every image whose pixels (at the working size) repeat an earlier one of the set."""
    first: dict[str, Path] = {}
    pairs = []
    for f, h in zip(images.files, images.hashes, strict=True):
        if h in first:
            pairs.append(f"{f} = {first[h]}")
        first.setdefault(h, f)
    return pairs


def load_inputs(targets: list[str | Path], pool: list[str | Path], size: int, progress: bool = True) -> MeasureInputs:
    """Targets and pool, with pool images that duplicate a target (or each other) removed and reported."""
    a = read_set(targets, size, "targets", progress)
    dups = identical_pairs(a)
    if dups:
        raise GanalyzeError("Some target images are identical to each other (same pixels at the working size); "
                            "a measurement needs distinct images. Remove one of each pair:\n  " + "\n  ".join(dups))
    b = read_set(pool, size, "pool", progress)
    target_of = dict(zip(a.hashes, a.files, strict=True))
    keep, dup_targets, dup_pool = [], [], []
    kept_of: dict[str, Path] = {}
    for i, (f, h) in enumerate(zip(b.files, b.hashes, strict=True)):
        if h in target_of:
            dup_targets.append((str(f), str(target_of[h])))
        elif h in kept_of:
            dup_pool.append((str(f), str(kept_of[h])))
        else:
            kept_of[h] = f
            keep.append(i)
    if dup_targets:
        warnings.warn(f"Excluded {len(dup_targets)} pool image(s) identical to a target image (a target must never "
                      "be drawn as a seen or unseen pool image):\n  "
                      + "\n  ".join(f"{p} = {t}" for p, t in dup_targets[:20])
                      + ("\n  ..." if len(dup_targets) > 20 else ""), stacklevel=2)
    idx = torch.tensor(keep, dtype=torch.long)
    pool_set = ImageSet([b.files[i] for i in keep], b.images[idx], [b.hashes[i] for i in keep], b.skipped)
    return MeasureInputs(a, pool_set, dup_targets, dup_pool)


def load_dataset(paths: list[str | Path], size: int, progress: bool = True) -> MeasureInputs:
    """Whole-dataset mode: one folder is both the targets and the pool (each part draws B and C from the others)."""
    a = read_set(paths, size, "dataset", progress)
    dups = identical_pairs(a)
    if dups:
        raise GanalyzeError("Some images of the dataset are identical to each other (same pixels at the working "
                            "size): one could be drawn as seen or unseen while the other is measured. Remove one of "
                            "each pair:\n  " + "\n  ".join(dups[:20]))
    return MeasureInputs(a, a, [], [])
