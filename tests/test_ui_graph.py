"""The lineage graph's layout and SVG (cairn.ui._graph): layers, overlap, safety, size."""

from __future__ import annotations

import itertools
import random
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Sequence
from urllib.parse import quote

import pytest

from cairn.catalog import Catalog
from cairn.errors import InvalidInputError, NotFoundError
from cairn.ui._graph import (
    NODE_HEIGHT,
    NODE_WIDTH,
    GraphLayout,
    GraphNode,
    graph_nodes,
    layout_graph,
    neighbourhood,
    render_graph_svg,
    short_label,
)

SVG = "{http://www.w3.org/2000/svg}"

Edges = list[tuple[str, str]]


def page(key: str) -> str:
    return "/assets/view?key=" + quote(key, safe="", errors="replace")


def render(nodes: Sequence[GraphNode], edges: Edges, **kwargs: object) -> ET.Element:
    """Render and parse: a parse error fails the test (the SVG must be well-formed)."""
    return ET.fromstring(render_graph_svg(nodes, edges, href=page, **kwargs))  # type: ignore[arg-type]


def layered(width: int = 100, layers: int = 10) -> tuple[list[GraphNode], Edges]:
    """bench/lineage.py's graph: 10 sources, then layers each reading 3 of the layer before."""
    nodes = [GraphNode(f"postgres://warehouse/source_{i}") for i in range(10)]
    edges: Edges = []
    for lay in range(layers):
        for i in range(width):
            key = f"s3://lake/l{lay}/a{i:04d}.parquet"
            nodes.append(GraphNode(key, "failed" if i % 20 == 19 else "succeeded"))
            if lay == 0:
                edges.append((f"postgres://warehouse/source_{i % 10}", key))
                continue
            for j in sorted({(i + d) % width for d in (0, 1, 7)}):
                edges.append((f"s3://lake/l{lay - 1}/a{j:04d}.parquet", key))
    return nodes, edges


def random_dag(n: int, m: int, seed: int, span: int = 40) -> tuple[list[GraphNode], Edges]:
    rng = random.Random(seed)
    keys = [f"s3://b/n{i:04d}" for i in range(n)]
    edges: set[tuple[str, str]] = set()
    while len(edges) < m:
        a = rng.randrange(n - 1)
        b = rng.randrange(a + 1, min(n, a + span + 1))
        edges.add((keys[a], keys[b]))
    health = ("succeeded", "failed", "referenced")
    return [GraphNode(k, health[i % 3]) for i, k in enumerate(keys)], sorted(edges)  # type: ignore[arg-type]


def rects(svg: ET.Element) -> dict[str, tuple[float, float, float, float]]:
    """Return each node's rectangle (x, y, width, height), by the key in its tooltip."""
    out = {}
    for group in svg.iter(f"{SVG}g"):
        if "node" not in (group.get("class") or "").split():
            continue
        title = group.find(f"{SVG}title")
        rect = group.find(f"{SVG}rect")
        assert title is not None and rect is not None and title.text is not None
        key = title.text.rsplit(" (", 1)[0]
        out[key] = tuple(float(rect.get(a) or "nan") for a in ("x", "y", "width", "height"))
    return out  # type: ignore[return-value]


def assert_no_overlap(boxes: Sequence[tuple[float, float, float, float]]) -> None:
    columns: dict[float, list[tuple[float, float]]] = {}
    for x, y, w, h in boxes:
        assert (w, h) == (NODE_WIDTH, NODE_HEIGHT)
        columns.setdefault(x, []).append((y, y + h))
    xs = sorted(columns)
    assert all(b - a >= NODE_WIDTH for a, b in itertools.pairwise(xs)), "columns overlap"
    for spans in columns.values():
        spans.sort()
        for (_, end), (start, _) in itertools.pairwise(spans):
            assert start >= end, "two nodes of a column overlap"


def assert_layers_follow_edges(layout: GraphLayout, edges: Edges) -> None:
    layer = {p.key: p.layer for p in layout.nodes}
    drawn = {(e.source, e.target): e for e in layout.edges}
    assert set(drawn) == {(u, v) for u, v in edges if u != v}
    for (u, v), edge in drawn.items():
        if edge.reversed:
            assert layer[u] > layer[v]
        else:
            assert layer[u] < layer[v], (u, v)


