"""cairn ui over HTTP: pages, headers, downloads, read-only, the CLI, and the static export.

The app runs for real (uvicorn on a free port, in a thread) over a real catalog on disk, and
the tests talk to it with an HTTP client; the browser tests are in test_ui_browser.py.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("starlette", reason="cairn ui needs the 'ui' extra")
httpx = pytest.importorskip("httpx")

from cairn.catalog import Catalog  # noqa: E402
from conftest import CAIRN_MODULE, clean_environment, error_line, ok  # noqa: E402


class Server:
    """The viewer served by uvicorn in a thread, on a free port of 127.0.0.1."""

    def __init__(self, catalog: Catalog) -> None:
        import uvicorn

        from cairn.ui import create_app

        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        config = uvicorn.Config(create_app(catalog), log_level="warning", access_log=False)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=lambda: asyncio.run(self.server.serve(sockets=[self.sock])), daemon=True
        )

    def __enter__(self) -> Server:
        self.thread.start()
        ready = threading.Event()
        while not self.server.started and self.thread.is_alive():
            ready.wait(0.02)
        assert self.server.started, "the server did not start"
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(30)
        self.sock.close()


def tiny_png(width: int = 3, height: int = 2) -> bytes:
    """A valid PNG of ``width`` x ``height`` red pixels, made without an imaging library."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    raw = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


def make_catalog(root: Path) -> Catalog:
    """The demo's catalog, plus a long table, a keyless artifact in a run, odd types."""
    import cairn
    from cairn.artifacts import create_markdown_artifact, create_table_artifact
    from cairn.demo import run_demo
    from cairn.runtime import flow

    cat = Catalog.from_url(str(root))
    with cairn.use_catalog(cat):
        run_demo()

        @flow(name="keyless-flow")
        def keyless_flow() -> None:
            create_markdown_artifact("# made without a key", description="keyless one")

        keyless_flow()
        rows = [{"n": i, "square": i * i, "word": f"w{i % 7}"} for i in range(250)]
        create_table_artifact(rows, key="long-table", description="250 rows")
    cat.artifacts.create("custom-kind", {"a": [1, 2]}, key="custom", description="a custom type")
    cat.artifacts.create("image", image=tiny_png(), key="stored-image", description="a PNG")
    cat.artifacts.create("image", "https://example.com/chart.png", key="linked-image")
    cat.artifacts.create("markdown", "# loose", description="made outside any run")
    return cat


@pytest.fixture(scope="module")
def catalog(tmp_path_factory: pytest.TempPathFactory) -> Catalog:
    return make_catalog(tmp_path_factory.mktemp("ui") / "catalog")


@pytest.fixture(scope="module")
def server(catalog: Catalog) -> Iterator[Server]:
    with Server(catalog) as running:
        yield running


@pytest.fixture(scope="module")
def client(server: Server) -> Iterator[Any]:
    with httpx.Client(base_url=server.url, follow_redirects=False) as c:
        yield c


def first_column(page: str) -> list[str]:
    import re

    return re.findall(r"<tr><td[^>]*>([^<]*)</td>", page)


def tree(root: Path, part: str) -> dict[str, bytes]:
    base = root / part
    return {str(p.relative_to(base)): p.read_bytes() for p in base.rglob("*") if p.is_file()}


# -- pages -----------------------------------------------------------------------------


def test_artifacts_page_lists_latest_per_key_with_filters(client: Any, catalog: Catalog) -> None:
    r = client.get("/artifacts")
    assert r.status_code == 200
    for key in ("demo-report", "demo-orders", "demo-progress", "demo-chart", "demo-source"):
        assert f'href="/artifacts/key/{key}"' in r.text
    assert "Sales, 2026-Q3" in r.text  # the report's latest description
    assert '<a href="/artifacts?type=table">table</a>' in r.text
    only_tables = client.get("/artifacts", params={"type": "table"}).text
    assert "/artifacts/key/demo-orders" in only_tables
    assert "/artifacts/key/demo-report" not in only_tables
    found = client.get("/artifacts", params={"q": "prog"}).text
    assert "/artifacts/key/demo-progress" in found
    assert "/artifacts/key/demo-orders" not in found
    assert "No artifacts match" in client.get("/artifacts", params={"q": "zzz"}).text
    assert client.get("/").text == r.text


