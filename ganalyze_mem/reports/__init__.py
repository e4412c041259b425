"""One report writer for every run kind: `render_report(folder)` writes ``folder/report.html`` from the files in the
run folder (config.yaml, summary.json, metrics.jsonl, CSVs, PNGs), so a report can be made again at any time
(``ganalyze-mem report RUN_DIR``) and does not depend on the code that produced the run.

`page.Page` is the block builder used by every report (validation studies included); `page.write_index` writes an
index page (the demo's); `figures` holds the shared figure style and helpers.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import GanalyzeError
from .kinds import run_kind
from .page import write_index as write

# Imported inside functions, to keep `ganalyze-mem --help` and `import ganalyze_mem` fast: modules of ours that load
# torch or the model registries; modules that import this one (an import circle otherwise): `..demo.page`.


def render_report(folder: str | Path) -> Path:
    """Write ``report.html`` for the run in `folder` (kind detected from its files); return its path."""
    folder = Path(folder)
    kind = run_kind(folder)
    if kind in ("study", "game-analysis"):  # both saved their page as report.json
        from .builders import study_page

        return study_page(folder).save(folder / "report.html")
    if kind == "demo":
        return _demo_index(folder)
    if kind == "game":
        raise GanalyzeError(f"{folder} is a memory-game experiment folder: its report comes from the analysis of "
                            f"the trials, `ganalyze-mem game analyze {folder} --out ANALYSIS_FOLDER`; `report "
                            "ANALYSIS_FOLDER` re-renders that page later.")
    from . import builders

    page = getattr(builders, f"{kind}_page")(folder)
    return page.save(folder / "report.html")


def _demo_index(folder: Path) -> Path:
    """The demo's index.html again, from its demo_state.json and the stages' files (nothing is recomputed)."""
    import json

    from ..demo.config import STATE, Demo, DemoConfig
    from ..demo.page import write_index as demo_index

    state = json.loads((folder / STATE).read_text(encoding="utf-8"))
    options = state.get("options", {})
    cfg = DemoConfig(out=str(folder), size=options.get("size", "small"), seed=int(options.get("seed", 0)))
    return demo_index(Demo(cfg, folder, state))


def write_index(*args, **kwargs) -> Path:
    """See `page.write_index`."""
    return write(*args, **kwargs)


__all__ = ["render_report", "run_kind", "write_index"]
