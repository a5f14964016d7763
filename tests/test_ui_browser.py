"""cairn ui in a real browser: Debian's Chromium, headless, driven by Playwright.

The server runs for real (``python -m cairn ui --port 0`` in a subprocess) over catalogs on
disk that the tests write with cairn's own API. The tests click from page to page, watch a
progress bar move while a pipeline (this process) updates it, download files, sort a table,
browse a static export, and load every page of a catalog holding the XSS corpus
(tests/ui_xss_payloads.json) asserting that no script ran.

Screenshots are saved to ``tests/artifacts/screenshots/`` (ignored by git); with
``CAIRN_UI_DOCS_SCREENSHOTS=1`` the walk through the demo catalog also saves the README's
screenshots into ``docs/screenshots/``.

Where Chromium or Playwright is missing the tests are skipped with the reason, except in CI
(``CI`` set) or with ``CAIRN_REQUIRE_BROWSER=1``, where that is an error: browser tests must
never silently not run there. Playwright is told to use the system's Chromium
(``CAIRN_CHROMIUM`` names another executable); ``playwright install`` is never needed.
"""

from __future__ import annotations

import csv
import functools
import http.server
import io
import json
import os
import shutil
import subprocess
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("starlette", reason="cairn ui needs the 'ui' extra")

from cairn.catalog import Catalog
from conftest import CAIRN_MODULE, clean_environment

REPO = Path(__file__).resolve().parent.parent
SCREENSHOTS = REPO / "tests" / "artifacts" / "screenshots"
DOCS_SCREENSHOTS = REPO / "docs" / "screenshots"
PAYLOADS: list[str] = json.loads((REPO / "tests" / "ui_xss_payloads.json").read_text())["payloads"]
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TRUE = {"1", "true", "yes", "on"}


def _browser_required() -> bool:
    ci = os.environ.get("CI", "").strip().lower()
    required = os.environ.get("CAIRN_REQUIRE_BROWSER", "").strip().lower()
    return (ci != "" and ci not in {"0", "false", "no"}) or required in TRUE


def _unavailable(reason: str) -> None:
    if _browser_required():
        pytest.fail(f"browser tests cannot run: {reason} (CI or CAIRN_REQUIRE_BROWSER is set)")
    pytest.skip(f"browser tests skipped: {reason}")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    executable = (
        os.environ.get("CAIRN_CHROMIUM")
        or shutil.which("chromium")
        or shutil.which("chromium-browser")
    )
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("playwright is not installed (pip install -e '.[dev]')")
    if executable is None:
        _unavailable("no chromium executable (apt-get install chromium)")
    manager = sync_playwright().start()
    try:
        chromium = manager.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
    except Exception as exc:
        manager.stop()
        _unavailable(f"chromium at {executable} did not start: {exc}")
    yield chromium
    chromium.close()
    manager.stop()


class CliServer:
    """``python -m cairn ui --port 0`` over a catalog, in a subprocess."""

    def __init__(self, catalog_url: str, cwd: Path | None = None) -> None:
        self.proc = subprocess.Popen(
            [*CAIRN_MODULE, "ui", "--catalog", catalog_url, "--port", "0"],
            stdout=subprocess.PIPE,
            text=True,
            env=clean_environment(),
            cwd=cwd,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        assert " at http://127.0.0.1:" in line, line
        self.url = line.split(" at ", 1)[1].split()[0].rstrip("/")

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(30)


class Watched:
    """A browser page with a record of dialogs, console messages and page errors."""

    def __init__(self, context: Any) -> None:
        self.page = context.new_page()
        self.dialogs: list[str] = []
        self.csp: list[str] = []
        self.errors: list[str] = []
        self.page.on("dialog", self._dialog)
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda exc: self.errors.append(str(exc)))

    def _dialog(self, dialog: Any) -> None:
        self.dialogs.append(f"{dialog.type}: {dialog.message}")
        dialog.dismiss()

    def _console(self, message: Any) -> None:
        if "Content Security Policy" in message.text or "Content-Security-Policy" in message.text:
            self.csp.append(message.text)