def test_artifacts_page_is_paged(tmp_path: Path) -> None:
    cat = Catalog.from_url(str(tmp_path / "many"))
    for i in range(105):
        cat.artifacts.create("markdown", f"#{i}", key=f"k-{i:03d}")
    with Server(cat) as s, httpx.Client(base_url=s.url) as c:
        first = c.get("/artifacts").text
        assert "page 1 of 2" in first and "/artifacts/key/k-099" in first
        assert "/artifacts/key/k-100" not in first
        assert 'href="/artifacts?page=2"' in first
        second = c.get("/artifacts", params={"page": 2}).text
        assert "/artifacts/key/k-104" in second and "/artifacts/key/k-000" not in second
        assert c.get("/artifacts", params={"page": 3}).status_code == 404
        assert c.get("/artifacts", params={"page": "x"}).status_code == 404


def test_key_page_shows_versions_newest_first_rendered(client: Any, catalog: Catalog) -> None:
    history = catalog.artifacts.history("demo-report")
    assert len(history) == 2
    text = client.get("/artifacts/key/demo-report").text
    assert text.index(history[0].id) < text.index(history[1].id)
    assert "<h1>Sales report, 2026-Q3</h1>" in text  # markdown rendered
    assert "<h1>Sales report, 2026-Q3 (preliminary)</h1>" in text
    assert "<strong>$1,000,000</strong>" in text
    link = client.get("/artifacts/key/demo-source").text
    assert '<a href="https://example.com/data/orders-2026-q3.csv"' in link
    chart = catalog.artifacts.history("demo-chart")[0].id
    image = client.get("/artifacts/key/demo-chart").text
    assert f'<img src="/artifacts/id/{chart}/image.png"' in image  # stored in the catalog
    served = client.get(f"/artifacts/id/{chart}/image.png")
    assert served.headers["content-type"] == "image/png"
    assert served.content.startswith(b"\x89PNG\r\n\x1a\n")
    progress = client.get("/artifacts/key/demo-progress").text
    assert '<progress max="100" value="100.0">' in progress
    assert "data-progress-url=" in progress
    custom = client.get("/artifacts/key/custom").text
    assert "custom-kind" in custom and "&#34;a&#34;" in custom  # the data as JSON text


def test_table_version_is_paged_and_sorted_by_the_server(client: Any, catalog: Catalog) -> None:
    table = catalog.artifacts.latest("long-table")
    assert table is not None
    preview = client.get("/artifacts/key/long-table").text
    assert "230 more" in preview  # the key page shows the first 20 rows
    page = client.get(f"/artifacts/id/{table.id}/").text
    assert "page 1 of 3" in page
    assert first_column(page) == [str(i) for i in range(100)]
    third = client.get(f"/artifacts/id/{table.id}/", params={"page": 3}).text
    assert first_column(third) == [str(i) for i in range(200, 250)]
    top = client.get(f"/artifacts/id/{table.id}/", params={"sort": "square", "desc": 1}).text
    assert first_column(top)[:3] == ["249", "248", "247"]
    by_word = client.get(f"/artifacts/id/{table.id}/", params={"sort": "word"}).text
    assert first_column(by_word)[:3] == ["0", "7", "14"]  # w0 first, stable within it
    assert client.get(f"/artifacts/id/{table.id}/", params={"page": 4}).status_code == 404
    small = client.get(f"/artifacts/id/{catalog.artifacts.latest('demo-orders').id}/").text
    assert 'class="data sortable"' in small  # shown whole: the browser sorts it


