"""The words of the game page: every participant-facing string lives in one JSON file per language
(``ganalyze_mem/game/lang/<code>.json``, the same keys in each; ``{key}``, ``{total}``, ... are filled in by the
page), and the experimenter's own texts (consent form, debrief, instructions) are read from Markdown or HTML files.

Markdown here is the small subset such forms use: ``#`` headings, paragraphs, ``-``/``*``/``1.`` lists, ``**bold**``,
``*italic*``, ``[links](https://...)``; anything else is shown as text. HTML files are taken as written, less
``<script>`` elements, event-handler attributes and ``javascript:`` URLs (the page's own script is the only one).
"""

from __future__ import annotations

import html
import json
import re
from importlib import resources
from pathlib import Path

from ..errors import GanalyzeError

LANGUAGES = ("en", "de", "fr", "es", "nl")


def strings(language: str) -> dict[str, str]:
    """The page's strings in `language` (every key of the English file, checked)."""
    if language not in LANGUAGES:
        raise GanalyzeError(f"--language must be one of {', '.join(LANGUAGES)}, got {language!r}.")
    folder = resources.files("ganalyze_mem.game") / "lang"
    text = json.loads((folder / f"{language}.json").read_text(encoding="utf-8"))
    english = json.loads((folder / "en.json").read_text(encoding="utf-8"))
    missing = sorted(set(english) - set(text))
    if missing:  # our own invariant: every language file carries every key
        raise GanalyzeError(f"lang/{language}.json lacks {', '.join(missing)}.")
    return text


def _inline(text: str) -> str:
    out = html.escape(text, quote=True)
    out = re.sub(r"\[([^\]]+)\]\((https?://[^)\s]+)\)", r'<a href="\2" target="_blank" rel="noopener">\1</a>', out)
    out = re.sub(r"\*\*([^*]+)\*\*", r"<b>\1</b>", out)
    return re.sub(r"(?<![*\w])\*([^*]+)\*(?!\w)", r"<i>\1</i>", out)


def markdown_to_html(text: str) -> str:
    """The Markdown subset of consent forms and debriefs, as HTML (every text escaped)."""
    blocks: list[str] = []
    para: list[str] = []
    items: list[str] = []
    kind = ""

    def close() -> None:
        nonlocal kind
        if para:
            blocks.append("<p>" + _inline(" ".join(para)) + "</p>")
            para.clear()
        if items:
            blocks.append(f"<{kind}>" + "".join(f"<li>{_inline(i)}</li>" for i in items) + f"</{kind}>")
            items.clear()

    for line in text.splitlines():
        s = line.strip()
        heading = re.match(r"(#{1,4})\s+(.*)", s)
        bullet = re.match(r"[-*+]\s+(.*)", s)
        number = re.match(r"\d+[.)]\s+(.*)", s)
        if not s:
            close()
        elif heading:
            close()
            level = min(len(heading.group(1)) + 1, 4)  # the page's own title is the h1
            blocks.append(f"<h{level}>{_inline(heading.group(2))}</h{level}>")
        elif bullet or number:
            if para or (items and kind != ("ul" if bullet else "ol")):
                close()
            kind = "ul" if bullet else "ol"
            items.append((bullet or number).group(1))
        elif items:
            items[-1] += " " + s
        else:
            para.append(s)
    close()
    return "\n".join(blocks)


def clean_html(text: str) -> str:
    """An experimenter's HTML, without scripts, event handlers or javascript: URLs."""
    text = re.sub(r"<\s*script\b.*?<\s*/\s*script\s*>", "", text, flags=re.I | re.S)
    text = re.sub(r"<\s*/?\s*(script|iframe|object|embed|base|meta|link)\b[^>]*>", "", text, flags=re.I)
    text = re.sub(r"\son\w+\s*=\s*(\"[^\"]*\"|'[^']*'|[^\s>]+)", "", text, flags=re.I)
    text = re.sub(r"(href|src)\s*=\s*([\"']?)\s*javascript:[^\"'>\s]*\2", r'\1="#"', text, flags=re.I)
    m = re.search(r"<body[^>]*>(.*)</body>", text, flags=re.I | re.S)
    return (m.group(1) if m else text).strip()


def text_file(path: str | Path, option: str) -> str:
    """A Markdown (.md, .markdown, .txt) or HTML (.html, .htm) file as HTML for the page."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as e:
        raise GanalyzeError(f"{option} {path}: cannot read it as UTF-8 text ({e}).") from None
    if not text.strip():
        raise GanalyzeError(f"{option} {path}: the file is empty.")
    return clean_html(text) if path.suffix.lower() in (".html", ".htm") else markdown_to_html(text)
