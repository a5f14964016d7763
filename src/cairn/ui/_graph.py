"""The asset lineage graph as an SVG picture: a layered layout, drawn as a string.

Pure functions, no web framework: the viewer's graph page, ``cairn ui export`` and tests all
call :func:`render_graph_svg` with plain data (:class:`GraphNode` and ``(upstream, asset)``
edges, as :meth:`~cairn.catalog.Lineage.graph` and :meth:`~cairn.catalog.Lineage.assets`
give them; :func:`graph_nodes` does that), and get back one ``<svg>`` element.

The layout is Sugiyama's layered drawing, left to right (asset keys are long URIs, so labels
get the width and layers are columns):

1. **Cycles are broken.** Lineage is a DAG in practice, but ``asset_deps`` lets a user
   declare a cycle. A depth-first search in key order reverses each back edge for the layout;
   such an edge is still drawn from its upstream to its asset (class ``edge-back``).
   Self-loops are left out of the layout and drawn as a small loop on their node.
2. **Layers by longest path**: an asset sits one column right of its furthest upstream, so
   every edge points right (layer of upstream < layer of asset). A root (an asset nothing
   feeds: often one only referenced) is then pulled right next to its nearest consumer, so
   an external source read by the last step does not stretch an edge across the picture.
3. **Dummy nodes** split each edge spanning several layers into one segment per layer, so
   long edges are routed between the nodes of the layers they cross.
4. **Crossings are reduced** by barycenter sweeps (each node moves to the mean position of
   its neighbours in the previous layer, down then up), keeping the order with the fewest
   crossings seen (counted exactly, with a Fenwick tree).
5. **Coordinates** within a layer: each node wants the mean coordinate of its neighbours;
   the positions nearest to those wishes that keep the order and the minimum gaps are found
   exactly (isotonic regression by pool-adjacent-violators), in a few sweeps down and up.
   Dummies weigh more, which straightens long edges.

Every step is deterministic: nodes are taken in key order and ties are broken by it, so the
same graph gives the same bytes whatever the order it was given in.

Safety: keys come from pipelines, not from trusted authors. Every key is XML-escaped (and
characters XML cannot hold are replaced), hrefs come from the caller's ``href`` callable,
are escaped too, and are dropped (the node is drawn without a link) unless relative or
``http``/``https``. The page's Content-Security-Policy forbids inline styles, so nothing
here writes a ``style`` attribute or element: nodes carry classes (``node``,
``node-succeeded``, ``node-failed``, ``node-referenced``, ``node-focus``; edges ``edge``,
``edge-back``) for the app's stylesheet, and SVG presentation attributes (``fill=``, which CSP
does not treat as style, and which any stylesheet rule overrides) as a plain fallback.

Speed (CPU time, one core): bench/ui.py's graph of 1,000 assets (20 layers, 1,900 edges)
lays out and renders in about 50 ms, after 45 ms to read it from the lineage index;
bench/lineage.py's shape (1,010 assets, 2,800 edges) in about 60 ms; 1,000 assets in 53
layers with long edges (7,000 dummies) in about 0.3 s. The goal is the whole
graph page of 1,000 assets in at most 1 s of server time.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import TYPE_CHECKING

from cairn.catalog._lineage import walk_levels
from cairn.errors import InvalidInputError, NotFoundError

if TYPE_CHECKING:
    from cairn.catalog import Lineage
    from cairn.catalog._lineage import Health

__all__ = [
    "GraphLayout",
    "GraphNode",
    "PlacedEdge",
    "PlacedNode",
    "graph_nodes",
    "layout_graph",
    "neighbourhood",
    "render_graph_svg",
    "short_label",
]

NODE_WIDTH = 200.0
NODE_HEIGHT = 28.0
LAYER_GAP = 90.0
"""Horizontal room between two columns of nodes, where the edges run."""
NODE_GAP = 12.0
"""Vertical room between two nodes of a column."""
DUMMY_GAP = 6.0
"""Vertical room beside an edge passing through a column."""
MARGIN = 16.0
LABEL_MAX = 30
"""Characters of a key shown in its node (the whole key is in the node's tooltip)."""

_ORDER_SWEEPS = 4
"""Down-and-up barycenter iterations. More rarely removes crossings on lineage graphs."""
_PLACE_SWEEPS = 4
_DUMMY_WEIGHT = 4.0
_ALONE_WEIGHT = 1e-6
_LAST = float("inf")

_FILL = {"succeeded": "#e6f4ea", "failed": "#fce8e6", "referenced": "#f1f3f4"}
_STROKE = {"succeeded": "#1e8e3e", "failed": "#d93025", "referenced": "#80868b"}
_HEALTHS = frozenset(_FILL)

# XML 1.0 cannot hold these at all, escaped or not (and a lone surrogate cannot be encoded).
_NOT_XML = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*):")
# Browsers ignore these anywhere in a URL's scheme ("java\tscript:" is "javascript:").
_URL_IGNORED = re.compile("[\t\n\r]")
_C0_AND_SPACE = "".join(chr(i) for i in range(0x21))


