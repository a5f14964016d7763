"""How many S3 requests each operation sends: counted exactly, since on S3 requests are the
latency and the bill (issue 4, point 5).

The counts come from botocore's ``before-send`` hook on the client (``s3_requests``, a
:class:`cairn.testing.S3Requests`), which sees every HTTP attempt, retries included. Each
test spells the requests out (``"PUT objects"``: an object; refs and files by name), so a
regression shows which request crept in. The same counts are printed by ``bench/s3.py``.
"""

from __future__ import annotations

import hashlib
import math
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import cairn
from cairn import flow, task
from cairn.artifacts import Artifact, create_markdown_artifact, update_progress_artifact
from cairn.assets import materialize
from cairn.catalog import Catalog
from cairn.objects import S3ObjectStore, object_id
from cairn.testing import S3Requests
from conftest import clean_environment

ROOT = "catalog"  # s3_url is s3://<bucket>/catalog


def short(requests: S3Requests) -> list[str]:
    """The requests recorded so far, shortened (see S3Request.short), and forget them.

    Refs named by ids (keyless artifacts, runs, assets, progress) show as their folder.
    """
    out = []
    for request in requests.take():
        text = request.short(ROOT)
        method, _, where = text.partition(" ")
        folder = where.rpartition("/")[0]
        if folder in ("refs/keyless", "refs/runs", "refs/assets", "refs/progress"):
            where = f"{folder}/*"
        out.append(f"{method} {where}".strip())
    return out


@pytest.fixture
def cat(s3_url: str) -> Any:
    catalog = Catalog.from_url(s3_url)
    catalog.artifacts.create("markdown", "first", key="k")  # the catalog exists, k has a head
    with cairn.use_catalog(catalog):
        yield catalog


# -- commits ----------------------------------------------------------------------------------


def test_a_current_writer_commits_a_keyed_artifact_in_two_requests(
    cat: Catalog, s3_requests: S3Requests
) -> None:
    s3_requests.clear()
    for _ in range(3):
        cat.artifacts.create("markdown", "again", key="k")
        sent = s3_requests.take()
        assert [r.short(ROOT) for r in sent] == ["PUT objects", "PUT refs/artifacts/k"]
        assert sent[0].header("If-None-Match") == "*"  # create-only object
        assert sent[1].header("If-Match")  # compare-and-swap on the ETag it wrote last
        assert sent[1].header("x-amz-meta-cairn-write")  # the write token


def test_the_facade_commits_a_keyed_artifact_in_two_requests(
    cat: Catalog, s3_requests: S3Requests
) -> None:
    s3_requests.clear()
    create_markdown_artifact("# hi", key="k")
    assert short(s3_requests) == ["PUT objects", "PUT refs/artifacts/k"]


def test_a_keyless_artifact_in_a_flow_or_task_run_is_one_request(
    cat: Catalog, s3_requests: S3Requests
) -> None:
    seen: dict[str, list[str]] = {}

    @task
    def in_task() -> str:
        s3_requests.clear()
        aid = create_markdown_artifact("from a task")
        seen["task"] = short(s3_requests)
        return str(aid)

    @flow
    def in_flow() -> list[str]:
        s3_requests.clear()
        aid = create_markdown_artifact("from a flow")
        seen["flow"] = short(s3_requests)
        return [str(aid), in_task()]

    ids = in_flow()
    # Anchored by the run's record (written when the run ends), not by a ref of its own.
    assert seen == {"task": ["PUT objects"], "flow": ["PUT objects"]}
    assert {a.id for a in cat.artifacts.keyless()} == set(ids)


def test_a_keyless_artifact_outside_any_run_is_two_requests(
    cat: Catalog, s3_requests: S3Requests
) -> None:
    s3_requests.clear()
    aid = create_markdown_artifact("no run")
    # Nothing else would keep it reachable: its own keyless/ ref.
    assert short(s3_requests) == ["PUT objects", "PUT refs/keyless/*"]
    assert cat.refs.get(f"keyless/{aid}") == aid


def test_a_cold_process_reads_the_marker_then_the_ref_and_its_head(
    cat: Catalog, s3_requests: S3Requests
) -> None:
    s3_requests.clear()
    cold = Catalog.from_url(cat.url)  # a new process would start the same way
    assert short(s3_requests) == ["GET CAIRN"]
    cold.artifacts.create("markdown", "from a cold writer", key="k")
    # The head's record is read for its time: a new version is created after it.
    assert short(s3_requests) == [
        "GET refs/artifacts/k",
        "GET objects",
        "PUT objects",
        "PUT refs/artifacts/k",
    ]
    cold.artifacts.create("markdown", "a new key", key="new")
    assert short(s3_requests) == ["GET refs/artifacts/new", "PUT objects", "PUT refs/artifacts/new"]
    cold.artifacts.create("markdown", "now current", key="k")
    assert short(s3_requests) == ["PUT objects", "PUT refs/artifacts/k"]


