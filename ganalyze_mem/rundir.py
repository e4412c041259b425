"""Run directories: ``outputs/<kind>/<NNNNN>-<description>/`` with a fully resolved config, append-only metrics and
atomic checkpoints, so that a run killed at any moment resumes with ``--resume`` to the same result.

Layout: ``config.yaml`` (options, seeds, weight hashes, versions, command line, thread count, git commit and
whether the tree had uncommitted changes, a UTC timestamp), ``metrics.jsonl`` (one JSON object per line,
append-only), ``checkpoints/`` (written atomically, `core.files`) and whatever the run outputs.

`RunDir.log` also mirrors numeric metrics to TensorBoard (``<run>/tensorboard/``) when that is switched on
(`enable_tensorboard`, ``ganalyze-mem --tensorboard``, or ``GANALYZE_MEM_TENSORBOARD=1``) and the tensorboard package
is installed; without it one warning says so and metrics.jsonl is written as always. `config_options` reads a run's
options back, for ``--config FILE`` reruns.
"""

from __future__ import annotations

import json
import os
import platform
import re
import subprocess
import sys
import warnings
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import yaml

from .core.files import atomic_torch_save, atomic_write_text, plain, writing
from .core.paths import repo_root
from .errors import GanalyzeError

# Imported inside functions, to keep `ganalyze-mem --help` and `import ganalyze_mem` fast: `torch`.


def _git(root: Path, *args: str) -> str | None:
    try:
        out = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout if out.returncode == 0 else None


def git_state(root: Path | None) -> dict[str, Any]:
    """Commit and dirty flag of the checkout at `root` (works in git worktrees too); {} outside a checkout."""
    if root is None:
        return {}
    commit = _git(root, "rev-parse", "HEAD")
    if commit is None:
        return {}
    status = _git(root, "status", "--porcelain", "--untracked-files=no")
    return {"git_commit": commit.strip(), "git_dirty": None if status is None else bool(status.strip())}


def cpu_model() -> str | None:
    """The processor's name (Linux: /proc/cpuinfo; elsewhere what `platform` knows), or None."""
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


COMPUTE_KEYS = ("torch", "cpu_kernels", "cpu_model", "gpu")  # what decides the rounding of a computation


def compute_changes(saved: dict[str, Any], current: dict[str, Any]) -> list[str]:
    """How the software and processor that compute differ between two `environment_info` records ("torch 2.14.1
    -> 2.15.0", ...); keys missing from the saved record (older runs) are not compared."""
    return [f"{k} {saved[k]} -> {current.get(k)}" for k in COMPUTE_KEYS
            if saved.get(k) is not None and saved.get(k) != current.get(k)]


def environment_info() -> dict[str, Any]:
    """Versions, command line, threads, git state and a timestamp, for reproducibility."""
    info: dict[str, Any] = {
        "command": " ".join([Path(sys.argv[0]).name] + sys.argv[1:]),
        "timestamp": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS"),
    }
    for mod in ("torch", "torchvision", "numpy", "ganalyze_mem"):
        try:
            info[mod] = __import__(mod).__version__
        except Exception:  # noqa: BLE001
            pass
    if "torch" in sys.modules:
        torch = sys.modules["torch"]
        info["threads"] = torch.get_num_threads()
        info["cpu_kernels"] = torch.backends.cpu.get_cpu_capability()  # the vector ISA torch's kernels use
        if torch.cuda.is_initialized():  # never initialise CUDA here: forked workers could not use it
            info["gpu"] = torch.cuda.get_device_name()
    info["cpu_model"] = cpu_model()
    info.update(git_state(repo_root()))
    return info


# -- TensorBoard mirror -----------------------------------------------------------------------------------------------
ENV_TENSORBOARD = "GANALYZE_MEM_TENSORBOARD"
_tb_writers: dict[Path, Any] = {}
_tb_missing_warned = False


