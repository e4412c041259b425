"""The three stages of a MachineMem measurer episode (Han et al., section 3, equations 1 and 2).

(a) observe: rotation prediction (Gidaris et al. 2018) over sets A and B. Every image of a batch is shown in all four
    rotations and the loss is the mean cross-entropy over them (equation 1); conventional machines predict the
    2-class grouping 0/90 vs 180/270. A batch of size 1 is one image (four rotated copies).
(b) recognise: a 2-way head learns seen (B, label 1) vs unseen (C, label 0) (equation 2), training the whole machine.
(c) detect: after every epoch of (b), predict seen/unseen for set A.

Training uses SGD with momentum and weight decay and a cosine learning-rate schedule per stage (appendix B).
Images travel as uint8 tensors (a quarter of the memory) and become float [0, 1] batch by batch.

The paper forces stage (a) to reach top-1 accuracy >= 80 %; `pretext_stage` with ``min_accuracy`` keeps training
after the configured epochs, in rounds of half as many epochs, each a cosine schedule from a tenth of the learning
rate (`EXTEND_LR`), until the bar is met or ``max_epochs`` are spent. A restart at the full rate undoes what the
schedule's low-rate end fitted: on the demo photos (tiny_cnn, 146 images, 15 epochs at 0.2 reaching 0.80-0.86),
8 more epochs from 0.2 ended at 0.61-0.82, from 0.02 at 0.89-0.93.

``precision="bf16"`` runs forward and backward passes under bfloat16 autocast with channels_last tensors (weights
and optimiser state stay float32): about twice the speed on CPUs with AVX512-BF16/AMX and on GPUs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import torch
from torch import nn

from ..core.devices import autocast
from ..errors import GanalyzeError

EVAL_BATCH = 256
EXTEND_LR = 0.1  # the rotation bar's extra rounds start from this fraction of the stage-(a) learning rate


def rotate(x: torch.Tensor, classes: int = 4) -> tuple[torch.Tensor, torch.Tensor]:
    """All four rotations of each image (0, 90, 180, 270 degrees counter-clockwise) and their labels:
    the rotation index for 4 classes, or 0 for {0, 90} and 1 for {180, 270} for 2 classes."""
    if x.shape[-1] != x.shape[-2]:
        raise ValueError("rotation prediction needs square images")
    views = torch.cat([torch.rot90(x, k, dims=(2, 3)) for k in range(4)])
    labels = torch.arange(4, device=x.device).repeat_interleave(len(x))
    if classes == 2:
        labels = labels // 2
    elif classes != 4:
        raise ValueError(f"rotation prediction has 2 or 4 classes, not {classes}")
    return views, labels


def as_float(images_u8: torch.Tensor, device: str | torch.device, precision: str = "fp32") -> torch.Tensor:
    x = images_u8.to(device, non_blocking=True).float().div_(255.0)
    return x.contiguous(memory_format=torch.channels_last) if precision == "bf16" and x.ndim == 4 else x


def prepare(machine: nn.Module, precision: str = "fp32") -> nn.Module:
    """The machine in the memory format its precision runs fastest with."""
    return machine.to(memory_format=torch.channels_last) if precision == "bf16" else machine


def batches(n: int, batch_size: int, generator: torch.Generator) -> Iterator[torch.Tensor]:
    """A fresh random order of range(n), cut into batches (the last one may be smaller)."""
    order = torch.randperm(n, generator=generator)
    yield from order.split(batch_size)


def criterion(machine: nn.Module) -> nn.Module:
    return nn.MultiMarginLoss() if getattr(machine, "loss", "ce") == "hinge" else nn.CrossEntropyLoss()


def optimizer(machine: nn.Module, lr: float, momentum: float, weight_decay: float, total_steps: int):
    opt = torch.optim.SGD(machine.parameters(), lr=lr, momentum=momentum, weight_decay=weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, total_steps))
    return opt, sched


def train_epochs(machine: nn.Module, n: int, make_batch: Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]],
                 epochs: int, batch_size: int, lr: float, momentum: float, weight_decay: float,
                 generator: torch.Generator, after_epoch: Callable[[int, float], None] | None = None,
                 precision: str = "fp32", first_epoch: int = 0) -> None:
    """SGD over `epochs` passes of `n` examples in random order; `make_batch(indices)` gives (inputs, labels)."""
    steps_per_epoch = -(-n // batch_size)
    opt, sched = optimizer(machine, lr, momentum, weight_decay, epochs * steps_per_epoch)
    loss_fn = criterion(machine)
    for epoch in range(epochs):
        machine.train()
        total, count = 0.0, 0
        for idx in batches(n, batch_size, generator):
            x, y = make_batch(idx)
            try:
                with autocast(x.device, precision):
                    out = machine(x)
                loss = loss_fn(out.float(), y)
            except ValueError as e:
                if "more than 1 value per channel" not in str(e):
                    raise
                raise GanalyzeError(f"BatchNorm needs more than one value per channel: at {x.shape[-1]} px a "
                                    f"batch of {len(x)} leaves a 1 x 1 feature map. Raise --image-size (224 for "
                                    "torchvision machines) or --batch-size.") from None
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            total += float(loss.detach()) * len(idx)
            count += len(idx)
        if after_epoch is not None:
            after_epoch(first_epoch + epoch, total / max(count, 1))


def pretext_stage(machine: nn.Module, images_u8: torch.Tensor, epochs: int, batch_size: int, lr: float,
                  momentum: float, weight_decay: float, generator: torch.Generator, device: str | torch.device,
                  after_epoch: Callable[[int, float], None] | None = None, precision: str = "fp32",
                  min_accuracy: float | None = None, max_epochs: int | None = None) -> float:
    """Stage (a): train rotation prediction on `images_u8` (sets A and B); return top-1 accuracy over all their
    rotations afterwards, with the machine in eval mode. With `min_accuracy`, training goes on in rounds of
    ceil(epochs / 2) epochs (each a cosine schedule from lr * EXTEND_LR) until the accuracy reaches it or
    `max_epochs` epochs are done; `after_epoch` counts the epochs actually run."""
    classes = machine.pretext_classes

    def make_batch(idx):
        return rotate(as_float(images_u8[idx], device, precision), classes)

    def train(n_epochs: int, first: int, rate: float) -> None:
        train_epochs(machine, len(images_u8), make_batch, n_epochs, batch_size, rate, momentum, weight_decay,
                     generator, after_epoch, precision, first)

    if epochs > 0:
        train(epochs, 0, lr)
    accuracy = rotation_accuracy(machine, images_u8, device, precision)
    done, cap = epochs, max(epochs, max_epochs or 0)
    while min_accuracy is not None and epochs > 0 and accuracy < min_accuracy and done < cap:
        extra = min(max(1, -(-epochs // 2)), cap - done)
        train(extra, done, lr * EXTEND_LR)
        done += extra
        accuracy = rotation_accuracy(machine, images_u8, device, precision)
    return accuracy


@torch.no_grad()
def rotation_accuracy(machine: nn.Module, images_u8: torch.Tensor, device: str | torch.device,
                      precision: str = "fp32") -> float:
    machine.eval()
    hits = 0
    for start in range(0, len(images_u8), EVAL_BATCH):
        x, y = rotate(as_float(images_u8[start:start + EVAL_BATCH], device, precision), machine.pretext_classes)
        with autocast(device, precision):
            out = machine(x)
        hits += int((out.float().argmax(1) == y).sum())
    return hits / (4 * len(images_u8))


def seen_stage(machine: nn.Module, seen_u8: torch.Tensor, unseen_u8: torch.Tensor, epochs: int, batch_size: int,
               lr: float, momentum: float, weight_decay: float, generator: torch.Generator,
               device: str | torch.device, after_epoch: Callable[[int, float], None], precision: str = "fp32") -> None:
    """Stage (b): a 2-way seen (label 1) / unseen (label 0) classifier trained on B and C; `after_epoch(epoch,
    loss)` runs stage (c) after every epoch."""
    images = torch.cat([seen_u8, unseen_u8])
    labels = torch.cat([torch.ones(len(seen_u8)), torch.zeros(len(unseen_u8))]).long().to(device)

    def make_batch(idx):
        return as_float(images[idx], device, precision), labels[idx.to(device)]

    train_epochs(machine, len(images), make_batch, epochs, batch_size, lr, momentum, weight_decay, generator,
                 after_epoch, precision)


@torch.no_grad()
def predict_seen(machine: nn.Module, images_u8: torch.Tensor, device: str | torch.device,
                 precision: str = "fp32") -> torch.Tensor:
    """Stage (c): the probability that each image was seen (softmax of the 2-way head, eval mode), as float32 CPU."""
    machine.eval()
    out = []
    for start in range(0, len(images_u8), EVAL_BATCH):
        with autocast(device, precision):
            logits = machine(as_float(images_u8[start:start + EVAL_BATCH], device, precision))
        out.append(torch.softmax(logits.float(), dim=1)[:, 1].cpu())
    return torch.cat(out) if out else torch.zeros(0)
