"""Garbage collection (``cairn gc``): on a local folder, in memory and on S3 (moto's server).

Each test builds garbage the way users make it (deleting versions, retention, runs whose
early records were replaced, artifacts deleted after a flow listed them), ages objects by
moving their times back (``age``: file mtimes, the memory store's times, moto's
``LastModified``), runs gc and then checks the catalog itself: what is gone, what stayed,
and that every object a ref reaches is still there and intact.
"""

from __future__ import annotations

import datetime as dt
import json
import multiprocessing
import os
import random
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest

import cairn
from cairn import flow, task
from cairn.artifacts import create_markdown_artifact
from cairn.catalog import Catalog, GcError, gc, sync
from cairn.catalog._reach import reachable
from cairn.catalog._sync import state_path
from cairn.catalog.records import ArtifactVersion
from cairn.errors import InvalidInputError, NotFoundError
from cairn.objects import LocalObjectStore, MemoryObjectStore, ObjectId, S3ObjectStore
from conftest import error_line, ok

KINDS = ["local", "memory", "s3"]
WEEKS_3 = 21 * 86_400

Age = Callable[..., None]


def new_catalog(kind: str, request: pytest.FixtureRequest, tmp_path: Path, name: str) -> Catalog:
    if kind == "local":
        return Catalog.from_url(str(tmp_path / name))
    if kind == "memory":
        return Catalog.from_url(f"memory://gc-{name}-{uuid.uuid4().hex}")
    moto = request.getfixturevalue("moto_s3")
    request.getfixturevalue("s3_env")
    return Catalog.from_url(f"s3://{moto.new_bucket()}/{name}")


@pytest.fixture(params=KINDS)
def cat(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Catalog]:
    """A new catalog of each kind, made the default one."""
    catalog = new_catalog(request.param, request, tmp_path, "cat")
    with cairn.use_catalog(catalog):
        yield catalog


@pytest.fixture
def age(request: pytest.FixtureRequest) -> Age:
    """Return ``age(cat, seconds, oids=None)``: make objects look stored that much earlier."""

    def run(cat: Catalog, seconds: float, oids: Iterable[str] | None = None) -> None:
        store = cat.objects
        for oid in list(oids if oids is not None else store.iter_ids()):
            if isinstance(store, LocalObjectStore):
                path = store._path(oid)
                st = path.stat()
                os.utime(path, (st.st_atime - seconds, st.st_mtime - seconds))
            elif isinstance(store, MemoryObjectStore):
                store._backdate(oid, seconds)
            else:
                assert isinstance(store, S3ObjectStore)
                moto = request.getfixturevalue("moto_s3")
                moto.backdate(store.location.bucket, store._key(oid), seconds)

    return run


def stored(cat: Catalog) -> set[str]:
    return set(cat.objects.iter_ids())


def assert_whole(cat: Catalog) -> dict[ObjectId, str]:
    """Every object every ref reaches is there and intact, and the usual reads work."""
    fresh = Catalog.from_url(cat.url)
    found = reachable(fresh)
    for oid in found:
        fresh.objects.get(oid)  # verified against its id
    for key in fresh.artifacts.keys():  # noqa: SIM118  (a method, not a dict)
        for version in fresh.artifacts.history(key):
            version.data  # noqa: B018  (reads the blob, if any)
    fresh.artifacts.list_all()
    fresh.artifacts.keyless()
    return found


def make_garbage(cat: Catalog) -> dict[str, Any]:
    """Write keyed and keyless versions, a blob, progress, a flow run and assets; delete some."""
    ids: dict[str, Any] = {}
    ids["keyed"] = [cat.artifacts.create("markdown", f"v{i}", key="report") for i in range(4)]
    ids["big"] = cat.artifacts.create("markdown", "B" * 70_000, key="big")  # in a blob
    ids["big_gone"] = cat.artifacts.create("markdown", "G" * 70_000, key="big")
    ids["progress"] = cat.artifacts.create("progress", 5.0, key="load")
    cat.artifacts.update_progress(ids["progress"], 50.0)
    ids["keyless"] = cat.artifacts.create("markdown", "loose")
    ids["keyless_gone"] = cat.artifacts.create("markdown", "loose, deleted")

    @task
    def step() -> str:
        return create_markdown_artifact("made in a task, deleted", key="report")

    @flow
    def nightly() -> tuple[str, str, str]:
        kept = create_markdown_artifact("made in a flow", key="report")
        gone = create_markdown_artifact("made in a flow, deleted", key="report")
        loose = create_markdown_artifact("keyless in a flow, deleted")
        create_markdown_artifact("keyless in a flow")
        step()
        return kept, gone, loose

    ids["flow_kept"], ids["flow_gone"], ids["flow_keyless_gone"] = nightly()
    ids["task_gone"] = cat.artifacts.latest("report").id
    cat.assets.record(["s3://lake/raw.csv"], status="succeeded", task_run_id="t-1")
    cat.assets.record(["s3://lake/clean.csv"], status="succeeded", upstream=["s3://lake/raw.csv"])
    for name in ("big_gone", "keyless_gone", "flow_gone", "flow_keyless_gone", "task_gone"):
        cat.artifacts.delete(ids[name])
    cat.artifacts.delete(ids["keyed"][1])
    return ids


