"""Goal (j): cairn ui's server time for the artifacts page of a big catalog, and the graph page.

The artifacts page: a local catalog of 10,000 keys and 100,000 versions (10 per key; quick:
2,000 keys), built once by listing.py's builder and cached under ``bench/out/``. Each page
is requested through the whole ASGI app (routing, the security-header middleware, the view,
the catalog reads, the template) in this process, with httpx's ASGI transport: no socket, no
browser, only server time. One warm-up request, then 11 timed (quick: 5); median and min.
The goal (median <= 300 ms) applies to the first page; the others are information: a later
page, a type filter, a key search, and one key's page.

The graph page (goal <= 1 s): a catalog of 1,000 assets in 20 layers of 50, each built from
two assets of the layer above (1,950 edges), recorded through ``catalog.assets.record``;
``/assets/graph`` timed the same way (its lineage index is built by the warm-up request).

Where the time goes, for reading the figures: the artifacts page spends most of it in
``catalog.artifacts.list_latest()``, which checks its derived index against every key's ref
(10,000 ref files read); the view and the template take a few milliseconds.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from pathlib import Path
from typing import Any

import _common
import listing


def timed_requests(app: Any, paths: dict[str, str], runs: int) -> dict[str, Any]:
    import httpx

    async def measure() -> dict[str, Any]:
        out: dict[str, Any] = {}
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            for name, path in paths.items():
                times = []
                size = 0
                text = ""
                for i in range(runs + 1):
                    t0 = time.perf_counter()
                    r = await client.get(path)
                    elapsed = time.perf_counter() - t0
                    if r.status_code != 200:
                        out[name] = {"error": f"HTTP {r.status_code} for {path}"}
                        break
                    size, text = len(r.content), r.text
                    if i:
                        times.append(elapsed)
                else:
                    out[name] = {**_common.seconds(times), "path": path, "bytes": size}
                    # What the page showed, to check the figure is of a full page.
                    out[name]["rows"] = text.count("<tr")
                    out[name]["graph_nodes"] = text.count('<g class="node ')
                    _common.log(f"{name}: median {statistics.median(times) * 1000:.0f} ms")
        return out

    return asyncio.run(measure())


def build_graph_catalog(path: Path, assets: int) -> None:
    """A catalog of ``assets`` assets in a layered DAG: each built from two of the layer above."""
    from cairn.catalog import Catalog

    cat = Catalog.from_url(str(path))
    width = 50
    keys = [f"s3://bench/layer-{i // width:02d}/asset-{i:04d}.parquet" for i in range(assets)]
    for i, key in enumerate(keys):
        layer = i // width
        ups = []
        if layer:
            above = keys[(layer - 1) * width : layer * width]
            ups = [above[i % width], above[(i * 7 + 3) % width]]
        cat.assets.record([key], status="succeeded", upstream=ups)


def main() -> None:
    p = _common.parser(__doc__.splitlines()[0])
    p.add_argument("--keys", type=int, help="keys in the catalog (default 10000, quick 2000)")
    p.add_argument("--per-key", type=int, default=10, help="versions per key (default 10)")
    p.add_argument("--runs", type=int, help="timed requests per page (default 11, quick 5)")
    p.add_argument("--workers", type=int, default=2, help="processes building the catalog")
    args = p.parse_args()
    keys = args.keys or (2000 if args.quick else 10000)
    runs = args.runs or (5 if args.quick else 11)

    from cairn.catalog import Catalog
    from cairn.ui import create_app

    path = listing.catalog_path(keys, args.per_key)
    result: dict[str, Any] = {
        "params": {
            "keys": keys,
            "versions_per_key": args.per_key,
            "versions": keys * args.per_key,
            "runs": runs,
            "catalog": str(path),
        }
    }
    if not path.is_dir():
        _common.log(f"building {keys * args.per_key:,} versions: {path}")
        seconds = listing.build(path, keys, args.per_key, args.workers)
        result["build"] = {"seconds": round(seconds, 1)}
    else:
        result["build"] = {"cached": True}

    app = create_app(Catalog.from_url(str(path)))
    middle = listing.key_name(keys // 2)
    pages = timed_requests(
        app,
        {
            "artifacts_page": "/artifacts",
            "artifacts_page_50": "/artifacts?page=50",
            "artifacts_type_filter": "/artifacts?type=markdown&page=2",
            "artifacts_search": f"/artifacts?q={middle[:-1]}",
            "key_page": f"/artifacts/key/{middle}",
        },
        runs,
    )
    result.update(pages)

    # The graph page of 1,000 assets.
    try:
        from cairn.ui import _assets  # noqa: F401
    except ImportError:
        result["graph_page_1000_assets"] = {
            "error": "not measured: this cairn ui has no graph page (cairn.ui._assets)"
        }
    else:
        import tempfile

        with tempfile.TemporaryDirectory() as tmp:
            gpath = Path(tmp) / "graph"
            t0 = time.perf_counter()
            build_graph_catalog(gpath, 1000)
            _common.log(f"graph catalog built in {time.perf_counter() - t0:.1f} s")
            gapp = create_app(Catalog.from_url(str(gpath)))
            result["graph_page_1000_assets"] = timed_requests(
                gapp, {"graph": "/assets/graph"}, runs
            )["graph"]
            result["graph_page_1000_assets"]["assets"] = 1000
    result["machine"] = _common.machine()
    _common.emit("ui", result)


if __name__ == "__main__":
    main()
