"""The asset pages: the assets by URI scheme and path, one asset, and the lineage graph.

Read through ``catalog.lineage`` (:class:`cairn.catalog.Lineage`), whose derived index
answers without reading every record:

* **Assets** (``/assets``): every asset, grouped by URI scheme (``s3``, ``file``,
  ``postgres``...) and nested by the parts of its path, as Prefect's UI groups them, each with
  its health: ``succeeded`` or ``failed`` from its latest materialization, or ``referenced``
  when pipelines only read it.
* **An asset** (``/assets/view?key=...``): its properties (last writer wins), health, the
  metadata of its latest materialization, every materialization newest first (status, when,
  by, the run and task that made it, what it was built from), its upstream and downstream
  assets at every depth, and the graph around it.
* **The lineage graph** (``/assets/graph``, ``?key=`` for one asset's neighbourhood): an
  SVG drawn by :func:`cairn.ui._graph.render_graph_svg`, each node a link to its asset.

:func:`routes` gives the app its routes and :func:`export` writes the same pages into an
export; :mod:`cairn.ui._app` and :mod:`cairn.ui._export` call them when this module exists.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from markupsafe import Markup

from cairn.ui._links import ExportLinks, Links
from cairn.ui._render import cell_text, markdown_html, safe_url
from cairn.ui._views import Page, PageNotFound

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import BaseRoute

    from cairn.catalog import AssetSummary, Catalog
    from cairn.ui._app import Site

__all__ = ["asset_page", "assets_page", "export", "graph_page", "routes", "split_key"]


def split_key(key: str) -> tuple[str, list[str]]:
    """Return an asset key's scheme and path parts: ``s3://b/x.csv`` -> ``s3``, [b, x.csv].

    A key without ``://`` has the scheme ``""`` and is one part.

    Example:
        >>> split_key("s3://bucket/reports/q3.md")
        ('s3', ['bucket', 'reports', 'q3.md'])
    """
    scheme, sep, rest = key.partition("://")
    if not sep:
        return "", [key]
    parts = [p for p in rest.split("/") if p] or [rest]
    return scheme, parts


@dataclass
class TreeNode:
    """A folder of the assets tree: its name, an asset of that exact path if any, children."""

    name: str
    asset: dict[str, Any] | None = None
    children: list[TreeNode] = field(default_factory=list)
    _index: dict[str, TreeNode] = field(default_factory=dict, repr=False)

    def child(self, name: str) -> TreeNode:
        node = self._index.get(name)
        if node is None:
            node = self._index[name] = TreeNode(name)
            self.children.append(node)
        return node


def _row(links: Links, summary: AssetSummary) -> dict[str, Any]:
    props = summary.properties or {}
    return {
        "key": summary.key,
        "health": summary.health,
        "last_seen": summary.last_seen,
        "name": props.get("name") or "",
        "link": links.asset(summary.key),
    }


def assets_page(catalog: Catalog, links: Links) -> Page:
    """Every asset, grouped by URI scheme and nested by path, with its health."""
    summaries = catalog.lineage.assets()
    groups: dict[str, TreeNode] = {}
    for s in summaries:  # sorted by key: folders come out sorted too
        scheme, parts = split_key(s.key)
        node = groups.setdefault(scheme, TreeNode(scheme))
        for part in parts:
            node = node.child(part)
        node.asset = _row(links, s)
    counts: dict[str, int] = {}
    for s in summaries:
        counts[s.health] = counts.get(s.health, 0) + 1
    return Page(
        "assets.html",
        {
            "groups": [groups[k] for k in sorted(groups)],
            "total": len(summaries),
            "counts": sorted(counts.items()),
        },
        title="Assets",
    )


def _graph_svg(catalog: Catalog, links: Links, key: str | None, depth: int | None) -> Markup:
    from cairn.ui._graph import graph_nodes, render_graph_svg

    nodes, edges = graph_nodes(catalog.lineage, key, depth)
    if not nodes:
        return Markup("")
    # render_graph_svg escapes every key and href itself, and draws no script or style.
    return Markup(render_graph_svg(nodes, edges, href=links.asset, focus=key))


def asset_page(catalog: Catalog, links: Links, key: str) -> Page:
    """One asset: properties, health, metadata, materializations, upstream and downstream."""
    summary = catalog.lineage.asset(key)
    if summary is None:
        raise PageNotFound(f"Asset {key!r} not found.")
    props = summary.properties or {}
    history = catalog.lineage.history(key)
    run_names = _run_names(catalog, {e.flow_run_id for e in history if e.flow_run_id})
    materializations = [
        {
            "id": e.id,
            "status": e.status,
            "created": e.created,
            "by": e.by,
            "task_name": e.task_name,
            "flow_run": (run_names.get(e.flow_run_id, e.flow_run_id), links.run(e.flow_run_id))
            if e.flow_run_id
            else None,
            "task_run": links.run(e.task_run_id) if e.task_run_id else None,
            "upstream": [(u, links.asset(u), u in e.declared) for u in e.upstream],
            "metadata": sorted((str(k), cell_text(v)) for k, v in e.metadata.items()),
        }
        for e in history
    ]
    url = props.get("url")
    owners = props.get("owners") or []
    return Page(
        "asset.html",
        {
            "key": key,
            "summary": summary,
            "name": props.get("name"),
            "url": url,
            "url_href": safe_url(url) if isinstance(url, str) else None,
            "description": markdown_html(props.get("description")),
            "owners": [str(o) for o in owners] if isinstance(owners, list) else [str(owners)],
            "metadata": materializations[0]["metadata"] if materializations else [],
            "materializations": materializations,
            "upstream": [(k, d, links.asset(k)) for k, d in catalog.lineage.upstream(key)],
            "downstream": [(k, d, links.asset(k)) for k, d in catalog.lineage.downstream(key)],
            "graph": _graph_svg(catalog, links, key, None),
        },
        title=key,
    )


def _run_names(catalog: Catalog, ids: set[str]) -> dict[str, str]:
    from cairn.errors import CatalogError

    names = {}
    for run_id in ids:
        try:
            names[run_id] = catalog.runs.get(run_id).name
        except CatalogError:
            continue
    return names


def graph_page(catalog: Catalog, links: Links, key: str | None = None) -> Page:
    """The lineage graph: the whole graph, or ``key``'s upstream and downstream."""
    from cairn.errors import NotFoundError

    if key is not None and catalog.lineage.asset(key) is None:
        raise PageNotFound(f"Asset {key!r} not found.")
    try:
        svg = _graph_svg(catalog, links, key, None)
    except NotFoundError as exc:
        raise PageNotFound(str(exc)) from None
    return Page(
        "graph.html",
        {"key": key, "svg": svg, "assets": len(catalog.lineage.graph().nodes)},
        title="Lineage graph" if key is None else f"Lineage of {key}",
    )


