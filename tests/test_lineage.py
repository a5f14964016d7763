"""The lineage index (``catalog.lineage``): its answers against the records themselves.

Every answer is compared with a brute-force computation from the records (asset refs, asset
heads, materializations), and the index is deleted, damaged, left stale and updated
incrementally, which must never change an answer. A hypothesis test generates random
materialization DAGs and compares the index with a plain-Python model of them.

Test data is written through the catalog API (``catalog.assets.record``), not the engine.
"""

from __future__ import annotations

import datetime as dt
import re
import shutil
import sys
import uuid
from collections import Counter, deque
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cairn.catalog import (
    AssetHead,
    AssetMerge,
    AssetProperties,
    Catalog,
    Materialization,
    MaterializedAsset,
    _index_lineage,
    _lineage,
    asset_ref,
)
from cairn.catalog._assets import read_step
from cairn.errors import InvalidInputError, NotFoundError

PROPS = ("name", "url", "description", "owners")


# -- a brute-force reading of the records ---------------------------------------------------


def _full_props(p: AssetProperties | None) -> dict[str, Any] | None:
    if p is None:
        return None
    return {name: getattr(p, name) for name in PROPS}


class Brute:
    """Everything the index answers, computed by walking every record (no index)."""

    def __init__(self, cat: Catalog) -> None:
        self.histories: dict[str, list[tuple[str, Materialization]]] = {}
        for name, head in cat.refs.iter_refs("assets/"):
            first, _ = read_step(cat, head)  # a single-asset materialization or an asset-head
            assert asset_ref(first.key) == name
            self.histories[first.key] = cat.assets.history(first.key)
        self.nodes: set[str] = set(self.histories)
        self.referenced: dict[str, dt.datetime] = {}
        for hist in self.histories.values():
            for _, mat in hist:
                for up in mat.upstream:
                    self.nodes.add(up)
                    if up not in self.referenced or self.referenced[up] < mat.created:
                        self.referenced[up] = mat.created
        self.up = {key: list(dict.fromkeys(h[0][1].upstream)) for key, h in self.histories.items()}

    def walk(self, key: str, depth: int | None, upstream: bool) -> list[tuple[str, int]]:
        down: dict[str, set[str]] = {}
        for k, ups in self.up.items():
            for u in ups:
                down.setdefault(u, set()).add(k)
        adj = self.up if upstream else down
        dist = {key: 0}
        queue = deque([key])
        while queue:
            node = queue.popleft()
            if depth is not None and dist[node] >= depth:
                continue
            for nxt in adj.get(node, ()):
                if nxt not in dist:
                    dist[nxt] = dist[node] + 1
                    queue.append(nxt)
        return sorted(((k, d) for k, d in dist.items() if k != key), key=lambda p: (p[1], p[0]))

    def asset(self, key: str) -> dict[str, Any]:
        hist = self.histories.get(key)
        if hist:
            latest = hist[0][1]
            props = None
            for _, mat in hist:
                mine = next(a for a in mat.assets if a.key == key)
                if mine.properties is not None:
                    props = _full_props(mine.properties)
                    break
            return {
                "key": key,
                "health": latest.status,
                "last_seen": latest.created,
                "properties": props,
            }
        return {
            "key": key,
            "health": "referenced",
            "last_seen": self.referenced[key],
            "properties": None,
        }

    def history(self, key: str) -> list[dict[str, Any]]:
        out = []
        for mid, mat in self.histories.get(key, []):
            mine = next(a for a in mat.assets if a.key == key)
            out.append(
                {
                    "id": mid,
                    "key": key,
                    "status": mat.status,
                    "created": mat.created,
                    "upstream": list(mat.upstream),
                    "declared": list(mat.declared),
                    "by": mat.by,
                    "metadata": mine.metadata,
                    "properties": _full_props(mine.properties),
                    "flow_run_id": mat.flow_run_id,
                    "task_run_id": mat.task_run_id,
                    "task_name": mat.task_name,
                }
            )
        return out


def entry_dict(e: Any) -> dict[str, Any]:
    return {
        "id": e.id,
        "key": e.key,
        "status": e.status,
        "created": e.created,
        "upstream": e.upstream,
        "declared": e.declared,
        "by": e.by,
        "metadata": e.metadata,
        "properties": e.properties,
        "flow_run_id": e.flow_run_id,
        "task_run_id": e.task_run_id,
        "task_name": e.task_name,
    }


