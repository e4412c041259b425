"""Several MachineMem episodes trained at once as one vectorised model (torch.func), for GPUs that a single
batch-1 episode leaves mostly idle (Han et al. train one image at a time, appendix B).

K episodes' machines are stacked with ``torch.func.stack_module_state`` (parameters *and* BatchNorm buffers: each
machine keeps its own running statistics; a shared buffer would mix episodes) and run with ``vmap`` over
``functional_call``. Each episode keeps everything it has in the sequential path: its seed, its sets, its initial
weights (drawn in the same order), its batch order and the same SGD-with-momentum and cosine schedule, written out
functionally. It is the same computation as `episode.run_episode`, but not bit for bit: batched kernels add in
another order. For tiny_cnn and linear machines the results agree to 1e-7; a randomly initialised ResNet-50 trained
at batch 1 amplifies float32 rounding (first-step gradients differ by 0.3 %, training then drifts), while in float64
its gradients agree exactly. So a vectorised run is statistically, not numerically, the same measurement as a
sequential one, and `vectorize` is part of a run's identity. Episodes are grouped by index (0..K-1, K..2K-1, ...),
so a resumed run recomputes whole groups and stays deterministic. The rotation bar is enforced as in the sequential
path: episodes under it train further rounds while the others sit frozen (no update, no draw from their shuffling
generators, their BatchNorm statistics restored), so each episode trains exactly as it would alone.

Machines with dropout or stochastic depth (alexnet, vgg16, maxvit_t) are refused: their random masks would need
per-episode generators inside vmap.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.func import functional_call, grad_and_value, stack_module_state, vmap

from ..core.devices import autocast
from ..errors import GanalyzeError
from .calibration import seen_calibration_error
from .config import MeasureConfig
from .episode import EpisodeData, heldout_size, reproducible
from .sampling import episode_seed, sample_sets
from .stages import EVAL_BATCH, EXTEND_LR, as_float, rotate

# Imported inside functions, to keep `ganalyze-mem --help` and `import ganalyze_mem` fast: modules of ours that load
# torch or the model registries.

STOCHASTIC = ("Dropout", "StochasticDepth", "DropPath")


def _check_deterministic(machine: nn.Module) -> None:
    for name, mod in machine.named_modules():
        p = getattr(mod, "p", getattr(mod, "drop_prob", 0.0))
        if any(s in type(mod).__name__ for s in STOCHASTIC) and p:
            raise GanalyzeError(f"--vectorize cannot run {machine.name}: its layer {name} ({type(mod).__name__}) "
                                "draws random masks. Use --vectorize 1 for this machine.")


def _cosine_lrs(lr: float, steps: int) -> list[float]:
    """The learning rate of every step under torch's CosineAnnealingLR (same rounding as the sequential path)."""
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, steps))
    out = []
    for _ in range(steps):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return out