# -- what goes and what stays ----------------------------------------------------------------


def test_unreachable_old_objects_go_and_reachable_ones_stay(cat: Catalog, age: Age) -> None:
    ids = make_garbage(cat)
    live = set(reachable(cat))
    garbage = stored(cat) - live
    deleted_versions = {ids[n] for n in ("flow_gone", "flow_keyless_gone", "task_gone")}
    deleted_versions |= {ids["big_gone"], ids["keyless_gone"], ids["keyed"][1]}
    assert deleted_versions <= garbage  # a run's listing no longer keeps them
    big_blob = cat.get_record(ids["big_gone"])
    assert isinstance(big_blob, ArtifactVersion) and big_blob.blob in garbage
    age(cat, WEEKS_3)
    report = gc(cat)
    assert {oid for oid, _ in report.deleted} == garbage
    assert stored(cat) == live
    assert report.objects_deleted == len(garbage) and report.reachable == len(live)
    assert report.objects == len(garbage) + len(live)
    assert report.objects_kept_recent == 0
    assert set(assert_whole(cat)) == live
    # The deleted keyless artifact's tombstone still names the object gc reclaimed.
    assert cat.refs.get(f"deleted/{ids['keyless_gone']}") == ids["keyless_gone"]
    assert ids["keyless_gone"] not in stored(cat)
    # What users read is unchanged.
    assert [a.data for a in cat.artifacts.history("report")][-3:] == ["v3", "v2", "v0"]
    assert cat.artifacts.get(ids["progress"]).data == 50.0
    assert cat.artifacts.latest("big").data == "B" * 70_000
    assert {a.data for a in cat.artifacts.keyless()} == {"loose", "keyless in a flow"}
    run_id = cat.artifacts.get(ids["flow_kept"]).flow_run_id
    assert run_id is not None  # the run lists versions gc reclaimed: they are skipped
    made = [a.data for a in cat.artifacts.for_run(run_id)]
    assert made == ["made in a flow", "keyless in a flow"]
    # Nothing left: a second gc deletes nothing.
    again = gc(cat, prune="now")
    assert again.objects_deleted == 0 and stored(cat) == live


def test_young_unreachable_objects_stay_for_the_grace_period(cat: Catalog, age: Age) -> None:
    ids = make_garbage(cat)
    old_garbage = stored(cat) - set(reachable(cat))
    age(cat, WEEKS_3)
    young = cat.artifacts.create("markdown", "young", key="young")
    cat.artifacts.delete(young)  # unreachable, but stored just now
    aged_3d = cat.artifacts.create("markdown", "three days old", key="young")
    cat.artifacts.delete(aged_3d)
    age(cat, 3 * 86_400, [aged_3d])
    report = gc(cat)  # two weeks
    assert {oid for oid, _ in report.deleted} == old_garbage
    assert {young, aged_3d} <= stored(cat)
    assert report.objects_kept_recent == len(stored(cat) - set(reachable(cat)))
    assert report.bytes_kept_recent > 0
    assert gc(cat, prune="4d").objects_deleted == 0
    assert [oid for oid, _ in gc(cat, prune="2d").deleted] == [aged_3d]
    assert young in stored(cat)
    age(cat, 60, [young])
    assert young in {oid for oid, _ in gc(cat, prune=dt.timedelta(seconds=30)).deleted}
    assert ids["keyed"][0] in stored(cat)
    assert_whole(cat)