def answers(cat: Catalog) -> dict[str, Any]:
    """Every query of the index, for every known key (what must never change)."""
    lin = cat.lineage
    graph = lin.graph()
    out: dict[str, Any] = {
        "nodes": graph.nodes,
        "edges": graph.edges,
        "assets": [(a.key, a.health, a.last_seen, a.properties) for a in lin.assets()],
    }
    for key in graph.nodes:
        out[f"up {key}"] = lin.upstream(key)
        out[f"down {key}"] = lin.downstream(key)
        out[f"up1 {key}"] = lin.upstream(key, depth=1)
        out[f"history {key}"] = [entry_dict(e) for e in lin.history(key)]
    return out


def brute_answers(cat: Catalog) -> dict[str, Any]:
    b = Brute(cat)
    nodes = sorted(b.nodes)
    out: dict[str, Any] = {
        "nodes": nodes,
        "edges": sorted((u, k) for k, ups in b.up.items() for u in ups),
        "assets": [tuple(b.asset(k).values()) for k in nodes],
    }
    for key in nodes:
        out[f"up {key}"] = b.walk(key, None, True)
        out[f"down {key}"] = b.walk(key, None, False)
        out[f"up1 {key}"] = b.walk(key, 1, True)
        out[f"history {key}"] = b.history(key)
    return out


def reopen(cat: Catalog) -> Catalog:
    return Catalog.from_url(cat.url)


def index_dir(cat: Catalog) -> Path:
    return Path(cat.url) / "index"


# -- a scenario ------------------------------------------------------------------------------


def scenario(cat: Catalog) -> None:
    """Two flows, fan-in, fan-out, a failure, properties, metadata, external assets."""
    rec = cat.assets.record
    rec(
        ["s3://lake/raw.csv"],
        status="succeeded",
        upstream=["postgres://db/users"],
        metadata={"s3://lake/raw.csv": {"rows": 10}},
        flow_run_id="aaaa0001",
        task_run_id="t1",
        task_name="extract",
        properties={"s3://lake/raw.csv": AssetProperties(name="Raw")},
    )
    rec(
        ["s3://lake/clean.csv", "s3://lake/rejects.csv"],
        status="succeeded",
        upstream=["s3://lake/raw.csv"],
        by="dbt",
        flow_run_id="aaaa0001",
        task_run_id="t2",
        metadata={"s3://lake/clean.csv": {"rows": 9}, "s3://lake/rejects.csv": {"rows": 1}},
    )
    # A second flow joins through a declared dependency on an asset the first one made.
    rec(
        ["s3://mart/report.parquet"],
        status="failed",
        upstream=["s3://lake/clean.csv"],
        declared=["sftp://vendor/feed.csv"],
        flow_run_id="bbbb0002",
        task_run_id="t3",
        metadata={"s3://mart/report.parquet": {"error": "boom"}},
    )
    rec(
        ["s3://lake/raw.csv"],
        status="succeeded",
        upstream=["postgres://db/users"],
        flow_run_id="cccc0003",
        task_run_id="t4",
    )


@pytest.fixture
def built(catalog: Catalog) -> Catalog:
    scenario(catalog)
    return catalog


def test_answers_equal_a_brute_force_reading_of_the_records(built: Catalog) -> None:
    assert answers(built) == brute_answers(built)


def test_a_rebuild_reads_each_record_once(built: Catalog, monkeypatch: pytest.MonkeyPatch) -> None:
    fresh = reopen(built)
    reads: Counter[str] = Counter()
    store = type(fresh.objects)
    original = store.get

    def counting(self: Any, oid: str) -> bytes:
        reads[oid] += 1
        return original(self, oid)

    monkeypatch.setattr(store, "get", counting)
    stats = fresh.lineage.rebuild()
    assert reads and max(reads.values()) == 1
    assert stats.records == len(reads)