def test_creating_a_catalog_checks_conditional_writes_once(
    s3_url: str, s3_requests: S3Requests
) -> None:
    cat = Catalog.from_url(s3_url)
    assert short(s3_requests) == ["GET CAIRN"]
    cat.artifacts.create("markdown", "x", key="k")
    assert short(s3_requests) == [
        "LIST",  # is the prefix empty, or a catalog already?
        "PUT CAIRN",  # If-None-Match: *
        "PUT CAIRN",  # must be refused: If-None-Match: * on an existing key
        "PUT CAIRN",  # must be refused: If-Match on an ETag it cannot have
        "GET refs/artifacts/k",
        "PUT objects",
        "PUT refs/artifacts/k",
    ]


def test_a_stale_writer_pays_a_refused_put_and_two_reads(
    cat: Catalog, s3_requests: S3Requests
) -> None:
    Catalog.from_url(cat.url).artifacts.create("markdown", "moved elsewhere", key="k")
    s3_requests.clear()
    aid = cat.artifacts.create("markdown", "stale", key="k")
    assert short(s3_requests) == [
        "PUT objects",
        "PUT refs/artifacts/k",  # refused: 412
        "GET refs/artifacts/k",  # the ref store re-reads it (was it our own write?)
        "GET objects",  # the new head's record: built on our base, so ours did not land
        "PUT objects",
        "PUT refs/artifacts/k",
    ]
    assert cat.artifacts.latest("k").id == aid


# -- reads ------------------------------------------------------------------------------------


def test_reading_the_latest_version_is_two_requests(cat: Catalog, s3_requests: S3Requests) -> None:
    aid = cat.artifacts.create("markdown", "latest", key="k")
    reader = Catalog.from_url(cat.url)
    s3_requests.clear()
    assert reader.artifacts.latest("k").data == "latest"
    assert short(s3_requests) == ["GET refs/artifacts/k", "GET objects"]
    assert Artifact.get("k", client=reader).id == aid
    assert short(s3_requests) == ["GET refs/artifacts/k", "GET objects"]
    assert reader.artifacts.latest("no-such-key") is None
    assert short(s3_requests) == ["GET refs/artifacts/no-such-key"]


def test_inspect_reads_the_ref_and_one_record_per_version(
    cat: Catalog, s3_requests: S3Requests
) -> None:
    for i in range(12):
        cat.artifacts.create("markdown", f"v{i}", key="k")
    reader = Catalog.from_url(cat.url)
    s3_requests.clear()
    assert len(reader.artifacts.history("k", limit=10)) == 10  # `cairn artifact inspect k`
    assert short(s3_requests) == ["GET refs/artifacts/k"] + ["GET objects"] * 10


def test_get_by_id_reads_the_record_and_checks_it_is_live(
    cat: Catalog, s3_requests: S3Requests
) -> None:
    older = cat.artifacts.create("markdown", "older", key="k")
    latest = cat.artifacts.create("markdown", "latest", key="k")
    s3_requests.clear()
    assert cat.artifacts.get(latest).data == "latest"
    assert short(s3_requests) == ["GET objects", "GET refs/artifacts/k"]  # it is the head
    assert cat.artifacts.get(older).data == "older"
    assert short(s3_requests) == ["GET objects", "GET refs/artifacts/k", "GET objects"]


# -- progress, runs, assets -------------------------------------------------------------------


def test_a_progress_update_is_a_liveness_check_and_two_puts(
    cat: Catalog, s3_requests: S3Requests
) -> None:
    aid = cat.artifacts.create("progress", 0.0, key="job")
    s3_requests.clear()
    for value in (10, 20):
        update_progress_artifact(aid, value)
        assert short(s3_requests) == [
            "GET refs/artifacts/job",  # still live? (it is the head: no record to read)
            "PUT objects",
            "PUT refs/progress/*",
        ]
    cold = Catalog.from_url(cat.url)
    s3_requests.clear()
    cold.artifacts.update_progress(aid, 30)
    assert short(s3_requests) == [
        "GET objects",  # the artifact
        "GET refs/artifacts/job",  # live?
        "GET refs/progress/*",  # its latest update ...
        "GET objects",  # ... for its time and description
        "PUT objects",
        "PUT refs/progress/*",
    ]
    assert cat.artifacts.latest("job").data == 30.0
    keyless = cat.artifacts.create("progress", 0.0)
    s3_requests.clear()
    cat.artifacts.update_progress(keyless, 5)
    assert short(s3_requests) == [
        f"GET refs/deleted/{keyless}",  # still live? (not deleted)
        "PUT objects",
        "PUT refs/progress/*",
    ]


