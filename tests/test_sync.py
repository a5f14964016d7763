# ruff: noqa: SIM118  (keys() here are catalog methods, not dict views)
"""Sync between catalogs: local to local, local to S3 and S3 to S3 (two buckets).

Each test checks the catalogs themselves after the sync: the refs of both sides, every
object reachable from DST's refs (read back, so verified), histories, and the lineage index
against a brute-force walk of the records.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from cairn.catalog import Catalog, SyncError, sync
from cairn.catalog._assets import read_node
from cairn.catalog._reach import reachable
from cairn.catalog._sync import state_path
from cairn.catalog.records import Materialization, RunRecord, utcnow
from cairn.objects import ObjectId
from cairn.objects._s3 import S3ObjectStore

PAIRS = ["local-local", "local-s3", "s3-s3"]


@pytest.fixture(params=PAIRS)
def pair(request: Any, tmp_path: Path) -> tuple[Catalog, Catalog]:
    """Two new catalogs, SRC and DST, of the kinds the parameter names."""
    kinds = request.param.split("-")
    urls = []
    for i, kind in enumerate(kinds):
        if kind == "local":
            urls.append(str(tmp_path / f"cat{i}"))
        else:
            moto = request.getfixturevalue("moto_s3")
            request.getfixturevalue("s3_env")
            urls.append(f"s3://{moto.new_bucket()}/cat{i}")
    return Catalog.from_url(urls[0]), Catalog.from_url(urls[1])


def reopen(cat: Catalog) -> Catalog:
    return Catalog.from_url(cat.url)


def refs(cat: Catalog) -> dict[str, str]:
    return dict(cat.refs.iter_refs(""))


def populate(cat: Catalog, tag: str, versions: int = 3) -> dict[str, Any]:
    """Write one of everything: keyed versions, a blob, progress, keyless, runs, assets."""
    ids: dict[str, Any] = {}
    ids["keyed"] = [
        cat.artifacts.create("markdown", f"{tag}-{i}", key="report") for i in range(versions)
    ]
    ids["big"] = cat.artifacts.create("markdown", tag * 70_000, key=f"big-{tag}")  # a blob
    ids["progress"] = cat.artifacts.create("progress", 5.0, key=f"prog-{tag}")
    cat.artifacts.update_progress(ids["progress"], 60.0)
    ids["keyless"] = cat.artifacts.create("markdown", f"loose {tag}")
    gone = cat.artifacts.create("markdown", f"gone {tag}")
    cat.artifacts.delete(gone)
    ids["gone"] = gone
    in_run = cat.artifacts.create("markdown", f"in run {tag}", anchored_by_run=True)
    ids["run"] = f"{abs(hash(tag)) % 10**8:08x}-0000-4000-8000-000000000000"
    now = utcnow()
    cat.runs.save(
        RunRecord(
            id=ids["run"],
            run_type="flow",
            name=tag,
            function="f",
            state="Completed",
            start=now,
            end=now,
            artifacts=[in_run],
        )
    )
    cat.assets.record(["s3://lake/raw.csv"], status="succeeded", task_run_id=f"t-{tag}")
    cat.assets.record(
        ["s3://lake/clean.csv", "s3://lake/dims.csv"],
        status="succeeded",
        upstream=["s3://lake/raw.csv"],
        task_run_id=f"u-{tag}",
    )
    return ids


def assert_valid(cat: Catalog) -> dict[ObjectId, str]:
    """Every object every ref reaches is there and intact; the lineage index is right."""
    found = reachable(cat)
    for oid in found:
        cat.objects.get(oid)  # verified against its id
    assert_lineage_matches_records(cat)
    return found


def brute_history(cat: Catalog, key: str) -> list[str]:
    """The materializations of ``key`` by a plain walk over every parent link."""
    from cairn.catalog import asset_ref

    head = cat.refs.get(asset_ref(key))
    seen: set[str] = set()
    steps = []
    stack = [head] if head else []
    while stack:
        oid = stack.pop()
        if oid in seen:
            continue
        seen.add(oid)
        node = read_node(cat, ObjectId(oid))
        if node.step is not None:
            steps.append((node.created, oid, node.step.materialization))
        stack.extend(node.parents)
    steps.sort(reverse=True)
    return [mat for _, _, mat in steps]


def assert_lineage_matches_records(cat: Catalog) -> None:
    fresh = reopen(cat)
    for key in fresh.assets.keys():
        expected = brute_history(fresh, key)
        assert [e.id for e in fresh.lineage.history(key)] == expected
        assert [m for m, _ in fresh.assets.history(key)] == expected
        latest = fresh.get_record(expected[0])
        assert isinstance(latest, Materialization)
        summary = fresh.lineage.asset(key)
        assert summary is not None and summary.health == latest.status
    rebuilt = reopen(cat)
    rebuilt.lineage.rebuild()
    assert rebuilt.lineage.graph() == fresh.lineage.graph()


def test_first_sync_copies_everything_and_a_second_copies_nothing(
    pair: tuple[Catalog, Catalog],
) -> None:
    src, dst = pair
    populate(src, "a")
    report = sync(src, dst)
    assert refs(dst) == refs(src)
    assert assert_valid(dst) == reachable(src)
    assert report.objects_copied == len(reachable(src))
    assert report.refs_created == len(refs(src))
    again = sync(src, reopen(dst))
    assert again.objects_copied == 0 and again.changes == []
    assert dst.area.read(state_path(src)) is not None
    # The sync state is derived data: without it, the sync compares more and copies nothing.
    dst.area.delete_tree("index/sync")
    assert sync(src, reopen(dst)).objects_copied == 0
    assert [a.data for a in reopen(dst).artifacts.history("report")] == ["a-2", "a-1", "a-0"]


def test_both_sides_writing_the_same_keys_then_both_ways_ends_equal_and_loses_nothing(
    pair: tuple[Catalog, Catalog],
) -> None:
    src, dst = pair
    populate(src, "a")
    sync(src, dst)
    a_new = [src.artifacts.create("markdown", f"a-new-{i}", key="report") for i in range(2)]
    b_new = [dst.artifacts.create("markdown", f"b-new-{i}", key="report") for i in range(3)]
    src.artifacts.create("markdown", "only a", key="only-a")
    dst.artifacts.create("markdown", "only b", key="only-b")
    src.assets.record(["s3://lake/raw.csv"], status="failed", task_run_id="a2")
    dst.assets.record(["s3://lake/raw.csv"], status="succeeded", task_run_id="b2")
    dst.assets.record(["s3://lake/clean.csv"], status="failed", task_run_id="b3")
    newest = dst.artifacts.create("markdown", "newest", key="report")
    report = sync(src, dst, both=True)
    assert report.conflicts_merged >= 2  # the artifact key and the raw asset
    a, b = reopen(src), reopen(dst)
    assert refs(a) == refs(b)
    history = [v.id for v in b.artifacts.history("report")]
    assert set(history) >= {*a_new, *b_new, newest}
    assert len(history) == 3 + 2 + 3 + 1
    created = [v.created for v in b.artifacts.history("report")]
    assert created == sorted(created, reverse=True)
    latest = b.artifacts.latest("report")
    assert latest is not None and latest.id == newest
    assert {k for k in b.artifacts.keys()} >= {"only-a", "only-b"}
    raw = b.lineage.history("s3://lake/raw.csv")
    assert {e.task_run_id for e in raw} == {"t-a", "a2", "b2"}
    assert_valid(a)
    assert_valid(b)
    # Nothing more to do either way.
    again = sync(a, b, both=True)
    assert [(p.objects, p.changes) for p in again.passes] == [([], []), ([], [])]


def test_deletions_carry_over_and_are_never_resurrected(
    pair: tuple[Catalog, Catalog], tmp_path: Path
) -> None:
    src, dst = pair
    ids = populate(src, "a")
    sync(src, dst)
    old = Catalog.from_url(str(tmp_path / "old"))
    sync(src, old)  # a third catalog that keeps everything
    src.artifacts.delete(ids["keyed"][1])  # one version, on SRC
    dst.artifacts.delete_key("big-a")  # a whole key, on DST
    dst.artifacts.delete(ids["keyless"])  # a keyless artifact, on DST
    dst.artifacts.delete(ids["progress"])  # a progress artifact (its progress ref goes too)
    src.artifacts.update_progress(ids["progress"], 99.0)  # ... still updated on SRC
    sync(src, dst, both=True)
    for cat in (reopen(src), reopen(dst)):
        assert [v.id for v in cat.artifacts.history("report")] == [ids["keyed"][2], ids["keyed"][0]]
        assert "big-a" not in cat.artifacts.keys()
        assert cat.refs.get("artifacts/big-a") is not None  # kept as a tombstone
        assert ids["keyless"] not in {a.id for a in cat.artifacts.keyless()}
        assert cat.refs.get(f"progress/{ids['progress']}") is None
        assert "prog-a" not in cat.artifacts.keys()
    assert refs(src) == refs(dst)
    # The third catalog, which still has everything, brings none of it back.
    sync(old, dst)
    assert [v.id for v in reopen(dst).artifacts.history("report")] == [
        ids["keyed"][2],
        ids["keyed"][0],
    ]
    assert "big-a" not in reopen(dst).artifacts.keys()
    assert_valid(reopen(dst))


def corrupt(cat: Catalog, oid: str) -> None:
    """Change one byte of stored object ``oid`` in place (a disk or a bucket going bad)."""
    if isinstance(cat.objects, S3ObjectStore):
        location = cat.objects.location
        key = location.key(f"{oid[:2]}/{oid[2:]}")
        data = bytearray(location.read(key).body)  # type: ignore[union-attr]
        data[len(data) // 2] ^= 0x01
        location.call("put_object", Key=key, Body=bytes(data))
        return
    path = Path(cat.objects.describe(oid))
    path.chmod(0o644)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("what", ["record", "blob"])
def test_a_corrupt_source_object_stops_the_sync_and_nothing_reaching_it_lands(
    pair: tuple[Catalog, Catalog], what: str
) -> None:
    src, dst = pair
    populate(src, "a")
    if what == "record":
        head = src.refs.get("artifacts/report")
        assert head is not None
        victim = src.get_record(head).parent  # type: ignore[union-attr]
        name = "artifacts/report"
    else:
        head = src.refs.get("artifacts/big-a")
        assert head is not None
        victim = src.get_record(head).blob  # type: ignore[union-attr]
        name = "artifacts/big-a"
    assert victim is not None
    corrupt(src, victim)
    with pytest.raises(SyncError, match=f"sync stopped: object '{victim}'.*is corrupt"):
        sync(src, dst)
    dst = reopen(dst)
    assert dst.refs.get(name) is None
    assert not dst.objects.exists(victim)
    for ref, value in dst.refs.iter_refs(""):
        assert victim not in reachable(dst, [(ref, value)])
    assert_valid(dst)


def test_a_concurrent_writer_on_dst_loses_no_commit(pair: tuple[Catalog, Catalog]) -> None:
    src, dst = pair
    populate(src, "a", versions=20)
    dst.artifacts.create("markdown", "first", key="report")
    mine: list[str] = []
    stop = threading.Event()

    def writer() -> None:
        cat = reopen(dst)
        while not stop.is_set() or len(mine) < 5:
            mine.append(cat.artifacts.create("markdown", f"w{len(mine)}", key="report"))

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        sync(src, dst)
        sync(src, reopen(dst))
    finally:
        stop.set()
        thread.join()
    history = {v.id for v in reopen(dst).artifacts.history("report")}
    assert set(mine) <= history
    assert len(history) >= 20 + 1 + len(mine)
    assert_valid(reopen(dst))


def test_dry_run_writes_nothing_and_says_what_would_change(tmp_path: Path) -> None:
    src = Catalog.from_url(str(tmp_path / "src"))
    populate(src, "a")
    report = sync(src, str(tmp_path / "dst"), dry_run=True)
    assert report.dry_run and report.objects_copied == len(reachable(src))
    assert {c.name for c in report.changes} == set(refs(src))
    assert not (tmp_path / "dst").exists()
    dst = Catalog.from_url(str(tmp_path / "dst"))
    sync(src, dst)
    src.artifacts.create("markdown", "more", key="report")
    dst.artifacts.create("markdown", "theirs", key="report")
    before = refs(dst)
    plan = sync(src, dst, dry_run=True)
    assert [(c.name, c.action) for c in plan.changes] == [("artifacts/report", "merge")]
    assert refs(dst) == before


def test_same_catalog_and_missing_source_are_refused(tmp_path: Path) -> None:
    with pytest.raises(SyncError, match="same catalog"):
        sync(str(tmp_path / "a"), str(tmp_path / "a"))
    with pytest.raises(Exception, match="no cairn catalog"):
        sync(str(tmp_path / "nothing"), str(tmp_path / "b"))


def test_between_two_buckets_blobs_are_copied_inside_s3(s3_env: Any, moto_s3: Any) -> None:
    from cairn.testing import S3Requests

    src = Catalog.from_url(f"s3://{moto_s3.new_bucket()}/src")
    dst = Catalog.from_url(f"s3://{moto_s3.new_bucket()}/dst")
    ids = populate(src, "a")
    blob = src.get_record(ids["big"]).blob  # type: ignore[union-attr]
    assert blob is not None
    blob_key = f"objects/{blob[:2]}/{blob[2:]}"
    with S3Requests() as requests:
        report = sync(src, dst)
    assert (blob, "blob", len("a" * 70_000)) in report.objects
    on_blob = [r for r in requests if r.key.endswith(blob_key)]
    # A HEAD of the source (size, ETag, stored checksum) and one CopyObject: no GET, no
    # upload of the bytes.
    assert sorted(r.operation for r in on_blob) == ["CopyObject", "HeadObject"], on_blob
    copy = next(r for r in on_blob if r.operation == "CopyObject")
    assert copy.header("x-amz-checksum-algorithm") == "SHA256"
    assert copy.header("If-None-Match") == "*"
    assert reopen(dst).artifacts.get(ids["big"]).data == "a" * 70_000  # type: ignore[union-attr]
    assert_valid(reopen(dst))