def routes(
    site: Site,
    links_for: Callable[[Request], Links],
    html: Callable[[Request, Page], Response],
    int_param: Callable[[Request, str], int],
) -> list[BaseRoute]:
    """The app's routes for the asset pages."""
    from starlette.routing import Route

    catalog = site.catalog

    def _key(request: Request, required: bool) -> str | None:
        key = request.query_params.get("key")
        if required and not key:
            raise PageNotFound("give the asset's key: /assets/view?key=...")
        return key or None

    def assets(request: Request) -> Response:
        return html(request, assets_page(catalog, links_for(request)))

    def asset(request: Request) -> Response:
        key = _key(request, True)
        assert key is not None
        return html(request, asset_page(catalog, links_for(request), key))

    def graph(request: Request) -> Response:
        return html(request, graph_page(catalog, links_for(request), _key(request, False)))

    return [
        Route("/assets", assets),
        Route("/assets/view", asset),
        Route("/assets/graph", graph),
    ]


def export(site: Site, catalog: Catalog, page: Callable[..., None]) -> int:
    """Write the asset pages into an export (``page(path, view, *args)``); return how many."""
    summaries = catalog.lineage.assets()
    page("assets/index.html", assets_page)
    page(ExportLinks.graph_path(None), graph_page)
    for s in summaries:
        page(ExportLinks.asset_path(s.key), asset_page, s.key)
        page(ExportLinks.graph_path(s.key), graph_page, s.key)
    return len(summaries)