def test_the_scenario_graph(built: Catalog) -> None:
    lin = built.lineage
    assert lin.upstream("s3://mart/report.parquet") == [
        ("s3://lake/clean.csv", 1),
        ("sftp://vendor/feed.csv", 1),
        ("s3://lake/raw.csv", 2),
        ("postgres://db/users", 3),
    ]
    assert lin.downstream("postgres://db/users", depth=2) == [
        ("s3://lake/raw.csv", 1),
        ("s3://lake/clean.csv", 2),
        ("s3://lake/rejects.csv", 2),
    ]
    health = {a.key: a.health for a in lin.assets()}
    assert health == {
        "postgres://db/users": "referenced",
        "s3://lake/clean.csv": "succeeded",
        "s3://lake/raw.csv": "succeeded",
        "s3://lake/rejects.csv": "succeeded",
        "s3://mart/report.parquet": "failed",
        "sftp://vendor/feed.csv": "referenced",
    }
    assert [a.key for a in lin.assets(prefix="s3://lake/")] == [
        "s3://lake/clean.csv",
        "s3://lake/raw.csv",
        "s3://lake/rejects.csv",
    ]
    [report] = lin.history("s3://mart/report.parquet")
    assert report.declared == ["sftp://vendor/feed.csv"]
    assert report.metadata == {"error": "boom"}
    assert report.to_dict().keys() == {
        "status",
        "upstream",
        "by",
        "metadata",
        "flow_run_id",
        "task_run_id",
        "created",
    }


def test_deleting_the_index_and_rebuilding_gives_identical_answers(built: Catalog) -> None:
    before = answers(built)
    assert (index_dir(built) / "lineage" / "base.parquet").exists()
    assert (index_dir(built) / "lineage" / "maps.msgpack").exists()
    shutil.rmtree(index_dir(built))
    assert answers(reopen(built)) == before
    stats = reopen(built).lineage.rebuild()
    assert (stats.assets, stats.materializations, stats.rows) == (4, 4, 5)
    # 3 single-asset materializations are their own history nodes (one record each); the
    # two-asset one is read once, plus an asset-head for each of its assets.
    assert stats.records == 3 + (1 + 2)
    assert answers(reopen(built)) == before
    assert answers(built) == before  # the first catalog object: its cache follows the refs


def test_incremental_update_reads_only_new_heads_and_equals_a_full_rebuild(
    catalog: Catalog,
) -> None:
    scenario(catalog)
    answers(catalog)  # the index is stored
    other = reopen(catalog)
    other.lineage.upstream("s3://lake/raw.csv")  # loads the stored index
    for i in range(3):
        catalog.assets.record(
            [f"s3://lake/part-{i}.csv"],
            status="succeeded",
            upstream=["s3://lake/clean.csv"],
            task_run_id=f"n{i}",
        )
    catalog.assets.record(["s3://lake/clean.csv"], status="failed", upstream=[])
    other.lineage._records_read = 0
    incremental = answers(other)
    # 4 new single-asset materializations, each its own history node: one read each, for the
    # stored maps and for the rows.
    assert other.lineage._records_read == 4 * 2
    third = reopen(catalog)
    third.lineage._records_read = 0
    assert answers(third) == incremental  # stored maps and delta, advanced on load
    assert third.lineage._records_read == 0
    shutil.rmtree(index_dir(catalog))
    full = reopen(catalog)
    full.lineage.rebuild()
    assert answers(full) == incremental == brute_answers(catalog)
    # The latest materialization of clean.csv names nothing: its old edge is gone.
    assert full.lineage.upstream("s3://lake/clean.csv") == []
    assert ("s3://lake/raw.csv", "s3://lake/clean.csv") not in full.lineage.graph().edges


def test_the_delta_is_compacted_into_the_base(
    catalog: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_lineage, "_COMPACT_MIN_ROWS", 3)
    scenario(catalog)
    catalog.lineage.history("s3://lake/raw.csv")
    base = index_dir(catalog) / "lineage" / "base.parquet"
    first = base.read_bytes()
    catalog.assets.record(["s3://x/one"], status="succeeded")
    catalog.lineage.history("s3://x/one")
    assert base.read_bytes() == first  # one row: appended to the delta
    for i in range(3):
        catalog.assets.record([f"s3://x/more-{i}"], status="succeeded")
    catalog.lineage.history("s3://x/one")
    assert base.read_bytes() != first  # four rows: folded into a new base
    assert answers(reopen(catalog)) == brute_answers(catalog)


