"""``cairn asset``: list assets with their health, show one, walk its lineage, draw the graph.

Prefect keeps the asset graph in Prefect Cloud only (``prefect cloud asset``); cairn answers
from the catalog's own lineage index (:class:`cairn.catalog.Lineage`). Health is Prefect
Cloud's: ``succeeded`` or ``failed`` from an asset's latest materialization, ``referenced``
when it was only ever named upstream. The graph's edges come from each asset's latest
materialization.

``--json`` shapes, for scripts:

* ``ls``: an array of ``{"key", "health", "last_seen"}``;
* ``show KEY``: ``{"key", "properties", "materializations"}``, each materialization with
  ``status``, ``upstream`` (keys), ``by``, ``metadata``, ``flow_run_id``, ``task_run_id``,
  ``created``, newest first;
* ``lineage KEY``: an array of ``{"key", "depth"}`` (depth 1: direct neighbours; the key
  itself is not listed); with both directions, each item also has ``"direction"``.
"""

import re
from typing import TYPE_CHECKING, Annotated, Any

import typer

from cairn.cli._errors import fail
from cairn.cli._options import (
    CatalogOption,
    JsonOption,
    OutputOption,
    open_catalog,
    wants_json,
)
from cairn.cli._output import format_time, print_json, relative_time, write

if TYPE_CHECKING:
    from cairn.catalog import LineageGraph

__all__ = ["app", "graph", "lineage", "ls", "show"]

app = typer.Typer(
    rich_markup_mode="markdown",
    name="asset",
    help="List assets and their health, show one, walk its lineage, draw the asset graph.",
    no_args_is_help=True,
    add_completion=False,
)

KeyArgument = Annotated[
    str,
    typer.Argument(
        metavar="KEY", help="The asset key, e.g. s3://bucket/data.csv.", show_default=False
    ),
]


def _not_found(key: str) -> None:
    fail(f"Asset '{key}' not found.")


@app.command("ls")
def ls(
    ctx: typer.Context,
    prefix: Annotated[
        str | None,
        typer.Option("--prefix", "-p", metavar="PREFIX", help="Only keys that start with this."),
    ] = None,
    output: OutputOption = None,
    json_: JsonOption = False,
    catalog: CatalogOption = None,
) -> None:
    """List every asset, materialized or only referenced, with its health and last seen time."""
    as_json = wants_json(json_, output)
    cat = open_catalog(ctx, catalog)
    assets = cat.lineage.assets(prefix=prefix)
    if as_json:
        print_json([a.to_dict() for a in assets])
        return
    if not assets:
        typer.echo("No assets found in this catalog.")
        return
    from rich.table import Table
    from rich.text import Text

    from cairn.cli._output import console

    table = Table(title="Assets", caption="List assets using `cairn asset ls`")
    table.add_column("Key", style="blue", overflow="fold")
    table.add_column("Health", no_wrap=True)
    table.add_column("Last Seen", no_wrap=True)
    styles = {"succeeded": "green", "failed": "red", "referenced": "dim"}
    for a in assets:
        table.add_row(
            Text(a.key), Text(a.health, style=styles[a.health]), Text(relative_time(a.last_seen))
        )
    console().print(table)