@dataclass(frozen=True)
class GraphNode:
    """An asset to draw: its key and its health."""

    key: str
    health: Health = "referenced"
    """``succeeded`` or ``failed`` (its latest materialization), or ``referenced`` only."""


@dataclass(frozen=True)
class PlacedNode:
    """A node where the layout put it: ``x``, ``y`` are its center."""

    key: str
    health: Health
    layer: int
    """Its column, from 0 at the left; every edge goes to a higher layer but ``reversed``."""
    x: float
    y: float


@dataclass(frozen=True)
class PlacedEdge:
    """An edge ``(source, target)`` (upstream to asset) and the points its line runs through."""

    source: str
    target: str
    points: tuple[tuple[float, float], ...]
    """From the source's border to the target's border, through each layer crossed."""
    reversed: bool
    """The edge closes a cycle: the layout turned it around, and it runs right to left."""


@dataclass(frozen=True)
class GraphLayout:
    """A laid-out graph: nodes and edges with coordinates, and the picture's size."""

    nodes: list[PlacedNode]
    edges: list[PlacedEdge]
    loops: list[str]
    """Keys with an edge to themselves (drawn as a loop on the node)."""
    width: float
    height: float
    crossings: int
    """Edge crossings between adjacent layers in the chosen order (dummy segments included)."""


# -- inputs -----------------------------------------------------------------------------


def graph_nodes(
    lineage: Lineage, key: str | None = None, depth: int | None = None
) -> tuple[list[GraphNode], list[tuple[str, str]]]:
    """Return a catalog's asset graph as nodes with health and edges, ready to draw.

    Args:
        lineage: ``catalog.lineage``.
        key: only this asset's neighbourhood (see :func:`neighbourhood`); None: the whole
            graph.
        depth: for ``key``, how many steps upstream and downstream (None: all).

    Raises:
        NotFoundError: ``key`` is not an asset of the catalog.
    """
    graph = lineage.graph()
    health = {a.key: a.health for a in lineage.assets()}
    nodes = [GraphNode(k, health.get(k, "referenced")) for k in graph.nodes]
    if key is None:
        return nodes, list(graph.edges)
    return neighbourhood(nodes, graph.edges, key, depth)