@pytest.mark.parametrize("name", ["base.parquet", "delta.parquet", "maps.msgpack"])
@pytest.mark.parametrize("damage", [b"", b"not parquet at all", b"PAR1" + b"\x00" * 40])
def test_a_damaged_index_file_is_repaired(built: Catalog, name: str, damage: bytes) -> None:
    before = answers(built)
    built.assets.record(["s3://lake/late.csv"], status="succeeded")
    expected = brute_answers(built)
    path = index_dir(built) / "lineage" / name
    path.write_bytes(damage)
    assert answers(reopen(built)) == expected != before
    # Repaired on disk: a new reader reads it back without rebuilding.
    fresh = reopen(built)
    fresh.lineage._records_read = 0
    assert answers(fresh) == expected
    assert fresh.lineage._records_read == 0


def test_a_delta_left_from_an_older_base_is_ignored(built: Catalog) -> None:
    built.lineage.history("s3://lake/raw.csv")
    folder = index_dir(built) / "lineage"
    built.assets.record(["s3://lake/a.csv"], status="succeeded")
    built.lineage.history("s3://lake/a.csv")
    old_delta = (folder / "delta.parquet").read_bytes()
    built.lineage.rebuild()  # a new base (new id)
    built.assets.record(["s3://lake/b.csv"], status="succeeded")
    (folder / "delta.parquet").write_bytes(old_delta)
    (folder / "maps.msgpack").unlink()
    assert answers(reopen(built)) == brute_answers(built)


def test_index_files_carry_their_version_and_stamp(built: Catalog) -> None:
    import pyarrow.parquet as pq

    built.lineage.update()
    meta = pq.read_schema(index_dir(built) / "lineage" / "base.parquet").metadata
    import json

    stamp = json.loads(meta[b"cairn.lineage"])
    assert stamp["version"] == _index_lineage.INDEX_VERSION
    assert stamp["refs"] == dict(built.refs.iter_refs("assets/"))
    assert stamp["rows"] == 5
    assert (
        pq.read_schema(index_dir(built) / "lineage" / "base.parquet")
        .remove_metadata()
        .equals(_index_lineage.schema())
    )


def test_a_rewritten_history_replaces_its_rows(built: Catalog) -> None:
    """A ref whose new history does not reach the stamped head (as after a merge)."""
    answers(built)
    key = "s3://lake/raw.csv"
    ref = asset_ref(key)
    old = built.refs.get(ref)
    # Rewrite raw.csv's history as a single new head (a stand-in for a merge snapshot).
    mid, mat = built.assets.history(key)[-1]
    head = built.put_record(
        AssetHead(key=key, materialization=mid, status=mat.status, created=mat.created)
    )
    assert built.refs.set_if_equals(ref, old, head)
    assert answers(built) == brute_answers(built)
    assert [e.id for e in built.lineage.history(key)] == [mid]
    # And an asset ref that disappears takes its rows with it.
    assert built.refs.delete_if_equals(
        asset_ref("s3://lake/rejects.csv"), built.refs.get(asset_ref("s3://lake/rejects.csv"))
    )
    assert answers(built) == brute_answers(built)
    assert built.lineage.asset("s3://lake/rejects.csv") is None


def test_depth_semantics() -> None:
    cat = Catalog.from_url(f"memory://lineage-depth-{uuid.uuid4().hex}")
    rec = cat.assets.record
    # a -> b -> c -> d, and a shortcut a -> d; e <-> f form a cycle.
    rec(["s3://g/a"], status="succeeded")
    rec(["s3://g/b"], status="succeeded", upstream=["s3://g/a"])
    rec(["s3://g/c"], status="succeeded", upstream=["s3://g/b"])
    rec(["s3://g/d"], status="succeeded", upstream=["s3://g/c", "s3://g/a"])
    rec(["s3://g/e"], status="succeeded", upstream=["s3://g/f"])
    rec(["s3://g/f"], status="succeeded", upstream=["s3://g/e"])
    rec(["s3://g/self"], status="succeeded", upstream=["s3://g/self"])
    lin = cat.lineage
    assert lin.upstream("s3://g/d", depth=1) == [("s3://g/a", 1), ("s3://g/c", 1)]
    assert lin.upstream("s3://g/d") == [("s3://g/a", 1), ("s3://g/c", 1), ("s3://g/b", 2)]
    assert lin.downstream("s3://g/a") == [("s3://g/b", 1), ("s3://g/d", 1), ("s3://g/c", 2)]
    assert lin.downstream("s3://g/a", depth=2) == lin.downstream("s3://g/a")
    assert lin.upstream("s3://g/a") == []
    assert lin.upstream("s3://g/e") == [("s3://g/f", 1)]  # the key itself is never listed
    assert lin.downstream("s3://g/e", depth=5) == [("s3://g/f", 1)]
    assert lin.upstream("s3://g/self") == []
    with pytest.raises(NotFoundError, match=re.escape("Asset 's3://g/nope' not found.")):
        lin.upstream("s3://g/nope")
    with pytest.raises(InvalidInputError):
        lin.downstream("s3://g/a", depth=0)