@app.command("show")
def show(
    ctx: typer.Context,
    key: KeyArgument,
    limit: Annotated[
        int | None,
        typer.Option("--limit", "-n", min=1, help="Show at most this many materializations."),
    ] = None,
    json_: JsonOption = False,
    catalog: CatalogOption = None,
) -> None:
    """Show an asset: its health, properties, latest metadata and materialization history."""
    cat = open_catalog(ctx, catalog)
    summary = cat.lineage.asset(key)
    if summary is None:
        _not_found(key)
    assert summary is not None
    history = cat.lineage.history(key)[:limit]
    if json_:
        print_json(
            {
                "key": key,
                "properties": summary.properties,
                "materializations": [m.to_dict() for m in history],
            }
        )
        return
    lines = [f"{key}\n", f"  health     {summary.health}\n"]
    lines.append(
        f"  last seen  {format_time(summary.last_seen)} ({relative_time(summary.last_seen)})\n"
    )
    if summary.properties:
        lines.append("Properties:\n")
        for name, value in summary.properties.items():
            if value is not None:
                shown = ", ".join(value) if isinstance(value, list) else str(value)
                lines.append(f"  {name}: {_one_line(shown)}\n")
    if history and history[0].metadata:
        lines.append("Metadata (latest materialization):\n")
        for name, value in history[0].metadata.items():
            lines.append(f"  {name}: {_one_line(_json_text(value))}\n")
    if history:
        lines.append("Materializations (newest first):\n")
    elif summary.health == "referenced":
        lines.append("Never materialized in this catalog: only referenced as an upstream asset.\n")
    for m in history:
        parts = [f"  {format_time(m.created)}  {m.status:<9}"]
        if m.by:
            parts.append(f"by {m.by}")
        if m.task_name:
            parts.append(f"task {m.task_name}")
        if m.flow_run_id:
            parts.append(f"flow run {m.flow_run_id[:8]}")
        lines.append("  ".join(parts) + "\n")
        if m.upstream:
            ups = ", ".join(k + (" (declared)" if k in m.declared else "") for k in m.upstream)
            lines.append(f"      upstream: {ups}\n")
    write("".join(lines))


def _json_text(value: Any) -> str:
    import json

    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _one_line(text: str, width: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 3] + "..."


@app.command("lineage")
def lineage(
    ctx: typer.Context,
    key: KeyArgument,
    upstream: Annotated[
        bool, typer.Option("--upstream", help="Only the assets KEY is built from.")
    ] = False,
    downstream: Annotated[
        bool, typer.Option("--downstream", help="Only the assets built from KEY.")
    ] = False,
    depth: Annotated[
        int | None,
        typer.Option(
            "--depth",
            "-d",
            min=1,
            metavar="N",
            help="Go at most N steps (1: direct neighbours). Default: every depth.",
        ),
    ] = None,
    json_: JsonOption = False,
    catalog: CatalogOption = None,
) -> None:
    """Show what an asset is built from and what is built from it, to any depth.

    Both directions by default, each labelled; --upstream or --downstream picks one. The
    graph follows each asset's latest materialization, across flows.
    """
    from cairn.errors import NotFoundError, ObjectNotFoundError

    both = upstream == downstream
    directions = ["upstream", "downstream"] if both else ["upstream" if upstream else "downstream"]
    cat = open_catalog(ctx, catalog)
    found: dict[str, list[tuple[str, int]]] = {}
    try:
        for direction in directions:
            query = cat.lineage.upstream if direction == "upstream" else cat.lineage.downstream
            found[direction] = query(key, depth)
    except ObjectNotFoundError:
        raise  # a damaged catalog (a ref at a missing object), not an unknown asset
    except NotFoundError:
        _not_found(key)
    if json_:
        items: list[dict[str, Any]] = []
        for direction, pairs in found.items():
            for k, d in pairs:
                item: dict[str, Any] = {"key": k, "depth": d}
                if both:
                    item["direction"] = direction
                items.append(item)
        print_json(items)
        return
    lines = []
    for direction, pairs in found.items():
        lines.append(f"{direction.capitalize()} of {key}:\n")
        if not pairs:
            lines.append("  (none)\n")
        width = len(str(max((d for _, d in pairs), default=1)))
        for k, d in pairs:
            lines.append(f"  {str(d).rjust(width)}  {k}\n")
    write("".join(lines))


@app.command("graph")
def graph(
    ctx: typer.Context,
    format_: Annotated[
        str,
        typer.Option("--format", "-f", metavar="FORMAT", help="mermaid or dot (Graphviz)."),
    ] = "mermaid",
    catalog: CatalogOption = None,
) -> None:
    """Print the whole asset graph as Mermaid or Graphviz DOT, grouped by URI scheme.

    Each scheme (s3, postgres, ...) is a subgraph, as Prefect's UI groups assets. Edges run
    from an upstream asset to the asset built from it. Failed assets are drawn red and
    assets that were only referenced grey.
    """
    kind = format_.strip().lower()
    if kind not in ("mermaid", "dot"):
        fail(f"Unknown graph format {format_!r}: use 'mermaid' or 'dot'.")
    cat = open_catalog(ctx, catalog)
    g = cat.lineage.graph()
    health: dict[str, str] = {a.key: a.health for a in cat.lineage.assets()}
    write(render_mermaid(g, health) if kind == "mermaid" else render_dot(g, health))


