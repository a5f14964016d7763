"""``cairn fsck``, and what damage does to every reader (issue 6, points 1 and 5).

A small catalog holds every kind of object: keyed versions, a snapshot left by a delete, a
text blob and a Parquet blob, a progress update, keyless artifacts made in and out of runs,
flow and task run records, single- and multi-asset materializations with their asset-heads,
and a lineage index. Then:

* every single object gets one byte flipped (hypothesis picks where and how), in turn: every
  read path either answers exactly as before (it does not read that object) or raises
  :class:`~cairn.errors.CorruptObjectError` naming it, every object a ref reaches is caught
  by at least one read path, and fsck reports exactly that object, with its path;
* a truncated ref, and a ref pointing at a missing object, are reported by fsck (name and
  path) and refused by readers with a typed error, and by the CLI with one line;
* fsck runs on a local folder, in memory and on S3 (moto's server), through the Python API
  and through the real ``cairn`` entry point.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import cairn
from cairn import flow
from cairn.artifacts import Artifact, create_markdown_artifact
from cairn.assets import materialize
from cairn.catalog import ArtifactVersion, Catalog, FsckReport, asset_ref, encode_record, fsck
from cairn.catalog._index_lineage import BASE_PATH, MAPS_PATH, LineageMaps, decode_part, encode_part
from cairn.catalog._reach import reachable
from cairn.errors import (
    CorruptObjectError,
    CorruptRefError,
    NotFoundError,
    ObjectNotFoundError,
)
from cairn.objects import LocalObjectStore, MemoryObjectStore, ObjectId, object_id
from conftest import error_line, ok

RAW, CLEAN, STATS = "s3://lake/raw.csv", "s3://lake/clean.csv", "s3://lake/stats.csv"
KEYS = ["report", "big", "table", "notes", "load"]
ASSETS = [RAW, CLEAN, STATS]
MISSING = object_id(b"no object has these bytes")


@materialize(RAW)
def extract() -> list[int]:
    create_markdown_artifact("extracted")  # keyless, kept alive by the run record
    return [1, 2, 3]


@materialize(CLEAN, STATS)  # one materialization of two assets: two asset-heads
def clean(rows: list[int]) -> int:
    return sum(rows)


@flow
def pipeline() -> int:
    return clean(extract())


def populate(cat: Catalog) -> None:
    """Write every kind of object cairn stores into ``cat``, and its lineage index."""
    import pyarrow as pa

    arts = cat.artifacts
    for v in range(3):
        arts.create("markdown", f"# report {v}", key="report", description=f"run {v}")
    arts.create("markdown", "x" * 70_000, key="big")  # over 64 KiB: a text blob
    arts.commit("table", key="table", table=pa.table({"a": [1, 2, 3]}))  # a Parquet blob
    draft = arts.create("markdown", "draft", key="notes")
    arts.create("markdown", "final", key="notes")
    arts.delete(draft)  # a snapshot; the draft is left unreachable
    load = arts.create("progress", 10.0, key="load")
    arts.update_progress(load, 60.0, "halfway")
    arts.create("markdown", "loose")  # keyless, outside any run: its own ref
    with cairn.use_catalog(cat):
        pipeline()
        pipeline()
    cat.lineage.update()


def run_ids(cat: Catalog) -> list[str]:
    return [name.split("/", 1)[1] for name, _ in cat.refs.iter_refs("runs/")]


def read_paths(cat: Catalog) -> dict[str, Callable[[Catalog], Any]]:
    """Every way of reading the catalog, each giving plain data (payloads included)."""

    def art(a: Any) -> Any:
        return None if a is None else a.to_dict()

    paths: dict[str, Callable[[Catalog], Any]] = {}
    for key in KEYS:
        paths[f"latest {key}"] = lambda c, key=key: art(c.artifacts.latest(key))
        paths[f"history {key}"] = lambda c, key=key: [art(a) for a in c.artifacts.history(key)]
        paths[f"Artifact.get {key}"] = lambda c, key=key: art(Artifact.get(key, client=c))
    paths["list_latest"] = lambda c: [art(a) for a in c.artifacts.list_latest()]
    paths["list_all"] = lambda c: [art(a) for a in c.artifacts.list_all()]
    paths["keyless"] = lambda c: [art(a) for a in c.artifacts.keyless()]
    paths["table rows"] = lambda c: c.artifacts.latest("table").to_arrow().to_pylist()
    for a in cat.artifacts.list_all():
        paths[f"get {a.id[:8]}"] = lambda c, aid=a.id: art(c.artifacts.get(aid))
    for run in run_ids(cat):
        paths[f"for_run {run[:8]}"] = lambda c, r=run: [art(a) for a in c.artifacts.for_run(r)]
        paths[f"run {run[:8]}"] = lambda c, r=run: encode_record(c.runs.get(r))
        paths[f"lineage for_run {run[:8]}"] = lambda c, r=run: c.lineage.for_run(r)
    for key in ASSETS:
        paths[f"asset history {key}"] = lambda c, key=key: [
            (oid, encode_record(m)) for oid, m in c.assets.history(key)
        ]
        paths[f"lineage history {key}"] = lambda c, key=key: c.lineage.history(key)
        paths[f"upstream {key}"] = lambda c, key=key: c.lineage.upstream(key)
    paths["asset keys"] = lambda c: c.assets.keys()
    paths["graph"] = lambda c: c.lineage.graph()
    paths["assets"] = lambda c: c.lineage.assets()
    return paths


# -- catalogs on each backend --------------------------------------------------------------


class Backend:
    """A populated catalog, and how to damage and repair its objects and refs."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.cat = Catalog.from_url(url)

    def fresh(self) -> Catalog:
        """A new Catalog object on the same storage: nothing cached from earlier reads."""
        return Catalog.from_url(self.url)

    def read_object(self, oid: str) -> bytes:
        objects = self.cat.objects
        if isinstance(objects, LocalObjectStore):
            return Path(objects.describe(oid)).read_bytes()
        if isinstance(objects, MemoryObjectStore):
            return objects._data[ObjectId(oid)]
        raise NotImplementedError

    def write_object(self, oid: str, data: bytes) -> None:
        objects = self.cat.objects
        if isinstance(objects, LocalObjectStore):
            path = Path(objects.describe(oid))
            path.chmod(0o644)  # objects are stored read-only
            path.write_bytes(data)
        elif isinstance(objects, MemoryObjectStore):
            objects._corrupt(oid, data)
        else:
            raise NotImplementedError

    def remove_object(self, oid: str) -> None:
        assert self.cat.objects.delete(oid)


