"""Assessors: images in [0, 1] -> one score per image. See `base.Assessor` for the contract."""

from functools import partial

from ..registry import Registry
from .folders import ready_folder

ASSESSORS = Registry("assessor")

# Pixel statistics: no weights, differentiable; positive controls for training.
for _name, _cls, _help in [
    ("brightness", "Brightness", "mean HSV value in [0, 1] (positive control)"),
    ("saturation", "Saturation", "mean HSV saturation in [0, 1] (positive control)"),
    ("contrast", "Contrast", "RMS luminance contrast in [0, 0.5] (positive control)"),
    ("colorfulness", "Colorfulness", "Hasler & Suesstrunk colourfulness (positive control)"),
]:
    ASSESSORS.add(_name, f"ganalyze_mem.assessors.attributes:{_cls}", help=_help, tiny=True)

# HumanMem: ResMem with the weights shipped in the `resmem` wheel (non-commercial licence).
ASSESSORS.add("humanmem", "ganalyze_mem.assessors.humanmem:humanmem",
              help="ResMem human memorability in (0, 1); weights from the resmem wheel; not for faces")
# EmoNet valence, GANalyze's second assessor, from its published checkpoint.
ASSESSORS.add("valence", "ganalyze_mem.assessors.valence:valence", weights="ganalyze_mem.weight_specs:valence_spec",
              help="EmoNet emotional valence (GANalyze's ResNet-50), ten-crop average")
# MachineMem predictors, one preset per backbone (resnet50 is the paper's); weights from a predictor folder.
for _b in ("resnet50", "resnet18", "resnet152", "alexnet", "vgg16", "densenet121", "wide_resnet50_2", "maxvit_t"):
    ASSESSORS.add(_b, "ganalyze_mem.assessors.machinemem:machinemem", name=_b, backbone=_b, family="machinemem",
                  weights="ganalyze_mem.weight_specs:predictor_spec", ready=partial(ready_folder, _b),
                  help=f"MachineMem predictor, {_b} backbone" + (" (the paper's)" if _b == "resnet50" else ""))
ASSESSORS.add("machinemem-tiny", "ganalyze_mem.assessors.machinemem:random_predictor", tiny=True, family="machinemem",
              name="machinemem-tiny", backbone="resnet18", image_size=32,
              help="MachineMem predictor architecture (resnet18, 32 px) with fixed RANDOM weights: tests only")
# Predictor folders (assessors/<NAME>/card.json, $GANALYZE_MEM_WEIGHTS/<NAME>/card.json) by folder name.
from .folders import register_predictor_folders  # noqa: E402

register_predictor_folders(ASSESSORS)
