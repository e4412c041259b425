"""Trained transformers on disk: save one beside its run, load it back from a run directory or a promoted name, and
`promote` a run into the repository's ``transformers/NAME/`` folder for reuse.

A trained transformer is a folder holding ``transformer.safetensors`` (the state dict) and ``transformer.json`` (a
card: which transformer, generator, assessor and truncation it was trained with, the alpha range, a sha256 of the
weights and the final training metrics). A run directory whose training has not finished can still be loaded from its
latest checkpoint, so strips can be made while a long run goes on.
"""

from __future__ import annotations

import json
import re
import shutil
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..core.files import atomic_write_text
from ..errors import GanalyzeError, WeightsError
from ..rundir import RunDir
from ..visualise import checkpoints
from ..weights import artifact_dir, load_into, load_state_dict, save_safetensors, sha256_file, user_dir
from . import TRANSFORMERS

if TYPE_CHECKING:
    import torch

    from .base import Transformer
# torch is imported when a transformer is built: `resolve_source` and `peek_card` serve checks made before it loads.

WEIGHTS = "transformer.safetensors"
CARD = "transformer.json"
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def build(card: dict[str, Any], where: str = "transformer") -> Transformer:
    """An untrained transformer of the card's kind and shape; a card from before steps were bounded (no max_step)
    builds an unbounded one, as it was trained, and says so once."""
    from .base import warn_unbounded

    if "max_step" not in card.get("kwargs", {}):
        warn_unbounded(where)
    transformer = TRANSFORMERS.create(card["transformer"], dim_z=int(card["dim_z"]),
                                      num_classes=int(card["num_classes"]), **card.get("kwargs", {}))
    transformer.renorm = card.get("renorm", "sample")
    return transformer


def save_trained(transformer: Transformer, folder: str | Path, card: dict[str, Any]) -> Path:
    """Write ``transformer.safetensors`` and ``transformer.json`` into `folder` (atomically, weights first)."""
    folder = Path(folder)
    weights = folder / WEIGHTS
    save_safetensors(transformer.state_dict(), weights)
    full = {**card, "dim_z": transformer.dim_z, "num_classes": transformer.num_classes,
            "kwargs": transformer.extra_config(), "sha256": sha256_file(weights),
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    atomic_write_text(folder / CARD, json.dumps(full, indent=2) + "\n")
    return folder


def resolve_source(source: str | Path) -> Path:
    """A folder for `source`: a path to a run or transformer folder, or a promoted name under ``transformers/``."""
    p = Path(source).expanduser()
    if p.is_dir():
        return p
    roots = (user_dir("transformers"), artifact_dir("transformers"))  # the user's folder first, then the repo's
    for root in roots:
        promoted = root / str(source)
        if NAME_RE.match(str(source)) and promoted.is_dir():
            return promoted
    known = sorted({q.name for root in roots for q in root.glob("*/") if (q / CARD).is_file()})
    raise GanalyzeError(f"'{source}' is neither a folder nor a promoted transformer name. Give a run directory "
                        f"(e.g. outputs/train/00000-brightness-one_direction-tiny) or one of: "
                        f"{', '.join(known) or '(none promoted yet; see `ganalyze-mem promote --help`)'}.")


def peek_card(source: str | Path) -> dict[str, Any] | None:
    """The card of a finished transformer (run directory, transformer folder or promoted name) without loading it, or
    None for an unfinished run (its card is inside a checkpoint). Raises `resolve_source`'s error for a bad source."""
    folder = resolve_source(source)
    if not (folder / CARD).is_file():
        return None
    try:
        return json.loads((folder / CARD).read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise GanalyzeError(f"{folder / CARD} could not be read ({e}); promote or train the transformer "
                            "again.") from None


def load_trained(source: str | Path, device: str | torch.device = "cpu") -> tuple[Transformer, dict[str, Any]]:
    """The trained transformer and its card, from a run directory, a transformer folder or a promoted name."""
    folder = resolve_source(source)
    if (folder / CARD).is_file():
        card = json.loads((folder / CARD).read_text(encoding="utf-8"))
        path = folder / WEIGHTS
        if card.get("sha256") and path.is_file() and sha256_file(path) != card["sha256"]:
            raise WeightsError(f"{path}: its sha256 does not match the one in {folder / CARD}; the file was changed "
                               "or damaged. Promote or train it again.")
        transformer = build(card, str(folder))
        load_into(transformer, load_state_dict(path), path)
        return transformer.to(device).eval(), card

    run = RunDir.open(folder)  # an unfinished run: take its latest readable checkpoint
    state, path = checkpoints.load(run)
    if state is None:
        raise GanalyzeError(f"{folder} holds no trained transformer yet (no {CARD} and no checkpoint). Let the run "
                            f"reach its first checkpoint, or resume it with `ganalyze-mem train --resume {folder}`.")
    card = dict(state["card"])
    card["step"] = int(state["step"])
    card["unfinished"] = True
    transformer = build(card, str(folder))
    load_into(transformer, state["transformer"], path)
    return transformer.to(device).eval(), card


def promote(run_dir: str | Path, name: str, force: bool = False, out: str | Path | None = None) -> Path:
    """Copy a finished run's transformer, card and config into ``transformers/NAME/`` (or ``out/NAME/``)."""
    if not NAME_RE.match(name):
        raise GanalyzeError(f"Bad name '{name}': use letters, digits, '.', '_' and '-' (e.g. resnet50-biggan128).")
    src = Path(run_dir).expanduser()
    if not (src / CARD).is_file():
        RunDir.open(src)  # says clearly when it is not a run directory at all
        raise GanalyzeError(f"{src} has not finished training (no {CARD}). Finish it with "
                            f"`ganalyze-mem train --resume {src}` before promoting it.")
    card_path, weights_path = src / CARD, src / WEIGHTS
    try:
        want = json.loads(card_path.read_text(encoding="utf-8")).get("sha256")
    except (ValueError, AttributeError):
        raise GanalyzeError(f"{card_path} is not a readable card (damaged JSON); train the run again or restore "
                            "the file.") from None
    if not weights_path.is_file():
        raise WeightsError(f"{weights_path} is missing; the run's card has no weights to promote. Train it again.")
    if want and sha256_file(weights_path) != want:  # never copy weights that are not the ones the card describes
        raise WeightsError(f"Not promoting {src}: the sha256 of {weights_path} does not match the one in {card_path} "
                           "(the file was changed or damaged after training). Restore it or train the run again.")
    dest = (Path(out).expanduser() if out else user_dir("transformers")) / name
    if dest.exists() and not force:
        raise GanalyzeError(f"{dest} already exists. Choose another name or pass --force to replace it.")
    tmp = dest.with_name(f".{name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    for fname in (WEIGHTS, CARD, RunDir.CONFIG, RunDir.METRICS, "heldout.json", "heldout.png"):
        if (src / fname).is_file():
            shutil.copy2(src / fname, tmp / fname)
    card = json.loads((tmp / CARD).read_text(encoding="utf-8"))
    card.update(name=name, promoted_from=str(src.resolve()))
    atomic_write_text(tmp / CARD, json.dumps(card, indent=2) + "\n")
    if dest.exists():
        shutil.rmtree(dest)
    tmp.rename(dest)
    return dest