def neighbourhood(
    nodes: Sequence[GraphNode],
    edges: Iterable[tuple[str, str]],
    key: str,
    depth: int | None = 1,
) -> tuple[list[GraphNode], list[tuple[str, str]]]:
    """Return the part of a graph around ``key``: its upstream and downstream to ``depth``.

    The nodes kept are ``key``, every asset ``key`` is built from within ``depth`` steps,
    and every asset built from it within ``depth`` steps (as :meth:`Lineage.upstream
    <cairn.catalog.Lineage.upstream>` and ``downstream`` walk: siblings, which share an
    upstream with ``key`` but are neither, are not kept). The edges kept are all those
    between kept nodes.

    Args:
        nodes: the whole graph's nodes.
        edges: the whole graph's edges ``(upstream, asset)``.
        key: the asset in the middle.
        depth: steps each way (1: direct neighbours); None for every depth.

    Raises:
        NotFoundError: ``key`` is not among ``nodes`` or the edges' ends.
        InvalidInputError: ``depth`` is less than 1.
    """
    if depth is not None and depth < 1:
        raise InvalidInputError(f"depth must be 1 or more, got {depth}")
    edge_list = list(edges)
    by_key = {n.key: n for n in nodes}
    for up, down in edge_list:
        by_key.setdefault(up, GraphNode(up))
        by_key.setdefault(down, GraphNode(down))
    if key not in by_key:
        raise NotFoundError(f"Asset {key!r} not found.")
    ups: dict[str, list[str]] = {}
    downs: dict[str, list[str]] = {}
    for up, down in edge_list:
        downs.setdefault(up, []).append(down)
        ups.setdefault(down, []).append(up)
    keep = {key}
    for adjacency in (ups, downs):
        keep.update(k for k, _ in walk_levels(adjacency, key, depth))
    kept_nodes = [by_key[k] for k in sorted(keep)]
    kept_edges = sorted({(u, v) for u, v in edge_list if u in keep and v in keep})
    return kept_nodes, kept_edges


# -- layout -----------------------------------------------------------------------------


def layout_graph(nodes: Sequence[GraphNode], edges: Iterable[tuple[str, str]]) -> GraphLayout:
    """Lay a graph out in layers, left to right (see the module docstring for the steps).

    A key that appears only in ``edges`` is added as a ``referenced`` node; a key given
    twice keeps its first health; an edge given twice is drawn once.
    """
    health: dict[str, Health] = {}
    for node in nodes:
        if node.key not in health:
            health[node.key] = node.health if node.health in _HEALTHS else "referenced"
    pairs = sorted(set(edges))
    for up, down in pairs:
        health.setdefault(up, "referenced")
        health.setdefault(down, "referenced")
    keys = sorted(health)
    index = {k: i for i, k in enumerate(keys)}
    n = len(keys)
    loops = sorted({u for u, v in pairs if u == v})
    real = [(index[u], index[v]) for u, v in pairs if u != v]

    flipped = _back_edges(n, real)
    dag = sorted({(v, u) if (u, v) in flipped else (u, v) for u, v in real})
    layer = _layers(n, dag)

    # Split long edges: vertices n.. are dummies, one per layer crossed.
    vlayer = list(layer)
    chains: dict[tuple[int, int], list[int]] = {}
    segments: list[tuple[int, int]] = []
    for u, v in dag:
        chain = [u]
        for lay in range(layer[u] + 1, layer[v]):
            vlayer.append(lay)
            chain.append(len(vlayer) - 1)
        chain.append(v)
        chains[(u, v)] = chain
        segments.extend(pairwise(chain))
    total = len(vlayer)
    up_of: list[list[int]] = [[] for _ in range(total)]
    down_of: list[list[int]] = [[] for _ in range(total)]
    for a, b in segments:
        down_of[a].append(b)
        up_of[b].append(a)

    layers: list[list[int]] = [[] for _ in range(max(vlayer, default=-1) + 1)]
    for vertex, lay in enumerate(vlayer):
        layers[lay].append(vertex)
    crossings = _order(layers, up_of, down_of)
    ys = _place(layers, up_of, down_of, n)

    column = NODE_WIDTH + LAYER_GAP
    half_w = NODE_WIDTH / 2
    top = min(ys, default=0.0) - NODE_HEIGHT / 2
    shift = MARGIN - top

    def x_of(vertex: int) -> float:
        return MARGIN + half_w + vlayer[vertex] * column

    placed = [
        PlacedNode(keys[i], health[keys[i]], layer[i], x_of(i), ys[i] + shift) for i in range(n)
    ]
    placed_edges = []
    for u, v in real:
        back = (u, v) in flipped
        chain = chains[(v, u) if back else (u, v)]
        points = [(x_of(chain[0]) + half_w, ys[chain[0]] + shift)]
        for d in chain[1:-1]:
            # Across a column the line runs level, in the gap its dummy holds.
            points.append((x_of(d) - half_w, ys[d] + shift))
            points.append((x_of(d) + half_w, ys[d] + shift))
        points.append((x_of(chain[-1]) - half_w, ys[chain[-1]] + shift))
        if back:
            points.reverse()
        placed_edges.append(PlacedEdge(keys[u], keys[v], tuple(points), back))
    width = MARGIN * 2 + max(len(layers) * column - LAYER_GAP, 0.0)
    height = max(ys, default=0.0) + shift + NODE_HEIGHT / 2 + MARGIN
    return GraphLayout(placed, placed_edges, loops, width, max(height, MARGIN * 2), crossings)


