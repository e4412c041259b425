"""Assessors: images in [0, 1] -> one score per image. See `base.Assessor` for the contract."""

from ..registry import Registry

ASSESSORS = Registry("assessor")

# Pixel statistics: no weights, differentiable; positive controls for training.
for _name, _cls, _help in [
    ("brightness", "Brightness", "mean HSV value in [0, 1] (positive control)"),
    ("saturation", "Saturation", "mean HSV saturation in [0, 1] (positive control)"),
    ("contrast", "Contrast", "RMS luminance contrast in [0, 0.5] (positive control)"),
    ("colorfulness", "Colorfulness", "Hasler & Suesstrunk colourfulness (positive control)"),
]:
    ASSESSORS.add(_name, f"ganalyze_mem.assessors.attributes:{_cls}", help=_help, tiny=True)