def test_dry_run_deletes_nothing_and_reports_what_and_how_many_bytes(
    cat: Catalog, age: Age
) -> None:
    make_garbage(cat)
    age(cat, WEEKS_3)
    before = {s.oid: s.size for s in cat.objects.iter_stats()}
    garbage = set(before) - set(reachable(cat))
    refs = dict(cat.refs.iter_refs(""))
    report = gc(cat, dry_run=True)
    assert report.dry_run
    assert dict(report.deleted) == {oid: before[oid] for oid in garbage}
    assert report.bytes_deleted == sum(before[oid] for oid in garbage) > 70_000
    assert report.objects_deleted == len(garbage)
    assert {s.oid: s.size for s in cat.objects.iter_stats()} == before
    assert dict(cat.refs.iter_refs("")) == refs
    assert not report.sync_states_reset
    summary = report.summary()
    assert summary["dry_run"] is True and len(summary["deleted"]) == len(garbage)


# -- retention ---------------------------------------------------------------------------------


def old_versions(cat: Catalog, key: str, days_ago: list[float]) -> list[str]:
    """Commit versions of ``key`` created that many days ago (oldest first), as a writer
    whose clock said so would have: each one's parent is the head, its time later."""
    now = dt.datetime.now(dt.timezone.utc)
    ids = []
    for days in sorted(days_ago, reverse=True):
        head = cat.refs.get(f"artifacts/{key}")
        record = ArtifactVersion(
            type="markdown", key=key, data=f"{days} days old", parent=head,
            created=now - dt.timedelta(days=days), nonce=uuid.uuid4().hex,
        )  # fmt: skip
        oid = cat.put_record(record)
        assert cat.refs.set_if_equals(f"artifacts/{key}", head, oid)
        ids.append(oid)
    return ids


def test_keep_versions_keeps_the_newest_n_of_each_key(cat: Catalog, age: Age) -> None:
    many = [cat.artifacts.create("markdown", f"a{i}", key="a") for i in range(6)]
    one = cat.artifacts.create("markdown", "b0", key="b")
    three = [cat.artifacts.create("markdown", f"c{i}", key="c") for i in range(3)]
    big = [cat.artifacts.create("markdown", f"{i}" * 70_000, key="d") for i in range(3)]
    age(cat, WEEKS_3)
    report = gc(cat, keep_versions=2)
    doomed = set(many[:4]) | {three[0], big[0]}
    assert set(vid for _, vid in report.versions) == doomed
    assert report.versions_deleted == 6 and report.keys_trimmed == 3
    assert [a.id for a in cat.artifacts.history("a")] == many[:-3:-1]
    assert [a.id for a in cat.artifacts.history("b")] == [one]
    assert [a.id for a in cat.artifacts.history("c")] == three[:-3:-1]
    # Old enough, so the same run reclaimed them (and the blob only d's first version had).
    assert not doomed & stored(cat)
    assert report.objects_deleted == len(doomed) + 1  # and the blob only d's first one had
    assert_whole(cat)
    assert gc(cat, keep_versions=2).versions_deleted == 0


def test_retention_deletes_versions_but_the_grace_period_keeps_their_objects(
    cat: Catalog, age: Age
) -> None:
    ids = [cat.artifacts.create("markdown", f"v{i}", key="k") for i in range(3)]
    report = gc(cat, keep_versions=1)  # stored just now: deleted, not yet reclaimed
    assert report.versions_deleted == 2 and report.objects_deleted == 0
    assert [a.id for a in cat.artifacts.history("k")] == [ids[2]]
    assert set(ids) <= stored(cat)
    age(cat, WEEKS_3)
    assert {oid for oid, _ in gc(cat).deleted} >= set(ids[:2])
    assert_whole(cat)


def test_older_than_never_deletes_a_keys_latest_version(cat: Catalog, age: Age) -> None:
    mixed = old_versions(cat, "mixed", [30, 20, 10])
    recent = [cat.artifacts.create("markdown", f"now {i}", key="mixed") for i in range(2)]
    stale = old_versions(cat, "stale", [40, 35])
    age(cat, WEEKS_3)
    report = gc(cat, older_than="15d")
    assert set(vid for _, vid in report.versions) == {mixed[0], mixed[1], stale[0]}
    assert [a.id for a in cat.artifacts.history("mixed")] == [*recent[::-1], mixed[2]]
    assert [a.id for a in cat.artifacts.history("stale")] == [stale[1]]  # old, but the latest
    assert not {mixed[0], mixed[1], stale[0]} & stored(cat)
    assert_whole(cat)