def shoot(page: Any, name: str, *, docs: bool = False) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
    if docs and os.environ.get("CAIRN_UI_DOCS_SCREENSHOTS", "").lower() in TRUE:
        DOCS_SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(DOCS_SCREENSHOTS / f"{name}.png"), full_page=False)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Catalog, CliServer]]:
    # As a user does: `cairn demo`, then `cairn ui`, in a folder. (In a child process: while
    # Playwright's sync API runs an event loop here, cairn's functions would return
    # coroutines, as Prefect's do inside a loop.)
    folder = tmp_path_factory.mktemp("demo")
    subprocess.run(
        [*CAIRN_MODULE, "demo", "--quiet"],
        cwd=folder, env=clean_environment(), check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    cat = Catalog.from_url(str(folder / ".cairn"))
    server = CliServer(".cairn", cwd=folder)
    yield cat, server
    server.close()


@pytest.fixture
def context(browser: Any) -> Iterator[Any]:
    ctx = browser.new_context(accept_downloads=True, viewport={"width": 1200, "height": 800})
    yield ctx
    ctx.close()


# -- browsing --------------------------------------------------------------------------


def test_click_from_artifacts_to_key_version_and_run(
    demo: tuple[Catalog, CliServer], context: Any
) -> None:
    cat, server = demo
    w = Watched(context)
    page = w.page
    page.goto(server.url + "/")
    assert page.locator("main > h1").inner_text() == "Artifacts"
    assert page.locator("#artifact-list tbody tr").count() == 5
    shoot(page, "artifacts", docs=True)

    page.click("a.key >> text=demo-report")
    page.wait_for_url("**/artifacts/key/demo-report")
    assert page.locator("section.version").count() == 2
    assert page.locator(".markdown h1").first.inner_text() == "Sales report, 2026-Q3"
    shoot(page, "artifact-key", docs=True)

    latest = cat.artifacts.latest("demo-report")
    page.locator("a.version-link").first.click()
    page.wait_for_url(f"**/artifacts/id/{latest.id}/")
    assert latest.id[:12] in page.locator("main > h1").inner_text()
    assert page.locator(".badge").inner_text() == "latest"

    page.click("a.flow-run")
    run = cat.runs.get(latest.flow_run_id)
    page.wait_for_url(f"**/runs/{run.id}")
    assert page.locator("main > h1").inner_text() == f"Flow run {run.name}"
    assert page.locator("section.task-run").count() == 3
    shoot(page, "run", docs=True)

    from cairn.demo import REPORT

    page.locator(f"a.asset >> text={REPORT}").first.click()
    page.wait_for_url("**/assets/view?key=*")
    assert page.locator("main > h1").inner_text() == REPORT
    assert page.locator("ul.upstream a.asset").count() == 2
    assert page.locator("table.materializations tbody tr").count() == 2
    shoot(page, "asset", docs=True)
    page.click("header nav >> text=Lineage graph")
    page.wait_for_url("**/assets/graph")
    assert page.locator("svg.lineage-graph g.node").count() == 3
    shoot(page, "graph", docs=True)
    page.locator("svg.lineage-graph a", has_text="postgres://crm/regions").click()
    page.wait_for_url("**/assets/view?key=postgres*")
    assert page.locator(".health").first.inner_text() == "referenced"
    page.click("header nav >> text=Assets")
    page.wait_for_url("**/assets")
    assert page.locator("h2").all_inner_texts() == ["file://", "postgres://", "s3://"]
    shoot(page, "assets", docs=True)

    page.click("text=Runs")
    page.wait_for_url("**/runs")
    assert page.locator("#run-list a.run").inner_text() == run.name

    # Filter by type, then search by key.
    page.goto(server.url + "/")
    page.click(".filters a >> text=table")
    page.wait_for_url("**/artifacts?type=table")
    assert page.locator("#artifact-list a.key").all_inner_texts() == ["demo-orders"]
    page.fill("input[name=q]", "nothing-like-this")
    page.click("form.search button")
    page.wait_for_url("**q=nothing-like-this**")
    assert page.locator("p.empty").is_visible()
    assert w.dialogs == [] and w.csp == [] and w.errors == []


def test_table_sorts_in_the_browser_and_downloads_hold_the_data(
    demo: tuple[Catalog, CliServer], context: Any
) -> None:
    import pyarrow.parquet as pq

    cat, server = demo
    w = Watched(context)
    page = w.page
    page.goto(server.url + "/artifacts/key/demo-orders")
    first_column = "table.sortable tbody tr td:first-child"
    stored = [r["region"] for r in cat.artifacts.latest("demo-orders").rows()]
    assert page.locator(first_column).all_inner_texts() == stored
    page.click("th button.sort >> text=orders")
    by_orders = sorted(cat.artifacts.latest("demo-orders").rows(), key=lambda r: r["orders"])
    assert page.locator(first_column).all_inner_texts() == [r["region"] for r in by_orders]
    page.click("th button.sort >> text=orders")
    assert page.locator(first_column).all_inner_texts() == [r["region"] for r in by_orders][::-1]
    page.click("th button.sort >> text=region")
    assert page.locator(first_column).all_inner_texts() == sorted(stored)
    shoot(page, "table", docs=True)

    with page.expect_download() as got:
        page.click("a.download-csv")
    rows = list(csv.DictReader(io.StringIO(Path(got.value.path()).read_text())))
    orders = cat.artifacts.latest("demo-orders").rows()
    assert got.value.suggested_filename.endswith(".csv")
    assert [r["region"] for r in rows] == [r["region"] for r in orders]
    assert [int(r["orders"]) for r in rows] == [r["orders"] for r in orders]

    with page.expect_download() as got:
        page.click("a.download-parquet")
    assert pq.read_table(got.value.path()).to_pylist() == orders

    page.goto(server.url + "/artifacts/key/demo-report")
    with page.expect_download() as got:
        page.locator("a.download-md").first.click()
    assert Path(got.value.path()).read_text() == cat.artifacts.latest("demo-report").data
    assert w.dialogs == [] and w.csp == [] and w.errors == []


def test_progress_bar_moves_while_the_page_is_open(context: Any, tmp_path: Path) -> None:
    cat = Catalog.from_url(str(tmp_path / "live"))
    pid = cat.artifacts.create("progress", 10.0, key="live-job", description="Loading")
    server = CliServer(cat.url)
    try:
        w = Watched(context)
        page = w.page
        page.goto(server.url + "/artifacts/key/live-job")
        bar = ".progress progress"
        assert page.locator(bar).evaluate("b => b.value") == 10
        page.evaluate("window.__sameDocument = 'yes'")
        cat.artifacts.update_progress(pid, 73.0)  # the pipeline moves on
        page.wait_for_function("b => document.querySelector(b).value === 73", arg=bar)
        assert page.locator(".progress-value").inner_text() == "73.0%"
        cat.artifacts.update_progress(pid, 100.0)
        page.wait_for_function("b => document.querySelector(b).value === 100", arg=bar)
        assert page.evaluate("window.__sameDocument") == "yes"  # never reloaded
        shoot(page, "progress")
        assert w.errors == [] and w.csp == []
    finally:
        server.close()


def test_an_image_stored_in_the_catalog_shows(context: Any, tmp_path: Path) -> None:
    from test_ui import tiny_png

    cat = Catalog.from_url(str(tmp_path / "images"))
    cat.artifacts.create("image", image=tiny_png(40, 20), key="chart", description="stored")
    server = CliServer(cat.url)
    try:
        w = Watched(context)
        w.page.goto(server.url + "/artifacts/key/chart")
        img = w.page.locator(".body-image img")
        img.wait_for()
        w.page.wait_for_function("i => i.complete", arg=img.element_handle())
        assert img.evaluate("i => [i.naturalWidth, i.naturalHeight]") == [40, 20]
        assert w.errors == [] and w.csp == []
    finally:
        server.close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


def test_static_export_browses_like_the_server(
    demo: tuple[Catalog, CliServer], context: Any, tmp_path: Path
) -> None:
    cat, _ = demo
    dest = tmp_path / "site"
    subprocess.run(
        [*CAIRN_MODULE, "ui", "export", str(dest), "--catalog", cat.url],
        check=True, capture_output=True, env=clean_environment(), timeout=120,
    )  # fmt: skip
    handler = functools.partial(_QuietHandler, directory=str(dest))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        w = Watched(context)
        page = w.page
        page.goto(f"http://127.0.0.1:{httpd.server_address[1]}/index.html")
        assert page.locator("#artifact-list tbody tr").count() == 5
        page.fill("#row-filter", "orders")  # an export filters the page's rows
        assert page.locator("#artifact-list tbody tr:visible").count() == 1
        page.click("a.key >> text=demo-orders")
        page.wait_for_url("**/artifacts/key/demo-orders.html")
        page.click("th button.sort >> text=orders")
        assert page.locator("table.sortable tbody tr td:first-child").first.inner_text() == (
            "Africa"
        )
        page.locator("a.version-link").first.click()
        page.wait_for_url("**/index.html")
        page.click("a.flow-run")
        page.wait_for_url("**/runs/*.html")
        assert page.locator("section.task-run").count() == 3
        shoot(page, "export-run")
        assert w.dialogs == [] and w.csp == [] and w.errors == []
    finally:
        httpd.shutdown()
        httpd.server_close()


# -- the XSS corpus --------------------------------------------------------------------

# Everything a page could run script from, as found in the live DOM.
_FIND_DANGER = """
() => {
  const bad = [];
  const schemes = /^[\\s\\x00-\\x20]*(javascript|data|vbscript|file):/i;
  const ours = (el) => {
    const tag = el.tagName.toLowerCase();
    if (tag === 'link') return el.rel === 'stylesheet' && el.href.endsWith('static/cairn.css');
    if (tag === 'meta') return el.hasAttribute('charset')
      || ['viewport', 'referrer'].includes(el.getAttribute('name'))
      || el.getAttribute('http-equiv') === 'Content-Security-Policy';
    if (tag === 'form') return el.classList.contains('search');
    if (tag === 'script') return el.src.endsWith('static/cairn.js') && !el.textContent;
    if (tag === 'svg') return el.classList.contains('lineage-graph')
      && el.parentElement.classList.contains('graph');
    return false;
  };
  const risky = ['script', 'iframe', 'frame', 'object', 'embed', 'base', 'form', 'meta',
                 'link', 'style', 'svg', 'math', 'template', 'noscript'];
  for (const el of document.querySelectorAll('*')) {
    const tag = el.tagName.toLowerCase();
    if (risky.includes(tag) && !ours(el)) bad.push('element ' + el.outerHTML.slice(0, 80));
    for (const attr of el.attributes) {
      const name = attr.name.toLowerCase();
      if (name.startsWith('on') || ['style', 'srcdoc', 'formaction'].includes(name)) {
        bad.push(tag + ' ' + name);
      }
      if (['href', 'src', 'action', 'xlink:href', 'poster', 'background', 'data', 'srcset']
          .includes(name) && schemes.test(attr.value.replace(/[\\t\\n\\r]/g, ''))) {
        bad.push(tag + ' ' + name + '=' + attr.value.slice(0, 60));
      }
    }
  }
  return bad;
}
"""


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Catalog, CliServer]]:
    """A catalog with every payload in every place a catalog holds text, and its server."""
    from cairn.catalog.records import RunRecord, utcnow

    cat = Catalog.from_url(str(tmp_path_factory.mktemp("xss") / "catalog"))
    arts = cat.artifacts
    for i, p in enumerate(PAYLOADS):
        key = f"xss-{i:03d}"
        made = [
            arts.create("markdown", p, key=key, description=p, metadata={p: p, "note": p}),
            arts.create(
                "markdown", f"[{p}]({p})", key=key, link=p, link_text=p, description=f"**{p}**"
            ),
            arts.create("image", p, key=key, description=p),
            arts.create(
                "table",
                json.dumps([{p: p, "n": 1}, {p: f"<b>{p}</b>", "n": 2}]),
                key=key,
                description=p,
            ),
            arts.create(p, p, key=key, description=p),
            arts.create("progress", 50.0, key=key, description=p),
        ]
        keyless = arts.create("markdown", p, description=p, anchored_by_run=True)
        start = utcnow()
        run_id = str(uuid.uuid4())
        task = RunRecord(
            id=str(uuid.uuid4()), run_type="task", name=p, function=p, state=p, start=start,
            end=start, flow_run_id=run_id, parameters={p: p}, tags=[p], message=p,
            artifacts=[keyless],
        )  # fmt: skip
        cat.runs.save(
            RunRecord(
                id=run_id, run_type="flow", name=p, function=p, state="Failed", start=start,
                end=start, parameters={p: p, "x": p}, tags=[p, "t"], message=p,
                artifacts=[*made, keyless], task_runs=[task],
            )
        )  # fmt: skip
    from cairn.catalog import AssetProperties

    for i, p in enumerate(PAYLOADS):
        key = f"javascript://x{i}/window.__xss=1"  # a valid asset key: any scheme will do
        props = AssetProperties(name=p, url=p, description=p, owners=[p, "o"])
        cat.assets.record(
            [key], status="failed", upstream=[f"data://up{i}/x"], declared=[f"data://up{i}/x"],
            by=p, metadata={key: {p: p, "m": [p]}}, properties={key: props}, task_name=p,
        )  # fmt: skip
    server = CliServer(cat.url)
    yield cat, server
    server.close()


