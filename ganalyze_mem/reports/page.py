"""The one HTML writer: a `Page` of blocks (headings, prose, notes, lists, tables, figures) rendered through the jinja2
templates in ``templates/``. Every report (measure, fit-predictor, train, strips, validation studies, the demo index)
goes through it, so they share one look and one escaping policy (autoescape on; prose allows `code`, **bold**,
*italic* only).

Figures are embedded as base64 PNG (a report stays whole when its folder is moved) unless larger than
`EMBED_LIMIT`, then linked relative to the report.
"""

from __future__ import annotations

import base64
import html
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..core.files import atomic_write_bytes, atomic_write_text

# Imported inside functions, to keep `ganalyze-mem --help` and `import ganalyze_mem` fast: `jinja2`, `markupsafe` and
# modules of ours that load them.

EMBED_LIMIT = 4 * 1024 * 1024  # bytes; larger PNGs are linked, not embedded
TEMPLATES = Path(__file__).with_name("templates")


def fmt(value: Any, digits: int = 4) -> str:
    """A number as a short string ('n/a' for NaN); other values as text."""
    if isinstance(value, bool) or value is None:
        return "" if value is None else str(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return "n/a" if math.isnan(value) else f"{value:.{digits}g}"
    try:  # numpy scalars
        return fmt(value.item(), digits)
    except AttributeError:
        return str(value)


def inline_md(text: Any) -> str:
    """The tiny subset of Markdown used in report prose: `code`, **bold**, *italic*; everything else escaped."""
    out = html.escape(str(text))
    out = re.sub(r"`([^`]+)`", r"<code>\1</code>", out)
    out = re.sub(r"\*\*([^*]+)\*\*", r"<b>\1</b>", out)
    return re.sub(r"(?<![*\w])\*([^*]+)\*(?!\w)", r"<i>\1</i>", out)


def environment():
    import jinja2
    from markupsafe import Markup

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)), autoescape=True,
                             trim_blocks=True, lstrip_blocks=True, undefined=jinja2.StrictUndefined)
    env.filters["md"] = lambda text: Markup(inline_md(text))
    return env