# -- layout ------------------------------------------------------------------------------


def test_every_edge_goes_to_a_higher_layer_and_rightwards() -> None:
    nodes, edges = random_dag(300, 600, seed=7)
    layout = layout_graph(nodes, edges)
    assert not any(e.reversed for e in layout.edges)
    assert_layers_follow_edges(layout, edges)
    boxes = rects(render(nodes, edges))
    for u, v in edges:
        assert boxes[u][0] + NODE_WIDTH < boxes[v][0]


def test_longest_path_layers_and_roots_next_to_their_consumer() -> None:
    edges = [("s3://x/a", "s3://x/b"), ("s3://x/b", "s3://x/c"), ("s3://x/c", "s3://x/d")]
    edges.append(("pg://db/late-source", "s3://x/d"))  # read only by the last step
    edges.append(("s3://x/a", "s3://x/d"))  # a long edge: two dummies
    layout = layout_graph([], edges)
    layer = {p.key: p.layer for p in layout.nodes}
    assert layer == {"s3://x/a": 0, "s3://x/b": 1, "s3://x/c": 2, "s3://x/d": 3,
                     "pg://db/late-source": 2}  # fmt: skip
    long = next(e for e in layout.edges if (e.source, e.target) == ("s3://x/a", "s3://x/d"))
    # Border of a, level across each of the two columns crossed, border of d.
    assert len(long.points) == 6
    xs = [x for x, _ in long.points]
    assert xs == sorted(xs)
    by_key = {p.key: p for p in layout.nodes}
    assert long.points[0] == (by_key["s3://x/a"].x + NODE_WIDTH / 2, by_key["s3://x/a"].y)
    assert long.points[-1] == (by_key["s3://x/d"].x - NODE_WIDTH / 2, by_key["s3://x/d"].y)


def test_no_two_nodes_overlap() -> None:
    for nodes, edges in (layered(30, 6), random_dag(400, 900, seed=3, span=80)):
        boxes = rects(render(nodes, edges))
        assert len(boxes) == len({n.key for n in nodes})
        assert_no_overlap(list(boxes.values()))


def test_long_edges_pass_between_the_nodes_of_the_columns_they_cross() -> None:
    nodes, edges = random_dag(120, 300, seed=11, span=30)
    layout = layout_graph(nodes, edges)
    boxes = [(p.x - NODE_WIDTH / 2, p.y - NODE_HEIGHT / 2) for p in layout.nodes]
    for edge in layout.edges:
        for x, y in edge.points[1:-1]:  # the level runs across columns
            for bx, by in boxes:
                inside_x = bx < x < bx + NODE_WIDTH or bx < x - 1 < bx + NODE_WIDTH
                assert not (inside_x and by < y < by + NODE_HEIGHT), (edge.source, edge.target)


def test_barycenter_sweeps_remove_crossings_that_key_order_makes() -> None:
    # In key order, layer 0 is (a, b) and layer 1 is (c, z): a->z and b->c cross.
    edges = [("s3://k/a", "s3://k/z"), ("s3://k/b", "s3://k/c")]
    layout = layout_graph([], edges)
    assert layout.crossings == 0
    y = {p.key: p.y for p in layout.nodes}
    assert (y["s3://k/a"] < y["s3://k/b"]) == (y["s3://k/z"] < y["s3://k/c"])
    # A ladder with every rung given crossed: the sweeps untangle all of it.
    ladder = [(f"s3://l/u{i:02d}", f"s3://l/v{19 - i:02d}") for i in range(20)]
    ladder += [(f"s3://l/v{i:02d}", f"s3://l/w{i:02d}") for i in range(20)]
    assert layout_graph([], ladder).crossings == 0


def test_output_is_deterministic_whatever_the_input_order() -> None:
    nodes, edges = random_dag(200, 400, seed=5)
    first = render_graph_svg(nodes, edges, href=page, focus=nodes[10].key)
    rng = random.Random(1)
    shuffled_nodes, shuffled_edges = list(nodes), list(edges)
    rng.shuffle(shuffled_nodes)
    rng.shuffle(shuffled_edges)
    again = render_graph_svg(shuffled_nodes, shuffled_edges, href=page, focus=nodes[10].key)
    assert again == first
    assert render_graph_svg(nodes, edges, href=page, focus=nodes[10].key) == first