def test_keep_versions_and_older_than_together_delete_only_what_both_allow(
    cat: Catalog, age: Age
) -> None:
    old = old_versions(cat, "k", [30, 20, 10])
    recent = [cat.artifacts.create("markdown", f"now {i}", key="k") for i in range(2)]
    report = gc(cat, keep_versions=4, older_than=dt.timedelta(days=15), dry_run=True)
    assert [vid for _, vid in report.versions] == [old[0]]  # beyond the newest 4 and old
    assert len(cat.artifacts.history("k")) == 5  # a dry run
    report = gc(cat, keep_versions=2, older_than="15d")
    assert sorted(vid for _, vid in report.versions) == sorted(old[:2])
    assert [a.id for a in cat.artifacts.history("k")] == [*recent[::-1], old[2]]


def test_a_dry_run_with_retention_shows_the_objects_the_deletion_would_free(
    cat: Catalog, age: Age
) -> None:
    ids = [cat.artifacts.create("markdown", f"{i}" * 70_000, key="k") for i in range(3)]
    blobs = {cat.get_record(i).blob for i in ids}  # type: ignore[union-attr]
    age(cat, WEEKS_3)
    before = stored(cat)
    report = gc(cat, keep_versions=1, dry_run=True)
    would = {oid for oid, _ in report.deleted}
    assert set(ids[:2]) <= would
    assert len(blobs & would) == 2
    assert stored(cat) == before
    assert [a.id for a in cat.artifacts.history("k")] == ids[::-1]
    real = gc(cat, keep_versions=1)
    assert {oid for oid, _ in real.deleted} == would


def test_bad_arguments_are_refused_before_anything_is_done(cat: Catalog) -> None:
    cat.artifacts.create("markdown", "x", key="k")
    for bad in ("", "2", "w", "2 weeks", "-1d", "2x", "now-ish", "1e3d"):
        with pytest.raises(InvalidInputError, match="is not a duration"):
            gc(cat, prune=bad)
        with pytest.raises(InvalidInputError, match="is not a duration"):
            gc(cat, older_than=bad)
    for count in (0, -1, True, 1.5):
        with pytest.raises(InvalidInputError, match="keep_versions"):
            gc(cat, keep_versions=count)  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError):
        gc(cat, prune=dt.timedelta(seconds=-1))
    assert len(cat.artifacts.history("k")) == 1


def test_a_catalog_that_does_not_exist_is_refused(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match="no cairn catalog"):
        gc(str(tmp_path / "nothing here"))
    assert not (tmp_path / "nothing here").exists()


def test_a_missing_reachable_object_stops_gc_before_it_deletes_anything(
    cat: Catalog, age: Age
) -> None:
    ids = make_garbage(cat)
    age(cat, WEEKS_3)
    before = stored(cat)
    cat.objects.delete(ids["keyed"][2])  # damage: a live version is gone
    with pytest.raises(GcError, match="cairn fsck"):
        gc(cat, prune="now")
    assert stored(cat) == before - {ids["keyed"][2]}


# -- freshening: a write that finds its object stored makes it young again ----------------------


def test_committing_bytes_that_are_garbage_freshens_them(cat: Catalog, age: Age) -> None:
    first = cat.artifacts.create("markdown", "P" * 70_000, key="k")
    blob = cat.get_record(first).blob  # type: ignore[union-attr]
    cat.artifacts.delete(first)
    age(cat, WEEKS_3)
    assert blob in {oid for oid, _ in gc(cat, dry_run=True).deleted}
    # A commit in flight stores the same payload: found already stored, and freshened.
    again = cat.artifacts.create("markdown", "P" * 70_000, key="k")
    assert cat.get_record(again).blob == blob  # type: ignore[union-attr]
    (stat,) = [s for s in cat.objects.iter_stats(blob)]
    assert stat.mtime > cat.objects.now() - 3600
    report = gc(cat)
    assert blob not in {oid for oid, _ in report.deleted}
    assert cat.artifacts.latest("k").data == "P" * 70_000


