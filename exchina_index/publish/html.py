"""HTML pieces shared by every page the package writes: escaping, tables, style sheets, banners,
data notes and the removal of references to other hosts.

Every page is self-contained (inline CSS and SVG, no script, nothing loaded from elsewhere) and
deterministic: the same inputs give the same bytes.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from exchina_index._text import SYNTHETIC_BANNER

__all__ = [
    "TEARSHEET_FILE",
    "THEMATIC_FILE",
    "REVIEW_CSS",
    "THEMATIC_CSS",
    "Cell",
    "escape",
    "escape_text",
    "table",
    "slug",
    "iso_date",
    "data_notes_html",
    "synthetic_banner_html",
    "find_external_references",
    "strip_external_references",
]

#: The backtest's two pages, which link to each other.
TEARSHEET_FILE = "tearsheet.html"
THEMATIC_FILE = "thematic.html"

#: Style sheet of the review report (``report.html``).
REVIEW_CSS = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:2em auto;max-width:1100px;color:#1b1f24;
line-height:1.4;padding:0 1em}
h1{font-size:1.5em;margin-bottom:.2em}h2{font-size:1.15em;border-bottom:1px solid #d0d7de;padding-bottom:.2em;
margin-top:1.8em}
table{border-collapse:collapse;margin:.6em 0;font-size:.86em}th,td{border:1px solid #d0d7de;padding:.25em .55em;
text-align:left;vertical-align:top}th{background:#f3f5f7}td.n{text-align:right;font-variant-numeric:tabular-nums}
.synthetic{background:#b42318;color:#fff;font-weight:700;font-size:1.25em;padding:.8em 1em;border-radius:6px;
margin:1em 0;text-align:center;letter-spacing:.02em}
.meta{color:#57606a;font-size:.9em}.fail{color:#b42318;font-weight:700}.pass{color:#1a7f37;font-weight:700}
.bar{display:inline-block;height:.7em;background:#4f6d9a;vertical-align:middle}
.bar.u{background:#b7c4d8}.warn{background:#fff4e5;border:1px solid #f0b37e;padding:.5em .8em;border-radius:4px}
"""

#: Style sheet of the backtest's thematic page (``thematic.html``).
THEMATIC_CSS = """
body{font:14px/1.45 Arial,Helvetica,sans-serif;color:#111;background:#fff;margin:24px}
.container{max-width:1040px;margin:auto}
h1{font-size:22px;margin:0 0 4px 0}\
h2{font-size:17px;margin:28px 0 8px 0;border-bottom:1px solid #ccc;padding-bottom:3px}
p.meta{color:#555;margin:2px 0}
nav a{color:#06c;text-decoration:none}nav a:hover{text-decoration:underline}
table{border-collapse:collapse;margin:6px 0 14px 0;font-size:12.5px}
th,td{padding:3px 8px;border-bottom:1px solid #e5e5e5;text-align:right;white-space:nowrap}
th{background:#f2f2f2;font-weight:bold}
td:first-child,th:first-child{text-align:left}
td.text,th.text{text-align:left;white-space:normal}
.chart svg{width:100%;height:auto;max-width:1000px}
.note{color:#555;font-size:12.5px}
.warn{background:#fff4e5;border:1px solid #f0b37e;padding:6px 10px;border-radius:4px;margin:8px 0}
""".strip()


def escape(x: Any) -> str:
    """``x`` as text safe in HTML content and in quoted attributes.

    >>> escape('a < b & "c"')
    'a &lt; b &amp; &quot;c&quot;'
    """
    return html.escape(str(x), quote=True)


def escape_text(x: Any) -> str:
    """``x`` as text safe in HTML content (quotes are left as they are).

    >>> escape_text('a < "b"')
    'a &lt; "b"'
    """
    return html.escape(str(x), quote=False)


@dataclass(frozen=True)
class Cell:
    """A table cell holding plain ``text`` (escaped when rendered), with an optional ``id`` (for
    tests and links) and CSS class ``cls``."""

    text: str
    id: str | None = None
    cls: str | None = None

    def render(self, tag: str) -> str:
        attrs = (f' id="{escape(self.id)}"' if self.id else "") + (f' class="{self.cls}"' if self.cls else "")
        return f"<{tag}{attrs}>{escape_text(self.text)}</{tag}>"


def table(
    header: Sequence[str],
    rows: Iterable[Sequence[Any]],
    *,
    numeric: Sequence[bool] | None = None,
    markup: bool = True,
    table_id: str | None = None,
    cls: str | None = None,
    line_per_row: bool = False,
) -> str:
    """An HTML table.

    Parameters
    ----------
    header
        Column titles (escaped).
    rows
        Cells: a :class:`Cell`, or any value; with ``markup`` a value is ready-made HTML (the
        caller escaped it), otherwise it is text and escaped here.
    numeric
        Per column, whether its cells are numbers (right-aligned with ``class="n"``).
    table_id, cls
        The table's ``id`` and ``class`` attributes (``class`` is written, even empty, when not ``None``).
    line_per_row
        Put the body and each row on a line of its own (readable page source).

    Examples
    --------
    >>> table(["a", "b"], [("<b>1</b>", "2")], numeric=[False, True]).split("<tbody>")[1]
    '<tr><td><b>1</b></td><td class="n">2</td></tr></tbody></table>'
    >>> table(["x"], [["1 < 2"]], markup=False, cls="", line_per_row=True)
    '<table class=""><thead><tr><th>x</th></tr></thead>\\n<tbody>\\n<tr><td>1 &lt; 2</td></tr>\\n</tbody></table>'
    """
    numeric = numeric or ()

    def td(c: Any, n: bool) -> str:
        if isinstance(c, Cell):
            return c.render("td")
        text = c if markup else escape_text(c)
        return f'<td class="n">{text}</td>' if n else f"<td>{text}</td>"

    sep = "\n" if line_per_row else ""
    attrs = (f' class="{cls}"' if cls is not None else "") + (f' id="{table_id}"' if table_id else "")
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = sep.join(
        "<tr>" + "".join(td(c, i < len(numeric) and numeric[i]) for i, c in enumerate(row)) + "</tr>" for row in rows
    )
    return f"<table{attrs}><thead><tr>{head}</tr></thead>{sep}<tbody>{sep}{body}{sep}</tbody></table>"