def _assert_harmless(w: Watched, url: str) -> None:
    page = w.page
    response = page.goto(url)
    assert response is not None and response.status == 200, url  # a page that shows the data
    page.wait_for_load_state("load")
    page.mouse.move(5, 5)  # what a hover handler would wait for
    page.mouse.move(600, 400)
    ran = page.evaluate("() => window.__xss || (parent && parent.__xss) || null")
    danger = page.evaluate(_FIND_DANGER)
    assert (ran, w.dialogs, w.errors, danger) == (None, [], [], []), url


def test_xss_corpus_runs_no_script(hostile: tuple[Catalog, CliServer], browser: Any) -> None:
    assert len(PAYLOADS) >= 50
    cat, server = hostile
    # Without the Content-Security-Policy's help: escaping and sanitizing alone must hold.
    bare = browser.new_context(bypass_csp=True)
    try:
        w = Watched(bare)
        base = server.url
        pages = [f"{base}/artifacts", f"{base}/runs", f"{base}/runs?page=2"]
        pages += [f"{base}/artifacts?type={cat.artifacts.latest('xss-000').type}"]
        pages += [f"{base}/artifacts/key/xss-{i:03d}" for i in range(len(PAYLOADS))]
        for flow_run in [r for r in cat.runs.list() if r.run_type == "flow"]:
            pages.append(f"{base}/runs/{flow_run.id}")
            pages.append(f"{base}/runs/{flow_run.task_runs[0].id}")
        for a in cat.artifacts.history("xss-000") + cat.artifacts.keyless()[:3]:
            pages.append(f"{base}/artifacts/id/{a.id}/")
        pages += [f"{base}/assets", f"{base}/assets/graph"]
        for i in range(len(PAYLOADS)):
            pages.append(f"{base}/assets/view?key=javascript://x{i}/window.__xss%3D1")
        for url in pages:
            _assert_harmless(w, url)
        w.page.goto(f"{base}/artifacts/key/xss-009")
        shoot(w.page, "xss-key-page")
    finally:
        bare.close()


