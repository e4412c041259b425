"""Scoring at dataset scale (ImageNet's 1.28M images, Places365; the MachineMem paper's section 5.2 and appendix E):
``ganalyze-mem score --out scores.csv [--resume] [--executor ray]``.

The CSV is written as the run goes: one ``path,score`` row per good file, exactly once, in the order of
`images.find_images` (arguments in order, each folder sorted), flushed after every batch, into ``OUT.part``; when
every file is done it is renamed to ``OUT``, so ``OUT`` is always complete. A run killed at any moment continues with
``--resume``: the rows already in ``OUT.part`` are kept (a row cut off by the kill is dropped), and only the missing
files are scored. Files are scored in fixed blocks of ``--batch-size`` (`scoring.Blocks`), so a resumed or Ray-sharded
run puts the same files in each batch as an uninterrupted local one and writes the same numbers.

``--executor ray`` sends shards of whole blocks to Ray tasks (a local Ray, or a cluster via ``--ray-address``, whose
workers must see the same paths) with a bounded number in flight; the driver writes the shards back in order, so
memory stays flat in the number of files either way.
"""

from __future__ import annotations

import csv
import io
import json
import os
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import torch

from .core.devices import pick_device
from .core.files import atomic_write_text
from .core.paths import path_to_text, warn_escaped
from .errors import GanalyzeError, ImageError
from .images import assessor_recipe, scan_images
from .locks import OutputLock
from .score_config import EXECUTORS, SHARD_SIZE, check_precision, precision_record  # noqa: F401 (re-exported)
from .scoring import DEFAULTS, Blocks, Row, ScoreConfig, build_assessor, score_batches

# Imported inside functions, to keep `ganalyze-mem --help` and `import ganalyze_mem` fast: `tqdm`; optional
# dependencies, needed only there: `ray`.
HEADER = ["path", "score"]


@dataclass
class ScoreStats:
    """What a `score_to_csv` run did."""

    files: int = 0  # image files found
    scored: int = 0  # rows written by this run
    kept: int = 0  # rows already in the CSV (--resume)
    failed: int = 0  # files and paths that could not be scored
    escaped: int = 0  # file names written with \\xHH escapes (not valid UTF-8)
    out: str | None = None


def part_paths(out: str | os.PathLike) -> tuple[Path, Path]:
    """The growing CSV and its options file beside `out`."""
    out = Path(out)
    return out.with_name(out.name + ".part"), out.with_name(out.name + ".part.json")


def read_done(part: Path) -> set[str]:
    """Path texts of the complete rows in `part`; a last line cut off by a kill is removed from the file."""
    with open(part, "rb+") as f:
        data = f.read()
        end = data.rfind(b"\n") + 1
        if end < len(data):
            f.truncate(end)
    done: set[str] = set()
    rows = csv.reader(io.StringIO(data[:end].decode("utf-8")))
    if next(rows, None) not in (HEADER, None):
        raise GanalyzeError(f"{part} is not a score CSV (its first line is not 'path,score'); delete it and start "
                            "again without --resume.")
    for row in rows:
        if len(row) == 2:
            done.add(row[0])
    return done


def _check_resume(meta_path: Path, options: dict[str, Any]) -> None:
    if not meta_path.is_file():
        return
    try:
        before = json.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return
    changed = [f"{k}: {before.get(k)!r} then, {v!r} now" for k, v in options.items()
               if before.get(k) != v and not (k == "precision" and k not in before)]  # older runs: not recorded
    if changed:
        raise GanalyzeError("--resume must repeat the options of the interrupted run, which would otherwise mix two "
                            "kinds of scores in one CSV. Changed: " + "; ".join(changed) + ".")


def _shards(todo: list[int], blocks_per_shard: int) -> Iterator[list[int]]:
    for s in range(0, len(todo), blocks_per_shard):
        yield todo[s:s + blocks_per_shard]