def test_a_flow_run_is_two_puts_when_it_starts_and_two_when_it_ends(
    cat: Catalog, s3_requests: S3Requests
) -> None:
    @flow
    def nothing() -> None:
        pass

    s3_requests.clear()
    nothing()
    assert short(s3_requests) == [
        "PUT objects", "PUT refs/runs/*",  # Running: the ref is created, not read first
        "PUT objects", "PUT refs/runs/*",  # Completed: moved from the record saved at start
    ]  # fmt: skip


def test_a_single_asset_materialization_in_a_flow_is_two_requests(
    cat: Catalog, s3_requests: S3Requests
) -> None:
    @materialize("s3://bucket/clean.csv")
    def clean() -> int:
        return 1

    @flow
    def pipeline() -> None:
        clean()

    pipeline()  # the first materialization in this process reads the asset's ref
    s3_requests.clear()
    pipeline()
    assert short(s3_requests) == [
        "PUT objects", "PUT refs/runs/*",  # the flow run starts
        "PUT objects", "PUT refs/assets/*",  # the materialization, its own history node
        "PUT objects", "PUT refs/runs/*",  # the flow run ends, its task runs embedded
    ]  # fmt: skip
    assert len(cat.assets.history("s3://bucket/clean.csv")) == 2


# -- listing ----------------------------------------------------------------------------------


def _copy_local_catalog(moto_s3: Any, bucket: str, root: Path) -> None:
    files = {
        f"{ROOT}/{path.relative_to(root).as_posix()}": path.read_bytes()
        for path in root.rglob("*")
        if path.is_file() and not path.name.endswith(".lock")
    }
    moto_s3.put_direct(bucket, files)


def test_listing_n_keys_costs_a_list_per_1000_keys_plus_the_index(
    tmp_path: Path, moto_s3: Any, s3_bucket: str, s3_url: str, s3_requests: S3Requests
) -> None:
    # 2,500 keys, built on local disk and copied into the bucket without HTTP (moto serves
    # a few hundred requests a second).
    n = 2500
    local = Catalog.from_url(str(tmp_path / "local"))
    for i in range(n):
        local.artifacts.create("markdown", f"v{i}", key=f"key-{i:05d}")
    assert len(local.artifacts.list_latest()) == n  # writes the listing index
    _copy_local_catalog(moto_s3, s3_bucket, tmp_path / "local")

    s3_requests.clear()
    cat = Catalog.from_url(s3_url)
    listed = cat.artifacts.list_latest()
    assert len(listed) == n and listed[0].data == "v0"
    pages = math.ceil(n / 1000)
    assert (
        short(s3_requests) == ["GET CAIRN", "GET index/artifacts-latest.msgpack"] + ["LIST"] * pages
    )
    assert len(s3_requests.requests) <= pages + 2

    # Two keys move: only those two are read (ref and head), and the index is rewritten.
    writer = Catalog.from_url(s3_url)
    writer.artifacts.create("markdown", "moved", key="key-00007")
    writer.artifacts.create("markdown", "moved", key="key-02222")
    s3_requests.clear()
    listed = cat.artifacts.list_latest()
    assert [a.data for a in listed if a.key in ("key-00007", "key-02222")] == ["moved"] * 2
    assert sorted(short(s3_requests)) == sorted(
        ["GET index/artifacts-latest.msgpack"]
        + ["LIST"] * pages
        + ["GET refs/artifacts/key-00007", "GET refs/artifacts/key-02222"]
        + ["GET objects"] * 2
        + ["PUT index/artifacts-latest.msgpack"]
    )
    s3_requests.clear()
    assert len(cat.artifacts.list_latest()) == n
    assert len(s3_requests.requests) == pages + 1


# -- big payloads -----------------------------------------------------------------------------