def test_a_table_stored_as_parquet_is_paged_and_sorted_from_arrow(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    cat = Catalog.from_url(str(tmp_path / "arrow"))
    n = 250
    table = pa.table(
        {
            "n": list(range(n)),
            "half": [None if i % 10 == 0 else i / 2 for i in range(n)],
            "pair": [[i, i + 1] for i in range(n)],
        }
    )
    oid = cat.artifacts.create("table", table=table, key="arrow-table")
    with Server(cat) as s, httpx.Client(base_url=s.url) as c:
        third = c.get(f"/artifacts/id/{oid}/", params={"page": 3}).text
        assert "page 3 of 3" in third and first_column(third) == [str(i) for i in range(200, 250)]
        top = c.get(f"/artifacts/id/{oid}/", params={"sort": "half", "desc": 1}).text
        assert first_column(top)[:2] == ["249", "248"]
        last = c.get(f"/artifacts/id/{oid}/", params={"sort": "half", "desc": 1, "page": 3}).text
        assert first_column(last)[-25:] == [str(i) for i in range(0, n, 10)]  # nulls last
        assert ">pair</th>" in top and "sort=pair" not in top  # lists: not sortable
        assert "<td>[0, 1]</td>" in c.get(f"/artifacts/id/{oid}/").text
        lines = c.get(f"/artifacts/id/{oid}/data.csv").text.splitlines()
        assert lines[:3] == ["n,half,pair", '0,,"[0, 1]"', '1,0.5,"[1, 2]"']
        assert len(lines) == n + 1
        stored = cat.objects.get(cat.artifacts.get(oid).record.blob)
        assert c.get(f"/artifacts/id/{oid}/data.parquet").content == stored
        assert pq.read_table(io.BytesIO(stored)).equals(table)


def test_runs_pages_show_task_runs_and_what_they_made(client: Any, catalog: Catalog) -> None:
    runs = client.get("/runs").text
    flow_runs = [r for r in catalog.runs.list() if r.run_type == "flow"]
    demo = next(r for r in flow_runs if r.function == "cairn-demo")
    assert f'href="/runs/{demo.id}"' in runs and "keyless-flow" in runs
    page = client.get(f"/runs/{demo.id}").text
    assert "Task runs (3)" in page
    for t in demo.task_runs:
        assert f'id="task-{t.id}"' in page
    assert "file://demo/orders-2026-q3.csv" in page and "postgres://crm/regions" in page
    for oid in demo.artifacts:
        assert f"/artifacts/id/{oid}/" in page
    task = demo.task_runs[0]
    one = client.get(f"/runs/{task.id}").text
    assert f"Task run {task.name}" in one and f'href="/runs/{demo.id}"' in one
    keyless_run = next(r for r in flow_runs if r.function == "keyless-flow")
    keyless = client.get(f"/runs/{keyless_run.id}").text
    assert "(keyless)" in keyless
    (oid,) = keyless_run.artifacts
    version = client.get(f"/artifacts/id/{oid}/").text
    assert "Keyless artifact" in version and "<h1>made without a key</h1>" in version
    assert client.get("/runs/0123456789abcdef").status_code == 404


def test_keyless_artifacts_made_outside_runs_have_their_page(client: Any, catalog: Catalog) -> None:
    listing = client.get("/artifacts").text
    assert '<a href="/artifacts/keyless" class="keyless-link">1 made outside any run</a>' in listing
    (loose,) = [a for a in catalog.artifacts.keyless() if a.flow_run_id is None]
    page = client.get("/artifacts/keyless").text
    assert f'href="/artifacts/id/{loose.id}/"' in page and "made outside any run" in page
    assert "<h1>loose</h1>" in client.get(f"/artifacts/id/{loose.id}/").text


def test_progress_api_reads_the_latest_update(tmp_path: Path) -> None:
    cat = Catalog.from_url(str(tmp_path / "progress"))
    pid = cat.artifacts.create("progress", 10.0, key="api-progress")
    other = cat.artifacts.create("markdown", "not a bar", key="text")
    with Server(cat) as s, httpx.Client(base_url=s.url) as client:
        assert client.get(f"/api/progress/{pid}").json()["progress"] == 10.0
        cat.artifacts.update_progress(pid, 55.5, "halfway")
        state = client.get(f"/api/progress/{pid}").json()
        assert state["progress"] == 55.5 and state["id"] == pid
        assert state["description"] == "halfway"
        assert client.get(f"/api/progress/{other}").status_code == 404
        missing = client.get("/api/progress/nonsense")
        assert missing.status_code == 404 and "nonsense" in missing.json()["error"]


def test_asset_pages_group_show_and_draw_the_lineage(client: Any, catalog: Catalog) -> None:
    from urllib.parse import quote

    from cairn.demo import CRM, ORDERS, REPORT

    assets = client.get("/assets").text
    assert assets.index("<h2>file://</h2>") < assets.index("<h2>postgres://</h2>")
    assert assets.index("<h2>postgres://</h2>") < assets.index("<h2>s3://</h2>")
    assert '<span class="folder">demo-bucket/</span>' in assets
    assert '<span class="folder">reports/</span>' in assets
    assert f'href="/assets/view?key={quote(REPORT, safe="")}"' in assets
    assert "health-referenced" in assets  # the CRM table is only read
    page = client.get("/assets/view", params={"key": REPORT}).text
    assert "Materializations (2)" in page and "by cairn-demo" in page
    upstream = page.split('<ul class="upstream">')[1].split("</ul>")[0]
    assert ORDERS in upstream and CRM in upstream and "(2 steps)" in upstream
    assert '<svg xmlns="http://www.w3.org/2000/svg" class="lineage-graph"' in page
    assert '<dt class="metadata">regions</dt><dd class="metadata">5</dd>' in page
    graph = client.get("/assets/graph").text
    assert graph.count('<g class="node ') == 3 and graph.count('class="edge"') == 2
    around = client.get("/assets/graph", params={"key": CRM}).text
    assert around.count('<g class="node ') == 3  # everything is downstream of the CRM
    missing = client.get("/assets/view", params={"key": "s3://no/such"})
    assert missing.status_code == 404 and "not found" in missing.text
    assert client.get("/assets/view").status_code == 404
    run = client.get(
        f"/runs/{next(r.id for r in catalog.runs.list() if r.function == 'cairn-demo')}"
    )
    assert f'href="/assets/view?key={quote(ORDERS, safe="")}" class="asset"' in run.text


def test_an_image_stored_in_the_catalog_is_served_as_an_image(
    client: Any, catalog: Catalog
) -> None:
    image = catalog.artifacts.latest("stored-image")
    src = f"/artifacts/id/{image.id}/image.png"
    assert f'<img src="{src}"' in client.get("/artifacts/key/stored-image").text
    r = client.get(src)
    assert r.status_code == 200 and r.content == tiny_png()
    assert r.headers["content-type"] == "image/png"
    assert r.headers["content-security-policy"] == "default-src 'none'; sandbox"
    assert r.headers["x-content-type-options"] == "nosniff"
    assert client.get(f"/artifacts/id/{image.id}/image.gif").status_code == 404
    linked = catalog.artifacts.latest("linked-image")  # an image behind a URL: nothing stored
    assert client.get(f"/artifacts/id/{linked.id}/image.png").status_code == 404


def test_the_viewer_reads_a_catalog_in_a_bucket(s3_url: str) -> None:
    import cairn
    from cairn.artifacts import create_table_artifact
    from cairn.demo import run_demo

    cat = Catalog.from_url(s3_url)
    with cairn.use_catalog(cat):
        run_demo()
        create_table_artifact([{"a": 1}, {"a": 2}], key="in-a-bucket")
    with Server(Catalog.from_url(s3_url)) as s, httpx.Client(base_url=s.url) as c:
        listing = c.get("/artifacts").text
        assert "/artifacts/key/in-a-bucket" in listing and "/artifacts/key/demo-report" in listing
        table = cat.artifacts.latest("in-a-bucket")
        assert c.get(f"/artifacts/id/{table.id}/data.csv").text == "a\n1\n2\n"
        run = next(r for r in cat.runs.list() if r.function == "cairn-demo")
        assert "Task runs (3)" in c.get(f"/runs/{run.id}").text
        assert c.get("/assets/graph").text.count('<g class="node ') == 3


# -- downloads -------------------------------------------------------------------------


def test_downloads_carry_the_data(client: Any, catalog: Catalog) -> None:
    import pyarrow.parquet as pq

    orders = catalog.artifacts.latest("demo-orders")
    r = client.get(f"/artifacts/id/{orders.id}/data.csv")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert r.headers["content-disposition"].startswith("attachment;")
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert [row["region"] for row in rows] == [row["region"] for row in orders.rows()]
    assert rows[0] == {"region": "North America", "orders": "412", "revenue": "500000.0"}
    parquet = client.get(f"/artifacts/id/{orders.id}/data.parquet")
    assert pq.read_table(io.BytesIO(parquet.content)).to_pylist() == orders.rows()
    report = catalog.artifacts.latest("demo-report")
    md = client.get(f"/artifacts/id/{report.id}/data.md")
    assert md.headers["content-type"].startswith("text/markdown")
    assert md.text == report.data
    assert client.get(f"/artifacts/id/{report.id}/data.csv").status_code == 404
    assert client.get(f"/artifacts/id/{orders.id}/data.exe").status_code == 404


def test_parquet_of_a_table_with_mixed_columns(tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    cat = Catalog.from_url(str(tmp_path / "mixed"))
    data = json.dumps([{"a": 1, "b": "x"}, {"a": "two", "b": None}, {"c": [1, 2]}])
    oid = cat.artifacts.create("table", data, key="mixed")
    with Server(cat) as s, httpx.Client(base_url=s.url) as c:
        rows = pq.read_table(io.BytesIO(c.get(f"/artifacts/id/{oid}/data.parquet").content))
        assert rows.column_names == ["a", "b", "c"]
        assert rows.column("a").to_pylist() == ["1", "two", None]
        text = c.get(f"/artifacts/id/{oid}/data.csv").text
        assert text.splitlines() == ["a,b,c", "1,x,", "two,,", ',,"[1, 2]"']


# -- safety ----------------------------------------------------------------------------

STRICT = (
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "frame-ancestors 'none'",
)


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/artifacts?type=table",
        "/artifacts/key/demo-report",
        "/runs",
        "/static/cairn.js",
        "/static/cairn.css",
        "/artifacts/key/no-such-key",
        "/no/such/page",
        "/api/progress/abc",
    ],
)
def test_every_response_has_the_security_headers(client: Any, path: str) -> None:
    r = client.get(path)
    csp = r.headers["content-security-policy"]
    for directive in STRICT:
        assert directive in csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["referrer-policy"] == "no-referrer"


