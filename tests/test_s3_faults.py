"""Retries that neither lose nor double a version (issue 4, point 6).

Requests whose answers are lost are sent again, by botocore and (for a dropped connection)
silently by aiohttp. cairn makes every repeat harmless: objects are create-only, ref PUTs
carry a write token the ref store recognises (a repeat refused with 412 because the first
attempt landed is counted as done), and a commit that is refused on a store whose refusals
can be ambiguous looks for its version in the key's history before committing again.

Two tools: :class:`cairn.testing.FaultProxy` in front of moto (drops connections, answers
500 and 503, forwards writes and drops their answers, at a seeded rate), and moto_s3's
``lose_responses`` (lose the answer of one chosen request, and let another writer act
before the client hears anything).
"""

from __future__ import annotations

import random
import threading
from collections import Counter, defaultdict
from typing import Any

import pytest

import cairn
from cairn import flow
from cairn.catalog import Catalog
from cairn.catalog.records import ArtifactVersion, ProgressUpdate
from cairn.objects import S3ObjectStore, object_id

# 500 commits by 4 threads into 8 keys (so threads race on keys), at a 10% fault rate.
COMMITS = 500
THREADS = 4
KEYS = 8
FAULT_RATE = 0.1


@pytest.fixture
def fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """Shorten botocore's backoff (up to 1, 2, 4... s) to a few milliseconds.

    The tests are about what retries do, not how long they wait: at a 10% fault rate the
    real backoff would make the big test take minutes.
    """
    from botocore.retries import standard

    monkeypatch.setattr(
        standard.ExponentialBackoff, "delay_amount", lambda self, context: random.random() * 0.005
    )


def check_history(cat: Catalog, key: str) -> dict[str, Any]:
    """Return ``{version id: payload}`` of ``key``, newest first, after checking the chain.

    Every record is an artifact version of ``key``, creation times fall strictly along the
    chain, and the catalog's own history walk agrees.
    """
    head = cat.refs.get(f"artifacts/{key}")
    versions: dict[str, Any] = {}
    cur, previous = head, None
    while cur is not None:
        rec = cat.get_record(cur)
        assert isinstance(rec, ArtifactVersion), f"{key}: {cur[:12]} is a {type(rec).__name__}"
        assert rec.key == key
        if previous is not None:
            assert rec.created < previous.created, f"{key}: times do not fall at {cur[:12]}"
        assert cur not in versions
        versions[cur] = rec.data
        cur, previous = rec.parent, rec
    return versions


# -- the fault proxy itself ----------------------------------------------------------------------


def test_the_proxy_injects_each_fault_and_forwards_the_rest(
    s3_url: str, fault_proxy: Any, fast_retries: None
) -> None:
    proxy = fault_proxy(fault_rate=0.5, seed=3)
    retries = {"mode": "standard", "total_max_attempts": 20}
    options = {"endpoint_url": proxy.url, "config_kwargs": {"retries": retries}}
    cat = Catalog.from_url(s3_url, storage_options=options)
    ids = [cat.artifacts.create("markdown", f"v{i}", key="k") for i in range(20)]
    assert {"drop", "500", "503", "lose"} <= set(proxy.stats)
    assert proxy.stats["forwarded"] > 0
    assert list(check_history(Catalog.from_url(s3_url), "k")) == ids[::-1]


def test_the_proxy_adds_latency(s3_url: str, fault_proxy: Any) -> None:
    import time

    proxy = fault_proxy(latency=0.05)
    cat = Catalog.from_url(s3_url, storage_options={"endpoint_url": proxy.url})
    cat.artifacts.create("markdown", "x", key="k")
    started = time.perf_counter()
    cat.artifacts.create("markdown", "y", key="k")  # two requests
    assert time.perf_counter() - started >= 0.1


def test_cairn_sets_standard_retries_unless_told_otherwise(
    s3_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def retries(cat: Catalog) -> Any:
        from fsspec.asyn import sync

        location = cat.objects.location  # type: ignore[attr-defined]
        client = sync(location.fs.loop, location._client)
        return client.meta.config.retries

    assert retries(Catalog.from_url(s3_url)) == {"mode": "standard", "total_max_attempts": 5}
    mine = {"config_kwargs": {"retries": {"mode": "legacy", "total_max_attempts": 2}}}
    assert retries(Catalog.from_url(s3_url, storage_options=mine)) == {
        "mode": "legacy",
        "total_max_attempts": 2,
    }
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "7")  # the AWS way of saying it wins too
    assert retries(Catalog.from_url(s3_url)) == {"mode": "legacy", "total_max_attempts": 7}


# -- 500 commits at a 10% fault rate -------------------------------------------------------------