def test_a_ref_that_moves_during_gc_keeps_what_it_reaches(
    cat: Catalog, age: Age, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Between gc's marking and its sweep, a writer commits bytes that were garbage, so old
    # that freshening came too late for the listing: the check of moved refs keeps them.
    first = cat.artifacts.create("markdown", "Q" * 70_000, key="k")
    blob = cat.get_record(first).blob  # type: ignore[union-attr]
    cat.artifacts.delete(first)
    age(cat, WEEKS_3)
    store = cat.objects
    real = type(store).iter_stats

    def listing_then_a_commit(self: Any, prefix: str = "") -> Iterator[Any]:
        listed = list(real(self, prefix))
        # the writer: its object found stored (and "freshened"), its ref moved
        writer = Catalog.from_url(cat.url)
        writer.artifacts.create("markdown", "Q" * 70_000, key="k")
        age(cat, WEEKS_3, [blob])  # as if the freshening had not happened at all
        return iter(listed)

    with monkeypatch.context() as patch:
        patch.setattr(type(store), "iter_stats", listing_then_a_commit)
        report = gc(cat)
    assert blob in stored(cat)
    assert report.objects_kept_moved >= 1
    assert cat.artifacts.latest("k").data == "Q" * 70_000
    assert_whole(cat)


def test_an_object_found_by_a_writer_after_the_listing_is_not_deleted(
    cat: Catalog, age: Age, monkeypatch: pytest.MonkeyPatch
) -> None:
    # gc listed the blob as old garbage; before its delete, a commit in flight stores the
    # same bytes (found stored: freshened) and will move its ref only after gc is done.
    if not cat.objects.checks_time_on_delete:
        pytest.skip("S3 deletes what its listing said (the window gc's docstring describes)")
    payload = "R" * 70_000
    first = cat.artifacts.create("markdown", payload, key="k")
    blob = cat.get_record(first).blob  # type: ignore[union-attr]
    cat.artifacts.delete(first)
    age(cat, WEEKS_3)
    store = cat.objects
    real = type(store).delete_stale

    def a_writer_first(self: Any, oids: Any, before: float) -> Iterator[ObjectId]:
        oids = list(oids)
        assert blob in oids
        self.put(payload.encode())  # the writer's put: the object is there, freshened
        return real(self, oids, before)

    with monkeypatch.context() as patch:
        patch.setattr(type(store), "delete_stale", a_writer_first)
        report = gc(cat)
    assert blob in stored(cat) and blob not in {oid for oid, _ in report.deleted}
    assert cat.artifacts.create("markdown", payload, key="k")  # the commit completes
    assert_whole(cat)


def _writer(url: str, stop: Any, commits: Any) -> None:
    """Commit the same big payload again and again, deleting each version after: its blob
    is garbage between two commits, and found already stored by the next."""
    cat = Catalog.from_url(url)
    payload = "same bytes every time " * 4000
    while not stop.is_set():
        oid = cat.artifacts.create("markdown", payload, key="k")
        assert cat.artifacts.latest("k").data == payload  # its blob is there
        cat.artifacts.delete(oid)
        with commits.get_lock():
            commits.value += 1


@pytest.mark.slow
def test_gc_now_in_a_loop_never_takes_what_a_concurrent_writer_commits(tmp_path: Path) -> None:
    # gc --prune=now over and over while a writer commits bytes that keep becoming garbage:
    # freshening, and the checks of moved refs, keep every commit whole.
    url = str(tmp_path / "cat")
    Catalog.from_url(url).artifacts.create("markdown", "anchor", key="anchor")
    ctx = multiprocessing.get_context("spawn")
    stop, commits = ctx.Event(), ctx.Value("i", 0)
    writer = ctx.Process(target=_writer, args=(url, stop, commits))
    writer.start()
    try:
        while commits.value < 5 and writer.is_alive():
            time.sleep(0.01)  # the writer is under way (spawning it takes a while)
        deleted = []
        for _ in range(3):
            report = gc(Catalog.from_url(url), prune="now")
            deleted.append(report.objects_deleted)
            assert writer.is_alive(), "the writer failed: a commit lost an object"
    finally:
        stop.set()
        writer.join(60)
    assert writer.exitcode == 0  # every commit read its blob back
    assert commits.value > 20 and sum(deleted) > 0, (commits.value, deleted)
    assert_whole(Catalog.from_url(url))


# -- sync and gc -------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_sync_after_gc_on_the_destination_is_valid_and_complete(
    kind: str, request: pytest.FixtureRequest, tmp_path: Path, age: Age
) -> None:
    src = Catalog.from_url(str(tmp_path / "src"))
    with cairn.use_catalog(src):
        make_garbage(src)
    dst = new_catalog(kind, request, tmp_path, "dst")
    sync(src, dst)
    assert dst.area.read(state_path(src)) is not None
    # On DST: delete versions (one made in a flow, one keyless made in it), then reclaim.
    report = dst.artifacts.list_all()
    in_flow = next(a for a in report if a.flow_run_id and a.key == "report")
    keyless_in_flow = next(a for a in report if a.flow_run_id and a.key is None)
    dst.artifacts.delete(in_flow.id)
    dst.artifacts.delete(keyless_in_flow.id)
    dst.artifacts.delete(dst.artifacts.latest("big").id)
    age(dst, WEEKS_3)
    collected = gc(dst)
    assert collected.objects_deleted > 0 and collected.sync_states_reset
    assert dst.area.read(state_path(src)) is None  # a later sync compares everything
    assert {in_flow.id, keyless_in_flow.id} & stored(dst) == set()
    # SRC moves on; sync again, both ways.
    src.artifacts.create("markdown", "after gc", key="report")
    sync(src, dst)
    live = assert_whole(dst)
    assert dst.artifacts.latest("report").data == "after gc"
    assert in_flow.id not in [a.id for a in dst.artifacts.history("report")]
    assert keyless_in_flow.id not in [a.id for a in dst.artifacts.keyless()]
    sync(dst, src)  # DST's run records list versions it no longer has: sync copes
    assert set(reachable(src)) >= set(live) - {oid for oid, _ in collected.deleted}
    assert in_flow.id not in [a.id for a in src.artifacts.history("report")]
    assert dict(src.refs.iter_refs("")) == dict(dst.refs.iter_refs(""))
    assert_whole(src)
    age(dst, WEEKS_3)
    gc(dst)
    sync(src, dst)
    assert_whole(dst)