def test_cycles_are_broken_and_every_edge_is_still_drawn() -> None:
    edges = [
        ("s3://c/a", "s3://c/b"),
        ("s3://c/b", "s3://c/c"),
        ("s3://c/c", "s3://c/a"),  # a 3-cycle
        ("s3://c/c", "s3://c/d"),
        ("s3://c/d", "s3://c/c"),  # a 2-cycle
        ("s3://c/e", "s3://c/e"),  # a self-loop
        ("s3://c/x", "s3://c/a"),
    ]
    layout = layout_graph([], edges)
    assert_layers_follow_edges(layout, edges)
    assert 1 <= sum(e.reversed for e in layout.edges) <= 2
    assert layout.loops == ["s3://c/e"]
    svg = render([], edges)
    paths = [p for p in svg.iter(f"{SVG}path") if "edge" in (p.get("class") or "").split()]
    assert len(paths) == len(edges)
    classes = [p.get("class") for p in paths]
    assert "edge edge-loop" in classes
    assert sum(c == "edge edge-back" for c in classes) == sum(e.reversed for e in layout.edges)
    assert_no_overlap(list(rects(svg).values()))


def test_a_graph_that_is_one_big_cycle() -> None:
    keys = [f"s3://ring/{i:03d}" for i in range(50)]
    edges = [(keys[i], keys[(i + 1) % 50]) for i in range(50)]
    layout = layout_graph([GraphNode(k, "succeeded") for k in keys], edges)
    assert sum(e.reversed for e in layout.edges) == 1
    assert_layers_follow_edges(layout, edges)


def test_empty_graph() -> None:
    layout = layout_graph([], [])
    assert layout.nodes == [] and layout.edges == [] and layout.crossings == 0
    svg = render([], [])
    assert svg.tag == f"{SVG}svg"
    assert rects(svg) == {}
    assert float(svg.get("width") or 0) > 0 and float(svg.get("height") or 0) > 0


def test_nodes_without_edges_stack_in_the_first_column() -> None:
    nodes = [GraphNode(f"s3://alone/{i}", "succeeded") for i in range(5)]
    layout = layout_graph(nodes, [("s3://e/a", "s3://e/b")])
    alone = sorted((p.y, p.layer) for p in layout.nodes if p.key.startswith("s3://alone/"))
    assert {lay for _, lay in alone} == {0}
    ys = [y for y, _ in alone]
    assert all(b - a == NODE_HEIGHT + 12 for a, b in itertools.pairwise(ys))
    assert ys[0] < 200  # beside the rest of the graph, not drifted away from it


def test_a_thousand_assets_render() -> None:
    nodes, edges = layered(100, 10)
    assert len(nodes) == 1010
    svg = render(nodes, edges)
    assert len(list(svg.iter(f"{SVG}a"))) == 1010
    boxes = rects(svg)
    assert len(boxes) == 1010
    assert_no_overlap(list(boxes.values()))
    layout = layout_graph(nodes, edges)
    assert_layers_follow_edges(layout, edges)
    assert max(p.layer for p in layout.nodes) == 10


def test_a_thousand_random_assets_render() -> None:
    nodes, edges = random_dag(1000, 1500, seed=1, span=60)
    svg = render(nodes, edges)
    assert len(rects(svg)) == 1000
    assert_no_overlap(list(rects(svg).values()))


# -- drawing -----------------------------------------------------------------------------


def test_nodes_link_to_their_pages_with_health_classes_and_tooltips() -> None:
    nodes = [
        GraphNode("s3://b/ok.csv", "succeeded"),
        GraphNode("s3://b/bad.csv", "failed"),
        GraphNode("s3://b/external.csv"),
    ]
    svg = render(nodes, [("s3://b/external.csv", "s3://b/ok.csv")], focus="s3://b/ok.csv")
    links = {a.get("href"): a for a in svg.iter(f"{SVG}a")}
    assert set(links) == {page(n.key) for n in nodes}
    group = links[page("s3://b/ok.csv")].find(f"{SVG}g")
    assert group is not None
    assert group.get("class") == "node node-succeeded node-focus"
    bad = links[page("s3://b/bad.csv")].find(f"{SVG}g")
    assert bad is not None and bad.get("class") == "node node-failed"
    ext = links[page("s3://b/external.csv")].find(f"{SVG}g")
    assert ext is not None and ext.get("class") == "node node-referenced"
    title = ext.find(f"{SVG}title")
    assert title is not None and title.text == "s3://b/external.csv (referenced)"