def slug(text: str) -> str:
    """``text`` as a lower-case element id (runs of other characters become ``-``).

    >>> slug("1,000M")
    '1-000m'
    """
    return re.sub(r"[^A-Za-z0-9]+", "-", str(text)).strip("-").lower()


def iso_date(t: Any) -> str:
    """A date as ``YYYY-MM-DD``.

    >>> iso_date("2025-12-19 16:00")
    '2025-12-19'
    """
    return pd.Timestamp(t).strftime("%Y-%m-%d")


def data_notes_html(notes: Sequence[str]) -> str:
    """A run's notes (universe, market data) as a visible list (empty string when there are none)."""
    if not notes:
        return ""
    return (
        '<div class="warn" id="data-notes"><strong>Data notes</strong> (also in the manifest):<ul>'
        + "".join(f"<li>{escape(n)}</li>" for n in notes)
        + "</ul></div>"
    )


def synthetic_banner_html() -> str:
    """The red banner at the top of the backtest's pages when they were made from synthetic data."""
    return (
        '<div id="synthetic-banner" role="alert" style="background:#b00020;color:#fff;'
        "font:bold 16px/1.4 Arial,Helvetica,sans-serif;padding:12px 16px;margin:0 0 18px 0;"
        f'text-align:center;border-radius:4px">{escape_text(SYNTHETIC_BANNER)}</div>'
    )


# Resource references to another host: src/href/... attributes, CSS url() and @import.
_EXTERNAL = r"""(?:https?:)?//"""
_RESOURCE_ATTR_RE = re.compile(
    r"""\b(?:src|href|srcset|action|poster|data|xlink:href)\s*=\s*["']?\s*""" + _EXTERNAL, re.IGNORECASE
)
_CSS_URL_RE = re.compile(r"""url\(\s*["']?\s*""" + _EXTERNAL, re.IGNORECASE)
_CSS_IMPORT_RE = re.compile(r"""@import\s+(?:url\()?\s*["']?\s*""" + _EXTERNAL, re.IGNORECASE)
_ANY_URL_RE = re.compile(r"https?://", re.IGNORECASE)


def find_external_references(text: str) -> list[str]:
    """Every ``http(s)://`` or protocol-relative reference in a src/href attribute, CSS ``url()`` or
    ``@import`` of ``text``, plus any other ``http(s)://`` string (returned as short excerpts)."""
    hits = []
    for rx in (_RESOURCE_ATTR_RE, _CSS_URL_RE, _CSS_IMPORT_RE, _ANY_URL_RE):
        hits += [text[max(m.start() - 40, 0) : m.end() + 40] for m in rx.finditer(text)]
    return hits


def strip_external_references(text: str) -> str:
    """Remove every reference to another host from an HTML page with inline SVG.

    Elements that load something (``<link>``, ``<script src>``, ``<img>``, ``<iframe>``, ...) are
    dropped; ``<a href="http...">text</a>`` keeps its text; CSS ``@import`` and ``url()`` to another
    host are dropped; inline SVG loses its XML prolog, doctype (which names the W3C DTD), RDF
    metadata and ``xmlns`` declarations (an HTML5 parser needs none of them).
    """
    attr = r"""\b(?:src|href|srcset|poster|data)\s*=\s*["']?\s*""" + _EXTERNAL
    flags = re.IGNORECASE | re.DOTALL
    text = re.sub(r"<\?xml[^>]*\?>\s*", "", text, flags=flags)
    text = re.sub(r"<!DOCTYPE\s+svg[^>]*>\s*", "", text, flags=flags)
    text = re.sub(r"<metadata\b.*?</metadata>\s*", "", text, flags=flags)
    text = re.sub(r"""\s+xmlns(?::[\w-]+)?\s*=\s*(["'])[^"']*\1""", "", text, flags=flags)
    for tag in ("script", "iframe", "object", "video", "audio"):
        text = re.sub(rf"<{tag}\b[^>]*{attr}[^>]*>.*?</{tag}\s*>", "", text, flags=flags)
    text = re.sub(rf"<(?:link|img|source|embed|input|image|use)\b[^>]*{attr}[^>]*?/?>", "", text, flags=flags)
    text = re.sub(rf"<a\b[^>]*{attr}[^>]*>(.*?)</a\s*>", r"\1", text, flags=flags)
    text = re.sub(r"""@import\s+[^;]*?""" + _EXTERNAL + r"""[^;]*;""", "", text, flags=flags)
    text = re.sub(r"""url\(\s*["']?\s*""" + _EXTERNAL + r"""[^)]*\)""", "none", text, flags=flags)
    return text
