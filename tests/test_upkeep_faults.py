"""Upkeep through S3 faults (issue 6, point 4): sync, fsck and gc each finish correctly with
one request in ten failing, through :class:`cairn.testing.FaultProxy` in front of moto.

The proxy drops connections, answers 500 and 503, and forwards writes but drops their answers,
at a seeded rate. Every check afterwards reads the catalog directly from moto (no proxy), so
what it sees is what was stored.
"""

from __future__ import annotations

import random
import time
from pathlib import Path
from typing import Any

import pytest

from cairn.catalog import Catalog, sync
from cairn.catalog._reach import reachable

FAULT_RATE = 0.1
# At 10% a request fails five times in a row once in 100,000: let each try ten times.
RETRIES = {"mode": "standard", "total_max_attempts": 10}


@pytest.fixture
def fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """Shorten botocore's backoff to a few milliseconds (these tests are about outcomes)."""
    from botocore.retries import standard

    monkeypatch.setattr(
        standard.ExponentialBackoff, "delay_amount", lambda self, context: random.random() * 0.005
    )


def populate(cat: Catalog) -> None:
    for k in range(12):
        for v in range(4):
            cat.artifacts.create("markdown", f"{k}-{v}", key=f"key-{k}")
        cat.assets.record(
            [f"s3://lake/{k}.csv"],
            status="succeeded",
            upstream=[f"s3://lake/{k - 1}.csv"] if k else [],
        )
    for k in range(3):
        cat.artifacts.create("markdown", "x" * 70_000 + str(k), key=f"big-{k}")  # blobs
    gone = cat.artifacts.create("markdown", "to delete", key="key-0")
    cat.artifacts.delete(gone)


def through(proxy: Any) -> dict[str, Any]:
    return {"endpoint_url": proxy.url, "config_kwargs": {"retries": RETRIES}}


def assert_same(src: Catalog, dst: Catalog) -> None:
    assert dict(dst.refs.iter_refs("")) == dict(src.refs.iter_refs(""))
    found = reachable(dst)
    assert found == reachable(src)
    for oid in found:
        dst.objects.get(oid)  # present and intact


@pytest.mark.parametrize("kinds", ["local-s3", "s3-s3"])
def test_sync_through_a_10_percent_fault_rate_is_complete(
    kinds: str, tmp_path: Path, moto_s3: Any, s3_env: Any, fault_proxy: Any, fast_retries: None
) -> None:
    proxy = fault_proxy(fault_rate=0.0, seed=20261121)
    if kinds == "local-s3":
        src_url, src_options = str(tmp_path / "src"), None
    else:
        src_url, src_options = f"s3://{moto_s3.new_bucket()}/src", through(proxy)
    dst_url = f"s3://{moto_s3.new_bucket()}/dst"
    populate(Catalog.from_url(src_url))
    proxy.set(fault_rate=FAULT_RATE)
    src = Catalog.from_url(src_url, storage_options=src_options)
    dst = Catalog.from_url(dst_url, storage_options=through(proxy))
    report = sync(src, dst)
    assert report.objects_copied > 0
    # A second sync through faults, after more commits on both sides, merges them.
    Catalog.from_url(src_url).artifacts.create("markdown", "src side", key="key-1")
    Catalog.from_url(dst_url).artifacts.create("markdown", "dst side", key="key-1")
    sync(
        Catalog.from_url(src_url, storage_options=src_options),
        Catalog.from_url(dst_url, storage_options=through(proxy)),
        both=True,
    )
    assert sum(proxy.stats[k] for k in ("drop", "500", "503", "lose")) > 10, proxy.stats
    proxy.set(fault_rate=0.0)
    plain_src, plain_dst = Catalog.from_url(src_url), Catalog.from_url(dst_url)
    assert_same(plain_src, plain_dst)
    data = [v.data for v in plain_dst.artifacts.history("key-1")]
    assert "src side" in data and "dst side" in data


def test_fsck_through_a_10_percent_fault_rate_finds_exactly_what_is_wrong(
    s3_url: str, fault_proxy: Any, fast_retries: None
) -> None:
    from cairn.catalog import fsck
    from test_sync import corrupt

    cat = Catalog.from_url(s3_url)
    populate(cat)
    clean = fsck(Catalog.from_url(s3_url))
    assert clean.ok, clean.problems
    proxy = fault_proxy(fault_rate=FAULT_RATE, seed=7)
    faulty = fsck(Catalog.from_url(s3_url, storage_options=through(proxy)))
    assert sum(proxy.stats[k] for k in ("drop", "500", "503", "lose")) > 5, proxy.stats
    assert faulty.ok, faulty.problems
    assert (faulty.objects, faulty.bytes, faulty.refs, faulty.reachable) == (
        clean.objects,
        clean.bytes,
        clean.refs,
        clean.reachable,
    )
    # One damaged object: found, and only it, through the faults.
    victim = cat.get_record(cat.refs.get("artifacts/big-1")).blob  # type: ignore[arg-type, union-attr]
    assert victim is not None
    corrupt(cat, victim)
    damaged = fsck(Catalog.from_url(s3_url, storage_options=through(proxy)))
    assert not damaged.ok
    assert {p.oid for p in damaged.errors} == {victim}, damaged.errors


def test_gc_through_a_10_percent_fault_rate_never_deletes_a_reachable_object(
    s3_url: str, fault_proxy: Any, fast_retries: None
) -> None:
    from cairn.catalog import gc

    cat = Catalog.from_url(s3_url)
    populate(cat)
    for k in range(6):  # garbage: deleted versions and their blobs
        cat.artifacts.delete(cat.artifacts.create("markdown", "y" * 70_000 + str(k), key="tmp"))
    before = set(cat.objects.iter_ids())
    live = reachable(cat)
    assert before - set(live), "the test needs garbage"
    # S3 stamps objects (and gc's cutoff, from its Date header) to the second: an object
    # stored in the cutoff's second is not older than it, and rightly kept. Let a second pass.
    time.sleep(1.1)
    proxy = fault_proxy(fault_rate=FAULT_RATE, seed=11)
    report = gc(Catalog.from_url(s3_url, storage_options=through(proxy)), prune="now")
    assert sum(proxy.stats[k] for k in ("drop", "500", "503", "lose")) > 5, proxy.stats
    plain = Catalog.from_url(s3_url)
    after = set(plain.objects.iter_ids())
    assert set(live) <= after  # nothing reachable went
    assert after == set(live)  # and every unreachable object did
    assert report.objects_deleted == len(before - after)
    for oid in live:
        plain.objects.get(oid)