def test_keys_only_in_edges_and_unknown_health_are_drawn_as_referenced() -> None:
    odd = GraphNode("s3://b/odd", "exploded")  # type: ignore[arg-type]
    layout = layout_graph([odd], [("s3://b/odd", "s3://b/new")])
    assert {p.key: p.health for p in layout.nodes} == {
        "s3://b/odd": "referenced",
        "s3://b/new": "referenced",
    }


HOSTILE = [
    "s3://b/<script>alert(1)</script>",
    's3://b/"><svg onload=alert(1)>',
    "s3://b/' onmouseover='alert(1)",
    "s3://b/]]><!--&amp;&lt;",
    "javascript:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    "s3://b/\x00\x01\x1b[31m\x7f",
    "s3://b/lone-\ud800-surrogate",
    "s3://b/<foreignObject><body onload=alert(1)>",
    "s3://b/" + "x" * 600,
    "s3://b/&#106;avascript:alert(1)",
    "s3://b/\u202eevil\u2066",
]


def test_hostile_keys_are_escaped_and_nothing_runs() -> None:
    nodes = [GraphNode(k, "succeeded") for k in HOSTILE]
    edges = [(HOSTILE[i], HOSTILE[i + 1]) for i in range(len(HOSTILE) - 1)]
    hrefs: dict[str, Callable[[str], str]] = {
        "quoted": page,
        "raw": lambda key: "/assets/view?key=" + key,  # the caller forgot to quote
        "key itself": lambda key: key,  # so javascript: and data: keys become hrefs
        "hostile app": lambda key: "\x01 JaVa\tScRiPt:alert(1)",
    }
    for name, href in hrefs.items():
        text = render_graph_svg(nodes, edges, href=href, focus=HOSTILE[0])
        svg = ET.fromstring(text)  # well-formed, whatever the keys
        assert "<script" not in text.lower(), name
        assert "style" not in text.lower(), name  # CSP: no style attribute or element
        for element in svg.iter():
            local = element.tag.rsplit("}", 1)[-1].lower()
            assert local not in {"script", "foreignobject", "iframe", "style"}, name
            for attr, value in element.attrib.items():
                assert not attr.rsplit("}", 1)[-1].lower().startswith("on"), (name, attr)
                if attr.rsplit("}", 1)[-1] == "href":
                    probe = re.sub(r"[\x00-\x20]", "", value).lower()
                    assert not probe.startswith(("javascript:", "data:", "vbscript:")), name
        titles = [t.text for t in svg.iter(f"{SVG}title")]
        # Every printable hostile key comes back intact as text, so nothing was cut or lost.
        for key in HOSTILE[:6]:
            assert f"{key} (succeeded)" in titles, (name, key)
    # Keys made relative URLs are linked; the javascript: and data: keys are not.
    relative = render_graph_svg(nodes, edges, href=lambda key: key.removeprefix("s3://b/"))
    assert len(list(ET.fromstring(relative).iter(f"{SVG}a"))) == len(HOSTILE) - 2
    # Nor is any s3: URL (only relative and http(s) URLs are).
    assert "<a " not in render_graph_svg(nodes, edges, href=lambda key: key)


def test_hrefs_are_escaped_as_attributes() -> None:
    svg = render_graph_svg([GraphNode("s3://b/a")], [], href=lambda key: '/a?x=1&y="2"<3>')
    assert 'href="/a?x=1&amp;y=&quot;2&quot;&lt;3&gt;"' in svg
    link = next(ET.fromstring(svg).iter(f"{SVG}a"))
    assert link.get("href") == '/a?x=1&y="2"<3>'


def test_short_labels() -> None:
    assert short_label("s3://b/a.csv") == "s3://b/a.csv"
    assert short_label("s3://lake/warehouse/daily/orders-2024.parquet", 26) == (
        "s3://…/orders-2024.parquet"
    )
    assert short_label("s3://lake/warehouse/daily/orders-2024.parquet", 24) == (
        "…/orders-2024.parquet"
    )
    long = "s3://b/" + "x" * 100
    assert short_label(long) == "…" + "x" * 29
    for key in [*HOSTILE, "s3://a/b/c/d/e/f/g/h/i/j/k/l/m/n/o/p/q"]:
        assert len(short_label(key)) <= 30


