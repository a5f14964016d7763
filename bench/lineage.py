"""Lineage over 100,000 materializations: index rebuild speed and query latency.

Usage: ``python bench/lineage.py [--quick] [--dir DIR] [--keep]``. Prints one JSON document on
stdout (progress on stderr). It needs only cairn and ``bench/_common.py``.

The catalog: 1,000 assets in 10 layers of 100 (``s3://lake/l<layer>/a<i>.parquet``); each
asset of layer L > 0 reads 3 assets of layer L - 1 (fan-in, the last one declared), layer 0
reads one external ``postgres://`` table; every asset is materialized 100 times (1 in 20
failed; properties on the first and every 25th), so 100,000 materializations and 100,000
asset heads. It is written straight through ``catalog.put_record`` (the same records
``catalog.assets.record`` writes, without its per-commit ref reads), by one process per CPU,
then each asset ref is set once. ``--quick``: 200 assets x 20.

Figures (goals from issue 3):

* ``rebuild``: ``catalog.lineage.rebuild()`` in this process, on a fresh ``Catalog`` each run
  (warm page cache): ``materializations_per_s`` (**goal >= 20,000**), ``records_per_s``
  (heads and materializations read), seconds. Median of 3 runs (quick: 1).
* ``upstream_leaf`` / ``downstream_root``: ``catalog.lineage.upstream(leaf)`` and
  ``downstream(root)`` once the index is built, in this process: median of 20
  (**goal <= 50 ms** each). Each call lists the asset refs to check the index is current.
* ``first_query_from_disk``: a new ``Catalog`` whose first query loads the stored index.
* ``incremental``: 100 new materializations through ``catalog.assets.record``, then the
  first query (reads only the 100 new heads and rewrites ``maps.msgpack``).
* ``cli_asset_ls`` / ``cli_asset_lineage`` / ``cli_asset_show``: ``cairn asset ls --json``,
  ``cairn asset lineage LEAF --upstream --json`` and ``cairn asset show LEAF --json`` as
  whole processes (the installed ``cairn`` script, ``--catalog PATH``): one warm-up, median
  of 5. ``ls`` and ``lineage`` read only ``maps.msgpack`` (no pyarrow); ``show`` reads the
  Parquet rows.

The goals are defined with the others in ``_common.GOALS`` (``lineage``); ``bench/run.py``
runs this script as ``lineage``.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import _common

LAYERS = 10
T0 = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)


def asset_key(layer: int, i: int) -> str:
    return f"s3://lake/l{layer}/a{i:04d}.parquet"


def upstream_of(layer: int, i: int, width: int) -> list[str]:
    if layer == 0:
        return [f"postgres://warehouse/source_{i % 10}"]
    return sorted({asset_key(layer - 1, (i + d) % width) for d in (0, 1, 7)})


def build_assets(root: str, jobs: list[tuple[int, int]], width: int, per_asset: int) -> int:
    from cairn.catalog import (
        AssetHead,
        AssetProperties,
        Catalog,
        Materialization,
        MaterializedAsset,
        asset_ref,
    )

    cat = Catalog.from_url(root)
    for layer, i in jobs:
        key = asset_key(layer, i)
        ups = upstream_of(layer, i, width)
        head = None
        for r in range(per_asset):
            created = T0 + dt.timedelta(seconds=r, microseconds=layer * width + i)
            status = "failed" if (r + i) % 20 == 19 else "succeeded"
            props = None
            if r % 25 == 0:
                props = AssetProperties(name=f"a{i} of layer {layer}", owners=["data-team"])
            mat = Materialization(
                created=created,
                status=status,
                assets=[MaterializedAsset(key=key, metadata={"rows": r * 10}, properties=props)],
                upstream=ups,
                declared=ups[-1:],
                by="bench",
                flow_run_id=f"{r:08x}-0000-4000-8000-000000000000",
                task_run_id=f"{r:08x}-{layer:04x}-4000-8000-{i:012x}",
                task_name=f"build_l{layer}",
            )
            mid = cat.put_record(mat)
            step = AssetHead(
                key=key, materialization=mid, status=status, created=created, parent=head
            )
            head = cat.put_record(step)
        assert head is not None
        if not cat.refs.set_if_equals(asset_ref(key), None, head):
            raise RuntimeError(f"ref of {key} already set")
    return len(jobs) * per_asset


def build(root: str, width: int, per_asset: int) -> float:
    from cairn.catalog import Catalog

    Catalog.init(root)
    jobs = [(layer, i) for layer in range(LAYERS) for i in range(width)]
    procs = max(1, min(os.cpu_count() or 1, 4))
    chunks = [jobs[k::procs] for k in range(procs)]
    t0 = time.perf_counter()
    with ProcessPoolExecutor(procs) as pool:
        done = sum(
            pool.map(build_assets, [root] * procs, chunks, [width] * procs, [per_asset] * procs)
        )
    elapsed = time.perf_counter() - t0
    _common.log(f"built {done} materializations in {elapsed:.1f} s with {procs} processes")
    return elapsed


def median_ms(fn: Any, runs: int) -> dict[str, Any]:
    times = []
    result = None
    for _ in range(runs):
        t0 = time.perf_counter()
        result = fn()
        times.append((time.perf_counter() - t0) * 1000)
    return {
        "median_ms": round(statistics.median(times), 3),
        "min_ms": round(min(times), 3),
        "max_ms": round(max(times), 3),
        "runs": runs,
        "result_size": len(result) if isinstance(result, list) else None,
    }


def time_cli(args: list[str], root: str, runs: int) -> dict[str, Any]:
    """``cairn ARGS --catalog ROOT`` as a whole process: one warm-up, then ``runs`` timed."""
    argv = [_common.console_script("cairn"), *args, "--catalog", root]
    try:
        times, last = _common.time_process(
            argv, runs=runs, warmup=1, env=_common.clean_env(), timeout=300
        )
    except subprocess.CalledProcessError as e:
        raise RuntimeError(f"{args} failed: {e.stderr.decode(errors='replace')}") from e
    doc = json.loads(last.stdout)
    _common.log(f"cairn {' '.join(args)}: median {statistics.median(times):.3f} s")
    return {
        **_common.seconds(times),
        "runs": runs,
        "items": len(doc) if isinstance(doc, list) else 1,
    }


def main() -> None:
    p = _common.parser(__doc__.splitlines()[0])
    p.add_argument("--dir", help="where to build the catalog (default: a temp folder)")
    p.add_argument("--keep", action="store_true", help="keep the catalog afterwards")
    args = p.parse_args()

    width, per_asset = (20, 20) if args.quick else (100, 100)
    rebuild_runs = 1 if args.quick else 3
    parent = tempfile.mkdtemp(prefix="cairn-lineage-bench-", dir=args.dir)
    root = str(Path(parent) / "catalog")
    try:
        from cairn.catalog import Catalog

        total = LAYERS * width * per_asset
        _common.log(f"building {LAYERS * width} assets x {per_asset} = {total} materializations")
        build_s = build(root, width, per_asset)

        rebuilds = []
        stats = None
        for _ in range(rebuild_runs):
            stats = Catalog.from_url(root).lineage.rebuild()
            rebuilds.append(stats.seconds)
            _common.log(
                f"rebuild: {stats.seconds:.2f} s, {stats.materializations / stats.seconds:,.0f}"
                " materializations/s"
            )
        assert stats is not None
        rebuild_s = statistics.median(rebuilds)

        cat = Catalog.from_url(root)
        leaf, root_key = asset_key(LAYERS - 1, 0), asset_key(0, 0)
        first = median_ms(lambda: cat.lineage.upstream(leaf), 1)
        upstream = median_ms(lambda: cat.lineage.upstream(leaf), 20)
        downstream = median_ms(lambda: cat.lineage.downstream(root_key), 20)
        assets = median_ms(lambda: cat.lineage.assets(), 5)
        _common.log(
            f"upstream(leaf) {upstream['median_ms']} ms, downstream(root) "
            f"{downstream['median_ms']} ms"
        )

        new = 100
        t0 = time.perf_counter()
        for n in range(new):
            i = n % width
            cat.assets.record(
                [asset_key(LAYERS - 1, i)],
                status="succeeded",
                upstream=upstream_of(LAYERS - 1, i, width),
            )
        record_s = time.perf_counter() - t0
        incremental = median_ms(lambda: cat.lineage.upstream(leaf), 1)
        after = median_ms(lambda: cat.lineage.upstream(leaf), 20)

        cli_ls = time_cli(["asset", "ls", "--json"], root, 5)
        cli_lineage = time_cli(["asset", "lineage", leaf, "--upstream", "--json"], root, 5)
        cli_show = time_cli(["asset", "show", leaf, "--json"], root, 5)
        index_bytes = sum(f.stat().st_size for f in (Path(root) / "index").rglob("*.parquet"))

        doc = {
            "quick": args.quick,
            "assets": LAYERS * width,
            "materializations": total,
            "build_s": round(build_s, 2),
            "rebuild": {
                "median_s": round(rebuild_s, 3),
                "runs_s": [round(s, 3) for s in rebuilds],
                "materializations_per_s": round(stats.materializations / rebuild_s),
                "records_per_s": round(stats.records / rebuild_s),
                "records": stats.records,
                "rows": stats.rows,
            },
            "index_bytes": index_bytes,
            "first_query_after_rebuild": first,
            "upstream_leaf": upstream,
            "downstream_root": downstream,
            "assets_query": assets,
            "first_query_from_disk": median_ms(
                lambda: Catalog.from_url(root).lineage.upstream(leaf), 3
            ),
            "incremental": {
                "new_materializations": new,
                "record_s": round(record_s, 3),
                "first_query": incremental,
                "then_upstream_leaf": after,
            },
            "cli_asset_ls": cli_ls,
            "cli_asset_lineage": cli_lineage,
            "cli_asset_show": cli_show,
            "machine": _common.machine(),
        }
        _common.emit("lineage", doc)
    finally:
        if args.keep:
            _common.log(f"kept the catalog at {root}")
        else:
            shutil.rmtree(parent, ignore_errors=True)


if __name__ == "__main__":
    main()