class Stack:
    """K machines as stacked parameters and buffers around one stateless copy of the architecture."""

    def __init__(self, machines: list[nn.Module]):
        self.base = copy.deepcopy(machines[0]).to("meta")
        self.loss_name = machines[0].loss
        self.params, self.buffers = stack_module_state(machines)
        self.params = {k: v.detach() for k, v in self.params.items()}

    def _forward(self, p, b, x):
        return functional_call(self.base, (p, b), (x,))

    def predict(self, x: torch.Tensor, shared: bool) -> torch.Tensor:
        self.base.eval()
        return vmap(self._forward, in_dims=(0, 0, None if shared else 0))(self.params, self.buffers, x)

    def train(self, n: int, make_batch, epochs: int, batch_size: int, lr: float, momentum: float, wd: float,
              generators: list[torch.Generator], after_epoch, precision: str = "fp32",
              active: list[bool] | None = None) -> None:
        """`active[i]` False: machine i is left exactly as it is (for the rotation bar's extra rounds)."""
        loss_fn = nn.MultiMarginLoss() if self.loss_name == "hinge" else nn.CrossEntropyLoss()
        active = active or [True] * len(generators)
        device = next(iter(self.params.values())).device
        mask = torch.tensor(active, device=device)
        frozen_buffers = {k: v.clone() for k, v in self.buffers.items()} if not all(active) else None

        def loss(p, b, x, y):
            with autocast(device, precision):
                out = self._forward(p, b, x)
            return loss_fn(out.float(), y)

        step_grad = vmap(grad_and_value(loss), in_dims=(0, 0, 0, 0))
        lrs = _cosine_lrs(lr, epochs * -(-n // batch_size))
        momenta: dict[str, torch.Tensor] = {}
        step = 0
        for epoch in range(epochs):
            self.base.train()
            orders = [(torch.randperm(n, generator=g) if on else torch.arange(n)).split(batch_size)
                      for g, on in zip(generators, active, strict=True)]
            totals = torch.zeros(len(generators), dtype=torch.float64)
            for chunks in zip(*orders, strict=True):
                x, y = make_batch(chunks)
                grads, values = step_grad(self.params, self.buffers, x, y)
                for k, p in self.params.items():  # torch.optim.SGD, written out for stacked parameters
                    d = grads[k] + wd * p
                    momenta[k] = d.clone() if k not in momenta else momenta[k].mul_(momentum).add_(d)
                    if frozen_buffers is None:
                        p.sub_(lrs[step] * momenta[k])
                    else:
                        p.sub_(lrs[step] * momenta[k] * mask.view(-1, *[1] * (p.ndim - 1)).to(p.dtype))
                step += 1
                totals += values.detach().cpu().double() * len(chunks[0])
            if frozen_buffers is not None:
                for k, b in self.buffers.items():
                    keep = mask.view(-1, *[1] * (b.ndim - 1))
                    b.copy_(torch.where(keep, b, frozen_buffers[k]))
            after_epoch(epoch, (totals / n).tolist(), active)


def run_vectorized(data: EpisodeData, options: dict[str, Any], indices: list[int], part: int = 0
                   ) -> list[dict[str, Any]]:
    """Episodes `indices` of `part` trained together; returns the same records as `run_episode` (in index order)."""
    from ..machines import create_machine

    config = MeasureConfig(**options)
    device = torch.device(config.device)
    precision = config.precision
    k = len(indices)
    seeds = [episode_seed(config.seed, i, part) for i in indices]
    target_idx, pool_idx = data.part(part)
    targets = data.targets[target_idx]
    h = heldout_size(config, len(targets))
    sets = [sample_sets(len(pool_idx), config.set_size, s, h) for s in seeds]

    class _Pool:  # pool[idx] reads only the drawn images of this part's pool
        def __getitem__(self, idx: torch.Tensor) -> torch.Tensor:
            return data.pool[pool_idx[idx]]

    pool = _Pool()
    with reproducible(device):
        machines, heads = [], []
        for s in seeds:
            with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
                torch.manual_seed(s)
                m = create_machine(config.machine, config.image_size, config.init)
                _check_deterministic(m)
                if not m.keep_head:  # the stage-(b) head draws next from the same stream, as in run_episode
                    twin = copy.deepcopy(m)
                    twin.replace_head(2)
                    keys = twin.head_keys()
                    heads.append({n: p.detach() for n, p in twin.net.named_parameters() if n in keys})
            machines.append(m.to(device))
        shuffles = [torch.Generator().manual_seed(s ^ 0x5EED) for s in seeds]
        stack = Stack(machines)
        classes = machines[0].pretext_classes
        pretext = torch.stack([torch.cat([targets, pool[st.seen], pool[st.heldout_seen]]) for st in sets])
        losses = [{"pretext": [], "seen": []} for _ in range(k)]

        def record(stage):
            def after(epoch, values, active=None):
                for i, v in enumerate(values):
                    if active is None or active[i]:
                        losses[i][stage].append(v)
            return after

        def pretext_batch(chunks):
            views = [rotate(as_float(pretext[i][c], device, precision), classes) for i, c in enumerate(chunks)]
            return torch.stack([v[0] for v in views]), torch.stack([v[1] for v in views])

        def pretext_train(epochs: int, active: list[bool] | None = None, rate: float = 1.0) -> None:
            stack.train(pretext.shape[1], pretext_batch, epochs, config.batch_size, config.lr * rate,
                        config.momentum, config.weight_decay, shuffles, record("pretext"), precision, active)

        if config.pretext_epochs > 0:
            pretext_train(config.pretext_epochs)
        accuracy = _rotation_accuracy(stack, pretext, classes, device, precision)
        done, cap = config.pretext_epochs, config.pretext_cap()
        while config.enforce_bar and config.pretext_epochs > 0 and done < cap:  # the same rounds as pretext_stage
            active = [a < config.min_pretext_accuracy for a in accuracy]
            if not any(active):
                break
            extra = min(max(1, -(-config.pretext_epochs // 2)), cap - done)
            pretext_train(extra, active, EXTEND_LR)
            done += extra
            after = _rotation_accuracy(stack, pretext, classes, device, precision)
            accuracy = [b if on else a for a, b, on in zip(accuracy, after, active, strict=True)]
        if not heads:  # keep_head machines (linear, svm): a neutral start, as Machine.neutralize_head
            for key in [k for k in stack.params if k.startswith("net.")
                        and k.removeprefix("net.") in machines[0].head_keys()]:
                v = stack.params[key]
                stack.params[key] = v.mean(1, keepdim=True).expand_as(v).clone()
        if heads:
            with torch.device("meta"):  # a shape-only head: draws nothing from any generator
                stack.base.replace_head(2)
            for name in heads[0]:
                stack.params["net." + name] = torch.stack([hd[name] for hd in heads]).to(device)
        seen_images = torch.stack([torch.cat([pool[st.seen], pool[st.unseen]]) for st in sets])
        n = config.set_size
        labels = torch.cat([torch.ones(n), torch.zeros(n)]).long().to(device)
        held = torch.stack([torch.cat([pool[st.heldout_seen], pool[st.heldout_unseen]]) for st in sets])
        held_labels = np.r_[np.ones(h), np.zeros(h)]
        calib: list[list[float]] = [[] for _ in range(k)]
        p_by_epoch: list[torch.Tensor] = []

        def seen_batch(chunks):
            x = torch.stack([as_float(seen_images[i][c], device, precision) for i, c in enumerate(chunks)])
            return x, torch.stack([labels[c.to(device)] for c in chunks])

        def after_seen(epoch, values, active=None):
            record("seen")(epoch, values)
            p_a = _p_seen(stack, targets, device, shared=True, precision=precision)
            p_h = _p_seen(stack, held, device, shared=False, precision=precision) if h else None
            for i in range(k):
                err = (seen_calibration_error(p_h[i], held_labels, config.bin_size) if h
                       else seen_calibration_error(p_a[i], np.ones(p_a.shape[1]), config.bin_size))
                calib[i].append(err)
            p_by_epoch.append(p_a)

        stack.train(2 * n, seen_batch, config.seen_epochs, config.batch_size, config.seen_lr, config.momentum,
                    config.weight_decay, shuffles, after_seen, precision)
    out = []
    for i, index in enumerate(indices):
        errors = np.asarray(calib[i])
        chosen = int(np.nanargmin(errors)) if np.isfinite(errors).any() else len(errors) - 1
        p = p_by_epoch[chosen][i].numpy().astype(np.float32)
        out.append({"part": int(part), "index": int(index), "seed": seeds[i], "pretext_accuracy": float(accuracy[i]),
                    "pretext_epochs": len(losses[i]["pretext"]),
                    "pretext_losses": losses[i]["pretext"], "seen_losses": losses[i]["seen"],
                    "calibration_errors": [float(e) for e in calib[i]], "chosen_epoch": chosen + 1,
                    "seen": (p > 0.5).astype(np.uint8).tolist(), "p_seen": p.tolist(), "seconds": 0.0})
    return out


@torch.no_grad()
def _rotation_accuracy(stack: Stack, images: torch.Tensor, classes: int, device, precision: str = "fp32"
                       ) -> list[float]:
    hits = torch.zeros(images.shape[0], dtype=torch.float64)
    for start in range(0, images.shape[1], EVAL_BATCH):
        views = [rotate(as_float(x[start:start + EVAL_BATCH], device, precision), classes) for x in images]
        x, y = torch.stack([v[0] for v in views]), torch.stack([v[1] for v in views])
        with autocast(device, precision):
            out = stack.predict(x, shared=False)
        hits += (out.float().argmax(-1) == y).sum(1).cpu().double()
    return (hits / (4 * images.shape[1])).tolist()


@torch.no_grad()
def _p_seen(stack: Stack, images: torch.Tensor, device, shared: bool, precision: str = "fp32") -> torch.Tensor:
    """p(seen) per machine: K x N (float32, CPU)."""
    n = images.shape[0] if shared else images.shape[1]
    out = []
    for start in range(0, n, EVAL_BATCH):
        x = images[start:start + EVAL_BATCH] if shared else images[:, start:start + EVAL_BATCH]
        with autocast(device, precision):
            logits = stack.predict(as_float(x, device, precision), shared=shared)
        out.append(torch.softmax(logits.float(), dim=-1)[..., 1].cpu())
    return torch.cat(out, dim=1)
