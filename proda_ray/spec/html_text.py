"""HTML -> structured plain text (Markdown-style headings, lists, table rows).

A small ``html.parser`` state machine: it keeps the structure the chunker needs (headings,
paragraphs, list items, table rows) and drops script, style, navigation and other chrome.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

_SKIP = {"script", "style", "nav", "header", "footer", "aside", "noscript", "template", "svg",
         "form", "button", "iframe"}
_BLOCK = {"p", "div", "section", "article", "main", "blockquote", "pre", "figure",
          "figcaption", "dl", "dt", "dd", "ul", "ol", "table", "br", "hr", "body"}
_HEADINGS = {f"h{i}": i for i in range(1, 7)}


class _Converter(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[str] = []
        self.buf: list[str] = []
        self.skip_depth = 0
        self.title: str | None = None
        self._in_title = False
        self._prefix = ""
        self._row: list[str] | None = None
        self._cell: list[str] | None = None
        self._pre = 0

    def _flush(self) -> None:
        text = "".join(self.buf)
        text = text if self._pre else re.sub(r"\s+", " ", text).strip()
        if text:
            self.lines.append(self._prefix + text)
            self.lines.append("")
        self.buf = []
        self._prefix = ""

    def handle_starttag(self, tag: str, attrs) -> None:
        if tag in _SKIP:
            self.skip_depth += 1
            return
        if self.skip_depth:
            return
        if tag == "title":
            self._in_title = True
        elif tag in _HEADINGS:
            self._flush()
            self._prefix = "#" * _HEADINGS[tag] + " "
        elif tag == "li":
            self._flush()
            self._prefix = "- "
        elif tag == "tr":
            self._flush()
            self._row = []
        elif tag in ("td", "th") and self._row is not None:
            self._cell = []
        elif tag == "pre":
            self._flush()
            self._pre += 1
        elif tag in _BLOCK:
            self._flush()

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP:
            self.skip_depth = max(0, self.skip_depth - 1)
            return
        if self.skip_depth:
            return
        if tag == "title":
            self._in_title = False
        elif tag in ("td", "th") and self._row is not None and self._cell is not None:
            self._row.append(re.sub(r"\s+", " ", "".join(self._cell)).strip())
            self._cell = None
        elif tag == "tr" and self._row is not None:
            if any(self._row):
                self.lines.append(" | ".join(self._row))
            self._row = None
        elif tag == "table":
            self.lines.append("")
        elif tag == "pre":
            self._flush()
            self._pre = max(0, self._pre - 1)
        elif tag in _HEADINGS or tag == "li" or tag in _BLOCK:
            self._flush()

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title = (self.title or "") + data.strip()
        if self.skip_depth or self._in_title:
            return
        if self._cell is not None:
            self._cell.append(data)
        else:
            self.buf.append(data)


def html_to_text(html: str) -> tuple[str, str | None]:
    """(text, <title>) of an HTML document."""
    conv = _Converter()
    conv.feed(html)
    conv.close()
    conv._flush()
    text = "\n".join(conv.lines)
    return re.sub(r"\n{3,}", "\n\n", text).strip(), conv.title or None