def test_referenced_only_assets() -> None:
    cat = Catalog.from_url(f"memory://lineage-ref-{uuid.uuid4().hex}")
    first = cat.assets.record(["s3://b/x"], status="succeeded", upstream=["pg://db/t"])
    second = cat.assets.record(["s3://b/y"], status="failed", upstream=["pg://db/t"])
    summary = cat.lineage.asset("pg://db/t")
    assert summary is not None
    assert summary.health == "referenced"
    assert summary.properties is None
    created = [cat.get_record(m).created for m in (first, second)]  # type: ignore[union-attr]
    assert summary.last_seen == max(created)
    assert cat.lineage.history("pg://db/t") == []
    assert cat.lineage.upstream("pg://db/t") == []
    assert cat.lineage.downstream("pg://db/t") == [("s3://b/x", 1), ("s3://b/y", 1)]
    # Materialized later, it is no longer only referenced.
    cat.assets.record(["pg://db/t"], status="succeeded")
    assert cat.lineage.asset("pg://db/t").health == "succeeded"  # type: ignore[union-attr]


def test_properties_are_last_writer_wins() -> None:
    cat = Catalog.from_url(f"memory://lineage-props-{uuid.uuid4().hex}")
    key = "s3://b/x"
    cat.assets.record(
        [key], status="succeeded", properties={key: AssetProperties(name="first", owners=["a"])}
    )
    cat.assets.record(
        [key], status="succeeded", properties={key: AssetProperties(description="second")}
    )
    cat.assets.record([key], status="failed")  # no properties: changes nothing
    summary = cat.lineage.asset(key)
    assert summary is not None
    # A complete overwrite: the first writer's name and owners are gone.
    assert summary.properties == {
        "name": None,
        "url": None,
        "description": "second",
        "owners": None,
    }
    assert summary.health == "failed"
    assert reopen(cat).lineage.asset(key) == summary


def test_lineage_spans_flows_through_declared_dependencies() -> None:
    cat = Catalog.from_url(f"memory://lineage-flows-{uuid.uuid4().hex}")
    # Flow A makes the warehouse table; flow B only declares it with asset_deps.
    cat.assets.record(
        ["postgres://db/users"], status="succeeded", flow_run_id="aaaa", task_run_id="ta"
    )
    cat.assets.record(
        ["s3://b/enriched.csv"],
        status="succeeded",
        declared=["postgres://db/users"],
        flow_run_id="bbbb",
        task_run_id="tb",
    )
    cat.assets.record(
        ["s3://b/report"],
        status="succeeded",
        upstream=["s3://b/enriched.csv"],
        flow_run_id="bbbb",
        task_run_id="tc",
    )
    lin = cat.lineage
    assert lin.downstream("postgres://db/users") == [
        ("s3://b/enriched.csv", 1),
        ("s3://b/report", 2),
    ]
    assert lin.upstream("s3://b/report") == [("s3://b/enriched.csv", 1), ("postgres://db/users", 2)]
    assert lin.asset("postgres://db/users").health == "succeeded"  # type: ignore[union-attr]
    assert [e.declared for e in lin.history("s3://b/enriched.csv")] == [["postgres://db/users"]]


def test_for_run_finds_materializations_by_flow_or_task_run(built: Catalog) -> None:
    by_flow = built.lineage.for_run("aaaa0001")
    assert [(e.key, e.task_run_id) for e in by_flow] == [
        ("s3://lake/raw.csv", "t1"),
        ("s3://lake/clean.csv", "t2"),
        ("s3://lake/rejects.csv", "t2"),
    ]
    assert [e.key for e in built.lineage.for_run("t3")] == ["s3://mart/report.parquet"]
    assert built.lineage.for_run("ffff") == []