def test_pages_have_no_inline_script_or_style(client: Any, catalog: Catalog) -> None:
    import re

    orders = catalog.artifacts.latest("demo-orders")
    for path in ("/", "/artifacts/key/demo-progress", f"/artifacts/id/{orders.id}/", "/runs"):
        text = client.get(path).text
        assert re.findall(r"<script(?![^>]*\ssrc=)", text) == []
        assert " style=" not in text and "<style" not in text


REFLECTED = [
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
    "'><svg onload=alert(1)>",
]


@pytest.mark.parametrize("payload", REFLECTED)
def test_what_a_url_says_comes_back_escaped(client: Any, catalog: Catalog, payload: str) -> None:
    from urllib.parse import quote

    table = catalog.artifacts.latest("long-table")
    requests = [
        ("/artifacts", {"q": payload}),
        ("/artifacts", {"type": payload}),
        ("/artifacts", {"page": payload}),
        (f"/artifacts/key/{quote(payload, safe='')}", {}),
        (f"/artifacts/id/{quote(payload, safe='')}/", {}),
        (f"/artifacts/id/{table.id}/", {"sort": payload, "page": 2}),
        (f"/runs/{quote(payload, safe='')}", {}),
        ("/assets/view", {"key": payload}),
        ("/assets/graph", {"key": payload}),
        (f"/{quote(payload, safe='')}", {}),
    ]
    for path, params in requests:
        r = client.get(path, params=params)
        assert r.status_code in (200, 404), (path, r.status_code)
        assert payload not in r.text, path
        for fragment in ("<script>", "<img", "<svg onload"):  # escaped: &lt;img ...
            assert fragment not in r.text, (path, fragment)


