"""cairn ui's HTML helpers on their own: the URL check, markdown sanitizing, tables, links.

Fast checks of the rules the browser tests (test_ui_browser.py) prove end to end: every
payload of the XSS corpus through the markdown renderer, and the URL check against the ways
browsers read a scheme.
"""

from __future__ import annotations

import json
from html.parser import HTMLParser
from pathlib import Path

import pytest

pytest.importorskip("nh3", reason="cairn ui needs the 'ui' extra")

from cairn.ui._links import ExportLinks, ServerLinks
from cairn.ui._render import markdown_html, safe_url, sort_rows, table_of

PAYLOADS: list[str] = json.loads(
    (Path(__file__).resolve().parent / "ui_xss_payloads.json").read_text()
)["payloads"]


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(1)",
        "JAVASCRIPT:alert(1)",
        "java\tscript:alert(1)",
        "java\nscript:alert(1)",
        "\x00javascript:alert(1)",
        " \x01javascript:alert(1)",
        "&#106;avascript:alert(1)",
        "&#x6A;avascript:alert(1)",
        "javascript&colon;alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "DATA:image/png;base64,AAAA",
        "vbscript:msgbox(1)",
        "file:///etc/passwd",
        "blob:https://example.com/x",
        "java\x00script:alert(1)",
        "1abc:foo",
    ],
)
def test_unsafe_urls_are_refused(url: str) -> None:
    assert safe_url(url) is None
    assert safe_url(url, image=True) is None


@pytest.mark.parametrize(
    ("url", "link", "image"),
    [
        ("https://example.com/a?b=1&c=2#d", True, True),
        ("http://example.com/x.png", True, True),
        ("mailto:team@example.com", True, False),
        ("/runs/abc", True, False),
        ("../key/x.html", True, False),
        ("#section", True, False),
        ("//cdn.example.com/x.png", True, False),
    ],
)
def test_safe_urls_pass(url: str, link: bool, image: bool) -> None:
    assert (safe_url(url) == url) is link
    assert (safe_url(url, image=True) == url) is image


class _Elements(HTMLParser):
    """Every start tag of an HTML fragment, with its attributes (values unescaped)."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[tuple[str, list[tuple[str, str | None]]]] = []
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.found.append((tag, attrs))


ALLOWED_TAGS = {
    "a", "abbr", "b", "blockquote", "br", "code", "dd", "del", "details", "div", "dl", "dt",
    "em", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "img", "ins", "kbd", "li", "mark",
    "ol", "p", "pre", "q", "s", "samp", "small", "span", "strong", "sub", "summary", "sup",
    "table", "tbody", "td", "tfoot", "th", "thead", "tr", "u", "ul",
}  # fmt: skip


@pytest.mark.parametrize("payload", PAYLOADS)
def test_markdown_of_every_payload_is_inert(payload: str) -> None:
    html = str(markdown_html(payload)) + str(markdown_html(f"[{payload}]({payload})"))
    for tag, attrs in _Elements(html).found:
        assert tag in ALLOWED_TAGS, (tag, html)
        for name, value in attrs:
            assert not name.startswith("on") and name not in ("style", "srcdoc"), (name, html)
            if name in ("href", "src"):
                assert safe_url(value, image=name == "src") == value, (value, html)


def test_markdown_keeps_what_reports_use() -> None:
    html = str(
        markdown_html(
            "# Title\n\n**bold** _it_ ~~gone~~ `code`\n\n| a | b |\n|---|--:|\n| 1 | 2 |\n\n"
            "[site](https://example.com) ![chart](https://example.com/c.png)\n\n"
            "<details><summary>more</summary>hidden</details>"
        )
    )
    for fragment in (
        "<h1>Title</h1>",
        "<strong>bold</strong>",
        "<em>it</em>",
        "<s>gone</s>",
        "<code>code</code>",
        "<table>",
        '<td align="right">2</td>',  # the column's alignment, without a style attribute
        '<a href="https://example.com" rel="noopener noreferrer nofollow">site</a>',
        '<img src="https://example.com/c.png" alt="chart">',
        "<details><summary>more</summary>hidden</details>",
    ):
        assert fragment in html


def test_tables_of_every_shape() -> None:
    assert table_of([{"a": 1}, {"b": 2}]).columns == ["a", "b"]
    assert table_of([{"a": 1}, {"b": 2}]).rows == [[1, None], [None, 2]]
    assert table_of([[1, 2], [3]]).rows == [[1, 2], [3, None]]
    assert table_of({"x": [1, 2], "y": [3]}).rows == [[1, 3], [2, None]]
    rows = [[3], [None], ["b"], [1.5], ["a"], [True]]
    assert sort_rows(rows, 0, False) == [[True], [1.5], [3], ["a"], ["b"], [None]]
    assert sort_rows(rows, 0, True)[-1] == [None]  # blanks last either way


def test_export_links_are_relative_and_never_hold_free_text() -> None:
    links = ExportLinks("artifacts/key/report.html")
    assert links.key("other") == "other.html"
    assert links.artifacts() == "../../index.html"
    assert links.run("0a1b-2c") == "../../runs/0a1b-2c.html"
    odd = links.artifacts(type="<b>../../x</b>")
    assert "<" not in odd and odd.startswith("../type-") and odd.count("..") == 1
    assert ".." not in ExportLinks.asset_path("s3://../../etc/passwd")
    assert ServerLinks().asset("s3://b/x y") == "/assets/view?key=s3%3A%2F%2Fb%2Fx+y"
