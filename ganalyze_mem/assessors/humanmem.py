"""HumanMem assessor: ResMem (Needell & Bainbridge, 2022), a predictor of human image memorability.

ResMem concatenates an AlexNet-like convolutional branch (9216 features) with the 1000 logits of a ResNet-152 that was
retrained with the rest of the model, and maps them through a stack of linear layers to a sigmoid score in (0, 1).
The package's own preprocessing is: resize to 256 x 256, centre-crop 227 x 227, values in [0, 1] with no mean/std
normalisation. Here that preprocessing runs differentiably inside `forward`, so GANalyze can back-propagate through it.

Weights come from the installed ``resmem`` wheel (``model.pt``, found without importing it:
`weight_specs.resmem_weights`) and load with ``weights_only=True`` and ``strict=True``. The architecture is built
here from torchvision's ``resnet152(weights=None)``
so that nothing is ever downloaded (the package's constructor can ask torchvision for ImageNet weights).

Known limits (from the ResMem release notes): predictions clip at about 0.411 for the least memorable ~0.5% of images,
and the model was not trained for faces (face memorability is a different problem).

The inner ResNet-152 is still an ImageNet classifier on un-normalised [0, 1] input; `HumanMem.classify` exposes it
(GANalyze uses it to check that a strip keeps its class).
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ..weight_specs import resmem_weights as packaged_weights  # found without importing resmem
from ..weights import load_into, load_state_dict
from .base import Assessor

# Imported inside functions, to keep `ganalyze-mem --help` and `import ganalyze_mem` fast: `torchvision`.

RESIZE = 256  # the package resizes to 256 x 256 (aspect ratio not kept) ...
CROP = 227  # ... then centre-crops 227 x 227
FLOOR = 0.411  # scores clip near this value for the least memorable images
CROP_OFFSET = int(round((RESIZE - CROP) / 2.0))  # torchvision's CenterCrop rule (round half to even): 14


class ResMemNet(nn.Module):
    """ResMem's network, with the package's module names so its state dict loads strictly. Input: 227 x 227 crops."""

    def __init__(self, width: int = 384):
        super().__init__()
        import torchvision

        self.features = torchvision.models.resnet152(weights=None)
        # AlexNet-like branch (grouped convolutions as in the original two-GPU AlexNet).
        self.conv1 = nn.Conv2d(3, 48, kernel_size=11, stride=4)
        self.pool1 = nn.MaxPool2d(3, 2)
        self.lrn1 = nn.LocalResponseNorm(5)
        self.conv2 = nn.Conv2d(48, 256, kernel_size=5, padding=2, groups=2)
        self.pool2 = nn.MaxPool2d(3, 2)
        self.lrn2 = nn.LocalResponseNorm(5)
        self.conv3 = nn.Conv2d(256, width, kernel_size=3, padding=1, groups=2)
        self.conv4 = nn.Conv2d(width, width, kernel_size=3, padding=1, groups=2)
        self.conv5 = nn.Conv2d(width, 256, kernel_size=3, padding=1, groups=2)
        self.pool5 = nn.MaxPool2d(3, 2)
        sizes = [9216 + 1000, 4096, 4096, 2048, 1024, 512, 256, 1]
        for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
            setattr(self, f"fc{i + 6}", nn.Linear(n_in, n_out))

    def conv_features(self, x: torch.Tensor) -> torch.Tensor:
        # Local response normalisation squares activations: kept in float32 so float16 autocast cannot overflow.
        h = self.lrn1(self.pool1(F.relu(self.conv1(x))).float())
        h = self.lrn2(self.pool2(F.relu(self.conv2(h))).float())
        h = F.relu(self.conv3(h))
        h = F.relu(self.conv4(h))
        h = self.pool5(F.relu(self.conv5(h)))
        return h.flatten(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.cat([self.conv_features(x), self.features(x)], dim=1)
        for i in range(6, 12):  # dropout layers of the original are identity at evaluation
            h = F.relu(getattr(self, f"fc{i}")(h))
        return torch.sigmoid(self.fc12(h)).squeeze(1)


class HumanMem(Assessor):
    """ResMem memorability in (0, 1), on any image size (resized to 256 x 256 and centre-cropped inside forward)."""

    name = "humanmem"
    score_range = (0.0, 1.0)
    higher_is = "more memorable (to people)"
    input_size = RESIZE
    floor = FLOOR

    def __init__(self, weights: str | os.PathLike | None = None):
        super().__init__()
        path = Path(weights).expanduser() if weights is not None else packaged_weights()
        if path.is_dir():
            path = path / "model.pt"
        self.net = ResMemNet()
        state = load_state_dict(path)  # weights_only=True; clear errors for damaged files
        load_into(self.net, state, path)  # strict, with a readable key mismatch report
        self.weights_path = path
        self.freeze()

    @staticmethod
    def preprocess(images: torch.Tensor) -> torch.Tensor:
        """The package's resize(256, 256) + centre crop 227, differentiable (bilinear with antialiasing like PIL)."""
        if images.shape[-2:] != (RESIZE, RESIZE):
            images = F.interpolate(images, size=(RESIZE, RESIZE), mode="bilinear", align_corners=False,
                                   antialias=True)
        return images[..., CROP_OFFSET:CROP_OFFSET + CROP, CROP_OFFSET:CROP_OFFSET + CROP]

    def score(self, images: torch.Tensor) -> torch.Tensor:
        return self.net(self.preprocess(images))

    def score_crops(self, crops: torch.Tensor) -> torch.Tensor:
        """Scores of already preprocessed N x 3 x 227 x 227 crops (the package's own input)."""
        return self.net(crops)

    def classify(self, images: torch.Tensor) -> torch.Tensor:
        """ImageNet logits (N x 1000) of ResMem's inner ResNet-152, on [0, 1] images with ResMem's preprocessing."""
        return self.net.features(self.preprocess(images))


def humanmem(weights: str | os.PathLike | None = None) -> HumanMem:
    """Registry factory: ResMem with the weights from the resmem wheel (or an explicit ``model.pt``)."""
    return HumanMem(weights)
