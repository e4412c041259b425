"""Transformers: (z, y, alpha) -> z', trained by GANalyze. See `base.Transformer` for the contract."""

from ..registry import Registry

TRANSFORMERS = Registry("transformer")

# All three are small enough to run in well under a second on a CPU, so all are tiny entries for tests.
TRANSFORMERS.add("one_direction", "ganalyze_mem.transformers.one_direction:OneDirection", tiny=True,
                 help="GANalyze: one learned direction for every class")
TRANSFORMERS.add("class_dependent", "ganalyze_mem.transformers.class_dependent:ClassDependent", tiny=True,
                 help="GANalyze: one learned direction per class (linear in the one-hot class vector)")
TRANSFORMERS.add("nonlinear", "ganalyze_mem.transformers.nonlinear:Nonlinear", tiny=True,
                 help="an MLP of (z, class, alpha) gives the step: direction may depend on z and alpha")