# -- S3 specifics --------------------------------------------------------------------------------


def test_on_s3_gc_deletes_in_bulk_and_aborts_stale_uploads(
    s3_url: str, s3_requests: Any, moto_s3: Any, s3_bucket: str, age: Age
) -> None:
    cat = Catalog.from_url(s3_url)
    keep = cat.artifacts.create("markdown", "kept", key="k")
    for i in range(5):
        cat.artifacts.delete(cat.artifacts.create("markdown", f"gone {i}", key="k"))
    client = moto_s3.client()
    stray = client.create_multipart_upload(Bucket=s3_bucket, Key="catalog/objects/ab/" + "c" * 62)
    other = client.create_multipart_upload(Bucket=s3_bucket, Key="elsewhere/upload")
    age(cat, WEEKS_3)
    garbage = stored(cat) - set(reachable(cat))
    assert len(garbage) == 5 + 4  # the versions, and the snapshots a later one replaced
    s3_requests.clear()
    report = gc(cat)
    ops = [r.operation for r in s3_requests.take()]
    assert {oid for oid, _ in report.deleted} == garbage
    assert ops.count("DeleteObjects") == 1 and "DeleteObject" not in ops
    assert "HeadObject" not in ops and "GetObject" in ops
    uploads = client.list_multipart_uploads(Bucket=s3_bucket).get("Uploads", [])
    assert [u["UploadId"] for u in uploads] == [other["UploadId"]]  # only below objects/
    assert stray["UploadId"] not in [u["UploadId"] for u in uploads]
    assert report.leftovers_removed == 1
    assert stored(cat) == set(reachable(cat))
    assert cat.artifacts.latest("k").id == keep


def test_on_s3_a_gc_with_nothing_to_delete_writes_nothing(s3_url: str, s3_requests: Any) -> None:
    cat = Catalog.from_url(s3_url)
    for i in range(3):
        cat.artifacts.create("markdown", f"v{i}", key="k")
    s3_requests.clear()
    report = gc(cat)
    methods = {r.method for r in s3_requests.take()}
    assert report.objects_deleted == 0
    assert methods <= {"GET", "HEAD"}, methods