def _back_edges(n: int, edges: Sequence[tuple[int, int]]) -> set[tuple[int, int]]:
    """Return the edges a depth-first search (from vertex 0 up) finds closing a cycle."""
    out: list[list[int]] = [[] for _ in range(n)]
    for u, v in edges:
        out[u].append(v)
    state = [0] * n  # 0 unseen, 1 on the stack, 2 done
    back: set[tuple[int, int]] = set()
    for start in range(n):
        if state[start]:
            continue
        state[start] = 1
        stack = [(start, 0)]
        while stack:
            vertex, i = stack[-1]
            if i == len(out[vertex]):
                state[vertex] = 2
                stack.pop()
                continue
            stack[-1] = (vertex, i + 1)
            nxt = out[vertex][i]
            if state[nxt] == 1:
                back.add((vertex, nxt))
            elif state[nxt] == 0:
                state[nxt] = 1
                stack.append((nxt, 0))
    return back


def _layers(n: int, dag: Sequence[tuple[int, int]]) -> list[int]:
    """Return each vertex's layer: longest path from a root, roots then pulled to the right."""
    out: list[list[int]] = [[] for _ in range(n)]
    indegree = [0] * n
    for u, v in dag:
        out[u].append(v)
        indegree[v] += 1
    layer = [0] * n
    left = list(indegree)
    queue = deque(i for i in range(n) if indegree[i] == 0)
    while queue:
        u = queue.popleft()
        for v in out[u]:
            if layer[u] + 1 > layer[v]:
                layer[v] = layer[u] + 1
            left[v] -= 1
            if left[v] == 0:
                queue.append(v)
    for u in range(n):
        if indegree[u] == 0 and out[u]:
            layer[u] = min(layer[v] for v in out[u]) - 1
    return layer


def _order(layers: list[list[int]], up_of: list[list[int]], down_of: list[list[int]]) -> int:
    """Order each layer (in place) by barycenter sweeps; return the crossings left."""
    pos = [0.0] * len(up_of)

    def number() -> None:
        for members in layers:
            for i, vertex in enumerate(members):
                pos[vertex] = float(i)

    def sweep(sequence: Iterable[int], neighbours: list[list[int]]) -> None:
        for lay in sequence:
            members = layers[lay]
            keys = {}
            for vertex in members:
                near = neighbours[vertex]
                if near:
                    bary = sum(pos[w] for w in near) / len(near)
                elif up_of[vertex] or down_of[vertex]:
                    bary = pos[vertex]
                else:
                    bary = _LAST  # a node on its own goes below the others
                keys[vertex] = (bary, pos[vertex])
            members.sort(key=keys.__getitem__)
            for i, vertex in enumerate(members):
                pos[vertex] = float(i)

    number()
    best = _crossings(layers, down_of, pos)
    best_order = [list(m) for m in layers]
    for _ in range(_ORDER_SWEEPS):
        if best == 0:
            break
        sweep(range(1, len(layers)), up_of)
        sweep(range(len(layers) - 2, -1, -1), down_of)
        count = _crossings(layers, down_of, pos)
        if count < best:
            best, best_order = count, [list(m) for m in layers]
    # Nodes on their own go last in their layer (the sweeps may have stopped before).
    alone = [not (up_of[v] or down_of[v]) for v in range(len(up_of))]
    layers[:] = [sorted(m, key=alone.__getitem__) for m in best_order]
    return best