def score_to_csv(
    paths: Iterable[str | os.PathLike],
    out: str | os.PathLike | None,
    assessor: str = DEFAULTS.assessor,
    *,
    batch_size: int = DEFAULTS.batch_size,
    workers: int = DEFAULTS.workers,
    device: str = DEFAULTS.device,
    weights: str | os.PathLike | None = DEFAULTS.weights,
    size: int | None = DEFAULTS.size,
    amp: bool = DEFAULTS.amp,
    precision: str = DEFAULTS.precision,
    resume: bool = False,
    executor: str = "local",
    shard_size: int = SHARD_SIZE,
    ray_address: str | None = None,
    progress: bool = True,
    on_problem: Callable[[ImageError], None] | None = None,
    stream: IO[str] | None = None,
    model: Any = None,
    preprocess: str | None = DEFAULTS.preprocess,
) -> ScoreStats:
    """Score every image under `paths` and write ``path,score`` rows as they come: to `out` (via ``OUT.part``,
    resumable) or, when `out` is None, to `stream` (default stdout). See the module docstring. `model` is an
    already built assessor (an unregistered module from the Python API) used instead of building `assessor`."""
    from .progress import bar as progress_bar

    ScoreConfig(assessor, batch_size, workers, device, None, size, amp, preprocess, precision)  # every bound first
    if executor not in EXECUTORS:
        raise GanalyzeError(f"--executor must be one of {', '.join(EXECUTORS)}, got {executor!r}.")
    if model is not None and executor != "local":
        raise GanalyzeError("--executor ray builds the assessor by name on each worker: pass a registered assessor "
                            "name, not a Python module.")
    if shard_size < 1:
        raise GanalyzeError(f"--shard-size must be at least 1, got {shard_size}.")
    if resume and out is None:
        raise GanalyzeError("--resume continues a CSV: give the --out of the interrupted run.")
    paths = [os.fspath(p) for p in paths]
    if not paths:
        raise GanalyzeError("No paths given: name image files or folders to score.")
    dev = pick_device(device)
    check_precision(precision, dev)
    options = {"assessor": assessor, "weights": None if weights is None else str(weights), "size": size,
               "batch_size": batch_size, "paths": paths, **({"preprocess": preprocess} if preprocess else {}),
               "precision": precision_record(precision, amp, dev)}  # never mixed on --resume
    # one writer per CSV: a second run on the same --out (two --resume after a crash) is refused, never interleaved
    lock = OutputLock(out, folder=False).acquire() if out is not None else None
    try:
        part = meta = None
        if out is not None:
            part, meta = part_paths(out)
            if part.exists() and not resume:
                raise GanalyzeError(f"{part} holds an interrupted run of this CSV: add --resume to continue it, or "
                                    "delete it to start again.")
            if resume and not part.exists() and not Path(out).is_file():
                raise GanalyzeError(f"Nothing to resume: neither {part} nor {out} exists. Run without --resume.")
            if resume:
                _check_resume(meta, options)
        report = on_problem or (lambda e: None)
        files, problems = scan_images(paths)  # plain strings: about 100 bytes per file, for millions of files
        stats = ScoreStats(files=len(files), failed=len(problems), out=None if out is None else str(out))
        for e in problems:
            report(e)
        # Built before anything is written, so a wrong name or missing weights leave no partial run behind.
        net = (model.to(dev) if model is not None else build_assessor(assessor, weights, dev)) if files else None

        done: set[str] = set()
        if part is not None:
            if resume and not part.exists():  # a finished CSV: continue it with any files added since
                os.replace(out, part)
            if resume:
                done = read_done(part)
            else:
                part.parent.mkdir(parents=True, exist_ok=True)
                part.write_text(",".join(HEADER) + "\n", encoding="utf-8")
            atomic_write_text(meta, json.dumps(options, indent=1) + "\n")
        texts = [f if f.isascii() and "\\x" not in f else path_to_text(f) for f in files]  # mostly the same objects
        stats.kept = sum(t in done for t in texts)
        blocks = Blocks(len(files), batch_size)
        todo = [k for k in blocks.todo
                if any(texts[i] not in done for i in range(k * batch_size, min(len(files), (k + 1) * batch_size)))]
        sink = open(part, "a", encoding="utf-8", newline="") if part is not None else (stream or sys.stdout)
        try:
            if part is None:
                sink.write(",".join(HEADER) + "\n")
            writer = csv.writer(sink, lineterminator="\n")
            remaining = sum(min(len(files), (k + 1) * batch_size) - k * batch_size for k in todo)
            with progress_bar(total=remaining, desc=f"scoring ({assessor})", unit="img", show=progress) as bar:
                if todo:
                    side = assessor_recipe(net, size, preprocess)  # the driver's assessor decides for Ray tasks too
                    batches = (score_batches(net, files, Blocks(len(files), batch_size, todo), side, dev, amp, workers,
                                             precision)
                               if executor == "local" else
                               _ray_batches(files, todo, batch_size, shard_size, assessor, weights, side, dev, amp,
                                            workers, ray_address, precision))
                    for rows in batches:
                        for i, score, err in rows:
                            if texts[i] in done:
                                continue  # written before the interruption: exactly once
                            if err:
                                stats.failed += 1
                                report(ImageError(files[i], err))
                            else:
                                writer.writerow([texts[i], f"{score:.8g}"])
                                stats.scored += 1
                                stats.escaped += texts[i] is not files[i] and texts[i] != files[i]
                        sink.flush()
                        bar.update(len(rows))
        except OSError as e:  # a write to the open CSV names no file: name it (a full disk, a size limit)
            if part is not None and e.filename is None:
                e.filename = str(part)
            raise
        finally:
            if part is not None:
                sink.close()
        if part is not None:
            os.replace(part, out)
            meta.unlink(missing_ok=True)
        warn_escaped(stats.escaped, str(out) if out is not None else "the CSV")
        return stats
    finally:
        if lock is not None:
            lock.release()


