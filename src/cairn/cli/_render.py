"""How ``cairn artifact show`` draws one artifact in a terminal, by type.

* markdown: rendered by rich, links written as ``text (url)`` so the URL is always visible;
* link artifacts (markdown with a ``link``): the text and the URL;
* table: the JSON table drawn as a table, whatever its shape (a dict of columns, a list of row
  dicts, a list of row lists);
* image: the image's URL, or for an image stored in the catalog its type and size;
* progress: a bar and the percentage;
* anything else: the string as it is, or a pretty-printed value.

Every string from the catalog is given to rich as :class:`rich.text.Text` or
:class:`rich.markdown.Markdown`, never as markup, so ``[...]`` in the data is printed as is.
This module imports rich at import time: import it only to draw something.
"""

from __future__ import annotations

import json
from itertools import zip_longest
from typing import TYPE_CHECKING, Any

from rich.console import Console, RenderableType
from rich.markdown import Markdown
from rich.pretty import Pretty
from rich.rule import Rule
from rich.table import Table
from rich.text import Text

from cairn.cli._output import format_time

if TYPE_CHECKING:
    from cairn.catalog import ArtifactResponse

__all__ = ["MAX_TABLE_ROWS", "render_artifact", "render_table"]

MAX_TABLE_ROWS = 1000
"""Tables longer than this are cut on screen (``--json`` prints them whole)."""

_BAR_WIDTH = 40


def render_artifact(console: Console, artifact: ArtifactResponse) -> None:
    """Print ``artifact``: a header (key, type, id, times, run), its description and its data."""
    header = Text()
    header.append(artifact.key or "(keyless)", style="bold blue")
    header.append("  ")
    header.append(artifact.type, style="magenta")
    console.print(header)
    details = [f"id {artifact.id}", f"created {format_time(artifact.created)}"]
    if artifact.updated != artifact.created:
        details.append(f"updated {format_time(artifact.updated)}")
    if artifact.flow_run_id:
        details.append(f"flow run {artifact.flow_run_id}")
    if artifact.task_run_id:
        details.append(f"task run {artifact.task_run_id}")
    console.print(Text("\n".join(details), style="dim"))
    if artifact.description:
        console.print(Markdown(artifact.description, hyperlinks=False))
    console.print(Rule(style="dim"))
    console.print(render_data(artifact))


def render_data(artifact: ArtifactResponse) -> RenderableType:
    """Return a renderable for the artifact's data, chosen by its type."""
    data = artifact.data
    kind = artifact.type
    if artifact.link is not None:
        return _link(artifact.link, artifact.link_text)
    if kind == "table" and isinstance(data, str):
        try:
            rows = json.loads(data)
        except ValueError:
            return Text(data)
        return render_table(rows)
    if kind == "progress" and isinstance(data, (int, float)):
        return _progress(float(data))
    if artifact.image is not None:
        return Text.assemble(("Image: ", "bold"), artifact.image.describe())
    if kind == "image" and isinstance(data, str):
        return Text.assemble(("Image: ", "bold"), (data, "underline blue"))
    if kind == "markdown" and isinstance(data, str):
        return Markdown(data, hyperlinks=False)
    if isinstance(data, str):
        return Text(data)
    return Pretty(data)


def _link(link: str, text: str | None) -> Text:
    if text and text != link:
        return Text.assemble((text, "bold"), "  ", (link, "underline blue"))
    return Text(link, style="underline blue")


def _progress(value: float) -> Text:
    share = min(max(value, 0.0), 100.0) / 100.0
    filled = round(share * _BAR_WIDTH)
    return Text.assemble(
        ("█" * filled, "green"),
        ("░" * (_BAR_WIDTH - filled), "dim"),
        f" {value:.1f}%",
    )


def _cell(value: Any) -> Text:
    if value is None:
        return Text("")
    if isinstance(value, str):
        return Text(value)
    return Text(json.dumps(value, ensure_ascii=False))


def render_table(rows: Any) -> RenderableType:
    """Return a rich table for a table artifact's parsed data.

    Args:
        rows: ``json.loads`` of the data: a dict of columns, a list of row dicts or a list
            of row lists. Anything else is pretty-printed as it is.
    """
    header: list[str] | None
    body: list[list[Any]]
    if isinstance(rows, dict) and all(isinstance(c, list) for c in rows.values()):
        header = [str(name) for name in rows]
        body = [list(r) for r in zip_longest(*rows.values(), fillvalue=None)]
    elif isinstance(rows, list) and all(isinstance(r, dict) for r in rows):
        names: dict[str, None] = {}
        for row in rows:
            names.update(dict.fromkeys(row))
        header = list(names)
        body = [[row.get(name) for name in header] for row in rows]
    elif isinstance(rows, list) and all(isinstance(r, list) for r in rows):
        header = None
        width = max((len(r) for r in rows), default=0)
        body = [list(r) + [None] * (width - len(r)) for r in rows]
    else:
        return Pretty(rows)
    width = len(header) if header is not None else max((len(r) for r in body), default=0)
    table = Table(show_header=header is not None, show_lines=False)
    for i in range(width):
        table.add_column(Text(header[i] if header is not None else str(i)), overflow="fold")
    for row in body[:MAX_TABLE_ROWS]:
        table.add_row(*(_cell(v) for v in row))
    if len(body) > MAX_TABLE_ROWS:
        table.caption = f"{MAX_TABLE_ROWS} of {len(body)} rows shown; --json prints them all"
    if not body:
        table.caption = "(no rows)"
    return table