def _crossings(layers: list[list[int]], down_of: list[list[int]], pos: list[float]) -> int:
    """Return how many pairs of segments cross between adjacent layers (exact)."""
    total = 0
    for lay in range(len(layers) - 1):
        size = len(layers[lay + 1])
        ends = sorted((int(pos[a]), int(pos[b])) for a in layers[lay] for b in down_of[a])
        # Count pairs (earlier start, later end) inverted: a Fenwick tree over end positions.
        tree = [0] * (size + 1)
        for seen, (_, end) in enumerate(ends):
            # How many earlier segments end after this one's end.
            i = end + 1
            not_after = 0
            while i > 0:
                not_after += tree[i]
                i -= i & -i
            total += seen - not_after
            i = end + 1
            while i <= size:
                tree[i] += 1
                i += i & -i
    return total


def _place(
    layers: list[list[int]], up_of: list[list[int]], down_of: list[list[int]], real: int
) -> list[float]:
    """Return each vertex's coordinate within its layer (vertices below ``real`` are nodes)."""
    total = len(up_of)
    y = [0.0] * total
    weight = [1.0 if v < real else _DUMMY_WEIGHT for v in range(total)]
    gaps: list[list[float]] = []
    for members in layers:
        g = []
        for a, b in pairwise(members):
            size_a = NODE_HEIGHT if a < real else 0.0
            size_b = NODE_HEIGHT if b < real else 0.0
            sep = NODE_GAP if a < real and b < real else DUMMY_GAP
            g.append((size_a + size_b) / 2 + sep)
        gaps.append(g)
        at = 0.0
        for i, vertex in enumerate(members):
            y[vertex] = at
            if i < len(g):
                at += g[i]

    def sweep(sequence: Iterable[int], neighbours: list[list[int]] | None) -> None:
        for lay in sequence:
            members = layers[lay]
            wish: list[float] = []
            pull: list[float] = []
            for vertex in members:
                near = (
                    neighbours[vertex]
                    if neighbours is not None
                    else up_of[vertex] + down_of[vertex]
                )
                if near:
                    wish.append(sum(y[w] for w in near) / len(near))
                    pull.append(weight[vertex])
                else:
                    # Nothing to follow this way: stay, but yield to nodes that have; a node
                    # on its own just packs against its layer's others.
                    wish.append(y[vertex])
                    alone = not (up_of[vertex] or down_of[vertex])
                    pull.append(_ALONE_WEIGHT if alone else weight[vertex])
            for vertex, value in zip(members, _fit(wish, gaps[lay], pull), strict=True):
                y[vertex] = value

    for _ in range(_PLACE_SWEEPS):
        sweep(range(1, len(layers)), up_of)
        sweep(range(len(layers) - 2, -1, -1), down_of)
    sweep(range(len(layers)), None)
    # Nodes on their own (ordered last) follow nothing, so the others drift away from them
    # over the sweeps: stack them under their layer's last node, or from the top.
    top = min((y[v] for v in range(total) if up_of[v] or down_of[v]), default=0.0)
    for lay, members in enumerate(layers):
        for i, vertex in enumerate(members):
            if not (up_of[vertex] or down_of[vertex]):
                y[vertex] = y[members[i - 1]] + gaps[lay][i - 1] if i else top
    return y