def enable_tensorboard(on: bool = True) -> None:
    """Mirror every `RunDir.log` of this process (and of its children) to TensorBoard, or stop doing so."""
    if on:
        os.environ[ENV_TENSORBOARD] = "1"
    else:
        os.environ.pop(ENV_TENSORBOARD, None)


def tensorboard_enabled() -> bool:
    return os.environ.get(ENV_TENSORBOARD, "") not in ("", "0", "false", "no")


def _tb_writer(run_path: Path):
    global _tb_missing_warned
    if run_path in _tb_writers:
        return _tb_writers[run_path]
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        if not _tb_missing_warned:
            _tb_missing_warned = True
            warnings.warn("TensorBoard logging was asked for but the tensorboard package is not installed "
                          "(pip install tensorboard); metrics go to metrics.jsonl only.", stacklevel=3)
        _tb_writers[run_path] = None
        return None
    _tb_writers[run_path] = SummaryWriter(log_dir=str(run_path / "tensorboard"))
    return _tb_writers[run_path]


STEP_KEYS = ("step", "epoch", "episode")


def _mirror(run_path: Path, metrics: dict[str, Any]) -> None:
    writer = _tb_writer(run_path)
    if writer is None:
        return
    step = next((int(metrics[k]) for k in STEP_KEYS if isinstance(metrics.get(k), (int, float))), None)
    for k, v in metrics.items():
        if k not in STEP_KEYS and isinstance(v, (int, float)) and not isinstance(v, bool):
            writer.add_scalar(k, v, global_step=step)
    writer.flush()


# -- reruns -----------------------------------------------------------------------------------------------------------
YAML_MAX_BYTES = 1 << 20  # a run's config.yaml is a few kB
YAML_MAX_DEPTH = 32  # a run's config nests 4 deep
YAML_MAX_ALIASES = 16  # a run's config has none; a few hand-written ones are fine, a billion laughs is not


class _LimitedLoader(yaml.SafeLoader):
    """yaml's safe loader with a bound on nesting depth and on the number of aliases (``*name``), so that neither a
    deeply nested file (RecursionError) nor an alias bomb (exponential expansion) gets through."""

    def __init__(self, stream):
        super().__init__(stream)
        self._depth = 0
        self._aliases = 0

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            self._aliases += 1
            if self._aliases > YAML_MAX_ALIASES:
                raise _YamlLimit(f"it uses more than {YAML_MAX_ALIASES} YAML aliases (*name); write the values out")
        self._depth += 1
        try:
            if self._depth > YAML_MAX_DEPTH:
                raise _YamlLimit(f"it nests deeper than {YAML_MAX_DEPTH} levels")
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


class _YamlLimit(Exception):
    pass


def read_yaml(path: str | os.PathLike, label: str) -> Any:
    """A YAML file read with limits (size, nesting depth, aliases, UTF-8); anything it cannot take is one
    `GanalyzeError` line, starting with `label` (how the user gave the file), saying what and how to fix it."""
    p = Path(path)
    fix = "give the config.yaml that a run wrote (or fix this file)"
    size = p.stat().st_size
    if size > YAML_MAX_BYTES:
        raise GanalyzeError(f"{label} is {size:,} bytes, more than the {YAML_MAX_BYTES:,} that a run's config may be; "
                            f"{fix}.")
    with open(p, "rb") as f:
        raw = f.read(YAML_MAX_BYTES + 1)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise GanalyzeError(f"{label} is not UTF-8 text (byte 0x{raw[e.start]:02x} at offset {e.start}); save it as "
                            f"UTF-8, or {fix}.") from None
    loader = _LimitedLoader(text)
    try:
        return loader.get_single_data()
    except _YamlLimit as e:
        raise GanalyzeError(f"{label} is refused: {e}; {fix}.") from None
    except yaml.YAMLError as e:
        where = getattr(e, "problem_mark", None)
        at = f" at line {where.line + 1}, column {where.column + 1}" if where is not None else ""
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise GanalyzeError(f"{label} is not valid YAML ({problem}{at}); {fix}.") from None
    except RecursionError:  # pragma: no cover - the depth bound comes first
        raise GanalyzeError(f"{label} nests too deeply; {fix}.") from None
    finally:
        loader.dispose()