@pytest.fixture(scope="module", params=["local", "memory"])
def backend(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Backend:
    if request.param == "local":
        url = str(tmp_path_factory.mktemp("fsck") / "cat")
    else:
        url = f"memory://fsck-{uuid.uuid4().hex}"
    b = Backend(url)
    populate(b.cat)
    return b


@pytest.fixture
def damaged(tmp_path: Path) -> Backend:
    """A populated local catalog of this test's own, free to damage for good."""
    b = Backend(str(tmp_path / "cat"))
    populate(b.cat)
    return b


def codes(report: FsckReport) -> list[tuple[str, str | None, str | None, str | None]]:
    return [(p.code, p.oid, p.ref, p.path) for p in report.problems]


# -- a whole catalog -------------------------------------------------------------------------


def test_a_whole_catalog_is_ok_and_every_object_is_checked(backend: Backend) -> None:
    cat = backend.fresh()
    seen: list[tuple[int, int, int]] = []
    report = fsck(cat, progress=lambda *args: seen.append(args))
    assert report.ok and report.problems == [], codes(report)
    stored = set(cat.objects.iter_ids())
    alive = reachable(cat)
    assert report.objects == len(stored) and report.refs == len(list(cat.refs.iter_refs("")))
    assert report.reachable == len(alive) and report.unreachable == len(stored - set(alive))
    assert report.unreachable >= 1  # the deleted draft is still re-hashed
    assert report.bytes == sum(len(cat.objects.get(oid)) for oid in stored)
    assert report.lineage_rows == 6  # raw twice, clean twice, stats twice
    assert seen[0] == (0, len(stored), 0) and seen[-1] == (len(stored), len(stored), report.bytes)
    summary = report.to_dict()
    assert summary["ok"] is True and summary["errors"] == 0 and summary["problems"] == []


def test_fsck_of_a_catalog_that_does_not_exist_is_refused(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match="no cairn catalog"):
        fsck(str(tmp_path / "nothing"))
    assert not (tmp_path / "nothing").exists()  # fsck writes nothing


# -- one flipped byte, everywhere ------------------------------------------------------------


@settings(
    max_examples=4,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(data=st.data())
def test_flipping_any_byte_of_any_object_is_caught(backend: Backend, data: Any) -> None:
    cat = backend.fresh()
    paths = read_paths(cat)
    pristine = {name: read(backend.fresh()) for name, read in paths.items()}
    alive = reachable(cat)
    objects = sorted(cat.objects.iter_ids())
    assert set(alive.values()) == {  # every kind of object is here to be damaged
        "artifact", "history", "blob", "progress-update", "run", "materialization", "asset-head",
    }  # fmt: skip
    for oid in objects:
        original = backend.read_object(oid)
        at = data.draw(st.integers(0, len(original) - 1), label=f"byte of {oid[:8]}")
        mask = data.draw(st.integers(1, 255), label="xor")
        flipped = bytearray(original)
        flipped[at] ^= mask
        backend.write_object(oid, bytes(flipped))
        try:
            caught_by = []
            for name, read in paths.items():
                try:
                    answer = read(backend.fresh())
                except CorruptObjectError as exc:
                    assert exc.object_id == oid, (name, oid)
                    assert exc.path == cat.objects.describe(oid)
                    caught_by.append(name)
                else:
                    assert answer == pristine[name], (name, oid)
            if oid in alive:  # some reader reads every object a ref keeps alive
                assert caught_by, (oid, alive[oid])
            report = fsck(backend.fresh())
            assert not report.ok
            [problem] = report.problems
            assert (problem.code, problem.oid, problem.path) == (
                "corrupt-object", oid, cat.objects.describe(oid),
            )  # fmt: skip
            assert (problem.ref is not None) == (oid in alive)
            assert object_id(bytes(flipped)) in problem.message
        finally:
            backend.write_object(oid, original)
    assert fsck(backend.fresh()).ok


def test_a_flipped_byte_is_one_line_from_the_cli(damaged: Backend, run_cli: Any) -> None:
    cat = damaged.cat
    head = cat.refs.get("artifacts/report")
    blob = cat.artifacts.latest("big").record.blob
    assert head is not None and blob is not None
    for oid, key in ((head, "report"), (blob, "big")):
        raw = damaged.read_object(oid)
        damaged.write_object(oid, raw[:-1] + bytes([raw[-1] ^ 1]))
        line = error_line(run_cli("artifact", "inspect", key, catalog=damaged.url))
        assert line.startswith("Error: object") and oid in line and "is corrupt" in line
        show = error_line(run_cli("artifact", "show", key, catalog=damaged.url))
        assert oid in show
    done = run_cli("fsck", catalog=damaged.url)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    for oid in (head, blob):
        [line] = [ln for ln in done.stdout.splitlines() if oid in ln]
        assert line.startswith("error: ") and cat.objects.describe(oid) in line
    assert "2 errors" in done.stdout.splitlines()[-1]


# -- damaged refs ------------------------------------------------------------------------------


def truncate_ref(b: Backend, name: str, size: int) -> None:
    path = Path(b.cat.refs.describe(name))
    path.write_bytes(path.read_bytes()[:size])


@pytest.mark.parametrize("size", [0, 1, 10, 63])  # 64: only the newline is gone, which is fine
def test_a_truncated_ref_is_reported_and_refused(damaged: Backend, size: int) -> None:
    truncate_ref(damaged, "artifacts/report", size)
    cat = damaged.fresh()
    for read in (
        lambda: cat.artifacts.latest("report"),
        lambda: cat.artifacts.history("report"),
        lambda: cat.artifacts.list_latest(),
        lambda: Artifact.get("report", client=cat),
    ):
        with pytest.raises(CorruptRefError) as exc:
            read()
        assert exc.value.name == "artifacts/report"
        assert exc.value.path == cat.refs.describe("artifacts/report")
    assert cat.artifacts.latest("notes") is not None  # other keys still read
    report = fsck(cat)
    [problem] = report.problems
    assert (problem.code, problem.ref, problem.path) == (
        "corrupt-ref", "artifacts/report", cat.refs.describe("artifacts/report"),
    )  # fmt: skip
    assert not report.ok


def test_a_truncated_asset_ref_is_refused_by_lineage(damaged: Backend) -> None:
    name = asset_ref(RAW)
    truncate_ref(damaged, name, 5)
    cat = damaged.fresh()
    for read in (cat.lineage.graph, cat.lineage.assets, lambda: cat.assets.history(RAW)):
        with pytest.raises(CorruptRefError):
            read()
    assert codes(fsck(cat)) == [("corrupt-ref", None, name, cat.refs.describe(name))]


def test_every_damaged_ref_is_named(damaged: Backend) -> None:
    names = ["artifacts/big", "artifacts/report", f"runs/{run_ids(damaged.cat)[0]}"]
    for name in names:
        truncate_ref(damaged, name, 3)
    report = fsck(damaged.fresh())
    assert [(p.code, p.ref) for p in report.problems] == [("corrupt-ref", n) for n in names]


def point_at_missing(cat: Catalog, name: str) -> None:
    old = cat.refs.get(name)
    assert old is not None and cat.refs.set_if_equals(name, old, MISSING)


def test_a_ref_at_a_missing_object_is_reported_and_refused(damaged: Backend) -> None:
    cat = damaged.fresh()
    asset = asset_ref(CLEAN)
    point_at_missing(cat, "artifacts/report")
    point_at_missing(cat, asset)
    for read in (
        lambda: cat.artifacts.latest("report"),
        lambda: cat.artifacts.list_latest(),
        lambda: Catalog.from_url(damaged.url).lineage.graph(),
        lambda: cat.assets.history(CLEAN),
    ):
        with pytest.raises(ObjectNotFoundError) as exc:
            read()
        assert exc.value.object_id == MISSING
        assert exc.value.path == cat.objects.describe(MISSING)
    report = fsck(cat)
    assert sorted(codes(report)) == sorted(
        ("dangling-ref", MISSING, name, cat.refs.describe(name))
        for name in ("artifacts/report", asset)
    )


def test_damaged_refs_are_one_line_from_the_cli(damaged: Backend, run_cli: Any) -> None:
    cat = damaged.cat
    truncate_ref(damaged, "artifacts/report", 10)
    point_at_missing(cat, "artifacts/notes")
    point_at_missing(cat, asset_ref(CLEAN))
    run = run_ids(cat)[0]
    point_at_missing(cat, f"runs/{run}")
    for args, needle in (
        (["artifact", "inspect", "report"], "artifacts/report"),
        (["artifact", "ls"], MISSING),  # notes comes before report
        (["artifact", "inspect", "notes"], MISSING),
        (["artifact", "show", "notes"], MISSING),
        (["asset", "lineage", CLEAN], MISSING),
        (["asset", "show", CLEAN], MISSING),
        (["asset", "ls"], MISSING),
        (["run", "show", run], MISSING),
        (["run", "ls"], MISSING),
    ):
        line = error_line(run_cli(*args, catalog=damaged.url))
        assert needle in line, (args, line)
    done = run_cli("fsck", "--json", catalog=damaged.url)
    assert done.returncode == 1 and done.stderr == ""
    doc = json.loads(done.stdout)
    assert doc["ok"] is False and doc["errors"] == 4 and doc["warnings"] == 0
    found = {(p["code"], p["ref"], p["path"]) for p in doc["problems"]}
    assert found == {
        ("corrupt-ref", "artifacts/report", cat.refs.describe("artifacts/report")),
        ("dangling-ref", "artifacts/notes", cat.refs.describe("artifacts/notes")),
        ("dangling-ref", f"runs/{run}", cat.refs.describe(f"runs/{run}")),
        (
            "dangling-ref",
            asset_ref(CLEAN),
            cat.refs.describe(asset_ref(CLEAN)),
        ),
    }
    text = run_cli("fsck", catalog=damaged.url)
    assert text.returncode == 1 and "\x1b" not in text.stdout + text.stderr
    lines = text.stdout.splitlines()
    assert len(lines) == 5 and all(ln.startswith("error: ") for ln in lines[:4])
    assert lines[-1].endswith(": 4 errors.")


# -- missing, misplaced and unreachable objects ------------------------------------------------


def test_a_missing_version_deep_in_a_history(damaged: Backend) -> None:
    cat = damaged.cat
    middle = cat.artifacts.history("report")[1].id
    damaged.remove_object(middle)
    fresh = damaged.fresh()
    assert fresh.artifacts.latest("report") is not None  # the head alone still reads
    with pytest.raises(ObjectNotFoundError):
        fresh.artifacts.history("report")
    assert codes(fsck(fresh)) == [
        ("missing-object", middle, "artifacts/report", cat.objects.describe(middle))
    ]


def test_a_missing_blob(damaged: Backend) -> None:
    blob = damaged.cat.artifacts.latest("table").record.blob
    assert blob is not None
    damaged.remove_object(blob)
    [problem] = fsck(damaged.fresh()).problems
    assert (problem.code, problem.oid, problem.ref) == ("missing-object", blob, "artifacts/table")


def test_an_unreachable_object_is_still_rehashed(damaged: Backend) -> None:
    cat = damaged.cat
    alive = reachable(cat)
    [garbage] = [  # the deleted draft (the runs' first records are garbage too)
        oid for oid in cat.objects.iter_ids()
        if oid not in alive and isinstance(cat.get_record(oid), ArtifactVersion)
    ]  # fmt: skip
    damaged.write_object(garbage, b"rot")
    [problem] = fsck(damaged.fresh()).problems
    assert (problem.code, problem.oid, problem.ref) == ("corrupt-object", garbage, None)


def test_refs_at_the_wrong_kind_of_object(damaged: Backend) -> None:
    cat = damaged.cat
    first, second = run_ids(cat)
    run_head = cat.refs.get(f"runs/{first}")
    report_head = cat.refs.get("artifacts/report")
    blob = cat.artifacts.latest("big").record.blob
    assert run_head is not None and report_head is not None and blob is not None
    assert cat.refs.set_if_equals("artifacts/report", report_head, run_head)
    notes = cat.refs.get("artifacts/notes")
    assert notes is not None and cat.refs.set_if_equals("artifacts/notes", notes, blob)
    other = cat.refs.get(f"runs/{second}")
    assert other is not None and cat.refs.set_if_equals(f"runs/{second}", other, run_head)
    found = {(p.code, p.ref, p.oid) for p in fsck(damaged.fresh()).problems}
    assert found == {
        ("wrong-kind", "artifacts/report", run_head),
        ("not-a-record", "artifacts/notes", blob),
        ("ref-mismatch", f"runs/{second}", run_head),
    }


def test_a_record_linking_to_the_wrong_kind(damaged: Backend) -> None:
    from cairn.catalog import HistorySnapshot
    from cairn.catalog.records import utcnow

    cat = damaged.cat
    run_head = cat.refs.get(f"runs/{run_ids(cat)[0]}")
    notes = cat.refs.get("artifacts/notes")
    assert run_head is not None and notes is not None
    bad = cat.put_record(HistorySnapshot(key="notes", created=utcnow(), versions=[run_head]))
    assert cat.refs.set_if_equals("artifacts/notes", notes, bad)
    [problem] = fsck(damaged.fresh()).problems
    assert (problem.code, problem.oid, problem.ref) == ("wrong-kind", run_head, "artifacts/notes")
    assert "a history snapshot" in problem.message and "not an artifact version" in problem.message


# -- the lineage index ---------------------------------------------------------------------------


def test_a_lagging_lineage_index_is_fine(damaged: Backend) -> None:
    cat = damaged.cat
    cat.assets.record([RAW], status="failed")  # the index is not brought up to date
    report = fsck(damaged.fresh())
    assert report.ok and report.problems == [] and report.lineage_rows == 6


def test_an_undecodable_index_file_is_a_warning(damaged: Backend, run_cli: Any) -> None:
    root = Path(damaged.url)
    (root / MAPS_PATH).write_bytes(b"not msgpack")
    (root / BASE_PATH).write_bytes(b"PAR1 not parquet")
    report = fsck(damaged.fresh())
    assert report.ok
    assert sorted((p.severity, p.code, p.path) for p in report.problems) == [
        ("warning", "index-unreadable", f"{damaged.url}/{BASE_PATH}"),
        ("warning", "index-unreadable", f"{damaged.url}/{MAPS_PATH}"),
    ]
    done = ok(run_cli("fsck", catalog=damaged.url))
    assert done.stdout.splitlines()[-1].endswith(": 2 warnings.")


def test_an_index_that_disagrees_with_the_records_is_an_error(damaged: Backend) -> None:
    root = Path(damaged.url)
    maps = LineageMaps.decode((root / MAPS_PATH).read_bytes())
    assert maps is not None
    when, _, made = maps.latest[CLEAN]
    maps.latest[CLEAN] = (when, "failed", made)
    (root / MAPS_PATH).write_bytes(maps.encode())
    base = decode_part((root / BASE_PATH).read_bytes(), "base")
    assert base is not None
    rows = base.table.to_pylist()
    statuses = [r["status"] for r in rows]
    at = [r["key"] for r in rows].index(STATS)
    statuses[at] = "failed"
    import pyarrow as pa

    table = base.table.set_column(
        base.table.column_names.index("status"), "status", pa.array(statuses)
    )
    (root / BASE_PATH).write_bytes(encode_part(table, part="base", part_id=base.id, refs=base.refs))
    report = fsck(damaged.fresh())
    assert not report.ok
    assert {(p.code, p.ref, p.path) for p in report.problems} == {
        ("lineage-mismatch", asset_ref(CLEAN), f"{damaged.url}/{MAPS_PATH}"),
        ("lineage-mismatch", asset_ref(STATS), f"{damaged.url}/{BASE_PATH}"),
    }
    cat = damaged.fresh()
    cat.lineage.rebuild()
    assert fsck(cat).ok


# -- S3 -------------------------------------------------------------------------------------


@pytest.fixture
def s3_backend(s3_url: str) -> Backend:
    b = Backend(s3_url)
    populate(b.cat)
    return b


def test_fsck_on_s3(s3_backend: Backend, s3_bucket: str, moto_s3: Any, run_cli: Any) -> None:
    cat = s3_backend.fresh()
    clean_report = fsck(cat)
    assert clean_report.ok and clean_report.problems == []
    assert clean_report.objects == len(list(cat.objects.iter_ids()))
    head = cat.refs.get("artifacts/report")
    assert head is not None
    key = f"catalog/objects/{head[:2]}/{head[2:]}"
    body = moto_s3.client().get_object(Bucket=s3_bucket, Key=key)["Body"].read()
    moto_s3.put_direct(
        s3_bucket,
        {
            key: body[:5] + bytes([body[5] ^ 0x20]) + body[6:],
            "catalog/refs/artifacts/big": b"0123",
        },
    )
    point_at_missing(cat, "artifacts/notes")
    report = fsck(s3_backend.fresh(), jobs=4)
    assert sorted(codes(report)) == sorted(
        [
            ("corrupt-object", head, "artifacts/report", f"s3://{s3_bucket}/{key}"),
            ("corrupt-ref", None, "artifacts/big", f"s3://{s3_bucket}/catalog/refs/artifacts/big"),
            (
                "dangling-ref", MISSING, "artifacts/notes",
                f"s3://{s3_bucket}/catalog/refs/artifacts/notes",
            ),
        ]
    )  # fmt: skip
    with pytest.raises(CorruptObjectError):
        s3_backend.fresh().artifacts.latest("report")
    with pytest.raises(CorruptRefError):
        s3_backend.fresh().artifacts.latest("big")
    line = error_line(run_cli("artifact", "inspect", "report", catalog=s3_backend.url))
    assert head in line and "is corrupt" in line
    done = run_cli("fsck", "--json", catalog=s3_backend.url)
    assert done.returncode == 1
    assert json.loads(done.stdout)["errors"] == 3


# -- the command line ------------------------------------------------------------------------


def test_cli_fsck_of_a_whole_catalog(damaged: Backend, run_cli: Any, run_cli_tty: Any) -> None:
    done = ok(run_cli("fsck", catalog=damaged.url))
    [line] = done.stdout.splitlines()
    assert line.startswith("Checked ") and line.endswith(": no problems found.")
    assert "unreachable" in line and done.stderr == ""
    doc = json.loads(ok(run_cli("fsck", "--json", "-j", "2", catalog=damaged.url)).stdout)
    assert doc["ok"] is True and doc["problems"] == []
    assert doc["objects"] == len(list(damaged.cat.objects.iter_ids()))
    on_tty = run_cli_tty("fsck", catalog=damaged.url)
    assert on_tty.returncode == 0 and "no problems found" in on_tty.output


def test_cli_fsck_help_and_errors(run_cli: Any, tmp_path: Path) -> None:
    helped = ok(run_cli("fsck", "--help"))
    assert "re-hash every object" in helped.stdout and "--json" in helped.stdout
    assert "fsck" in ok(run_cli("--help")).stdout
    line = error_line(run_cli("fsck", catalog=str(tmp_path / "nothing")))
    assert line.startswith("Error: there is no cairn catalog at")


def test_the_local_ref_store_lists_damaged_refs_by_name(tmp_path: Path) -> None:
    cat = Catalog.from_url(str(tmp_path / "cat"))
    cat.artifacts.create("markdown", "a", key="a")
    cat.artifacts.create("markdown", "b", key="b")
    Path(cat.refs.describe("artifacts/a")).write_bytes(b"")
    assert list(cat.refs.iter_names("")) == ["artifacts/a", "artifacts/b"]
    assert list(cat.refs.iter_names("artifacts/b")) == ["artifacts/b"]
    with pytest.raises(CorruptRefError):
        list(cat.refs.iter_refs(""))


def test_a_stray_file_under_refs_and_a_lost_marker(damaged: Backend) -> None:
    root = Path(damaged.url)
    (root / "refs" / "artifacts" / "not a ref").write_text("x\n")
    (root / "CAIRN").unlink()
    report = fsck(damaged.fresh())
    assert [(p.code, p.ref, p.path) for p in report.problems] == [
        ("missing-marker", None, damaged.url),
        ("invalid-ref-name", "artifacts/not a ref", f"{damaged.url}/refs/artifacts/not a ref"),
    ]
    assert report.objects == len(list(damaged.cat.objects.iter_ids()))  # all still checked
