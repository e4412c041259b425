"""Report writer for validation studies: one folder with report.md, a self-contained report.html (figures embedded as
base64 PNG, no scripts, no external resources), report.json (the page, so that ``ganalyze-mem report FOLDER``
renders it again from disk), every table as CSV and every figure as PNG.

Studies build a `Report` section by section (`text`, `table`, `figure`, `image`) and call `save()` once at the end.
The HTML comes from the project's one report writer (`ganalyze_mem.reports.page`, jinja2 templates).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image

from ..core.files import atomic_path, atomic_write_text
from ..reports.page import Page, fmt, inline_md
from ..tables import csv_safe

# Imported inside functions, to keep `ganalyze-mem --help` and `import ganalyze_mem` fast: modules of ours that load
# torch or the model registries.

_fmt = fmt  # the names this module exported before the shared writer existed
_inline_md = inline_md


@dataclass
class Report:
    """A report under construction; `save(folder)` writes everything."""

    title: str
    meta: dict[str, Any] = field(default_factory=dict)
    _page: Page = field(init=False, repr=False)
    _files: dict[str, bytes] = field(default_factory=dict, repr=False)
    _md: list[tuple[str, Any]] = field(default_factory=list, repr=False)

    def __post_init__(self) -> None:
        self._page = Page(self.title, self.meta)

    def heading(self, text: str) -> None:
        self._page.heading(text)
        self._md.append(("h2", text))

    def text(self, text: str, note: bool = False) -> None:
        """A paragraph; `note=True` highlights it (used for skipped analyses and caveats)."""
        self._page.text(text, note=note)
        self._md.append(("note" if note else "p", text))

    def bullets(self, items: Sequence[str]) -> None:
        self._page.bullets(items)
        self._md.append(("ul", list(items)))

    def table(self, name: str, rows: Sequence[dict[str, Any]], caption: str = "", show: int | None = None) -> None:
        """Write `rows` to `<name>.csv` and show (up to `show` of) them in the report."""
        rows = list(rows)
        if not rows:
            self._files[f"{name}.csv"] = b""
            self.text(f"{caption} (no rows)", note=True)
            return
        columns: list[str] = []
        for r in rows:
            columns += [k for k in r if k not in columns]
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        for r in rows:
            writer.writerow({k: (fmt(v, 8) if isinstance(v, float) else csv_safe(v)) for k, v in r.items()})
        self._files[f"{name}.csv"] = buf.getvalue().encode("utf-8")
        self._page.table(rows, caption=caption, show=show, csv=f"{name}.csv", csv_link=False)
        self._md.append(("table", (name, columns, rows[:show] if show else rows, caption, len(rows))))

    def figure(self, name: str, fig, caption: str = "", dpi: int = 110) -> None:
        """A matplotlib figure, saved as `<name>.png` and embedded; the figure is closed."""
        from ..reports.figures import to_png

        self._add_png(name, to_png(fig, dpi), caption)

    def image(self, name: str, image: Image.Image, caption: str = "") -> None:
        """A PIL image (montage), saved as `<name>.png` and embedded."""
        buf = io.BytesIO()
        image.save(buf, format="PNG", optimize=True)
        self._add_png(name, buf.getvalue(), caption)

    def _add_png(self, name: str, data: bytes, caption: str) -> None:
        self._files[f"{name}.png"] = data
        self._page.png(name, data, caption)
        self._md.append(("figure", (name, caption)))

    # writers ----------------------------------------------------------------------------------------------------
    def markdown(self) -> str:
        lines = [f"# {self.title}", ""]
        lines += [f"- {k}: {v}" for k, v in self.meta.items()] + [""]
        for kind, value in self._md:
            if kind == "h2":
                lines += [f"## {value}", ""]
            elif kind in ("p", "note"):
                lines += [("> " if kind == "note" else "") + value, ""]
            elif kind == "ul":
                lines += [f"- {item}" for item in value] + [""]
            elif kind == "table":
                name, columns, rows, caption, total = value
                lines += ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
                lines += ["| " + " | ".join(fmt(r.get(c, "")) for c in columns) + " |" for r in rows]
                more = f" Showing {len(rows)} of {total} rows." if len(rows) < total else ""
                lines += ["", f"*{caption}*{more} Full table: [{name}.csv]({name}.csv)", ""]
            elif kind == "figure":
                name, caption = value
                lines += [f"![{name}]({name}.png)", "", f"*{caption}*" if caption else "", ""]
        return "\n".join(lines)

    def html(self) -> str:
        return self._page.html()

    def save(self, folder: str | Path) -> Path:
        """Write tables, figures, report.md, report.json and report.html into `folder`; return the HTML path."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        for fname, data in self._files.items():
            with atomic_path(folder / fname) as tmp:
                tmp.write_bytes(data)
        atomic_write_text(folder / "report.md", self.markdown())
        atomic_write_text(folder / "report.json", json.dumps(self._page.to_json(), indent=1) + "\n")
        return atomic_write_text(folder / "report.html", self.html())
