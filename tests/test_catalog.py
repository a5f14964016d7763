"""The catalog's artifact logic: versions, history, keyless artifacts, deletes, ids, the
default catalog, the format marker, the record codec, and concurrent writers.

SPEC-prefect §2.5 (versioning), §2.6 (delete), the decisions table (ids, "latest", delete by
key), DESIGN.md (records, invariants) and STYLE.md §9 (codec property tests).
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import multiprocessing
import re
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import cairn
from cairn._config import default_catalog, resolve_catalog_url
from cairn.artifacts import (
    Artifact,
    create_markdown_artifact,
    create_progress_artifact,
    update_progress_artifact,
)
from cairn.catalog import (
    FORMAT_VERSION,
    MARKER,
    ArtifactVersion,
    Catalog,
    HistorySnapshot,
    ProgressUpdate,
    RunRecord,
    decode_record,
    encode_record,
    record_id,
)
from cairn.errors import (
    AmbiguousIdError,
    ArtifactNotFoundError,
    CatalogError,
    CatalogFormatError,
    InvalidIdError,
    InvalidURLError,
    WrongTypeError,
)
from cairn.objects import object_id
from cairn.testing._workers import commit_versions

HEX64 = re.compile(r"[0-9a-f]{64}")


def tree(root: Path) -> dict[str, bytes]:
    if not root.exists():
        return {}
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    """No test here may find a catalog through the environment or the working directory."""
    monkeypatch.delenv("CAIRN_CATALOG", raising=False)
    work = tmp_path / "cwd"
    work.mkdir()
    monkeypatch.chdir(work)


@pytest.fixture
def cat(tmp_path):
    catalog = Catalog.from_url(str(tmp_path / "cat"))
    with cairn.use_catalog(catalog):
        yield catalog


# -- versioning (SPEC §2.5) ------------------------------------------------------------


def test_each_commit_is_a_new_version_with_a_new_id(cat):
    ids = [cat.artifacts.create("markdown", "same", key="k") for _ in range(5)]
    assert len(set(ids)) == 5
    assert all(HEX64.fullmatch(i) for i in ids)
    assert cat.artifacts.latest("k").id == ids[-1]
    assert [a.id for a in cat.artifacts.history("k")] == ids[::-1]
    assert [a.data for a in cat.artifacts.history("k")] == ["same"] * 5


def test_created_strictly_increases_along_a_history(cat):
    ids = [cat.artifacts.create("markdown", str(i), key="k") for i in range(30)]
    history = cat.artifacts.history("k")
    created = [a.created for a in history]
    assert all(a > b for a, b in itertools.pairwise(created))
    assert [a.id for a in history] == ids[::-1]
    # Each version names the previous head: one object and one ref move per commit.
    records = [a.record for a in history]
    assert [r.parent for r in records] == [*ids[::-1][1:], None]


def test_history_limit(cat):
    ids = [cat.artifacts.create("markdown", str(i), key="k") for i in range(5)]
    assert [a.id for a in cat.artifacts.history("k", limit=2)] == ids[::-1][:2]
    assert cat.artifacts.history("k", limit=0) == []
    assert len(cat.artifacts.history("k", limit=500)) == 5


def test_a_keyed_commit_writes_one_object_and_moves_one_ref(cat):
    cat.artifacts.create("markdown", "first", key="k")
    root = Path(cat.url)
    objects_before = set(cat.objects.iter_ids())
    refs_before = dict(cat.refs.iter_refs())
    aid = cat.artifacts.create("markdown", "second", key="k")
    assert set(cat.objects.iter_ids()) - objects_before == {aid}
    refs_after = dict(cat.refs.iter_refs())
    assert {n for n in refs_after if refs_after[n] != refs_before.get(n)} == {"artifacts/k"}
    assert (root / "refs" / "artifacts" / "k").read_text().strip() == aid


def test_latest_per_key_and_listing(cat):
    a1 = cat.artifacts.create("markdown", "a1", key="a")
    b1 = cat.artifacts.create("markdown", "b1", key="b")
    a2 = cat.artifacts.create("table", "[]", key="a")
    assert [(x.key, x.id) for x in cat.artifacts.list_latest()] == [("a", a2), ("b", b1)]
    assert cat.artifacts.keys() == ["a", "b"]
    assert [x.id for x in cat.artifacts.list_all()] == [a2, a1, b1]


def test_keyless_artifacts(cat):
    keyed = cat.artifacts.create("markdown", "keyed", key="k")
    k1 = create_markdown_artifact("keyless one")
    k2 = create_markdown_artifact("keyless two")
    # No key ref, not in the per-key listing.
    assert [name for name, _ in cat.refs.iter_refs("artifacts/")] == ["artifacts/k"]
    assert [a.id for a in cat.artifacts.list_latest()] == [keyed]
    # Found by id and listed as keyless, newest first, after the keyed ones in list_all.
    assert cat.artifacts.get(k1).data == "keyless one"
    assert cat.artifacts.get(k2).key is None
    assert [a.id for a in cat.artifacts.keyless()] == [k2, k1]
    assert [a.id for a in cat.artifacts.list_all()] == [keyed, k2, k1]
    assert [a.id for a in cat.artifacts.list_all(limit=2)] == [keyed, k2]


def test_keyless_artifacts_are_found_by_run_id(cat):
    @cairn.task
    def in_task():
        return create_markdown_artifact("from task"), cairn.runtime.task_run.id

    @cairn.flow
    def pipeline():
        body = create_markdown_artifact("from flow")
        return body, in_task(), cairn.runtime.flow_run.id

    body, (task_art, task_run_id), flow_run_id = pipeline()
    # A flow run's artifacts include its task runs' (as Prefect's flow-run page shows them).
    assert [a.id for a in cat.artifacts.for_run(flow_run_id)] == [body, task_art]
    assert [a.id for a in cat.artifacts.for_run(task_run_id)] == [task_art]
    assert {a.id for a in cat.artifacts.keyless()} == {body, task_art}
    # A run keeps its keyless artifacts reachable: they need no ref of their own.
    assert list(cat.refs.iter_refs("keyless/")) == []
    assert cat.artifacts.get(task_art).task_run_id == task_run_id


def test_a_reopened_catalog_sees_the_same_artifacts(cat):
    ids = [cat.artifacts.create("markdown", str(i), key="k") for i in range(3)]
    keyless = cat.artifacts.create("markdown", "kl")
    again = Catalog.from_url(cat.url)
    assert [a.id for a in again.artifacts.history("k")] == ids[::-1]
    assert [a.id for a in again.artifacts.keyless()] == [keyless]


def test_listing_stays_current_across_catalog_objects_and_a_damaged_index(cat):
    # list_latest is served from a derived index; it must never answer from a stale one.
    a1 = cat.artifacts.create("markdown", "a1", key="a")
    assert [x.id for x in cat.artifacts.list_latest()] == [a1]
    other = Catalog.from_url(cat.url)  # another writer on the same folder
    a2 = other.artifacts.create("markdown", "a2", key="a")
    b1 = other.artifacts.create("markdown", "b1", key="b")
    assert [x.id for x in cat.artifacts.list_latest()] == [a2, b1]
    other.artifacts.delete(a2)
    other.artifacts.delete_key("b")
    assert [(x.id, x.data) for x in cat.artifacts.list_latest()] == [(a1, "a1")]
    p = other.artifacts.create("progress", 1.0, key="p")
    assert [x.data for x in cat.artifacts.list_latest()] == ["a1", 1.0]
    other.artifacts.update_progress(p, 7.0)
    assert [x.data for x in cat.artifacts.list_latest()] == ["a1", 7.0]
    index = Path(cat.url) / "index" / "artifacts-latest.msgpack"
    assert index.is_file()
    index.write_bytes(b"garbage")
    assert [x.id for x in cat.artifacts.list_latest()] == [a1, p]
    index.unlink()
    assert [x.id for x in Catalog.from_url(cat.url).artifacts.list_latest()] == [a1, p]


def test_response_fields_and_to_dict(cat):
    aid = cat.artifacts.create(
        "markdown", "[x](y)", key="k", description="d", metadata={"a": "b"}, flow_run_id="f1"
    )
    got = cat.artifacts.get(aid).to_dict()
    assert got["id"] == aid and got["data"] == "[x](y)" and got["flow_run_id"] == "f1"
    assert got["created"] == got["updated"] and got["created"].endswith("Z")
    assert got["metadata_"] == {"a": "b"} and got["task_run_id"] is None


# -- progress (SPEC §2.4, cairn decision) ------------------------------------------------


def test_catalog_progress_update_is_a_new_record_and_a_ref_move(cat):
    aid = cat.artifacts.create("progress", 0.0, key="p")
    version_bytes = cat.objects.get(aid)
    assert cat.artifacts.update_progress(aid[:8], 40.0) == aid
    update_id = cat.refs.get(f"progress/{aid}")
    update = cat.get_record(update_id)
    assert isinstance(update, ProgressUpdate)
    assert (update.artifact, update.data, update.parent) == (aid, 40.0, None)
    assert cat.objects.get(aid) == version_bytes  # the version never changes
    assert cat.artifacts.latest("p").data == 40.0
    assert cat.artifacts.update_progress(aid, 60.0) == aid
    assert cat.get_record(cat.refs.get(f"progress/{aid}")).parent == update_id


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
def test_catalog_progress_update_refuses_non_finite_values(cat, bad):
    aid = cat.artifacts.create("progress", 5.0, key="p")
    with pytest.raises(ValueError):
        cat.artifacts.update_progress(aid, bad)
    assert cat.refs.get(f"progress/{aid}") is None
    assert cat.artifacts.get(aid).data == 5.0


def test_progress_updated_time_bumps_and_created_stays(cat):
    aid = create_progress_artifact(1, key="p")
    times = [cat.artifacts.get(aid).updated]
    for value in range(2, 8):
        update_progress_artifact(aid, value)
        got = cat.artifacts.get(aid)
        times.append(got.updated)
        assert got.created == times[0]
    assert all(b > a for a, b in itertools.pairwise(times))


# -- delete (SPEC §2.6, cairn decisions) ---------------------------------------------------


def _ids(cat, key):
    return [a.id for a in cat.artifacts.history(key)]


def test_delete_an_older_version_leaves_the_latest(cat):
    v1, v2, v3 = (cat.artifacts.create("markdown", f"v{i}", key="k") for i in range(3))
    deleted = cat.artifacts.delete(v1)
    assert deleted.id == v1 and deleted.data == "v0"
    assert cat.artifacts.latest("k").id == v3
    assert _ids(cat, "k") == [v3, v2]
    with pytest.raises(ArtifactNotFoundError):
        cat.artifacts.get(v1)
    # The object stays until garbage collection, but it is no longer an artifact.
    assert cat.objects.exists(v1)
    assert cat.artifacts.get(v2).id == v2


def test_delete_a_middle_version(cat):
    v1, v2, v3 = (cat.artifacts.create("markdown", f"v{i}", key="k") for i in range(3))
    cat.artifacts.delete(v2)
    assert _ids(cat, "k") == [v3, v1]
    assert cat.artifacts.latest("k").id == v3


def test_delete_the_latest_re_points_latest_to_the_previous(cat):
    v1, v2, v3 = (cat.artifacts.create("markdown", f"v{i}", key="k") for i in range(3))
    cat.artifacts.delete(v3)
    latest = cat.artifacts.latest("k")
    assert (latest.id, latest.data) == (v2, "v1")
    assert Artifact.get("k").id == v2
    assert [a.id for a in cat.artifacts.list_latest()] == [v2]
    # Other versions keep their ids and their content.
    assert cat.artifacts.get(v1).data == "v0"
    # A new version goes on top and is the latest.
    v4 = cat.artifacts.create("markdown", "v3", key="k")
    assert _ids(cat, "k") == [v4, v2, v1]
    created = [a.created for a in cat.artifacts.history("k")]
    assert created[0] > created[1] > created[2]


def test_delete_the_last_version_removes_the_key(cat):
    other = cat.artifacts.create("markdown", "x", key="other")
    only = cat.artifacts.create("markdown", "only", key="k")
    cat.artifacts.delete(only)
    assert cat.artifacts.latest("k") is None
    assert Artifact.get("k") is None
    assert cat.artifacts.history("k") == []
    assert [a.id for a in cat.artifacts.list_latest()] == [other]
    assert cat.artifacts.keys() == ["other"]
    with pytest.raises(ArtifactNotFoundError):
        cat.artifacts.get(only)
    with pytest.raises(ArtifactNotFoundError):
        cat.artifacts.delete(only)


def test_delete_by_prefix(cat):
    v1 = cat.artifacts.create("markdown", "a", key="k")
    v2 = cat.artifacts.create("markdown", "b", key="k")
    assert cat.artifacts.delete(v2[:6]).id == v2
    assert _ids(cat, "k") == [v1]


def test_delete_key_removes_every_version_beyond_prefects_cap(cat):
    ids = [cat.artifacts.create("markdown", str(i), key="big") for i in range(250)]
    keep = cat.artifacts.create("markdown", "keep", key="keep")
    assert cat.artifacts.delete_key("big") == 250
    assert cat.artifacts.history("big") == []
    assert cat.artifacts.latest("big") is None
    assert [a.id for a in cat.artifacts.list_latest()] == [keep]
    for aid in (ids[0], ids[123], ids[-1]):
        with pytest.raises(ArtifactNotFoundError):
            cat.artifacts.get(aid)
    assert cat.artifacts.delete_key("big") == 0
    assert cat.artifacts.delete_key("never-existed") == 0


def test_a_key_recreated_after_delete_key_has_only_the_new_version(cat):
    old = [cat.artifacts.create("markdown", str(i), key="k") for i in range(3)]
    cat.artifacts.delete_key("k")
    new = cat.artifacts.create("markdown", "new", key="k")
    assert _ids(cat, "k") == [new]
    assert Artifact.get("k").data == "new"
    for aid in old:
        with pytest.raises(ArtifactNotFoundError):
            cat.artifacts.get(aid)


def test_delete_writes_a_snapshot_that_remembers_removed_versions(cat):
    v1, v2 = (cat.artifacts.create("markdown", f"v{i}", key="k") for i in range(2))
    cat.artifacts.delete(v1)
    head = cat.get_record(cat.refs.get("artifacts/k"))
    assert isinstance(head, HistorySnapshot)
    assert (head.key, head.versions, head.removed) == ("k", [v2], [v1])


def test_delete_a_keyless_artifact(cat):
    keep = create_markdown_artifact("keep")
    gone = create_markdown_artifact("gone")
    cat.artifacts.delete(gone)
    assert [a.id for a in cat.artifacts.keyless()] == [keep]
    with pytest.raises(ArtifactNotFoundError):
        cat.artifacts.get(gone)
    assert Artifact.get().id == keep
    with pytest.raises(ArtifactNotFoundError):
        cat.artifacts.delete(gone)


def test_delete_a_keyless_artifact_made_in_a_run(cat):
    @cairn.flow
    def pipeline():
        return (
            create_markdown_artifact("a"),
            create_markdown_artifact("b"),
            cairn.runtime.flow_run.id,
        )

    a, b, run_id = pipeline()
    cat.artifacts.delete(a)
    assert [x.id for x in cat.artifacts.for_run(run_id)] == [b]
    assert [x.id for x in cat.artifacts.keyless()] == [b]


def test_delete_a_progress_artifact_drops_its_updates(cat):
    aid = create_progress_artifact(1, key="p")
    update_progress_artifact(aid, 2)
    cat.artifacts.delete(aid)
    assert cat.refs.get(f"progress/{aid}") is None
    with pytest.raises(ArtifactNotFoundError):
        update_progress_artifact(aid, 3)


# -- ids and prefixes (cairn decision) ---------------------------------------------------


def test_unique_prefixes_of_six_or_more_work(cat):
    aid = create_progress_artifact(1, key="p")
    for n in (6, 7, 12, 63, 64):
        assert cat.artifacts.get(aid[:n]).id == aid
    assert update_progress_artifact(aid[:6], 9) == aid
    assert cat.artifacts.get(aid).data == 9.0


@pytest.mark.parametrize(
    "bad",
    [
        "abcde",
        "a",
        "",
        "zzzzzzzz",
        "ABCDEF12",
        "../../etc",
        "12345g",
        "0" * 65,
        " abcdef",
        "abcdef\n",
        "abcdef/",
    ],
)
def test_malformed_ids_are_refused(cat, bad):
    aid = cat.artifacts.create("progress", 1.0, key="p")
    with pytest.raises(InvalidIdError):
        cat.artifacts.get(bad)
    with pytest.raises(InvalidIdError):
        cat.artifacts.delete(bad)
    with pytest.raises(InvalidIdError):
        update_progress_artifact(bad, 5)
    assert cat.artifacts.get(aid).data == 1.0


def test_a_five_character_prefix_is_refused_even_if_unique(cat):
    aid = cat.artifacts.create("markdown", "x", key="k")
    with pytest.raises(InvalidIdError, match="at least 6"):
        cat.artifacts.get(aid[:5])
    assert isinstance(InvalidIdError("x"), ValueError)


def test_unknown_ids_are_not_found(cat):
    cat.artifacts.create("markdown", "x", key="k")
    with pytest.raises(ArtifactNotFoundError) as info:
        cat.artifacts.get("0" * 64)
    assert isinstance(info.value, KeyError)
    with pytest.raises(ArtifactNotFoundError):
        cat.artifacts.delete("f" * 6)


def test_ids_of_objects_that_are_not_artifacts_are_not_found(cat):
    # A history snapshot, a progress update, a run record and a blob are not artifacts.
    v1, v2 = (cat.artifacts.create("progress", float(i), key="k") for i in range(2))
    cat.artifacts.update_progress(v2, 50.0)
    cat.artifacts.delete(v1)
    blob_owner = cat.artifacts.create("markdown", "x" * 70_000, key="big")

    @cairn.flow
    def run():
        return cairn.runtime.flow_run.id

    run_id = run()
    others = [
        cat.refs.get("artifacts/k"),
        cat.refs.get(f"progress/{v2}"),
        cat.refs.get(f"runs/{run_id}"),
        cat.get_record(blob_owner).blob,
    ]
    for oid in others:
        assert oid is not None and cat.objects.exists(oid)
        with pytest.raises(ArtifactNotFoundError):
            cat.artifacts.get(oid)
        with pytest.raises(ArtifactNotFoundError):
            cat.artifacts.delete(oid[:10])
        with pytest.raises(ArtifactNotFoundError):
            update_progress_artifact(oid, 1)


def _colliding_keyless_pair(cat: Catalog) -> tuple[str, str]:
    """Store two keyless progress artifacts whose ids share their first 6 hex characters."""
    created = dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)
    seen: dict[str, ArtifactVersion] = {}
    i = 0
    while True:
        rec = ArtifactVersion(type="progress", created=created, data=1.0, nonce=f"{i:x}")
        oid = record_id(rec)
        other = seen.setdefault(oid[:6], rec)
        if other is not rec:
            break
        i += 1
    ids = []
    for r in (other, rec):
        oid = cat.put_record(r)
        assert cat.refs.add_if_new(f"keyless/{oid}", oid)
        ids.append(oid)
    return ids[0], ids[1]


def test_an_ambiguous_prefix_is_refused(cat):
    a, b = _colliding_keyless_pair(cat)
    assert a[:6] == b[:6] and a != b
    with pytest.raises(AmbiguousIdError) as info:
        cat.artifacts.get(a[:6])
    assert isinstance(info.value, LookupError)
    assert sorted(info.value.matches) == sorted([a, b])
    with pytest.raises(AmbiguousIdError):
        cat.artifacts.delete(a[:6])
    with pytest.raises(AmbiguousIdError):
        update_progress_artifact(a[:6], 50)
    # A longer prefix that tells them apart works.
    n = next(i for i in range(6, 64) if a[i] != b[i]) + 1
    assert cat.artifacts.get(a[:n]).id == a
    assert update_progress_artifact(b[:n], 70) == b
    assert cat.artifacts.get(b).data == 70.0 and cat.artifacts.get(a).data == 1.0
    assert {x.id for x in cat.artifacts.keyless()} == {a, b}


# -- where the default catalog is (STYLE §11) ----------------------------------------------


def _marker(folder: Path) -> bool:
    return (folder / MARKER).is_file()


def test_use_catalog_wins_over_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("CAIRN_CATALOG", str(tmp_path / "from-env"))
    with cairn.use_catalog(str(tmp_path / "explicit")) as chosen:
        assert default_catalog() is chosen
        aid = create_markdown_artifact("x", key="k")
    assert _marker(tmp_path / "explicit")
    assert not (tmp_path / "from-env").exists()
    assert Catalog.from_url(str(tmp_path / "explicit")).artifacts.latest("k").id == aid


def test_use_catalog_accepts_a_catalog_object_and_nests(tmp_path):
    outer = Catalog.from_url(str(tmp_path / "outer"))
    inner = Catalog.from_url(str(tmp_path / "inner"))
    with cairn.use_catalog(outer):
        with cairn.use_catalog(inner):
            create_markdown_artifact("in", key="k")
        create_markdown_artifact("out", key="k")
    assert outer.artifacts.latest("k").data == "out"
    assert inner.artifacts.latest("k").data == "in"


def test_environment_variable(tmp_path, monkeypatch):
    target = tmp_path / "env-cat"
    monkeypatch.setenv("CAIRN_CATALOG", str(target))
    assert resolve_catalog_url() == str(target)
    aid = create_markdown_artifact("x", key="k")
    assert _marker(target)
    assert Catalog.from_url(str(target)).artifacts.get(aid).data == "x"
    assert not (Path.cwd() / ".cairn").exists()


def test_nearest_cairn_folder_above_the_working_directory(tmp_path, monkeypatch):
    project = tmp_path / "project"
    Catalog.init(str(project / ".cairn"))
    nested = project / "src" / "pkg" / "deep"
    nested.mkdir(parents=True)
    monkeypatch.chdir(nested)
    assert Path(resolve_catalog_url()) == project / ".cairn"
    aid = create_markdown_artifact("found", key="k")
    assert Catalog.from_url(str(project / ".cairn")).artifacts.latest("k").id == aid
    assert not any((p / ".cairn").exists() for p in (nested, nested.parent, nested.parent.parent))


def test_the_nearest_of_two_cairn_folders_wins(tmp_path, monkeypatch):
    Catalog.init(str(tmp_path / "a" / ".cairn"))
    Catalog.init(str(tmp_path / "a" / "b" / ".cairn"))
    (tmp_path / "a" / "b" / "c").mkdir()
    monkeypatch.chdir(tmp_path / "a" / "b" / "c")
    create_markdown_artifact("x", key="k")
    assert Catalog.from_url(str(tmp_path / "a" / "b" / ".cairn")).artifacts.latest("k")
    assert Catalog.from_url(str(tmp_path / "a" / ".cairn")).artifacts.latest("k") is None


def test_default_is_dot_cairn_created_on_first_write_not_on_read(tmp_path, monkeypatch):
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    monkeypatch.chdir(fresh)
    if any((p / ".cairn").is_dir() for p in fresh.parents):
        pytest.skip("a .cairn folder exists above the temporary directory")
    assert Artifact.get("k") is None
    assert Artifact.get() is None
    assert default_catalog().artifacts.list_latest() == []
    assert default_catalog().artifacts.list_all() == []
    assert list(fresh.iterdir()) == []
    aid = create_markdown_artifact("x", key="k")
    assert _marker(fresh / ".cairn")
    assert json.loads((fresh / ".cairn" / MARKER).read_text())["format_version"] == FORMAT_VERSION
    assert Artifact.get("k").id == aid


def test_a_non_catalog_folder_is_refused_on_write(tmp_path):
    folder = tmp_path / "stuff"
    folder.mkdir()
    (folder / "notes.txt").write_text("mine")
    before = tree(folder)
    cat = Catalog.from_url(str(folder))
    assert cat.artifacts.latest("k") is None  # reading is fine
    with pytest.raises(CatalogFormatError, match="not a cairn catalog"):
        cat.artifacts.create("markdown", "x", key="k")
    with pytest.raises(CatalogFormatError), cairn.use_catalog(str(folder)):
        create_markdown_artifact("x")
    assert tree(folder) == before
    # Making it a catalog on purpose works, and keeps what was there.
    inited = Catalog.init(str(folder))
    aid = inited.artifacts.create("markdown", "x", key="k")
    assert inited.artifacts.latest("k").id == aid
    assert (folder / "notes.txt").read_text() == "mine"


def test_init_is_idempotent(tmp_path):
    a = Catalog.init(str(tmp_path / "c"))
    marker = (tmp_path / "c" / MARKER).read_bytes()
    aid = a.artifacts.create("markdown", "x", key="k")
    b = Catalog.init(str(tmp_path / "c"))
    assert (tmp_path / "c" / MARKER).read_bytes() == marker
    assert b.artifacts.latest("k").id == aid


def test_a_marker_temp_file_from_a_concurrent_creator_is_not_foreign(tmp_path):
    # Another process creating the catalog leaves its marker's temp file for a moment; that
    # must not make this process think the folder belongs to someone else.
    root = tmp_path / "racing"
    root.mkdir()
    (root / ".CAIRN.0123456789ab.tmp").write_text("{}")
    cat = Catalog.from_url(str(root))
    aid = cat.artifacts.create("markdown", "x", key="k")
    assert _marker(root) and cat.artifacts.latest("k").id == aid


@pytest.mark.parametrize("version", [999, FORMAT_VERSION + 1])
def test_a_newer_format_is_refused_on_open(tmp_path, version):
    root = tmp_path / "future"
    Catalog.init(str(root)).artifacts.create("markdown", "x", key="k")
    info = json.loads((root / MARKER).read_text())
    info["format_version"] = version
    (root / MARKER).write_text(json.dumps(info))
    with pytest.raises(CatalogFormatError, match=f"format {version}"):
        Catalog.from_url(str(root))
    with pytest.raises(CatalogFormatError), cairn.use_catalog(str(root)):
        pass


@pytest.mark.parametrize(
    "content",
    [
        "not json",
        "{}",
        '{"format_version": "x", "hash": "sha256"}',
        '{"format_version": 1, "hash": "md5"}',
    ],
)
def test_a_damaged_or_foreign_marker_is_refused(tmp_path, content):
    root = tmp_path / "damaged"
    root.mkdir()
    (root / MARKER).write_text(content)
    with pytest.raises(CatalogFormatError):
        Catalog.from_url(str(root))


@pytest.mark.parametrize(
    "url",
    [
        "",
        "   ",
        "ftp://x",
        "s3://b",  # no bucket name is one character long
        "s3://bucket/a/../b",
        "gs://b",
        "http://example.com/c",
        "file://remote-host/x",
        "a\x00b",
    ],
)
def test_invalid_urls_are_refused(url):
    with pytest.raises(InvalidURLError) as info:
        Catalog.from_url(url)
    assert isinstance(info.value, ValueError)
    with pytest.raises(InvalidURLError), cairn.use_catalog(url):
        pass


def test_file_and_memory_urls(tmp_path):
    a = Catalog.from_url(f"file://{tmp_path / 'viafile'}")
    aid = a.artifacts.create("markdown", "x", key="k")
    assert Catalog.from_url(str(tmp_path / "viafile")).artifacts.get(aid).data == "x"
    m1 = Catalog.from_url("memory://test-catalog-shared-name")
    mid = m1.artifacts.create("markdown", "m", key="k")
    assert Catalog.from_url("memory://test-catalog-shared-name").artifacts.get(mid).data == "m"


# -- the record codec (STYLE §2, §4, §9) ---------------------------------------------------

hex_ids = st.text(alphabet="0123456789abcdef", min_size=64, max_size=64)
times = st.datetimes(
    min_value=dt.datetime(1970, 1, 1),
    max_value=dt.datetime(2200, 1, 1),
    timezones=st.sampled_from(
        [dt.timezone.utc, dt.timezone(dt.timedelta(hours=5, minutes=30)), None]
    ),
)
texts = st.text(max_size=40)
opt_texts = st.none() | texts
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | texts,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(texts, inner, max_size=4),
    max_leaves=12,
)
finite = st.floats(allow_nan=False, allow_infinity=False)

artifact_versions = st.builds(
    ArtifactVersion,
    type=st.sampled_from(["markdown", "table", "progress", "image"]) | texts,
    created=times,
    key=st.none() | st.from_regex(r"[a-z0-9-]{1,20}", fullmatch=True),
    parent=st.none() | hex_ids,
    data=json_values,
    blob=st.none() | hex_ids,
    blob_format=st.sampled_from([None, "text", "parquet"]),
    description=opt_texts,
    metadata=st.none() | st.dictionaries(texts, texts, max_size=3),
    flow_run_id=opt_texts,
    task_run_id=opt_texts,
    link=opt_texts,
    link_text=opt_texts,
    image=st.none() | hex_ids,
    nonce=st.text(alphabet="0123456789abcdef", max_size=16),
)
snapshots = st.builds(
    HistorySnapshot,
    key=st.from_regex(r"[a-z0-9-]{1,20}", fullmatch=True),
    created=times,
    versions=st.lists(hex_ids, max_size=4),
    removed=st.lists(hex_ids, max_size=4),
    bases=st.lists(hex_ids, max_size=2),
)
progress_updates = st.builds(
    ProgressUpdate,
    artifact=hex_ids,
    data=finite,
    updated=times,
    description=opt_texts,
    parent=st.none() | hex_ids,
)
run_records = st.builds(
    RunRecord,
    id=texts,
    run_type=st.sampled_from(["flow", "task"]),
    name=texts,
    function=texts,
    state=st.sampled_from(["Running", "Completed", "Failed", "Crashed"]),
    start=times,
    end=st.none() | times,
    flow_run_id=opt_texts,
    parent_task_run_id=opt_texts,
    parameters=st.dictionaries(texts, texts, max_size=3),
    tags=st.lists(texts, max_size=3),
    artifacts=st.lists(hex_ids, max_size=3),
    message=opt_texts,
)
records = artifact_versions | snapshots | progress_updates | run_records


@settings(max_examples=300, deadline=None)
@given(records)
def test_codec_round_trip_gives_identical_bytes_and_id(record):
    encoded = encode_record(record)
    decoded = decode_record(encoded)
    assert type(decoded) is type(record)
    assert decoded == record
    again = encode_record(decoded)
    assert again == encoded
    assert record_id(decoded) == record_id(record) == object_id(encoded)
    # Canonical: sorted fields, defaults omitted, the kind tag present.
    fields = list(json.loads(encoded))
    assert fields == sorted(fields)
    assert "kind" in fields
    assert None not in json.loads(encoded).values()


@settings(max_examples=100, deadline=None)
@given(
    records,
    st.dictionaries(
        st.from_regex(r"zz_[a-z_]{1,10}", fullmatch=True), json_values, min_size=1, max_size=3
    ),
)
def test_unknown_fields_are_tolerated_on_decode(record, extra):
    # Forward compatibility: a newer cairn may add fields; msgspec ignores unknown ones
    # (forbid_unknown_fields is off), so an older cairn still reads the record.
    stored = json.loads(encode_record(record))
    stored.update(extra)
    decoded = decode_record(json.dumps(stored).encode())
    assert decoded == record
    assert encode_record(decoded) == encode_record(record)


def test_defaults_are_omitted_so_new_fields_keep_old_ids():
    rec = ArtifactVersion(type="markdown", created=dt.datetime(2024, 5, 1, tzinfo=dt.timezone.utc))
    assert encode_record(rec) == (
        b'{"created":"2024-05-01T00:00:00Z","kind":"artifact","type":"markdown"}'
    )


def test_records_are_frozen():
    rec = ProgressUpdate(artifact="a" * 64, data=1.0, updated=dt.datetime(2024, 1, 1))
    with pytest.raises(AttributeError):
        rec.data = 2.0  # type: ignore[misc]


@pytest.mark.parametrize(
    "raw",
    [
        b"not json",
        b'{"kind": "spaceship"}',
        b"[1, 2]",
        b'{"kind": "artifact"}',
        b"\x89PNG\r\n\x1a\n",
    ],
)
def test_non_records_raise_wrong_type(raw):
    with pytest.raises(WrongTypeError):
        decode_record(raw)


def test_msgspec_ignores_unknown_fields_by_default():
    # The tolerance above rests on this msgspec behaviour; pin it.
    class Probe(msgspec.Struct, tag="p", tag_field="kind"):
        x: int

    assert msgspec.json.decode(b'{"kind": "p", "x": 1, "new": [1]}', type=Probe) == Probe(x=1)


# -- concurrent writers (real processes) --------------------------------------------------


def test_four_processes_committing_to_one_key(tmp_path):
    url = str(tmp_path / "shared")  # not created yet: the writers race to create it too
    ctx = multiprocessing.get_context("spawn")
    with ctx.Manager() as manager:
        barrier = manager.Barrier(4)
        with ProcessPoolExecutor(max_workers=4, mp_context=ctx) as pool:
            futures = [
                pool.submit(commit_versions, url, "contended", 50, f"w{i}", barrier)
                for i in range(4)
            ]
            results = [f.result(timeout=120) for f in futures]
    cat = Catalog.from_url(url)
    history = cat.artifacts.history("contended")
    ids = [a.id for a in history]
    assert len(ids) == 200 and len(set(ids)) == 200
    assert set(ids) == {i for r in results for i in r}
    created = [a.created for a in history]
    assert all(a > b for a, b in itertools.pairwise(created))
    data = {a.id: a.data for a in history}
    assert sorted(data.values()) == sorted(f"w{w}-{i}" for w in range(4) for i in range(50))
    # Each writer's versions appear in the order it committed them.
    oldest_first = ids[::-1]
    for w, r in enumerate(results):
        assert [i for i in oldest_first if i in set(r)] == r
        assert [data[i] for i in r] == [f"w{w}-{i}" for i in range(50)]
    for aid in ids:
        assert cat.artifacts.get(aid).key == "contended"
    assert cat.artifacts.latest("contended").id == ids[0]


def test_catalog_errors_share_one_root():
    for exc in (
        AmbiguousIdError,
        ArtifactNotFoundError,
        CatalogFormatError,
        InvalidIdError,
        InvalidURLError,
        WrongTypeError,
    ):
        assert issubclass(exc, CatalogError)
