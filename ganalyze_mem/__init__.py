"""ganalyze-mem: what makes an image memorable to machines and to people.

Implements the MachineMem measurer and predictor of Han et al. ("What Images are More Memorable to Machines?"),
GANalyze (Goetschalckx et al., ICCV 2019) with swappable assessors, and the paper's validation studies.
"""

__version__ = "0.1.0"
