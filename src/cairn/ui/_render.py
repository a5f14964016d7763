"""Turning what a catalog holds into safe HTML: markdown, URLs, tables, times.

Everything a catalog holds came from a pipeline, not from a trusted author: keys, descriptions,
markdown, table cells, link targets, image URLs, metadata. The viewer's rules:

* Every string goes into a template through Jinja's autoescaping, except the HTML this module
  returns as :class:`markupsafe.Markup`, and that HTML is always sanitized first.
* Markdown is parsed by markdown-it-py (CommonMark, with tables and strikethrough; raw HTML
  allowed, as on GitHub) and its HTML is cleaned by nh3 against an allow-list of tags and
  attributes. No ``style``, no event handlers, no ``<script>``, ``<iframe>``, ``<svg>``,
  ``<form>``...
* Every URL that ends up in an ``href`` or a ``src``, in markdown or from a link or image
  artifact, goes through :func:`safe_url`: only ``http``, ``https``, ``mailto`` (links) and
  relative URLs pass; ``javascript:``, ``data:``, ``vbscript:``, ``file:`` and any other
  scheme are dropped, however they are spelled (case, entities, tabs and control characters
  that browsers ignore).
* Link targets get ``rel="noopener noreferrer nofollow"``.

The Content-Security-Policy (see :mod:`cairn.ui._app`) is the second wall: even HTML that got
through would find no inline script or style allowed.
"""

from __future__ import annotations

import datetime as dt
import functools
import html
import json
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from markupsafe import Markup

__all__ = [
    "CSP",
    "CSP_META",
    "Table",
    "duration_text",
    "iso_time",
    "markdown_html",
    "plain_text",
    "safe_url",
    "sort_rows",
    "table_of",
    "time_text",
]

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' https: http:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
"""The Content-Security-Policy of every page: no inline script or style, no plugins, no frames."""

CSP_META = CSP.replace("; frame-ancestors 'none'", "")
"""The same policy for a ``<meta http-equiv>`` in an export (browsers ignore frame-ancestors
there and warn about it)."""

_LINK_SCHEMES = frozenset({"http", "https", "mailto"})
_IMAGE_SCHEMES = frozenset({"http", "https"})
# What a browser's URL parser removes before it reads the scheme: leading and trailing C0
# controls and spaces, and every tab and newline anywhere.
_STRIP_EDGES = "".join(chr(c) for c in range(0x21))
_TAB_NEWLINE = re.compile(r"[\t\n\r]")
_SCHEME = re.compile(r"([a-zA-Z][a-zA-Z0-9+.\-]*):")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def safe_url(url: object, *, image: bool = False) -> str | None:
    r"""Return ``url`` if a page may link to it (or show it, with ``image=True``), else None.

    Allowed: ``http:``, ``https:`` and, for links, ``mailto:`` URLs, and relative URLs (no
    scheme). The scheme is read the way browsers read it: after dropping the tabs, newlines
    and edge control characters that they ignore, and after decoding HTML character
    references (a URL may be read from HTML, where ``&#106;avascript:`` is ``javascript:``).

    Example:
        >>> safe_url("https://example.com/a?b=1")
        'https://example.com/a?b=1'
        >>> safe_url("JaVa\tScRiPt:alert(1)") is None
        True
        >>> safe_url("data:image/png;base64,AAAA", image=True) is None
        True
    """
    if not isinstance(url, str):
        return None
    text = url.strip(_STRIP_EDGES)
    if not text or len(text) > 8192:
        return None
    probe = _TAB_NEWLINE.sub("", html.unescape(text)).strip(_STRIP_EDGES)
    if _CONTROL.search(probe):
        return None  # no honest URL holds control characters
    match = _SCHEME.match(probe)
    if match is None:
        if ":" in probe.split("/", 1)[0].split("?", 1)[0].split("#", 1)[0]:
            return None  # a colon before the first slash that is no valid scheme: refuse
        return None if image else text  # an image needs an absolute http(s) URL
    allowed = _IMAGE_SCHEMES if image else _LINK_SCHEMES
    return text if match.group(1).lower() in allowed else None


# -- markdown --------------------------------------------------------------------------

_TAGS = {
    "a", "abbr", "b", "blockquote", "br", "code", "dd", "del", "details", "div", "dl", "dt",
    "em", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "img", "ins", "kbd", "li", "mark",
    "ol", "p", "pre", "q", "s", "samp", "small", "span", "strong", "sub", "summary", "sup",
    "table", "tbody", "td", "tfoot", "th", "thead", "tr", "u", "ul",
}  # fmt: skip
_ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title", "width", "height"},
    "td": {"align", "colspan", "rowspan"},
    "th": {"align", "colspan", "rowspan"},
    "ol": {"start"},
    "abbr": {"title"},
}
_DROP_WITH_CONTENT = {"script", "style", "template", "noscript", "iframe", "object", "svg", "math"}


def _attribute_filter(tag: str, attribute: str, value: str) -> str | None:
    if attribute == "href":
        return safe_url(value)
    if attribute == "src":
        return safe_url(value, image=True)
    return value


@functools.lru_cache(maxsize=1)
def _parser() -> Any:
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])


def _clean(raw_html: str) -> str:
    import nh3

    return nh3.clean(
        raw_html,
        tags=_TAGS,
        clean_content_tags=_DROP_WITH_CONTENT,
        attributes=_ATTRIBUTES,
        attribute_filter=_attribute_filter,
        url_schemes=set(_LINK_SCHEMES),
        link_rel="noopener noreferrer nofollow",
        strip_comments=True,
    )