# ------------------------------------------------------------------------------------------------------------ Ray

_NETS: dict[tuple, Any] = {}  # one assessor per Ray worker process and options, reused by its later tasks


def _ray_shard(files: list[str], lengths: list[int], assessor: str, weights: str | None, side: int,
               device: str, amp: bool, precision: str = "fp32") -> list[list[Row]]:
    """A Ray task: score consecutive blocks of `files` (block lengths `lengths`); rows use indices into `files`."""
    torch.set_num_threads(1)
    key = (assessor, weights, device)
    if key not in _NETS:
        _NETS[key] = build_assessor(assessor, weights, device)
    net = _NETS[key]
    batches, start = [], 0
    for n in lengths:
        batches.append(list(range(start, start + n)))
        start += n
    return list(score_batches(net, files, batches, side, device, amp, 0, precision))


def _ray_batches(files: list[str], todo: list[int], batch_size: int, shard_size: int, assessor: str,
                 weights: str | os.PathLike | None, side: int, device: str, amp: bool, workers: int,
                 address: str | None, precision: str = "fp32") -> Iterator[list[Row]]:
    """Shards of whole blocks as Ray tasks; yields each block's rows (global indices) in order."""
    try:
        import ray
    except ImportError:
        raise GanalyzeError("--executor ray needs Ray: `pip install 'ganalyze-mem[ray]'`, or use --executor local.") \
            from None
    started_here = not ray.is_initialized()
    if started_here:
        if address:
            ray.init(address=address, log_to_driver=False)
        else:
            ray.init(num_cpus=max(1, workers), include_dashboard=False, log_to_driver=False)
    try:
        task = ray.remote(num_cpus=1, num_gpus=1 if device.startswith("cuda") else 0)(_ray_shard)
        limit = max(2, 2 * int(ray.cluster_resources().get("CPU", 1)))  # in flight: memory flat in the file count
        blocks_per_shard = max(1, -(-shard_size // batch_size))
        shards = _shards(todo, blocks_per_shard)
        pending: dict[Any, int] = {}
        ready: dict[int, tuple[list[int], list[list[Row]]]] = {}
        members: dict[int, list[int]] = {}
        sent = next_out = 0
        w = None if weights is None else str(weights)
        while True:
            while len(pending) + len(ready) < limit and (blocks := next(shards, None)) is not None:
                spans = [range(k * batch_size, min(len(files), (k + 1) * batch_size)) for k in blocks]
                members[sent] = [i for span in spans for i in span]
                pending[task.remote([files[i] for i in members[sent]], [len(r) for r in spans], assessor,
                                    w, side, device, amp, precision)] = sent
                sent += 1
            if not pending and next_out >= sent:
                break
            done, _ = ray.wait(list(pending), num_returns=1)
            number = pending.pop(done[0])
            try:
                ready[number] = (members.pop(number), ray.get(done[0]))
            except ray.exceptions.RayTaskError as e:  # a user error inside a task: show it as such
                if isinstance(getattr(e, "cause", None), GanalyzeError):
                    raise e.cause from None
                raise
            while next_out in ready:
                idx, shard_rows = ready.pop(next_out)
                for rows in shard_rows:
                    yield [(idx[j], score, err) for j, score, err in rows]
                next_out += 1
    finally:
        if started_here:
            ray.shutdown()


def stats_line(stats: ScoreStats) -> str:
    """The closing line of ``ganalyze-mem score``."""
    kept = f" ({stats.kept} kept from the interrupted run)" if stats.kept else ""
    where = f" to {stats.out}" if stats.out else ""
    return f"Wrote {stats.scored} scores{where}{kept}; {stats.failed} path(s) failed."


