"""Running the demo: every stage in order, each checkpointed in ``demo_state.json`` with its wall and CPU time; a
rerun skips finished stages and resumes a started one; index.html is written at the end (and on interruption)."""

from __future__ import annotations

import os
import time
import traceback
from collections.abc import Callable
from pathlib import Path

from ..errors import GanalyzeError
from .config import STATE, Demo, DemoConfig, NotAvailable, open_demo
from .page import write_index
from .stages import STAGES


def cpu_seconds() -> float:
    """CPU time of this process and its finished children (measurer workers): comparable across machine loads."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def run_demo(cfg: DemoConfig | None = None, echo: Callable[[str], None] = print) -> Path:
    """Run (or resume) every stage, write index.html and return its path.

    A stage whose part of the toolkit is missing is reported as not available; a failed stage is reported in
    index.html and makes this raise `GanalyzeError` at the end, after the other stages ran.
    """
    cfg = cfg or DemoConfig()
    d = open_demo(cfg, echo)
    saved_env = os.environ.get("GANALYZE_MEM_WEIGHTS")
    try:
        _run_stages(d, echo)
    finally:  # the demo's weights folder is set only while the demo runs
        if saved_env is None:
            os.environ.pop("GANALYZE_MEM_WEIGHTS", None)
        else:
            os.environ["GANALYZE_MEM_WEIGHTS"] = saved_env
    index = write_index(d)
    failed = [n for n, s in d.state["stages"].items() if s["status"] == "failed"]
    if failed:
        raise GanalyzeError(f"Demo stages failed: {', '.join(failed)}; see {index} and {d.root / STATE}. "
                            "Rerun the same command to retry them (finished stages are kept).")
    return index


def _run_stages(d: Demo, echo: Callable[[str], None]) -> None:
    for st in STAGES:
        s = d.stage(st.name)
        if s["status"] == "done":
            echo(f"[{st.name}] done already ({s.get('seconds', 0):.0f} s): skipped")
            continue
        missing = [n for n in st.needs if d.stage(n)["status"] != "done"]
        if missing:
            s.update(status="skipped", reason=f"needs the {', '.join(missing)} stage")
            d.save()
            continue
        echo(f"== {st.title}")
        t0, c0 = time.perf_counter(), cpu_seconds()
        s.update(status="running", reason=None)
        d.save()
        try:
            out = st.run(d)
        except NotAvailable as e:
            s.update(status="unavailable", reason=f"not available yet: {e}")
        except KeyboardInterrupt:
            s.update(status="interrupted", reason="interrupted; rerun the same command to resume")
            d.save()
            write_index(d)
            raise
        except Exception as e:  # reported in index.html; the other stages still run
            s.update(status="failed", reason=f"{type(e).__name__}: {e}", traceback=traceback.format_exc())
            echo(f"[{st.name}] FAILED: {type(e).__name__}: {e}")
        else:
            s.update(status="done", outputs=out)
        s["seconds"] = s.get("seconds", 0.0) + time.perf_counter() - t0
        s["cpu_seconds"] = s.get("cpu_seconds", 0.0) + cpu_seconds() - c0
        d.save()
        echo(f"[{st.name}] {s['status']} in {time.perf_counter() - t0:.1f} s" +
             (f": {s['reason']}" if s.get("reason") else ""))