def test_reading_a_catalog_that_was_never_written_creates_nothing(tmp_path: Path) -> None:
    cat = Catalog.from_url(str(tmp_path / "nothing"))
    assert cat.lineage.assets() == []
    assert cat.lineage.graph().nodes == []
    assert cat.lineage.history("s3://x/y") == []
    assert cat.lineage.rebuild().rows == 0
    assert not (tmp_path / "nothing").exists()


def test_queries_import_neither_pandas_nor_the_dataset_module(built: Catalog) -> None:
    import subprocess

    code = (
        "import sys; from cairn.catalog import Catalog; "
        f"c = Catalog.from_url({built.url!r}); c.lineage.assets(); "
        "c.lineage.history('s3://lake/raw.csv'); c.lineage.for_run('t1'); "
        "c.assets.record(['s3://n/new'], status='succeeded'); c.lineage.upstream('s3://n/new'); "
        "c.lineage.history('s3://n/new'); "
        "print([m for m in ('pandas', 'pyarrow.dataset') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_graph_queries_on_a_current_index_do_not_import_pyarrow(built: Catalog) -> None:
    import subprocess

    built.lineage.update()
    code = (
        "import sys; from cairn.catalog import Catalog; "
        f"c = Catalog.from_url({built.url!r}); c.lineage.assets(); c.lineage.graph(); "
        "c.lineage.upstream('s3://lake/clean.csv'); "
        "c.assets.record(['s3://n/new'], status='succeeded', upstream=['s3://lake/clean.csv']); "
        "assert c.lineage.upstream('s3://n/new') == [('s3://lake/clean.csv', 1), "
        "('s3://lake/raw.csv', 2), ('postgres://db/users', 3)]; "
        "print('pyarrow' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_a_large_rebuild_shared_among_worker_processes_gives_the_same_rows(
    catalog: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    for i in range(12):
        catalog.assets.record(
            [f"s3://w/a{i}"], status="succeeded", upstream=[f"s3://w/a{i - 1}"] if i else []
        )
        catalog.assets.record(
            [f"s3://w/a{i}", f"s3://w/b{i}"],
            status="failed",
            upstream=[f"s3://w/a{i - 1}"] if i else [],
        )
    expected = answers(catalog)
    monkeypatch.setattr(_lineage, "_PARALLEL_CHECK_S", 0.0)
    monkeypatch.setattr(_lineage, "_PARALLEL_MIN_S", 0.0)
    monkeypatch.setattr(_lineage, "_worker_count", lambda _cat: 2)
    monkeypatch.setattr(_lineage, "_WORKER_START_S", 0.0)  # so that a worker gets a share
    used = []
    original = _lineage.Lineage._build_in_workers

    def spy(self: Any, items: Any, workers: int, builder: Any, lead: int) -> Any:
        used.append(len(items))
        return original(self, items, workers, builder, lead)

    monkeypatch.setattr(_lineage.Lineage, "_build_in_workers", spy)
    fresh = reopen(catalog)
    stats = fresh.lineage.rebuild()
    assert used and used[0] > 0
    # Every row's history node is read; a materialization of several assets also once per
    # worker that meets it.
    assert stats.rows == 36 and stats.records >= 36
    assert answers(fresh) == expected
    # The workers' scratch folder was inside the catalog (index/), and is gone.
    index = Path(fresh.objects.root).parent / "index"  # type: ignore[attr-defined]
    assert [p.name for p in index.iterdir() if p.name.startswith(".rebuild-")] == []
    # A worker that cannot start: the histories are walked in this process instead.
    monkeypatch.setattr(sys, "executable", "/bin/false")
    again = reopen(catalog)
    assert again.lineage.rebuild().rows == 36
    assert answers(again) == expected


@pytest.mark.parametrize("workers", [1, 2])
def test_a_rebuild_gives_each_step_of_a_merged_history_once(
    catalog: Catalog, monkeypatch: pytest.MonkeyPatch, workers: int
) -> None:
    """Chains above, between and below merge nodes (as sync writes them), multi-asset steps."""
    key = "s3://m/merged"
    t0 = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)

    def at(second: int) -> dt.datetime:
        return t0 + dt.timedelta(seconds=second)

    def step(second: int, parent: str | None) -> str:
        if second % 3:
            return catalog.put_record(
                Materialization(
                    created=at(second),
                    status="succeeded",
                    assets=[MaterializedAsset(key=key, metadata={"s": second})],
                    upstream=["s3://m/up"],
                    task_run_id=f"t{second}",
                    parent=parent,
                )
            )
        mat = catalog.put_record(
            Materialization(
                created=at(second),
                status="failed",
                assets=[MaterializedAsset(key=key), MaterializedAsset(key="s3://m/other")],
                task_run_id=f"t{second}",
            )
        )
        return catalog.put_record(
            AssetHead(
                key=key, materialization=mat, status="failed", created=at(second), parent=parent
            )
        )

    def merge(second: int, *parents: str) -> str:
        return catalog.put_record(AssetMerge(key=key, created=at(second), parents=list(parents)))

    base = step(1, step(0, None))
    left = step(4, step(2, base))
    right = step(5, step(3, base))
    top = step(8, step(7, merge(6, left, right)))
    side = step(9, base)
    head = step(12, step(11, merge(10, top, side)))
    assert catalog.refs.set_if_equals(asset_ref(key), None, head)
    for i in range(6):  # other histories, for the workers to share
        catalog.assets.record([f"s3://m/plain{i}"], status="succeeded", upstream=[key])
    expected = [mid for mid, _ in catalog.assets.history(key)]
    assert len(expected) == 11
    if workers > 1:
        monkeypatch.setattr(_lineage, "_PARALLEL_CHECK_S", 0.0)
        monkeypatch.setattr(_lineage, "_PARALLEL_MIN_S", 0.0)
        monkeypatch.setattr(_lineage, "_WORKER_START_S", 0.0)
        monkeypatch.setattr(_lineage, "_worker_count", lambda _cat: workers)
    fresh = reopen(catalog)
    stats = fresh.lineage.rebuild()
    assert stats.rows == 11 + 6
    assert [e.id for e in fresh.lineage.history(key)] == expected
    assert answers(fresh) == brute_answers(fresh)


# -- random DAGs against a plain-Python model ------------------------------------------------

KEYS = [f"s3://h/k{i}" for i in range(6)] + ["pg://db/ext"]


@st.composite
def materializations(draw: Any) -> list[dict[str, Any]]:
    steps = []
    for _ in range(draw(st.integers(1, 14))):
        assets = draw(st.lists(st.sampled_from(KEYS[:6]), min_size=1, max_size=2, unique=True))
        others = [k for k in KEYS if k not in assets]
        upstream = draw(st.lists(st.sampled_from(others), max_size=3, unique=True))
        declared = draw(st.lists(st.sampled_from(others), max_size=1, unique=True))
        props = draw(st.sampled_from([None, "p1", "p2"]))
        steps.append(
            {
                "assets": assets,
                "upstream": upstream,
                "declared": declared,
                "status": draw(st.sampled_from(["succeeded", "failed"])),
                "props": props,
                "query_after": draw(st.booleans()),
            }
        )
    return steps


def model_answers(steps: list[dict[str, Any]], created: list[dt.datetime]) -> dict[str, Any]:
    """The answers computed from the generated steps alone (no catalog)."""
    latest: dict[str, int] = {}
    props: dict[str, str] = {}
    referenced: dict[str, dt.datetime] = {}
    for i, s in enumerate(steps):
        ups = sorted(set(s["upstream"]) | set(s["declared"]))
        s["ups"] = ups
        for a in s["assets"]:
            latest[a] = i
            if s["props"]:
                props[a] = s["props"]
        for u in ups:
            referenced[u] = max(referenced.get(u, created[i]), created[i])
    up = {k: steps[i]["ups"] for k, i in latest.items()}
    nodes = sorted(set(latest) | set(referenced))

    def walk(key: str, upward: bool) -> list[tuple[str, int]]:
        adj: dict[str, list[str]] = {}
        for k, ups in up.items():
            for u in ups:
                if upward:
                    adj.setdefault(k, []).append(u)
                else:
                    adj.setdefault(u, []).append(k)
        dist = {key: 0}
        frontier = [key]
        while frontier:
            nxt = []
            for n in frontier:
                for m in adj.get(n, []):
                    if m not in dist:
                        dist[m] = dist[n] + 1
                        nxt.append(m)
            frontier = nxt
        return sorted(((k, d) for k, d in dist.items() if k != key), key=lambda p: (p[1], p[0]))

    out: dict[str, Any] = {
        "nodes": nodes,
        "edges": sorted((u, k) for k, ups in up.items() for u in ups),
    }
    out["assets"] = [
        (
            k,
            steps[latest[k]]["status"] if k in latest else "referenced",
            created[latest[k]] if k in latest else referenced[k],
            {"name": props[k], "url": None, "description": None, "owners": None}
            if k in props
            else None,
        )
        for k in nodes
    ]
    for k in nodes:
        out[f"up {k}"] = walk(k, True)
        out[f"down {k}"] = walk(k, False)
        out[f"history {k}"] = [
            (steps[i]["status"], steps[i]["ups"])
            for i in reversed(range(len(steps)))
            if k in steps[i]["assets"]
        ]
    return out


def index_model_view(cat: Catalog) -> dict[str, Any]:
    lin = cat.lineage
    g = lin.graph()
    out: dict[str, Any] = {"nodes": g.nodes, "edges": g.edges}
    out["assets"] = [(a.key, a.health, a.last_seen, a.properties) for a in lin.assets()]
    for k in g.nodes:
        out[f"up {k}"] = lin.upstream(k)
        out[f"down {k}"] = lin.downstream(k)
        out[f"history {k}"] = [(e.status, e.upstream) for e in lin.history(k)]
    return out


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=materializations())
def test_random_dags_match_a_plain_python_model(steps: list[dict[str, Any]]) -> None:
    cat = Catalog.from_url(f"memory://lineage-model-{uuid.uuid4().hex}")
    created = []
    for s in steps:
        mid = cat.assets.record(
            s["assets"],
            status=s["status"],
            upstream=s["upstream"],
            declared=s["declared"],
            properties={a: AssetProperties(name=s["props"]) for a in s["assets"]}
            if s["props"]
            else None,
        )
        rec = cat.get_record(mid)
        assert isinstance(rec, Materialization)
        created.append(rec.created)
        if s["query_after"]:
            cat.lineage.upstream(s["assets"][0])  # advance the index step by step
    expected = model_answers(steps, created)
    assert index_model_view(cat) == expected
    assert index_model_view(reopen(cat)) == expected  # stored maps and rows
    fresh = reopen(cat)
    fresh.lineage.rebuild()
    assert index_model_view(fresh) == expected