def test_the_app_writes_no_record_and_no_ref(tmp_path: Path) -> None:
    cat = make_catalog(tmp_path / "ro")
    before = {part: tree(tmp_path / "ro", part) for part in ("objects", "refs")}
    with Server(cat) as s, httpx.Client(base_url=s.url) as c:
        demo = next(r for r in cat.runs.list() if r.function == "cairn-demo")
        orders = cat.artifacts.latest("demo-orders")
        for path in (
            "/",
            "/artifacts?type=markdown&q=demo",
            "/artifacts/key/demo-report",
            f"/artifacts/id/{orders.id}/",
            f"/artifacts/id/{orders.id}/data.parquet",
            "/runs",
            f"/runs/{demo.id}",
        ):
            assert c.get(path).status_code == 200
        assert c.post("/artifacts").status_code == 405
        assert c.delete(f"/artifacts/id/{orders.id}/").status_code == 405
    after = {part: tree(tmp_path / "ro", part) for part in ("objects", "refs")}
    assert after == before


# -- the CLI ---------------------------------------------------------------------------


def test_cli_serves_on_the_port_it_prints(catalog: Catalog) -> None:
    proc = subprocess.Popen(
        [*CAIRN_MODULE, "ui", "--catalog", catalog.url, "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=clean_environment(),
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith(f"cairn ui: {catalog.url} at http://127.0.0.1:"), line
        url = line.split(" at ", 1)[1].split()[0]
        r = httpx.get(url + "artifacts/key/demo-report", timeout=30)
        assert r.status_code == 200 and "Sales report" in r.text
        port = url.rstrip("/").rsplit(":", 1)[1]
        local = httpx.get(url, headers={"Host": f"localhost:{port}"}, timeout=30)
        assert local.status_code == 200
        # A name pointed at 127.0.0.1 by someone else's DNS (rebinding) gets nothing.
        rebound = httpx.get(url, headers={"Host": f"attacker.example:{port}"}, timeout=30)
        assert rebound.status_code == 400 and "Sales" not in rebound.text
        assert "default-src 'none'" in rebound.headers["content-security-policy"]
    finally:
        proc.terminate()
        proc.wait(30)


def test_cli_refuses_a_port_in_use_and_a_missing_catalog(catalog: Catalog, tmp_path: Path) -> None:
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    port = str(taken.getsockname()[1])
    env = clean_environment()
    try:
        result = subprocess.run(
            [*CAIRN_MODULE, "ui", "--catalog", catalog.url, "--port", port],
            capture_output=True, text=True, env=env, timeout=60,
        )  # fmt: skip
    finally:
        taken.close()
    assert error_line(result).startswith(f"Error: cannot listen on 127.0.0.1:{port}:")
    missing = subprocess.run(
        [*CAIRN_MODULE, "ui", "--catalog", str(tmp_path / "nothing")],
        capture_output=True, text=True, env=env, timeout=60,
    )  # fmt: skip
    assert "there is no cairn catalog at" in error_line(missing)
    assert not (tmp_path / "nothing").exists()


def test_cli_without_the_ui_extra_says_how_to_install_it(catalog: Catalog) -> None:
    # Python's own way to make a module unimportable: a None entry in sys.modules.
    code = (
        "import sys; sys.modules['nh3'] = None; sys.modules['uvicorn'] = None\n"
        "from cairn.cli import main; main(sys.argv[1:])"
    )
    for args in (["ui"], ["ui", "export", "somewhere"]):
        result = subprocess.run(
            [sys.executable, "-c", code, *args, "--catalog", catalog.url],
            capture_output=True, text=True, env=clean_environment(), timeout=60,
        )  # fmt: skip
        line = error_line(result)
        assert "pip install 'cairn[ui]'" in line and "nh3" in line and "uvicorn" in line


def test_cairn_help_and_import_do_not_load_the_viewer() -> None:
    code = (
        "import sys, cairn, cairn.cli\n"
        "loaded = [m for m in ('starlette', 'uvicorn', 'jinja2', 'nh3', 'markdown_it',"
        " 'cairn.ui._app') if m in sys.modules]\n"
        "print(loaded)"
    )
    result = ok(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True))
    assert result.stdout.strip() == "[]"


# -- export ----------------------------------------------------------------------------


def export(catalog: Catalog, dest: Path) -> subprocess.CompletedProcess[str]:
    argv = [*CAIRN_MODULE, "ui", "export", str(dest), "--catalog", catalog.url]
    return subprocess.run(argv, capture_output=True, text=True, env=clean_environment())


def test_export_writes_linked_pages_and_downloads(catalog: Catalog, tmp_path: Path) -> None:
    import re

    dest = tmp_path / "site"
    result = ok(export(catalog, dest))
    assert result.stdout.startswith("Exported 9 artifact keys (13 versions), 2 runs, 3 assets")
    index = (dest / "index.html").read_text()
    assert 'http-equiv="Content-Security-Policy"' in index
    assert 'href="artifacts/key/demo-report.html"' in index
    # Every relative link and script of every page points at a file of the export.
    pages = list(dest.rglob("*.html"))
    assert len(pages) > 20
    for page in pages:
        for target in re.findall(r'(?:href|src)="([^"]+)"', page.read_text()):
            if target.startswith(("http://", "https://", "mailto:", "#")):
                continue
            assert (page.parent / target.split("#")[0]).resolve().is_file(), (page, target)
    orders = catalog.artifacts.latest("demo-orders")
    folder = dest / "artifacts" / "id" / orders.id
    assert (folder / "data.csv").read_text().startswith("region,orders,revenue\n")
    report = catalog.artifacts.latest("demo-report")
    assert (dest / "artifacts/id" / report.id / "data.md").read_text() == report.data
    table = catalog.artifacts.latest("long-table")
    assert (dest / "artifacts/id" / table.id / "page-3.html").is_file()
    image = catalog.artifacts.latest("stored-image")
    assert (dest / "artifacts/id" / image.id / "image.png").read_bytes() == tiny_png()
    assert 'href="artifacts/keyless.html"' in index
    assert "made outside any run" in (dest / "artifacts/keyless.html").read_text()
    assets = (dest / "assets/index.html").read_text()
    assert assets.count('class="asset"') == 3 and (dest / "assets/graph.html").is_file()
    # Again into the same folder: replaced. Into a folder of other files: refused.
    (dest / "stale.html").write_text("from an older export")
    ok(export(catalog, dest))
    assert not (dest / "stale.html").exists() and (dest / "index.html").is_file()
    other = tmp_path / "other"
    other.mkdir()
    (other / "keep.txt").write_text("mine")
    assert "is not empty and holds no earlier export" in error_line(export(catalog, other))
    assert os.listdir(other) == ["keep.txt"]
