"""One reader for the backbone checkpoints that ``--init`` takes, shared by the measurer's machines (the paper's
pre-training study, section 6.2) and the predictor (appendix C starts from MoCo v2).

Layouts understood, always read with ``torch.load(weights_only=True)`` (or safetensors):
- MoCo v2 (He et al. 2020; Chen et al. 2020): ``state_dict`` with ``module.encoder_q.*`` (the query encoder, kept),
  ``module.encoder_k.*`` and the queue (dropped); the encoder's ``fc`` is the 2-layer projection MLP (dropped).
- MoCo v3 (Chen et al. 2021): ``state_dict`` with ``module.base_encoder.*`` (kept), ``module.momentum_encoder.*`` and
  ``module.predictor.*`` (dropped); the encoder's ``fc``/``head`` is the projector (dropped).
- torchvision and timm: a plain state dict with the network's own names; the classifier is dropped.
- Lightning: ``state_dict`` beside training metadata, keys under one prefix such as ``model.`` or ``backbone.``
  (removed); non-tensor entries are ignored.
- DataParallel's ``module.`` and other shared prefixes (``model.``, ``backbone.``, ``encoder.``, ``net.``).

The network's head (its last layer, whatever its shape in the file) always keeps its own fresh initialisation;
projector/predictor keys the network does not have are dropped; every other key must match exactly. The report
says which layout was found, how many tensors were kept and what was dropped, by group.
"""

from __future__ import annotations

import os
from collections import Counter
from typing import Any

import torch
from torch import nn

from .weights import load_into, load_state_dict

WRAPPERS = ("state_dict", "model", "model_state_dict", "module")
ENCODERS = (("module.encoder_q.", "moco_v2"), ("encoder_q.", "moco_v2"), ("module.base_encoder.", "moco_v3"),
            ("base_encoder.", "moco_v3"))
PREFIXES = ("module.", "model.", "backbone.", "encoder.", "net.")
PROJECTORS = ("projector", "predictor", "head", "fc", "classifier", "momentum_encoder", "encoder_k", "queue",
              "queue_ptr")


def _group(key: str) -> str:
    return key.split(".")[0]


def encoder_state(obj: dict[str, Any]) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """The encoder's tensors from a checkpoint mapping, with its wrapper, encoder selection and shared prefixes
    removed; and a report of what was done."""
    info: dict[str, Any] = {"layout": "plain", "wrapper": None, "prefixes_removed": [], "dropped": {}}
    lightning = any(k in obj for k in ("pytorch-lightning_version", "optimizer_states", "lr_schedulers"))
    for w in WRAPPERS:
        if w in obj and isinstance(obj[w], dict):
            obj, info["wrapper"] = obj[w], w
            break
    if lightning:
        info["layout"] = "lightning"
    state = {k: v for k, v in obj.items() if isinstance(v, torch.Tensor)}
    dropped: Counter[str] = Counter()
    for prefix, layout in ENCODERS:
        if any(k.startswith(prefix) for k in state):
            dropped.update(_group(k.removeprefix("module.")) for k in state if not k.startswith(prefix))
            state = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
            info["layout"] = layout
            break
    changed = True
    while changed and state:
        changed = False
        for prefix in PREFIXES:
            if all(k.startswith(prefix) for k in state):
                state = {k[len(prefix):]: v for k, v in state.items()}
                info["prefixes_removed"].append(prefix)
                changed = True
    info["dropped"] = dict(dropped)
    return state, info


def backbone_state(state: dict[str, torch.Tensor], net: nn.Module, head_keys: list[str]
                   ) -> tuple[dict[str, torch.Tensor], dict[str, int], int]:
    """`state` without the head (every key under the head's module, any shape) and without projector-like keys
    the network lacks, completed with the network's own head: (state to load strictly, dropped counts by group,
    tensors kept from the file)."""
    heads = {k.rsplit(".", 1)[0] + "." for k in head_keys}
    own = net.state_dict()
    dropped: Counter[str] = Counter()
    kept = {}
    for k, v in state.items():
        if any(k.startswith(h) for h in heads):
            dropped[f"{_group(k)} (head)"] += 1
        elif k not in own and _group(k) in PROJECTORS:
            dropped[_group(k)] += 1
        else:
            kept[k] = v
    n_kept = len(kept)
    kept.update({k: own[k] for k in head_keys})
    return kept, dict(dropped), n_kept


def load_backbone(net: nn.Module, head_keys: list[str], source: str | os.PathLike,
                  state: dict[str, Any] | None = None, expected: str | None = None, fix: str | None = None
                  ) -> dict[str, Any]:
    """Load every non-head tensor of the checkpoint at `source` (or the mapping `state`) into `net`, strictly;
    return the report (layout, kept, dropped)."""
    raw = load_state_dict(source) if state is None else state
    encoder, info = encoder_state(dict(raw))
    full, dropped, kept = backbone_state(encoder, net, head_keys)
    load_into(net, full, source, expected=expected, fix=fix or "Pass a checkpoint of the same architecture "
              "(torchvision/timm key names; MoCo v2/v3 and Lightning wrappers are unwrapped).")
    info["dropped"] = {**info["dropped"], **dropped}
    info.update(source=str(source), kept=kept, head_kept_fresh=list(head_keys))
    return info


def describe(report: dict[str, Any]) -> str:
    """One line for a person."""
    dropped = ", ".join(f"{k} ({v})" for k, v in report.get("dropped", {}).items()) or "nothing"
    return (f"--init {report['source']}: {report['layout']} layout, kept {report['kept']} tensors, dropped "
            f"{dropped}; the head starts fresh.")