# -- graph rendering -----------------------------------------------------------------------

_MERMAID_WORDS = {
    "end", "graph", "flowchart", "subgraph", "style", "class", "classdef", "click",
    "linkstyle", "direction", "default", "call", "href",
}  # fmt: skip
_IDENT = re.compile(r"[a-z][a-z0-9_]*")


def _scheme(key: str) -> str:
    return key.split("://", 1)[0] if "://" in key else ""


def _groups(nodes: list[str]) -> dict[str, list[str]]:
    groups: dict[str, list[str]] = {}
    for key in nodes:
        groups.setdefault(_scheme(key), []).append(key)
    return dict(sorted(groups.items()))


def _group_id(scheme: str, prefix: str = "") -> str:
    """Return a safe identifier for a scheme's subgraph (the scheme itself when it is one)."""
    if prefix:
        return prefix + re.sub(r"[^a-z0-9_]", "_", scheme.lower())
    if _IDENT.fullmatch(scheme) and scheme not in _MERMAID_WORDS:
        return scheme
    return "scheme_" + (re.sub(r"[^a-z0-9_]", "_", scheme.lower()) or "none")


def _mermaid_label(text: str) -> str:
    # Mermaid entity codes: '#' first, since the others are written with it.
    for char, code in (("#", "#35;"), ('"', "#quot;"), ("<", "#lt;"), (">", "#gt;")):
        text = text.replace(char, code)
    return " ".join(text.split())


def render_mermaid(g: "LineageGraph", health: dict[str, str]) -> str:
    """Return the graph as a Mermaid flowchart, one subgraph per URI scheme."""
    ids = {key: f"n{i}" for i, key in enumerate(g.nodes)}
    lines = ["flowchart LR"]
    for scheme, keys in _groups(g.nodes).items():
        lines.append(f'    subgraph {_group_id(scheme)} ["{_mermaid_label(scheme or "(none)")}"]')
        for key in keys:
            lines.append(f'        {ids[key]}["{_mermaid_label(key)}"]')
        lines.append("    end")
    for up, down in g.edges:
        lines.append(f"    {ids[up]} --> {ids[down]}")
    failed = [ids[k] for k in g.nodes if health.get(k) == "failed"]
    referenced = [ids[k] for k in g.nodes if health.get(k) == "referenced"]
    if failed:
        lines.append("    classDef failed fill:#fdd,stroke:#c00")
        lines.append(f"    class {','.join(failed)} failed")
    if referenced:
        lines.append("    classDef referenced fill:#eee,stroke:#999,stroke-dasharray:3")
        lines.append(f"    class {','.join(referenced)} referenced")
    return "\n".join(lines) + "\n"


def _dot_string(text: str) -> str:
    text = text.replace("\\", "\\\\").replace('"', '\\"')
    return '"' + " ".join(text.split()) + '"'


def render_dot(g: "LineageGraph", health: dict[str, str]) -> str:
    """Return the graph in Graphviz DOT, one ``cluster_<scheme>`` subgraph per URI scheme."""
    ids = {key: f"n{i}" for i, key in enumerate(g.nodes)}
    lines = ["digraph assets {", "    rankdir=LR;", "    node [shape=box];"]
    styles = {
        "failed": ' style=filled fillcolor="#ffdddd" color="#cc0000"',
        "referenced": ' style="filled,dashed" fillcolor="#eeeeee" color="#999999"',
    }
    for scheme, keys in _groups(g.nodes).items():
        lines.append(f"    subgraph {_group_id(scheme, 'cluster_')} {{")
        lines.append(f"        label={_dot_string(scheme or '(none)')};")
        for key in keys:
            style = styles.get(health.get(key, ""), "")
            lines.append(f"        {ids[key]} [label={_dot_string(key)}{style}];")
        lines.append("    }")
    for up, down in g.edges:
        lines.append(f"    {ids[up]} -> {ids[down]};")
    lines.append("}")
    return "\n".join(lines) + "\n"