# -- neighbourhood -----------------------------------------------------------------------


def chain_with_siblings() -> tuple[list[GraphNode], Edges]:
    # a -> b -> c -> d -> e, and a sibling s fed by b, and t feeding c.
    edges = [
        ("s3://n/a", "s3://n/b"),
        ("s3://n/b", "s3://n/c"),
        ("s3://n/c", "s3://n/d"),
        ("s3://n/d", "s3://n/e"),
        ("s3://n/b", "s3://n/s"),
        ("s3://n/t", "s3://n/c"),
    ]
    keys = sorted({k for e in edges for k in e})
    return [GraphNode(k, "succeeded") for k in keys], edges


def test_neighbourhood_by_depth() -> None:
    nodes, edges = chain_with_siblings()
    sub, sub_edges = neighbourhood(nodes, edges, "s3://n/c", 1)
    assert [n.key for n in sub] == ["s3://n/b", "s3://n/c", "s3://n/d", "s3://n/t"]
    assert sub_edges == [("s3://n/b", "s3://n/c"), ("s3://n/c", "s3://n/d"),
                         ("s3://n/t", "s3://n/c")]  # fmt: skip
    assert all(n.health == "succeeded" for n in sub)
    sub, _ = neighbourhood(nodes, edges, "s3://n/c", 2)
    # The sibling s shares b with c but is neither upstream nor downstream of c.
    assert [n.key for n in sub] == ["s3://n/a", "s3://n/b", "s3://n/c", "s3://n/d",
                                    "s3://n/e", "s3://n/t"]  # fmt: skip
    sub, _ = neighbourhood(nodes, edges, "s3://n/a", None)
    assert [n.key for n in sub] == ["s3://n/a", "s3://n/b", "s3://n/c", "s3://n/d",
                                    "s3://n/e", "s3://n/s"]  # fmt: skip
    svg = render(*neighbourhood(nodes, edges, "s3://n/c", 1), focus="s3://n/c")
    assert len(rects(svg)) == 4


def test_neighbourhood_in_a_cycle_and_errors() -> None:
    edges = [("s3://r/a", "s3://r/b"), ("s3://r/b", "s3://r/a")]
    sub, sub_edges = neighbourhood([], edges, "s3://r/a", 5)
    assert [n.key for n in sub] == ["s3://r/a", "s3://r/b"]
    assert sub_edges == sorted(edges)
    with pytest.raises(NotFoundError):
        neighbourhood([], edges, "s3://r/missing")
    with pytest.raises(InvalidInputError):
        neighbourhood([], edges, "s3://r/a", 0)


def test_graph_nodes_from_a_catalog() -> None:
    cat = Catalog.from_url("memory://ui-graph-nodes")
    cat.assets.record(["s3://c/raw.csv"], status="succeeded", upstream=["pg://db/orders"])
    cat.assets.record(["s3://c/clean.csv"], status="failed", upstream=["s3://c/raw.csv"])
    nodes, edges = graph_nodes(cat.lineage)
    assert {n.key: n.health for n in nodes} == {
        "pg://db/orders": "referenced",
        "s3://c/raw.csv": "succeeded",
        "s3://c/clean.csv": "failed",
    }
    assert sorted(edges) == [("pg://db/orders", "s3://c/raw.csv"),
                             ("s3://c/raw.csv", "s3://c/clean.csv")]  # fmt: skip
    sub, _ = graph_nodes(cat.lineage, "s3://c/clean.csv", 1)
    assert [n.key for n in sub] == ["s3://c/clean.csv", "s3://c/raw.csv"]
    with pytest.raises(NotFoundError):
        graph_nodes(cat.lineage, "s3://c/nope")
    svg = render(nodes, edges)
    classes = sorted(
        g.get("class") or "" for g in svg.iter(f"{SVG}g") if g.find(f"{SVG}rect") is not None
    )
    assert classes == ["node node-failed", "node node-referenced", "node node-succeeded"]