def config_options(path: str | os.PathLike) -> dict[str, Any]:
    """The options recorded in a run's config.yaml (the file, or its run folder), for ``--config FILE`` reruns.

    Measurement runs also give their targets and pool (``target``, ``pool``)."""
    p = Path(path)
    if p.is_dir():
        p = p / RunDir.CONFIG
    if not p.is_file():
        raise GanalyzeError(f"--config {path}: no such file. Give the config.yaml of a previous run (or its folder).")
    data = read_yaml(p, f"--config {path}") or {}
    options = data.get("options") if isinstance(data, dict) else None
    if not isinstance(options, dict):
        raise GanalyzeError(f"--config {path} has no 'options' section; give the config.yaml that a run wrote.")
    options = dict(options)
    if isinstance(data.get("measure"), dict):
        options["target"] = list(data["measure"].get("targets", []))
        options["pool"] = list(data["measure"].get("pool", []))
    return options


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-")[:80] or "run"


class RunDir:
    """A run directory. Create with `RunDir.create`, reopen with `RunDir.open`."""

    CONFIG = "config.yaml"
    METRICS = "metrics.jsonl"

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)

    @classmethod
    def create(cls, root: str | os.PathLike, description: str, config: dict[str, Any]) -> RunDir:
        """Make ``root/<NNNNN>-<description>`` with the next free number and write its config."""
        root = Path(root)
        root.mkdir(parents=True, exist_ok=True)
        taken = [int(m.group(1)) for p in root.iterdir() if (m := re.match(r"(\d{5})-", p.name))]
        number = max(taken, default=-1) + 1
        while True:
            path = root / f"{number:05d}-{_slug(description)}"
            try:
                path.mkdir()
                break
            except FileExistsError:  # another process took it
                number += 1
        run = cls(path)
        run.write_config({**config, "environment": environment_info()})
        return run

    @classmethod
    def open(cls, path: str | os.PathLike) -> RunDir:
        run = cls(path)
        if not (run.path / cls.CONFIG).is_file():
            raise GanalyzeError(f"{run.path} is not a run directory (no {cls.CONFIG}). Pass the folder that a "
                                "previous run printed, e.g. outputs/train/00003-resnet50-one_direction.")
        return run

    def lock(self, name: str = "run.lock"):
        """The run's output lock (`ganalyze_mem.locks.OutputLock`): ``with run.lock():`` while writing into it, so a
        second process on the same run (two --resume at once) is refused with a clear line."""
        from .locks import OutputLock

        return OutputLock(self.path, name=name, folder=True,
                          remedy="wait for it to finish (or stop it), or start a new run")

    # config -----------------------------------------------------------------------------------------------------
    @property
    def config(self) -> dict[str, Any]:
        return yaml.safe_load((self.path / self.CONFIG).read_text(encoding="utf-8")) or {}

    def write_config(self, config: dict[str, Any]) -> None:
        atomic_write_text(self.path / self.CONFIG, yaml.safe_dump(plain(config), sort_keys=False))

    def check_resume(self, options: dict[str, Any], ignore: tuple[str, ...] = ()) -> None:
        """Refuse to resume with options that differ from the run's own."""
        saved = self.config.get("options", {})
        clashes = [f"--{k.replace('_', '-')}: run has {saved[k]!r}, you gave {v!r}"
                   for k, v in plain(options).items() if k in saved and k not in ignore and saved[k] != v]
        if clashes:
            raise GanalyzeError(f"Cannot resume {self.path} with different options:\n  " + "\n  ".join(clashes)
                                + "\nDrop those options (the run's own are used) or start a new run.")

    def warn_if_compute_changed(self) -> list[str]:
        """Warn (once) when this run is resumed with another torch or on another kind of CPU than it started with:
        other kernels round differently, so the rest of the run is as valid but not bit-identical to an
        uninterrupted run on the first machine. Returns the changes."""
        changes = compute_changes(self.config.get("environment") or {}, environment_info())
        if changes:
            warnings.warn(f"{self.path} started with other compute ({'; '.join(changes)}): what is computed from "
                          "here on rounds differently, so the result will not be bit-identical to an uninterrupted "
                          "run on the first machine (it is an equally valid run). Resume there for bit-identical "
                          "results.", stacklevel=2)
        return changes

    # metrics ----------------------------------------------------------------------------------------------------
    def log(self, **metrics: Any) -> None:
        """Append one JSON line to metrics.jsonl (and its numbers to TensorBoard when enabled)."""
        record = plain(metrics)
        with writing(self.path / self.METRICS), open(self.path / self.METRICS, "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")
            f.flush()
        if tensorboard_enabled():
            _mirror(self.path, record)

    def metrics(self) -> list[dict[str, Any]]:
        p = self.path / self.METRICS
        if not p.is_file():
            return []
        out = []
        for line in p.read_text(encoding="utf-8").splitlines():
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:  # a line cut by a kill mid-write
                continue
        return out

    def truncate_metrics(self, keep: callable) -> None:
        """Keep only metric lines for which `keep(record)` is true (used on resume to drop lines past a checkpoint)."""
        kept = [r for r in self.metrics() if keep(r)]
        atomic_write_text(self.path / self.METRICS, "".join(json.dumps(r) + "\n" for r in kept))

    # checkpoints ------------------------------------------------------------------------------------------------
    @property
    def checkpoint_dir(self) -> Path:
        return self.path / "checkpoints"

    def save_checkpoint(self, state: dict[str, Any], name: str = "latest.pt") -> Path:
        return atomic_torch_save(state, self.checkpoint_dir / name)

    def load_checkpoint(self, name: str = "latest.pt", keys: tuple[str, ...] = ()) -> dict[str, Any] | None:
        """The checkpoint `name` of this run (None when absent). A truncated, empty or foreign file (one without
        the entries `keys`, or whose ``model`` is not a state dict) is a `GanalyzeError` naming the file and the fix,
        never torch's UnpicklingError or "failed finding central directory"."""
        import torch

        p = self.checkpoint_dir / name
        if not p.is_file():
            return None
        fix = (f"Restore {p.name} from a copy, or start a new run with the same options "
               f"(--config {self.path / self.CONFIG}).")
        try:
            if p.stat().st_size == 0:
                raise EOFError
            with warnings.catch_warnings():  # torch's note on a foreign pickle protocol says nothing useful here
                warnings.simplefilter("ignore")
                state = torch.load(p, map_location="cpu", weights_only=True)
        except OSError:
            raise  # unreadable (permissions, I/O): worded by the CLI
        except Exception as e:  # noqa: BLE001 - torch raises RuntimeError, EOFError, pickle errors... for bad files
            raise GanalyzeError(f"{p} {damage_reason(e)}. {fix}") from None
        missing = [k for k in keys if not isinstance(state, dict) or k not in state]
        model = state.get("model") if isinstance(state, dict) else None
        if missing or ("model" in keys and not (isinstance(model, dict) and model and
                                                all(isinstance(v, torch.Tensor) for v in model.values()))):
            what = f"no {', '.join(repr(k) for k in missing)}" if missing else "its 'model' is not a state dict"
            raise GanalyzeError(f"{p} is not a checkpoint of this kind of run ({what}). {fix}")
        return state


def damage_reason(e: Exception) -> str:
    """Why torch could not load a file, in words (not torch's internals): cut short, or not a checkpoint."""
    import pickle

    text = str(e)
    if isinstance(e, EOFError) or "central directory" in text or "PytorchStreamReader" in text or "truncat" in text:
        return "is empty or cut short (a copy interrupted, a full disk?): it is not a complete checkpoint"
    if isinstance(e, pickle.UnpicklingError) or "Weights only load failed" in text or "pickle" in text.lower():
        return "is not a checkpoint this toolkit wrote (it holds pickled objects that a safe load refuses)"
    return f"could not be read as a checkpoint ({type(e).__name__})"

