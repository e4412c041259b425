"""Defaults of every validation study, in one light module (no numpy or torch) shared by the CLI and the Python API.

Each study module re-exports its own config (``from ganalyze_mem.validation.shapes import ShapesConfig``).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import GanalyzeError

MIN_RESAMPLES = 99  # fewer permutations or bootstrap draws give no usable p-value or interval


def _check_resamples(n: int) -> None:
    if not isinstance(n, int) or n < MIN_RESAMPLES:
        raise GanalyzeError(f"--resamples must be at least {MIN_RESAMPLES}, got {n!r} (9999 is the default).")


@dataclass
class ShapesConfig:
    """Defaults of the shapes study, shared by the CLI and the Python API."""

    per_set: int = 25  # base images per set, before rotation (the paper's 25)
    size: int = 256  # image side in pixels
    seed: int = 0
    resamples: int = 9999  # permutation test and bootstrap

    def __post_init__(self) -> None:
        _check_resamples(self.resamples)


@dataclass
class RenderConfig:
    """Defaults for rendering a scene, shared by the CLI and the Python API."""

    views: int = 100  # cameras, spread evenly over the sphere (Fibonacci lattice)
    size: int = 200  # image side in pixels
    fov: float = 40.0  # horizontal field of view in degrees (camera_angle_x)
    distance: float = 3.0  # camera distance in units of the object's bounding-sphere radius
    min_elevation: float = -60.0  # degrees; views from far below a resting object are rarely wanted
    seed: int = 0  # rotates the lattice about the vertical axis


@dataclass
class NerfViewsConfig:
    """Defaults of the viewing-angle study, shared by the CLI and the Python API."""

    top: int = 10  # views shown at each end (the paper's top-10 / bottom-10)
    splits: str = "train,val,test"  # which splits of a NeRF-synthetic scene to read
    render: RenderConfig | None = None  # used when an object is rendered
    resamples: int = 2000  # bootstrap resamples of each rho's 95% interval


@dataclass
class FoodConfig:
    """Defaults of the two-set (food) study, shared by the CLI and the Python API."""

    names: tuple[str, str] = ("tasty", "not tasty")
    seed: int = 0
    resamples: int = 9999
    examples: int = 5  # top and bottom images shown per set

    def __post_init__(self) -> None:
        _check_resamples(self.resamples)


@dataclass
class AttributesConfig:
    """Defaults of the attributes study, shared by the CLI and the Python API."""

    groups: int = 10  # score groups of Figure 3
    max_side: int = 512  # attributes are computed on images downscaled to this longer side (0 = full size)
    only: str = ""  # comma-separated subset of attribute names ('' = every one)
    device: str = "cpu"  # for assessor-based attributes (HumanMem, aesthetics, valence)
    batch_size: int = 16
    resamples: int = 2000  # bootstrap resamples of each rho's 95% interval


@dataclass
class ClassesConfig:
    """Defaults of the classes study, shared by the CLI and the Python API."""

    top: int = 5  # classes shown at each end (the paper's top-5 / bottom-5)
    examples: int = 4  # example images per shown class
    max_per_class: int = 0  # 0 = every image; else a seeded random subset per class
    min_per_class: int = 1  # classes with fewer images are left out
    seed: int = 0


@dataclass
class MachinesConfig:
    """Defaults of the cross-machine study, shared by the CLI and the Python API."""

    key: str = "auto"  # match rows by 'path', 'name' (file name) or 'auto' (path when they overlap enough)
    resamples: int = 1000  # bootstrap resamples (of the images) for the intervals of rho
    seed: int = 0