def test_500_commits_at_a_10_percent_fault_rate_land_exactly_once(
    s3_url: str, fault_proxy: Any, fast_retries: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cairn.catalog._artifacts import Artifacts

    proxy = fault_proxy(fault_rate=FAULT_RATE, seed=20261121)
    # 10% is a hundred times a bad day on S3; at that rate 5 attempts would give up on
    # about one request in 100,000, so these writers may try 10 times.
    options = {
        "endpoint_url": proxy.url,
        "config_kwargs": {"retries": {"mode": "standard", "total_max_attempts": 10}},
    }
    Catalog.init(s3_url)
    saved = Counter[str]()
    real_landed = Artifacts._landed

    def landed(self: Artifacts, *args: Any) -> Any:
        view, found = real_landed(self, *args)
        saved["checked"] += 1
        saved["found"] += found
        return view, found

    monkeypatch.setattr(Artifacts, "_landed", landed)
    made: dict[int, list[tuple[str, str, str]]] = defaultdict(list)
    errors: list[BaseException] = []
    start = threading.Barrier(THREADS)

    def writer(number: int) -> None:
        try:
            # Each thread is its own writer (own client, cache and views), as a process is.
            cat = Catalog.from_url(s3_url, storage_options=options)
            choose = random.Random(number)
            start.wait(30)
            for i in range(COMMITS // THREADS):
                key = f"key-{choose.randrange(KEYS)}"
                payload = f"writer {number} commit {i}"
                aid = cat.artifacts.create("markdown", payload, key=key)
                made[number].append((key, payload, aid))
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    assert not errors, errors
    print(f"faults: {dict(proxy.stats)}; refusals checked against history: {dict(saved)}")
    assert {"drop", "500", "503", "lose"} <= set(proxy.stats)
    assert proxy.stats["lose"] >= 10

    reader = Catalog.from_url(s3_url)  # straight to moto, no faults
    expected: dict[str, dict[str, str]] = defaultdict(dict)  # key -> id -> payload
    for rows in made.values():
        for key, payload, aid in rows:
            expected[key][aid] = payload
    assert sum(len(v) for v in expected.values()) == COMMITS  # every commit its own id
    for key, by_id in expected.items():
        versions = check_history(reader, key)
        # Every id a commit returned is in its key's history with its payload, and nothing
        # else is: no version lost, none committed twice (a double has a payload twice).
        assert versions == by_id, key
        assert len(set(versions.values())) == len(versions)
        assert [a.id for a in reader.artifacts.history(key, limit=5)] == list(versions)[:5]


# -- the subtle cases, one at a time -------------------------------------------------------------


def test_a_lost_answer_to_a_ref_move_is_recognised_by_its_write_token(
    s3_url: str, moto_s3: Any, s3_requests: Any
) -> None:
    cat = Catalog.from_url(s3_url)
    first = cat.artifacts.create("markdown", "first", key="k")
    moto_s3.app.lose_responses("PUT", "/catalog/refs/artifacts/k")
    s3_requests.clear()
    second = cat.artifacts.create("markdown", "second", key="k")  # the repeat gets 412
    assert moto_s3.app.pending_losses() == 0
    # The ref store re-reads the ref once and finds its own token: done, without the
    # commit having to look through the history (no record is read).
    sent = [r.short("catalog") for r in s3_requests.take()]
    assert sent.count("GET refs/artifacts/k") == 1 and "GET objects" not in sent, sent
    assert list(check_history(Catalog.from_url(s3_url), "k")) == [second, first]


def test_a_lost_answer_then_another_writer_on_top_is_not_committed_twice(
    s3_url: str, moto_s3: Any
) -> None:
    # Our ref PUT lands, its answer is lost, and before we hear anything another writer
    # commits on top of our version. The repeat is refused (412), and the ref now holds the
    # other writer's value and token: the ref store reports a loss. The commit must see its
    # version in the history and not commit it again.
    cat = Catalog.from_url(s3_url)
    first = cat.artifacts.create("markdown", "first", key="k")
    other = Catalog.from_url(s3_url)
    on_top: list[str] = []
    moto_s3.app.lose_responses(
        "PUT", "/catalog/refs/artifacts/k",
        then=lambda: on_top.append(other.artifacts.create("markdown", "on top", key="k")),
    )  # fmt: skip
    ours = cat.artifacts.create("markdown", "ours", key="k")
    assert moto_s3.app.pending_losses() == 0 and len(on_top) == 1
    assert list(check_history(Catalog.from_url(s3_url), "k")) == [on_top[0], ours, first]
    # Its view is the other writer's head now: the next commit goes on top of it.
    after = cat.artifacts.create("markdown", "after", key="k")
    assert list(check_history(Catalog.from_url(s3_url), "k")) == [after, on_top[0], ours, first]


def test_a_lost_answer_then_a_delete_on_top_is_not_committed_twice(
    s3_url: str, moto_s3: Any
) -> None:
    # The same, but the other writer deletes our version: it was committed (once), then
    # deleted, and must not come back as a second commit.
    cat = Catalog.from_url(s3_url)
    first = cat.artifacts.create("markdown", "first", key="k")
    other = Catalog.from_url(s3_url)

    def delete_latest() -> None:
        latest = other.artifacts.latest("k")
        assert latest is not None and latest.data == "ours"
        other.artifacts.delete(latest.id)

    moto_s3.app.lose_responses("PUT", "/catalog/refs/artifacts/k", then=delete_latest)
    cat.artifacts.create("markdown", "ours", key="k")
    assert [a.id for a in Catalog.from_url(s3_url).artifacts.history("k")] == [first]


def test_a_commit_whose_every_answer_is_lost_reports_success_if_it_landed(
    s3_url: str, moto_s3: Any, fast_retries: None
) -> None:
    # botocore gives up (no answer at all, after its retries); the first attempt had landed.
    options = {"config_kwargs": {"retries": {"mode": "standard", "total_max_attempts": 3}}}
    cat = Catalog.from_url(s3_url, storage_options=options)
    first = cat.artifacts.create("markdown", "first", key="k")
    moto_s3.app.lose_responses("PUT", "/catalog/refs/artifacts/k", times=100)
    second = cat.artifacts.create("markdown", "second", key="k")
    moto_s3.app.reset()
    assert list(check_history(Catalog.from_url(s3_url), "k")) == [second, first]


def test_a_lost_answer_to_a_progress_update_with_another_update_on_top_is_not_doubled(
    s3_url: str, moto_s3: Any
) -> None:
    cat = Catalog.from_url(s3_url)
    aid = cat.artifacts.create("progress", 0.0, key="job")
    cat.artifacts.update_progress(aid, 10)
    other = Catalog.from_url(s3_url)
    moto_s3.app.lose_responses(
        "PUT", f"/catalog/refs/progress/{aid}",
        then=lambda: other.artifacts.update_progress(aid, 90),
    )  # fmt: skip
    cat.artifacts.update_progress(aid, 50)
    values = []
    cur = cat.refs.get(f"progress/{aid}")
    while cur is not None:
        rec = cat.get_record(cur)
        assert isinstance(rec, ProgressUpdate)
        values.append(rec.data)
        cur = rec.parent
    assert values == [90.0, 50.0, 10.0]


def test_a_lost_answer_to_a_run_record_is_recognised(s3_url: str, moto_s3: Any) -> None:
    cat = Catalog.from_url(s3_url)
    cat.ensure_initialized()

    @flow
    def job() -> None:
        pass

    moto_s3.app.lose_responses("PUT", "/catalog/refs/runs/", times=2)  # start and end
    with cairn.use_catalog(cat):
        job()
    assert moto_s3.app.pending_losses() == 0
    [run] = Catalog.from_url(s3_url).runs.list()
    assert run.state == "Completed"


def test_a_lost_answer_to_a_multipart_upload_is_success_and_leaves_no_upload(
    s3_url: str, s3_bucket: str, moto_s3: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    import cairn.objects._s3 as s3_module

    monkeypatch.setattr(s3_module, "_PART_SIZE", 5 * 2**20)
    monkeypatch.setattr(s3_module, "_FILE_MULTIPART_THRESHOLD", 8 * 2**20)
    data = random.Random(5).randbytes(11 * 2**20)
    source = tmp_path / "big.bin"
    source.write_bytes(data)
    store = Catalog.from_url(s3_url).objects
    assert isinstance(store, S3ObjectStore)
    moto_s3.app.lose_responses("POST", "uploadId=")  # CompleteMultipartUpload
    moto_s3.app.lose_responses("PUT", "partNumber=2")  # and one of its parts
    assert store.put_file(source) == object_id(data)
    assert moto_s3.app.pending_losses() == 0
    assert store.get(object_id(data)) == data
    assert moto_s3.client().list_multipart_uploads(Bucket=s3_bucket).get("Uploads", []) == []


def test_a_lost_answer_then_another_materialization_on_top_is_not_recorded_twice(
    s3_url: str, moto_s3: Any
) -> None:
    # The same subtle case on an asset history: our node's ref PUT lands, its answer is lost,
    # and another writer materializes the asset on top before we re-read. The refusal must
    # not make us append our materialization a second time.
    from cairn.catalog import asset_ref

    key = "s3://lake/clean.csv"
    cat = Catalog.from_url(s3_url)
    first = cat.assets.record([key], status="succeeded")
    other = Catalog.from_url(s3_url)
    on_top: list[str] = []
    moto_s3.app.lose_responses(
        "PUT", f"/catalog/refs/{asset_ref(key)}",
        then=lambda: on_top.append(other.assets.record([key], status="failed")),
    )  # fmt: skip
    ours = cat.assets.record([key], status="succeeded", upstream=["s3://lake/raw.csv"])
    assert moto_s3.app.pending_losses() == 0 and len(on_top) == 1
    history = [mid for mid, _ in Catalog.from_url(s3_url).assets.history(key)]
    assert history == [on_top[0], ours, first]
    # The next materialization goes on top of the other writer's.
    after = cat.assets.record([key], status="succeeded")
    history = [mid for mid, _ in Catalog.from_url(s3_url).assets.history(key)]
    assert history == [after, on_top[0], ours, first]
