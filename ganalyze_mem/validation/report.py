"""Report writer for validation studies: one folder with report.md, a self-contained report.html (figures embedded as
base64 PNG, no scripts, no external resources), every table as CSV and every figure as PNG.

Studies build a `Report` section by section (`text`, `table`, `figure`, `image`) and call `save()` once at the end.
"""

from __future__ import annotations

import base64
import csv
import html
import io
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image

from ..rundir import atomic_path, atomic_write_text

CSS = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; max-width: 1100px; margin: 2em auto;
       padding: 0 1em; color: #222; line-height: 1.45; }
h1 { border-bottom: 2px solid #444; padding-bottom: .2em; } h2 { margin-top: 1.8em; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; margin: .8em 0; font-size: 0.92em; }
th, td { border: 1px solid #bbb; padding: 3px 8px; text-align: right; } th { background: #eee; }
td:first-child, th:first-child, td.t { text-align: left; }
figure { margin: 1em 0; } figure img { max-width: 100%; border: 1px solid #ddd; }
figcaption, .caption { color: #555; font-size: 0.9em; margin-top: .3em; }
.meta { color: #666; font-size: 0.9em; }
.note { background: #fff8e1; border-left: 4px solid #f0b400; padding: .4em .8em; }
code { background: #f3f3f3; padding: 0 3px; }
"""


def _fmt(value: Any, digits: int = 4) -> str:
    if isinstance(value, bool) or value is None:
        return "" if value is None else str(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "n/a"
        return f"{value:.{digits}g}"
    try:  # numpy scalars
        return _fmt(value.item(), digits)
    except AttributeError:
        return str(value)


def _cell(value: Any) -> str:
    """A table cell: numbers right-aligned (the default), words left-aligned."""
    text = html.escape(_fmt(value))
    return f'<td class="t">{text}</td>' if isinstance(value, str) else f"<td>{text}</td>"


def _inline_md(text: str) -> str:
    """The tiny subset of Markdown used in report prose: `code`, **bold**, *italic*; everything else escaped."""
    out = html.escape(text)
    out = re.sub(r"`([^`]+)`", r"<code>\1</code>", out)
    out = re.sub(r"\*\*([^*]+)\*\*", r"<b>\1</b>", out)
    return re.sub(r"(?<![*\w])\*([^*]+)\*(?!\w)", r"<i>\1</i>", out)


@dataclass
class Report:
    """A report under construction; `save(folder)` writes everything."""

    title: str
    meta: dict[str, Any] = field(default_factory=dict)
    _blocks: list[tuple[str, Any]] = field(default_factory=list)
    _files: dict[str, bytes] = field(default_factory=dict)

    def heading(self, text: str) -> None:
        self._blocks.append(("h2", text))

    def text(self, text: str, note: bool = False) -> None:
        """A paragraph; `note=True` highlights it (used for skipped analyses and caveats)."""
        self._blocks.append(("note" if note else "p", text))

    def bullets(self, items: Sequence[str]) -> None:
        self._blocks.append(("ul", list(items)))

    def table(self, name: str, rows: Sequence[dict[str, Any]], caption: str = "", show: int | None = None) -> None:
        """Write `rows` to `<name>.csv` and show (up to `show` of) them in the report."""
        rows = list(rows)
        if not rows:
            self._files[f"{name}.csv"] = b""
            self._blocks.append(("note", f"{caption} (no rows)"))
            return
        columns: list[str] = []
        for r in rows:
            columns += [k for k in r if k not in columns]
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        for r in rows:
            writer.writerow({k: (_fmt(v, 8) if isinstance(v, float) else v) for k, v in r.items()})
        self._files[f"{name}.csv"] = buf.getvalue().encode("utf-8")
        self._blocks.append(("table", (name, columns, rows[:show] if show else rows, caption, len(rows))))

    def figure(self, name: str, fig, caption: str = "", dpi: int = 110) -> None:
        """A matplotlib figure, saved as `<name>.png` and embedded; the figure is closed."""
        import matplotlib.pyplot as plt

        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
        plt.close(fig)
        self._add_png(name, buf.getvalue(), caption)

    def image(self, name: str, image: Image.Image, caption: str = "") -> None:
        """A PIL image (montage), saved as `<name>.png` and embedded."""
        buf = io.BytesIO()
        image.save(buf, format="PNG", optimize=True)
        self._add_png(name, buf.getvalue(), caption)

    def _add_png(self, name: str, data: bytes, caption: str) -> None:
        self._files[f"{name}.png"] = data
        self._blocks.append(("figure", (name, caption)))

    # writers ----------------------------------------------------------------------------------------------------
    def markdown(self) -> str:
        lines = [f"# {self.title}", ""]
        lines += [f"- {k}: {v}" for k, v in self.meta.items()] + [""]
        for kind, value in self._blocks:
            if kind == "h2":
                lines += [f"## {value}", ""]
            elif kind in ("p", "note"):
                lines += [("> " if kind == "note" else "") + value, ""]
            elif kind == "ul":
                lines += [f"- {item}" for item in value] + [""]
            elif kind == "table":
                name, columns, rows, caption, total = value
                lines += ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
                lines += ["| " + " | ".join(_fmt(r.get(c, "")) for c in columns) + " |" for r in rows]
                more = f" Showing {len(rows)} of {total} rows." if len(rows) < total else ""
                lines += ["", f"*{caption}*{more} Full table: [{name}.csv]({name}.csv)", ""]
            elif kind == "figure":
                name, caption = value
                lines += [f"![{name}]({name}.png)", "", f"*{caption}*" if caption else "", ""]
        return "\n".join(lines)

    def html(self) -> str:
        parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
                 f"<title>{html.escape(self.title)}</title><style>{CSS}</style></head><body>",
                 f"<h1>{html.escape(self.title)}</h1>"]
        if self.meta:
            parts.append('<p class="meta">' + "<br>".join(f"<b>{html.escape(str(k))}</b>: {_inline_md(str(v))}"
                                                          for k, v in self.meta.items()) + "</p>")
        for kind, value in self._blocks:
            if kind == "h2":
                parts.append(f"<h2>{html.escape(value)}</h2>")
            elif kind == "p":
                parts.append(f"<p>{_inline_md(value)}</p>")
            elif kind == "note":
                parts.append(f'<p class="note">{_inline_md(value)}</p>')
            elif kind == "ul":
                parts.append("<ul>" + "".join(f"<li>{_inline_md(i)}</li>" for i in value) + "</ul>")
            elif kind == "table":
                name, columns, rows, caption, total = value
                head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
                body = "".join("<tr>" + "".join(_cell(r.get(c, "")) for c in columns) + "</tr>" for r in rows)
                more = f" Showing {len(rows)} of {total} rows." if len(rows) < total else ""
                parts.append(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
                             f'<p class="caption">{_inline_md(caption)}{more} Full table: {html.escape(name)}.csv</p>')
            elif kind == "figure":
                name, caption = value
                b64 = base64.b64encode(self._files[f"{name}.png"]).decode("ascii")
                parts.append(f'<figure><img alt="{html.escape(name)}" src="data:image/png;base64,{b64}">'
                             f"<figcaption>{_inline_md(caption)}</figcaption></figure>")
        parts.append("</body></html>")
        return "\n".join(parts)

    def save(self, folder: str | Path) -> Path:
        """Write tables, figures, report.md and report.html into `folder`; return the HTML path."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        for fname, data in self._files.items():
            with atomic_path(folder / fname) as tmp:
                tmp.write_bytes(data)
        atomic_write_text(folder / "report.md", self.markdown())
        return atomic_write_text(folder / "report.html", self.html())
