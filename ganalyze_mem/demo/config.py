"""The demo's settings and state: the size presets (`SIZES`), `DemoConfig` (shared by the CLI and the API), the
paper's claims the answer tests, and `Demo` (a run folder with ``demo_state.json``, reopened to resume)."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..errors import GanalyzeError
from ..rundir import atomic_write_text

DATA = Path(__file__).resolve().parent.parent / "data" / "demo"
STATE = "demo_state.json"
PREDICTOR_NAME = "demo-machinemem"
ALSO_SCORE = "humanmem,brightness,contrast"
# The paper's claim (Han et al., abstract and section 5.3): complex images are more memorable to machines.
# factor -> (expected sign along "more memorable", what the paper says)
CLAIMS = {
    "n_objects": (+1, "more objects"),
    "contrast": (+1, "more contrast"),
    "brightness": (-1, "darker"),
}
# claims that an assessor also measures on the pixels (the `score:NAME` rows of the factor analysis)
PIXEL_CLAIMS = ("contrast", "brightness")


@dataclass
class DemoSize:
    """How much work each stage does; `SIZES` holds the named presets."""

    images_per_half: int | None  # None: every demo photo
    measure: dict[str, Any]
    fit: dict[str, Any]
    train: dict[str, Any]
    strips: dict[str, Any]
    factor_seeds: int
    shapes_per_set: int
    nerf: dict[str, Any]
    attributes_only: str  # attributes to compute ('' = all the study can compute offline)
    replicates: int = 3  # independent training seeds of the stages that decide the answer (train, factors)


SIZES: dict[str, DemoSize] = {
    # under 10 minutes on 2 CPU cores: 3 min 17 s idle, 363 CPU-s (measure 91 s wall, train: 3 replicates, 52 s)
    "small": DemoSize(
        images_per_half=None,
        # the faithful protocol: every photo in parts of |A| = n = 80 against the rest, the 80 % rotation bar met;
        # the continuous score (mean p(seen)), with episodes added until every part's split-half reaches 0.7
        measure=dict(machine="tiny_cnn_lite", episodes=20, set_size=80, image_size=32, batch_size=32, pretext_epochs=20,
                     seen_epochs=10, bin_size=10, precision="bf16", score="continuous", whole_dataset=True,
                     until_reliability=0.7, max_episodes=40, bootstrap=500, workers=2),
        fit=dict(backbone="resnet18", image_size=48, epochs=12, batch_size=32, lr=0.01, val_fraction=0.2),
        # nonlinear: the seeds' gains along one shared direction vary (each run's heldout.json states their CV), so
        # a z-dependent step has a better chance than one direction. Cosine decay: it ends settled, not noisy.
        train=dict(transformer="nonlinear", samples=1600, batch_size=16, alpha_range="raw", alpha_min=-0.2,
                   alpha_max=0.2, lr=0.01, lr_schedule="cosine", eval_every=25),
        strips=dict(classes="0,4,8,12", seeds="0-3", alpha=0.1, steps=2),
        factor_seeds=64, shapes_per_set=10, nerf=dict(views=24),
        # HumanMem (ResNet-152) on every photo would double the run time on a CPU; the strips score it instead.
        attributes_only="hue,saturation,value,colourfulness,contrast,entropy,niqe,brisque",
    ),
    # the end-to-end test: about 20 s on an idle 2-core machine, a few minutes on a busy one
    "test": DemoSize(
        images_per_half=24,
        measure=dict(machine="tiny_cnn", episodes=3, set_size=8, image_size=32, batch_size=8, pretext_epochs=2,
                     seen_epochs=2, bin_size=4, whole_dataset=True, part_size=24, enforce_bar=False,
                     below_bar="keep", bootstrap=100, workers=1),
        fit=dict(backbone="resnet18", image_size=32, epochs=2, batch_size=16, lr=0.01, val_fraction=0.25),
        train=dict(samples=64, batch_size=8, alpha_range="raw", alpha_min=-0.2, alpha_max=0.2, lr=0.01, eval_every=4,
                   eval_seeds="0-3", range_seeds=2, range_steps=2),
        strips=dict(classes="0,1", seeds="0-1", alpha=0.1, steps=1),
        factor_seeds=8, shapes_per_set=2, nerf=dict(views=6),
        attributes_only="hue,saturation,value,colourfulness,contrast,entropy",
    ),
}


@dataclass
class DemoConfig:
    """Options of `ganalyze-mem demo`, shared by the CLI and the Python API."""

    out: str = "outputs/demo"
    size: str = "small"
    fresh: bool = False
    seed: int = 0
    progress: bool = True

    def preset(self) -> DemoSize:
        if self.size not in SIZES:
            raise GanalyzeError(f"Unknown demo size '{self.size}'; choose one of {', '.join(SIZES)}.")
        return SIZES[self.size]

    def result_options(self) -> dict[str, Any]:
        """What determines the results: a folder made with other options (or another preset) is not reused."""
        return {"size": self.size, "seed": self.seed, "preset": json.loads(json.dumps(asdict(self.preset())))}


class NotAvailable(Exception):
    """A part of the toolkit that a stage needs is not in this installation."""


@dataclass
class Stage:
    name: str
    title: str
    run: Callable[[Demo], dict[str, Any]]
    needs: tuple[str, ...] = ()


@dataclass
class Demo:
    """A demo run: its folder, options and the state of every stage."""

    cfg: DemoConfig
    root: Path
    state: dict[str, Any] = field(default_factory=dict)
    echo: Callable[[str], None] = print

    @property
    def size(self) -> DemoSize:
        return self.cfg.preset()

    def stage(self, name: str) -> dict[str, Any]:
        return self.state["stages"].setdefault(name, {"status": "pending"})

    def outputs(self, name: str) -> dict[str, Any]:
        return self.state["stages"].get(name, {}).get("outputs", {})

    def save(self) -> None:
        atomic_write_text(self.root / STATE, json.dumps(self.state, indent=2, default=str) + "\n")

    def started(self, name: str, **info: Any) -> None:
        """Record a run folder as soon as a stage creates it, so that an interrupted stage resumes it."""
        self.stage(name).setdefault("started", {}).update({k: str(v) for k, v in info.items()})
        self.save()

    def rel(self, path: str | os.PathLike) -> str:
        return os.path.relpath(Path(path).resolve(), self.root.resolve())


def open_demo(cfg: DemoConfig, echo: Callable[[str], None] = print) -> Demo:
    """Create or reopen the demo folder; refuse to mix runs with different options."""
    cfg.preset()
    root = Path(cfg.out).expanduser()
    if cfg.fresh and root.exists():
        if any(root.iterdir()) and not (root / STATE).is_file():
            raise GanalyzeError(f"{root} holds files that are not a demo run (no {STATE}); refusing to delete them "
                                "for --fresh. Choose another --out.")
        shutil.rmtree(root)
    root.mkdir(parents=True, exist_ok=True)
    state: dict[str, Any] = {"version": 1, "options": cfg.result_options(), "stages": {}}
    if (root / STATE).is_file():
        saved = json.loads((root / STATE).read_text(encoding="utf-8"))
        old, new = saved.get("options", {}), cfg.result_options()
        if old != new:
            diff = [f"{k} {old.get(k)!r} (asked: {new[k]!r})" for k in ("size", "seed") if old.get(k) != new[k]]
            what = ", ".join(diff) or f"another version of the '{cfg.size}' settings"
            raise GanalyzeError(f"{root} holds a demo run made with {what}; pass --fresh to start over or choose "
                                "another --out.")
        state = saved
    elif any(p.name != STATE for p in root.iterdir()):
        raise GanalyzeError(f"{root} is not empty and holds no demo run; choose another --out or empty it.")
    demo = Demo(cfg, root, state, echo)
    demo.save()
    return demo