_ALIGN = re.compile(r"text-align:(left|right|center)")


def _render_markdown(source: str) -> str:
    parser = _parser()
    tokens = parser.parse(source)
    for token in tokens:
        # Tables say how a column is aligned with a style attribute, which the sanitizer
        # drops (and the CSP would ignore): say it with the align attribute instead.
        style = token.attrs.get("style") if token.type in ("th_open", "td_open") else None
        if isinstance(style, str):
            del token.attrs["style"]
            match = _ALIGN.fullmatch(style)
            if match:
                token.attrs["align"] = match.group(1)
    rendered: str = parser.renderer.render(tokens, parser.options, {})
    return rendered


def markdown_html(text: object) -> Markup:
    """Return ``text`` (markdown from a catalog) rendered as sanitized HTML.

    Example:
        >>> str(markdown_html("**hi** <img src=x onerror=alert(1)>")).strip()
        '<p><strong>hi</strong> <img></p>'
    """
    if text is None:
        return Markup("")
    source = text if isinstance(text, str) else str(text)
    return Markup(_clean(_render_markdown(source)))


def plain_text(text: object, limit: int = 200) -> str:
    """Return the first line of ``text``, without markdown's markup characters, cut at ``limit``.

    The result is plain text for autoescaping (a listing shows it, not HTML).
    """
    if not isinstance(text, str) or not text.strip():
        return ""
    line = next(ln for ln in text.strip().splitlines() if ln.strip()).strip()
    line = re.sub(r"^#{1,6}\s+", "", line).replace("**", "").replace("__", "")
    return line if len(line) <= limit else line[: limit - 1] + "…"


# -- times -----------------------------------------------------------------------------


def iso_time(value: dt.datetime | None) -> str:
    """Return ``value`` as ISO 8601 in UTC (``2026-01-02T03:04:05Z``), or ``""``."""
    if value is None:
        return ""
    return value.astimezone(dt.timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def time_text(value: dt.datetime | None) -> str:
    """Return ``value`` for people: ``2026-01-02 03:04:05 UTC``, or ``-``."""
    if value is None:
        return "-"
    return value.astimezone(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def duration_text(start: dt.datetime, end: dt.datetime | None) -> str:
    """Return how long a run took (``1.25s``, ``3m 02s``), or ``running``."""
    if end is None:
        return "running"
    seconds = (end - start).total_seconds()
    if seconds < 60:
        return f"{seconds:.2f}s" if seconds < 10 else f"{seconds:.1f}s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m"


# -- tables ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Table:
    """A table artifact's data as columns and rows of plain values (from any stored shape)."""

    columns: list[str]
    rows: list[list[Any]]


def table_of(data: Any) -> Table:
    """Return a table artifact's parsed data (``rows()``) as a :class:`Table`.

    Accepts the three shapes Prefect takes: a list of row dicts (columns in order of first
    appearance), a list of row lists (columns numbered), a dict of columns.
    """
    if isinstance(data, dict):
        columns = [str(c) for c in data]
        values = [v if isinstance(v, list) else [v] for v in data.values()]
        length = max((len(v) for v in values), default=0)
        rows = [[col[i] if i < len(col) else None for col in values] for i in range(length)]
        return Table(columns, rows)
    if not isinstance(data, list):
        return Table(["value"], [[data]])
    if any(isinstance(r, dict) for r in data):
        seen: dict[str, None] = {}
        for r in data:
            if isinstance(r, dict):
                seen.update((str(k), None) for k in r)
        columns = list(seen)
        rows = []
        for r in data:
            if isinstance(r, dict):
                as_str = {str(k): v for k, v in r.items()}
                rows.append([as_str.get(c) for c in columns])
            else:
                rows.append([r, *([None] * (len(columns) - 1))])
        return Table(columns, rows)
    width = max((len(r) for r in data if isinstance(r, list)), default=1)
    rows = [
        (list(r) + [None] * (width - len(r))) if isinstance(r, list) else [r] + [None] * (width - 1)
        for r in data
    ]
    return Table([str(i) for i in range(width)], rows)


def cell_text(value: Any) -> str:
    """Return a table cell as text: strings as they are, other values as JSON."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return str(value)
    try:
        return json.dumps(value, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        return str(value)


def _sort_key(value: Any) -> tuple[int, Any]:
    # Numbers first (by value), then strings, then anything else by its text; blanks last.
    if value is None:
        return (3, "")
    if isinstance(value, bool):
        return (0, float(value))
    if isinstance(value, (int, float)):
        return (0, value if not (isinstance(value, float) and math.isnan(value)) else math.inf)
    if isinstance(value, str):
        return (1, value)
    return (2, cell_text(value))


def sort_rows(rows: Sequence[list[Any]], column: int, descending: bool) -> list[list[Any]]:
    """Return ``rows`` sorted by ``column`` (blanks last either way); stable."""
    filled = [r for r in rows if column < len(r) and r[column] is not None]
    blank = [r for r in rows if not (column < len(r) and r[column] is not None)]
    filled.sort(key=lambda r: _sort_key(r[column]), reverse=descending)
    return filled + blank


def csv_text(columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> Iterable[str]:
    """Yield a table as CSV (a header line, then the rows), in pieces of about 64 kB."""
    import csv
    import io

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([cell_text(v) for v in row])
        if buffer.tell() > 65536:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()