def test_on_s3_an_object_above_the_copy_limit_is_freshened_in_parts(
    s3_url: str, s3_requests: Any, moto_s3: Any, s3_bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # S3 copies at most 5 GiB in one request; above that the copy onto itself goes in parts.
    # Here the limit is 8 MiB and the parts 5 MiB (S3's least), so 11 MiB takes three.
    import cairn.objects._s3 as s3_module

    monkeypatch.setattr(s3_module, "_COPY_LIMIT", 8 * 2**20)
    monkeypatch.setattr(s3_module, "_COPY_PART", 5 * 2**20)
    store = Catalog.from_url(s3_url).objects
    assert isinstance(store, S3ObjectStore)
    data = random.Random(5).randbytes(11 * 2**20)
    oid = store.put(data)
    moto_s3.backdate(s3_bucket, store._key(oid), 86_400)
    (old,) = [s.mtime for s in store.iter_stats(oid)]
    s3_requests.clear()
    assert store.put(data) == oid
    assert [r.operation for r in s3_requests.take()] == [
        "PutObject",  # refused: 412, already stored
        "CreateMultipartUpload", *["UploadPartCopy"] * 3, "CompleteMultipartUpload",
    ]  # fmt: skip
    (new,) = [s.mtime for s in store.iter_stats(oid)]
    assert new > old + 3600
    assert store.get(oid) == data
    assert moto_s3.client().list_multipart_uploads(Bucket=s3_bucket).get("Uploads", []) == []


# -- the command line --------------------------------------------------------------------------


def _age_folder(root: Path, seconds: float) -> None:
    for path in (root / "objects").rglob("*"):
        if path.is_file():
            st = path.stat()
            os.utime(path, (st.st_atime - seconds, st.st_mtime - seconds))


def test_cli_gc_dry_run_json_and_real_run(run_cli: Any, catalog_url: str) -> None:
    cat = Catalog.from_url(catalog_url)
    ids = [cat.artifacts.create("markdown", f"v{i}", key="k") for i in range(3)]
    cat.artifacts.delete(ids[0])
    _age_folder(Path(catalog_url), WEEKS_3)
    dry = ok(run_cli("gc", "--dry-run"))
    lines = dry.stdout.splitlines()
    assert f"delete {ids[0]} " in dry.stdout
    assert lines[-1].startswith("Would delete 1 unreachable object (")
    assert ids[0] in stored(cat)
    # Retention deletes v1; the sweep reclaims it (aged) with v0 and the replaced snapshot.
    summary = json.loads(ok(run_cli("gc", "--json", "--keep-versions", "1")).stdout)
    assert summary["versions_deleted"] == 1 and summary["objects_deleted"] == 3
    assert summary["prune"] == "2w" and summary["dry_run"] is False
    assert not {ids[0], ids[1]} & stored(cat) and ids[2] in stored(cat)
    assert [a.id for a in cat.artifacts.history("k")] == [ids[2]]
    # Garbage made just now is kept for two weeks, or reclaimed by --prune=now.
    cat.artifacts.delete(cat.artifacts.create("markdown", "brief", key="k"))
    kept = ok(run_cli("gc"))
    assert kept.stdout.startswith(
        "Nothing to delete; kept 3 unreachable objects younger than 2 weeks"
    )
    _age_folder(Path(catalog_url), 60)
    done = ok(run_cli("gc", "--prune=now"))
    assert done.stdout.startswith("Deleted 3 unreachable objects (")
    assert done.stderr == ""  # no progress bar off a terminal
    assert ok(run_cli("gc")).stdout.startswith("Nothing to delete.")
    assert [a.id for a in cat.artifacts.history("k")] == [ids[2]]


@pytest.mark.parametrize(
    "args",
    [
        ["--prune=2x"], ["--prune", "soon"], ["--prune="], ["--older-than", "yesterday"],
        ["--older-than=10"], ["--keep-versions", "2", "--older-than", "-3d"],
    ],
)  # fmt: skip
def test_cli_bad_durations_are_one_line_and_exit_1(
    run_cli: Any, catalog_url: str, args: list[str]
) -> None:
    Catalog.from_url(catalog_url).artifacts.create("markdown", "x", key="k")
    line = error_line(run_cli("gc", *args))
    assert line.startswith("Error: ") and "is not a duration" in line
    assert "2w, 14d, 36h or 90m" in line


def test_cli_without_a_catalog_is_one_line(run_cli: Any, tmp_path: Path) -> None:
    line = error_line(run_cli("gc", catalog=str(tmp_path / "none")))
    assert "no cairn catalog" in line


def test_cli_help_explains_the_grace_period_and_retention(run_cli: Any) -> None:
    out = ok(run_cli("gc", "--help")).stdout
    for words in (
        "--prune",
        "--keep-versions",
        "--older-than",
        "--dry-run",
        "--json",
        "grace period",
        "never a key's latest",
    ):
        assert words in out, words
