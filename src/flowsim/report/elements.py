"""The page's building blocks: style, numbers as people read them, linked text, tables, contents."""

from __future__ import annotations

import base64
import html
import re
from pathlib import Path

import numpy as np
import pandas as pd

STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;max-width:1100px;\
margin:2em auto;
padding:0 1em;color:#222;line-height:1.45}
h1{font-size:1.6em}h2{font-size:1.25em;border-bottom:1px solid #ddd;padding-bottom:.2em;\
margin-top:2em}
h3{font-size:1.05em}table{border-collapse:collapse;font-size:.85em;margin:.5em 0 1em}
td,th{border:1px solid #ddd;padding:.25em .5em;text-align:right;vertical-align:top}
th{background:#f4f4f4}td.text,th.text{text-align:left;max-width:28em}
td.wide{min-width:16em}
td:first-child,th:first-child{text-align:left}img{max-width:100%;border:1px solid #eee}
nav li{margin:.1em 0}nav li.l3{margin-left:1.5em}
.note{color:#555;font-size:.9em}code{font-size:.85em;overflow-wrap:anywhere}
"""

#: Where source ids (P26, LC3, ...) are listed, one anchor each (the lower-case id).
SOURCES = "docs/sources.md"
#: A source id: capitals then digits, e.g. P26, LC3, FB6 (not inside a longer word).
SOURCE_ID = re.compile(r"\b([A-Z]{1,3}[0-9]{1,3})\b")
#: Text columns given room for a sentence.
WIDE = {"words and source", "note"}
#: Columns shown with a sign (differences).
SIGNED = {"difference", "95% CI low", "95% CI high", "log error"}


def number(value: float, signed: bool = False) -> str:
    """A number as people read it: ``194,000``, ``8,314``, ``14.9``, ``0.196``."""
    if pd.isna(value):
        return ""
    sign = "+" if signed else ""
    if abs(value) >= 100:
        return f"{value:{sign},.0f}"
    if value == int(value):
        return f"{value:{sign}.0f}"
    return f"{value:{sign}.3g}"


def replications(n: int) -> str:
    """``1 replication``, ``20 replications``."""
    return f"{number(n)} replication" + ("" if n == 1 else "s")


#: How every page begins: what tells a page flowsim wrote from a user's file.
PAGE_START = "<!DOCTYPE html><html lang='en'><head><meta name='generator' content='flowsim'>"


class Page:
    """The sections of the page, with the table of contents made from their headings."""

    def __init__(self, sources: str) -> None:
        self.parts: list[str] = []
        self.contents: list[tuple[int, str, str]] = []
        self.sources = sources

    def heading(self, level: int, text: str) -> None:
        """A numbered anchor and a heading that the contents link to."""
        anchor = f"s{len(self.contents) + 1}-" + re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
        self.contents.append((level, anchor, text))
        self.parts.append(f"<h{level} id='{anchor}'>{html.escape(text)}</h{level}>")

    def add(self, *parts: str) -> None:
        """HTML to append."""
        self.parts.extend(parts)

    def text(self, value: object) -> str:
        """Escaped text whose source ids link to their entry in the sources list."""
        # An identifier may break after its underscores.
        escaped = html.escape(" ".join(str(value).split())).replace("_", "_<wbr>")
        return SOURCE_ID.sub(
            lambda m: f"<a href='{self.sources}#{m.group(1).lower()}'>{m.group(1)}</a>", escaped
        )

    def table(self, frame: pd.DataFrame, text_columns: tuple[str, ...] = ()) -> str:
        """An HTML table: numbers formatted for reading, text columns left-aligned and linked."""

        def cell(column: str, value: object) -> str:
            if column in text_columns:
                kind = "text wide" if column in WIDE else "text"
                return f"<td class='{kind}'>{self.text(value) if pd.notna(value) else ''}</td>"
            if isinstance(value, bool | np.bool_):
                return f"<td>{'yes' if value else 'no'}</td>"
            if isinstance(value, int | float | np.number):
                return f"<td>{number(float(value), column in SIGNED)}</td>"
            return f"<td>{html.escape(str(value))}</td>"

        head = "".join(
            f"<th class='text'>{html.escape(str(c))}</th>"
            if c in text_columns
            else f"<th>{html.escape(str(c))}</th>"
            for c in frame.columns
        )
        body = "".join(
            "<tr>" + "".join(cell(c, v) for c, v in zip(frame.columns, row, strict=True)) + "</tr>"
            for row in frame.itertuples(index=False)
        )
        return f"<table><tr>{head}</tr>{body}</table>"

    def html(self, title: str) -> str:
        """The whole page."""
        items = "".join(
            f"<li class='l{level}'><a href='#{anchor}'>{html.escape(text)}</a></li>"
            for level, anchor, text in self.contents
        )
        intro, *sections = self.parts
        contents = f"<nav><h2>Contents</h2><ul>{items}</ul></nav>"
        body = "\n".join([f"<h1>{html.escape(title)}</h1>", intro, contents, *sections])
        return (
            f"{PAGE_START}<meta charset='utf-8'>"
            f"<title>{html.escape(title)}</title><style>{STYLE}</style></head>"
            f"<body>{body}</body></html>\n"
        )


def image(path: Path, alt: str) -> str:
    """A PNG file embedded in the page."""
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f'<p><img alt="{html.escape(alt)}" src="data:image/png;base64,{data}"></p>'