def test_xss_corpus_with_the_policy_on_and_in_an_export(
    hostile: tuple[Catalog, CliServer], browser: Any, tmp_path: Path
) -> None:
    cat, server = hostile
    ctx = browser.new_context()
    try:
        w = Watched(ctx)
        for i in range(0, len(PAYLOADS), 8):
            _assert_harmless(w, f"{server.url}/artifacts/key/xss-{i:03d}")
        dest = tmp_path / "site"
        subprocess.run(
            [*CAIRN_MODULE, "ui", "export", str(dest), "--catalog", cat.url],
            check=True, capture_output=True, env=clean_environment(), timeout=300,
        )  # fmt: skip
        handler = functools.partial(_QuietHandler, directory=str(dest))
        httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        try:
            root = f"http://127.0.0.1:{httpd.server_address[1]}"
            _assert_harmless(w, f"{root}/index.html")
            for i in range(0, len(PAYLOADS), 8):
                _assert_harmless(w, f"{root}/artifacts/key/xss-{i:03d}.html")
            flow_run = next(r for r in cat.runs.list() if r.run_type == "flow")
            _assert_harmless(w, f"{root}/runs/{flow_run.id}.html")
            _assert_harmless(w, f"{root}/assets/index.html")
            _assert_harmless(w, f"{root}/assets/graph.html")
            for page in sorted((dest / "assets").glob("*.html"))[:12]:
                _assert_harmless(w, f"{root}/assets/{page.name}")
        finally:
            httpd.shutdown()
            httpd.server_close()
    finally:
        ctx.close()