def test_a_big_file_is_uploaded_in_parts_read_from_disk(
    s3_url: str, s3_requests: S3Requests, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 30 MB in parts of 5 MiB (S3's least) instead of 8: six parts.
    import cairn.objects._s3 as s3_module

    monkeypatch.setattr(s3_module, "_PART_SIZE", 5 * 2**20)
    source = tmp_path / "table.parquet"
    source.write_bytes(random.Random(7).randbytes(30_000_000))
    store = Catalog.from_url(s3_url).objects
    assert isinstance(store, S3ObjectStore)
    s3_requests.clear()
    oid = store.put_file(source)
    assert oid == hashlib.sha256(source.read_bytes()).hexdigest()
    sent = s3_requests.take()
    assert [r.short(ROOT) for r in sent] == [
        "HEAD objects",  # not stored yet
        "POST objects",  # CreateMultipartUpload
        *["PUT objects"] * 6,  # UploadPart
        "POST objects",  # CompleteMultipartUpload
    ]
    assert sent[-1].operation == "CompleteMultipartUpload"
    assert sent[-1].header("If-None-Match") == "*"  # create-only, as a single PUT is
    assert store.get(oid) == source.read_bytes()
    s3_requests.clear()
    assert store.put_file(source) == oid  # already stored: nothing uploaded
    sent = s3_requests.take()
    assert [r.short(ROOT) for r in sent] == ["HEAD objects", "PUT objects"]
    assert sent[1].operation == "CopyObject"  # freshened: copied onto itself (for gc)


_UPLOAD_CHILD = """
import sys
from cairn.catalog import Catalog
import cairn.objects._s3 as s3_module

def kib(field):
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith(field + ":"))

s3_module._PART_SIZE = 5 * 2**20
s3_module._UPLOAD_CONCURRENCY = 2
store = Catalog.from_url(sys.argv[1]).objects
store.put(b"warm up: imports, the client, a connection")
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")  # reset the peak RSS
before = kib("VmRSS")
store.put_file(sys.argv[2])
print((kib("VmHWM") - before) * 1024)
"""


@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="needs Linux /proc")
def test_uploading_a_big_file_holds_parts_not_the_file_in_memory(
    s3_url: str, tmp_path: Path, cli_env: dict[str, str]
) -> None:
    # In a child process, so that moto (in this one) is not counted. Parts are streamed from
    # the file in small pieces: a few MB whatever the size (two 5 MiB parts in flight here).
    # Reading whole parts, as s3fs's put_file does (ten 50 MiB parts at a time), costs
    # about twice the file.
    size = 30_000_000
    source = tmp_path / "table.parquet"
    source.write_bytes(random.Random(9).randbytes(size))
    done = subprocess.run(
        [sys.executable, "-c", _UPLOAD_CHILD, s3_url, str(source)],
        env=clean_environment(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    increase = int(done.stdout.strip())
    print(f"peak RSS increase {increase / 1e6:.1f} MB for a {size / 1e6:.0f} MB file")
    assert increase < 0.5 * size, f"peak RSS rose {increase / 1e6:.1f} MB for a 30 MB file"


def test_a_refused_complete_means_stored_and_leaves_no_upload(
    s3_url: str,
    s3_requests: S3Requests,
    tmp_path: Path,
    moto_s3: Any,
    s3_bucket: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Two writers upload the same big object at once: the second one's CompleteMultipartUpload
    # is refused (If-None-Match), which is success once the object is freshened (copied onto
    # itself, for gc's grace period), and its parts are aborted.
    import cairn.objects._s3 as s3_module

    monkeypatch.setattr(s3_module, "_PART_SIZE", 5 * 2**20)
    monkeypatch.setattr(s3_module, "_FILE_MULTIPART_THRESHOLD", 8 * 2**20)
    data = random.Random(8).randbytes(11 * 2**20)
    source = tmp_path / "big.bin"
    source.write_bytes(data)
    store = Catalog.from_url(s3_url).objects
    assert isinstance(store, S3ObjectStore)
    key = store._key(object_id(data))
    real_head = store.location.head
    monkeypatch.setattr(store.location, "head", lambda k: None)  # both saw it missing
    assert store.put_file(source) == object_id(data)
    s3_requests.clear()
    assert store.put_file(source) == object_id(data)
    ops = [r.operation for r in s3_requests.take()]
    assert ops == [
        "CreateMultipartUpload",
        "UploadPart",
        "UploadPart",
        "UploadPart",
        "CompleteMultipartUpload",
        "AbortMultipartUpload",
        "CopyObject",
    ]
    monkeypatch.setattr(store.location, "head", real_head)
    assert moto_s3.client().list_multipart_uploads(Bucket=s3_bucket).get("Uploads", []) == []
    assert store.get(object_id(data)) == data
    assert real_head(key) is not None