def png_src(data: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")


def _version() -> str:
    from .. import __version__

    return __version__


def render(template: str, **context: Any) -> str:
    """Render a template with the common context (version, time)."""
    context.setdefault("generated", datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"))
    context.setdefault("meta", {})
    return environment().get_template(template).render(version=_version(), **context)


@dataclass
class Page:
    """A report page under construction. Blocks are kept as plain data (see `to_json`), so a page can be saved next
    to its files and rendered again later from disk."""

    title: str
    meta: dict[str, Any] = field(default_factory=dict)
    blocks: list[dict[str, Any]] = field(default_factory=list)
    images: dict[str, bytes] = field(default_factory=dict)  # figure name -> PNG bytes (embedded)

    def heading(self, text: str) -> None:
        self.blocks.append({"kind": "h2", "text": text})

    def text(self, text: str, note: bool = False) -> None:
        self.blocks.append({"kind": "note" if note else "p", "text": text})

    def bullets(self, items: Sequence[str]) -> None:
        self.blocks.append({"kind": "ul", "items": list(items)})

    def links(self, items: Sequence[tuple[str, str]]) -> None:
        self.blocks.append({"kind": "links", "items": [list(i) for i in items]})

    def table(self, rows: Sequence[dict[str, Any]], caption: str = "", show: int | None = None,
              csv: str | None = None, digits: int = 4, csv_link: bool = True) -> None:
        rows = list(rows)
        if not rows:
            self.text(f"{caption} (no rows)", note=True)
            return
        columns: list[str] = []
        for r in rows:
            columns += [k for k in r if k not in columns]
        shown = rows[:show] if show else rows
        cells = [[{"value": fmt(r.get(c, ""), digits), "text": isinstance(r.get(c), str)} for c in columns]
                 for r in shown]
        self.blocks.append({"kind": "table", "columns": columns, "rows": cells, "caption": caption,
                            "shown": len(shown), "total": len(rows), "csv": csv,
                            "csv_link": csv_link})

    def figure(self, name: str, fig, caption: str = "", dpi: int = 110, save_to: str | Path | None = None) -> None:
        """A matplotlib figure, embedded (and written to `save_to`/<name>.png when given); the figure is closed."""
        from .figures import to_png

        data = to_png(fig, dpi)
        if save_to is not None:
            atomic_write_bytes(Path(save_to) / f"{name}.png", data)
        self.png(name, data, caption)

    def png(self, name: str, data: bytes, caption: str = "", link: str | None = None) -> None:
        self.images[name] = data
        self.blocks.append({"kind": "figure", "name": name, "caption": caption, "link": link})

    def image_file(self, path: str | Path, caption: str = "", relative_to: str | Path | None = None) -> None:
        """A PNG on disk: embedded when small enough, else shown by a link relative to the report."""
        path = Path(path)
        rel = str(path.relative_to(relative_to)) if relative_to else path.name
        if not path.is_file():
            self.text(f"{rel} is missing.", note=True)
            return
        if path.stat().st_size <= EMBED_LIMIT:
            self.png(rel, path.read_bytes(), caption, link=rel)
        else:
            self.blocks.append({"kind": "figure", "name": rel, "caption": caption, "src": rel, "link": rel})

    # output -----------------------------------------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        """The page without image bytes (figures are named; their PNGs live beside the report)."""
        return {"title": self.title, "meta": {str(k): str(v) for k, v in self.meta.items()}, "blocks": self.blocks}

    @classmethod
    def from_json(cls, data: dict[str, Any], folder: str | Path) -> Page:
        """A page saved with `to_json`, its figures read back from `folder`/<name>.png."""
        page = cls(data["title"], dict(data.get("meta", {})), list(data.get("blocks", [])))
        for b in page.blocks:
            if b["kind"] == "figure" and not b.get("src"):
                p = Path(folder) / (b["name"] if b["name"].endswith(".png") else f"{b['name']}.png")
                if p.is_file():
                    page.images[b["name"]] = p.read_bytes()
        return page

    def html(self) -> str:
        blocks = []
        for b in self.blocks:
            if b["kind"] == "figure":
                data = self.images.get(b["name"])
                b = {**b, "alt": b["name"], "src": png_src(data) if data is not None else b.get("src"),
                     "width": _display_width(data) if data is not None else None}
            blocks.append(b)
        return render("page.html.j2", title=self.title, meta=self.meta, blocks=blocks)

    def save(self, path: str | Path) -> Path:
        return atomic_write_text(path, self.html())


def _display_width(data: bytes) -> int | None:
    """The PNG's pixel width: figures are shown at the size their fonts were chosen for (the page's CSS caps very
    wide ones at the column width)."""
    if len(data) < 24 or data[:8] != b"\x89PNG\r\n\x1a\n":
        return None
    return int.from_bytes(data[16:20], "big")


def write_index(path: str | Path, title: str, sections: Sequence[dict[str, Any]], intro: str = "",
                meta: dict[str, Any] | None = None) -> Path:
    """An index page (the demo's): `sections` are dicts with id, title, and optional status ('done', 'failed',
    'skipped'), text (prose), html (trusted markup made by the caller), links [(label, href)] and figures
    [{href, alt, caption, width}] (linked files, relative to the index)."""
    norm = []
    for i, s in enumerate(sections):
        norm.append({"id": s.get("id") or f"s{i}", "title": s["title"], "status": s.get("status", ""),
                     "text": s.get("text", ""), "html": s.get("html", ""), "links": list(s.get("links", [])),
                     "figures": [{"href": f["href"], "alt": f.get("alt", ""), "caption": f.get("caption", ""),
                                  "width": f.get("width")} for f in s.get("figures", [])]})
    return atomic_write_text(path, render("index.html.j2", title=title, intro=intro, sections=norm, meta=meta or {}))
