"""Where episodes run. The work units are (part, episode) pairs; each is a pure function of (images, options, part,
index) (see `episode.run_episode`), so every executor gives bit-identical results; they differ only in speed.

- ``local`` with 1 worker: in this process (per-stage progress bars).
- ``local`` with N workers: N worker processes with one torch thread each (on a 2-core CPU this measured
  1.3-1.45x over one two-thread process). The images go to the workers once, at start.
- ``ray``: Ray tasks (one CPU each) on a local Ray (started here, with ``workers`` CPUs) or on an existing cluster
  (``ray_address``), for measurements that outgrow one machine. The images are put in Ray's object store once.
  Each task asks for one CPU and ``num_gpus`` GPUs (a fraction lets several episodes share one GPU).
  On a cluster, every node needs ganalyze-mem installed (the same version: episodes must be the same function).

Local workers die with the main process: on Linux each asks the kernel for SIGKILL when its parent dies
(``PR_SET_PDEATHSIG``), so a ``kill -9`` of the main process leaves no orphan computing on; elsewhere a watcher
thread in each worker polls its parent.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import torch

from ..errors import GanalyzeError
from ..progress import bar as progress_bar
from .episode import EpisodeData, Unit, run_episode, unit_of

# Imported inside functions, to keep `ganalyze-mem --help` and `import ganalyze_mem` fast: `torch` and modules of ours
# that load them; optional dependencies, needed only there: `ray`.

OnResult = Callable[[dict[str, Any]], None]

_WORKER_DATA: EpisodeData | None = None
PR_SET_PDEATHSIG = 1


def die_with_parent(parent: int) -> None:
    """End this process when `parent` dies: the kernel's parent-death signal on Linux, else a polling thread."""
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            if libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) == 0:
                if os.getppid() != parent:  # the parent died before the call: nobody would send the signal
                    os._exit(1)
                return
        except (OSError, AttributeError):
            pass

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=watch, daemon=True, name="parent-watch").start()


def _init_worker(data: EpisodeData, parent: int) -> None:
    global _WORKER_DATA
    die_with_parent(parent)
    torch.set_num_threads(1)
    _WORKER_DATA = data


def _worker_episode(options: dict[str, Any], unit: Unit) -> dict[str, Any]:
    assert _WORKER_DATA is not None, "worker not initialised"
    return run_episode(_WORKER_DATA, options, unit)


def _uses_cuda(options: dict[str, Any]) -> bool:
    return str(options.get("device", "cpu")).startswith("cuda") or torch.cuda.is_initialized()


@contextlib.contextmanager
def worker_pool(data: EpisodeData, workers: int, cuda: bool = False) -> Iterator[Any]:
    """`workers` worker processes, each holding `data` and running one torch thread, for as long as the block
    lasts. A pool pays each worker's start-up (kernel JIT and allocator warm-up: about 3 s for the first tiny_cnn
    episode) once, so a caller with several batches of units (the throughput bench) can keep one open."""
    from concurrent.futures import ProcessPoolExecutor

    import torch.multiprocessing as tmp

    # fork starts in milliseconds and shares the images copy-on-write (torch's DataLoader forks the same way);
    # CUDA cannot survive a fork, so GPU runs spawn and pass the images through shared memory.
    method = "fork" if "fork" in tmp.get_all_start_methods() and not cuda else "spawn"
    if method == "spawn":
        data.share_memory_()
    with ProcessPoolExecutor(max_workers=workers, mp_context=tmp.get_context(method), initializer=_init_worker,
                             initargs=(data, os.getpid())) as pool:
        yield pool


def run_in_pool(pool: Any, options: dict[str, Any], indices: Iterable[Unit], on_result: OnResult,
                bar: Any = None) -> None:
    """Run `indices` on a `worker_pool`, handing each record to `on_result` as it finishes."""
    from concurrent.futures import FIRST_COMPLETED, wait

    pending = {pool.submit(_worker_episode, options, unit_of(i)) for i in indices}
    try:
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for fut in done:
                on_result(fut.result())
                if bar is not None:
                    bar.update(1)
    except BaseException:
        for fut in pending:
            fut.cancel()
        raise