def test_an_s3_catalog_gives_the_same_answers(s3_url: str) -> None:
    cat = Catalog.from_url(s3_url)
    scenario(cat)
    expected = brute_answers(cat)
    assert answers(cat) == expected
    assert answers(Catalog.from_url(s3_url)) == expected  # from the stored index
    cat.assets.record(["s3://lake/late.csv"], status="failed", upstream=["s3://lake/raw.csv"])
    expected = brute_answers(cat)
    reader = Catalog.from_url(s3_url)
    assert answers(reader) == expected  # advanced from the stored index
    reader.lineage._records_read = 0
    stats = reader.lineage.rebuild()  # read by threads: each read is a request
    # 4 single-asset materializations (their own nodes), and for each asset of the two-asset
    # one its asset-head and the record: each history is read by its own thread, so the
    # record is read once per history that meets it.
    assert (stats.rows, stats.records) == (6, 4 + 2 * (1 + 1))
    assert answers(reader) == expected


def test_keys_and_run_ids_beyond_ascii_are_matched_exactly() -> None:
    cat = Catalog.from_url(f"memory://lineage-unicode-{uuid.uuid4().hex}")
    key = "s3://b/données/日本-(v2);x=1.csv"
    twin = "s3://b/donne\u0301es/日本-(v2);x=1.csv"  # the same text, decomposed: another key
    cat.assets.record([key], status="succeeded", upstream=[twin], task_run_id="täsk")
    cat.assets.record([twin], status="failed", metadata={twin: {"ü": "ß"}})
    assert [e.key for e in cat.lineage.history(key)] == [key]
    assert [e.metadata for e in cat.lineage.history(twin)] == [{"ü": "ß"}]
    assert [e.key for e in cat.lineage.for_run("täsk")] == [key]
    assert cat.lineage.upstream(key) == [(twin, 1)]