def _fit(wish: list[float], gaps: list[float], weights: list[float]) -> list[float]:
    """Return positions closest to ``wish`` (weighted least squares) keeping order and gaps.

    With ``p[i+1] - p[i] >= gaps[i]``, write ``p[i] = q[i] + G[i]`` (``G`` the gaps' running
    sum): ``q`` must be non-decreasing, which pool-adjacent-violators solves exactly in
    linear time.
    """
    offsets = [0.0]
    for gap in gaps:
        offsets.append(offsets[-1] + gap)
    # Blocks of pooled values: [weighted sum, weight, count].
    blocks: list[list[float]] = []
    for target, offset, w in zip(wish, offsets, weights, strict=False):
        blocks.append([(target - offset) * w, w, 1])
        while len(blocks) > 1 and blocks[-2][0] / blocks[-2][1] > blocks[-1][0] / blocks[-1][1]:
            last = blocks.pop()
            blocks[-1][0] += last[0]
            blocks[-1][1] += last[1]
            blocks[-1][2] += last[2]
    out: list[float] = []
    for total, w, count in blocks:
        out.extend([total / w] * int(count))
    return [q + offset for q, offset in zip(out, offsets, strict=True)]


# -- drawing ----------------------------------------------------------------------------


def short_label(key: str, limit: int = LABEL_MAX) -> str:
    """Return ``key`` shortened to at most ``limit`` characters, keeping its end.

    The end of an asset key (its last path segments) tells assets apart best; the scheme
    (``s3://``) is kept when there is room.

    Example:
        >>> short_label("s3://lake/warehouse/daily/orders-2024.parquet", 26)
        's3://…/orders-2024.parquet'
    """
    if len(key) <= limit:
        return key
    scheme = key[: key.index("://") + 3] if "://" in key else ""
    segments = key[len(scheme) :].split("/")
    for prefix in (f"{scheme}…/", "…/") if scheme else ("…/",):
        tail = ""
        for segment in reversed(segments):
            candidate = segment if not tail else f"{segment}/{tail}"
            if len(prefix) + len(candidate) > limit:
                break
            tail = candidate
        if tail:
            return prefix + tail
    return "…" + key[-(limit - 1) :]


def _xml(text: str) -> str:
    """Return ``text`` escaped for XML text and double-quoted attributes."""
    text = _NOT_XML.sub("\ufffd", text)
    return (
        text.replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace('"', "&quot;")
        .replace("'", "&#39;")
    )


def _safe_href(url: str) -> str | None:
    """Return ``url`` if it is relative or http(s), else None (no link is drawn)."""
    if not isinstance(url, str):
        return None
    # Browsers drop leading controls and spaces, and tabs and newlines anywhere.
    probe = _URL_IGNORED.sub("", url).lstrip(_C0_AND_SPACE)
    match = _SCHEME.match(probe)
    if match and match.group(1).lower() not in ("http", "https"):
        return None
    return url


def _num(value: float) -> str:
    text = f"{value:.1f}"
    return text[:-2] if text.endswith(".0") else text


def _path(points: Sequence[tuple[float, float]]) -> str:
    """Return SVG path data through ``points``: level lines and S-curves between columns."""
    (x0, y0), rest = points[0], points[1:]
    parts = [f"M{_num(x0)} {_num(y0)}"]
    for x1, y1 in rest:
        if y1 == y0:
            parts.append(f"L{_num(x1)} {_num(y1)}")
        else:
            mid = (x0 + x1) / 2
            parts.append(f"C{_num(mid)} {_num(y0)} {_num(mid)} {_num(y1)} {_num(x1)} {_num(y1)}")
        x0, y0 = x1, y1
    return " ".join(parts)