def run_local(data: EpisodeData, options: dict[str, Any], indices: Iterable[Unit], workers: int,
              on_result: OnResult, progress: bool = True) -> None:
    indices = [unit_of(u) for u in indices]
    bar = progress_bar(total=len(indices), desc="episodes", unit="episode", show=progress)
    try:
        if workers <= 1 or len(indices) <= 1:
            for i in indices:
                on_result(run_episode(data, options, i, progress=progress))
                bar.update(1)
            return
        with worker_pool(data, min(workers, len(indices)), _uses_cuda(options)) as pool:
            run_in_pool(pool, options, indices, on_result, bar)
    finally:
        bar.close()


def _ray_episode(data: EpisodeData, options: dict[str, Any], unit: Unit) -> dict[str, Any]:
    torch.set_num_threads(1)
    return run_episode(data, options, unit)


def run_ray(data: EpisodeData, options: dict[str, Any], indices: Iterable[Unit], workers: int, on_result: OnResult,
            address: str | None = None, progress: bool = True) -> None:
    try:
        import ray
    except ImportError:
        raise GanalyzeError("--executor ray needs Ray: `pip install 'ganalyze-mem[ray]'`, or use --executor local.") \
            from None
    indices = [unit_of(u) for u in indices]
    started_here = False
    if not ray.is_initialized():
        if address:
            ray.init(address=address, log_to_driver=False)
        else:
            ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False)
        started_here = True
    bar = progress_bar(total=len(indices), desc="episodes (ray)", unit="episode", show=progress)
    try:
        task = ray.remote(num_cpus=1, num_gpus=float(options.get("num_gpus") or 0))(_ray_episode)
        ref = ray.put(data)
        pending = [task.remote(ref, options, i) for i in indices]
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            on_result(ray.get(done[0]))
            bar.update(1)
    finally:
        bar.close()
        if started_here:
            ray.shutdown()


def run_vectorized_groups(data: EpisodeData, options: dict[str, Any], indices: Iterable[Unit], on_result: OnResult,
                          progress: bool = True) -> None:
    """Episodes of each part in fixed groups of ``options["vectorize"]`` by index, each group trained at once in
    this process; a group with any missing episode is recomputed whole (so resuming gives the same numbers)."""
    from .vectorized import run_vectorized

    k = int(options["vectorize"])
    wanted = {unit_of(u) for u in indices}
    groups = sorted({(part, i // k) for part, i in wanted})
    bar = progress_bar(total=len(wanted), desc=f"episodes (vectorised x{k})", unit="episode", show=progress)
    try:
        for part, g in groups:
            for record in run_vectorized(data, options, list(range(g * k, (g + 1) * k)), part):
                if (part, record["index"]) in wanted:
                    on_result(record)
                    bar.update(1)
    finally:
        bar.close()


def run_episodes(data: EpisodeData, options: dict[str, Any], indices: Iterable[Unit | int], on_result: OnResult,
                 executor: str = "local", workers: int = 1, ray_address: str | None = None,
                 progress: bool = True) -> None:
    """Run the units `indices` ((part, episode) pairs; an int is episode i of part 0) and hand each finished record
    to `on_result` (in completion order)."""
    if int(options.get("vectorize", 1)) > 1:
        if executor != "local":
            raise GanalyzeError("--vectorize runs in this process (one GPU); use it with --executor local.")
        run_vectorized_groups(data, options, indices, on_result, progress)
    elif executor == "local":
        run_local(data, options, indices, workers, on_result, progress)
    elif executor == "ray":
        run_ray(data, options, indices, workers, on_result, ray_address, progress)
    else:
        raise GanalyzeError(f"Unknown executor '{executor}'; choose local or ray.")
