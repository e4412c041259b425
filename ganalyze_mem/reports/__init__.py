"""One report writer for every run kind: `render_report(folder)` writes ``folder/report.html`` from the files in the
run folder (config.yaml, summary.json, metrics.jsonl, CSVs, PNGs), so a report can be made again at any time
(``ganalyze-mem report RUN_DIR``) and does not depend on the code that produced the run.

`page.Page` is the block builder used by every report (validation studies included); `page.write_index` writes an
index page (the demo's); `figures` holds the shared figure style and helpers.
"""

from __future__ import annotations

from pathlib import Path

from .kinds import run_kind


def render_report(folder: str | Path) -> Path:
    """Write ``report.html`` for the run in `folder` (kind detected from its files); return its path."""
    folder = Path(folder)
    kind = run_kind(folder)
    if kind == "study":
        from .builders import study_page

        return study_page(folder).save(folder / "report.html")
    if kind == "demo":
        from ..errors import GanalyzeError

        raise GanalyzeError(f"{folder} is a demo folder: its index.html is written by `ganalyze-mem demo --out "
                            f"{folder}` (a rerun only re-renders). Pass one of its run folders to report on it.")
    from . import builders

    page = getattr(builders, f"{kind}_page")(folder)
    return page.save(folder / "report.html")


def write_index(*args, **kwargs) -> Path:
    """See `page.write_index`."""
    from .page import write_index as write

    return write(*args, **kwargs)


__all__ = ["render_report", "run_kind", "write_index"]