def render_graph_svg(
    nodes: Sequence[GraphNode],
    edges: Iterable[tuple[str, str]],
    *,
    href: Callable[[str], str],
    focus: str | None = None,
) -> str:
    """Return the graph as one ``<svg>`` element, each node a link to its asset's page.

    Args:
        nodes: the assets, with their health (:func:`graph_nodes`).
        edges: ``(upstream, asset)`` pairs.
        href: the URL of an asset's page, given its key. Only relative and ``http(s)``
            URLs are linked; the result is escaped here.
        focus: a key to highlight (class ``node-focus``), as on an asset's own graph.

    Example:
        >>> svg = render_graph_svg(
        ...     [GraphNode("s3://b/raw.csv", "succeeded"), GraphNode("s3://b/clean.csv")],
        ...     [("s3://b/raw.csv", "s3://b/clean.csv")],
        ...     href=lambda key: "/assets?key=" + key,
        ... )
        >>> svg.startswith("<svg") and svg.count("<a ") == 2
        True
    """
    layout = layout_graph(nodes, edges)
    width, height = _num(layout.width), _num(layout.height)
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="lineage-graph" role="img" '
        f'width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'font-family="sans-serif" font-size="12">',
        "<title>Asset lineage graph</title>",
        '<defs><marker id="cairn-graph-arrow" class="arrowhead" viewBox="0 0 10 10" '
        'refX="10" refY="5" markerWidth="8" markerHeight="8" orient="auto-start-reverse">'
        '<path d="M0 0 L10 5 L0 10 z" fill="#5f6368"/></marker></defs>',
        '<g class="edges" fill="none" stroke="#9aa0a6" stroke-width="1.2">',
    ]
    for edge in layout.edges:
        cls = "edge edge-back" if edge.reversed else "edge"
        dash = ' stroke-dasharray="4 3"' if edge.reversed else ""
        out.append(
            f'<path class="{cls}" d="{_path(edge.points)}"{dash} '
            f'marker-end="url(#cairn-graph-arrow)"><title>'
            f"{_xml(edge.source)} → {_xml(edge.target)}</title></path>"
        )
    by_key = {p.key: p for p in layout.nodes}
    for key in layout.loops:
        # A loop out of the node's right side and back, in the room between columns.
        p = by_key[key]
        x = p.x + NODE_WIDTH / 2
        out.append(
            f'<path class="edge edge-loop" d="M{_num(x)} {_num(p.y - 7)} '
            f"C{_num(x + 26)} {_num(p.y - 22)} {_num(x + 26)} {_num(p.y + 22)} "
            f'{_num(x)} {_num(p.y + 7)}" marker-end="url(#cairn-graph-arrow)">'
            f"<title>{_xml(key)} → {_xml(key)}</title></path>"
        )
    out.append("</g>")
    out.append('<g class="nodes">')
    half_w, half_h = NODE_WIDTH / 2, NODE_HEIGHT / 2
    for p in layout.nodes:
        cls = f"node node-{p.health}" + (" node-focus" if p.key == focus else "")
        stroke_width = "2.5" if p.key == focus else "1"
        shape = (
            f'<g class="{cls}"><title>{_xml(p.key)} ({p.health})</title>'
            f'<rect x="{_num(p.x - half_w)}" y="{_num(p.y - half_h)}" '
            f'width="{_num(NODE_WIDTH)}" height="{_num(NODE_HEIGHT)}" rx="5" '
            f'fill="{_FILL[p.health]}" stroke="{_STROKE[p.health]}" '
            f'stroke-width="{stroke_width}"/>'
            f'<text x="{_num(p.x)}" y="{_num(p.y)}" text-anchor="middle" '
            f'dominant-baseline="central" fill="#202124">{_xml(short_label(p.key))}</text>'
            "</g>"
        )
        url = _safe_href(href(p.key))
        if url is None:
            out.append(shape)
        else:
            out.append(f'<a href="{_xml(url)}">{shape}</a>')
    out.append("</g></svg>")
    return "\n".join(out)
