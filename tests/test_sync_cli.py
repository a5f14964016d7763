"""``cairn sync``, ``push``, ``pull`` and ``clone`` through the real entry point, S3 request
counts of an incremental sync, and syncs killed with SIGKILL at random moments."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from cairn.catalog import Catalog, sync
from cairn.catalog._reach import reachable
from cairn.testing._requests import S3Requests
from conftest import CAIRN_MODULE, clean_environment


def populate(cat: Catalog, keys: int = 5, versions: int = 4, tag: str = "") -> None:
    for k in range(keys):
        for v in range(versions):
            cat.artifacts.create("markdown", f"{tag}{k}-{v}", key=f"key-{k}")
        cat.assets.record([f"s3://lake/{k}.csv"], status="succeeded", upstream=["s3://lake/raw"])


def test_sync_json_summary_then_already_up_to_date(tmp_path: Path, run_cli: Any) -> None:
    src, dst = str(tmp_path / "src"), str(tmp_path / "dst")
    populate(Catalog.from_url(src))
    done = run_cli("sync", src, dst, "--json")
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["objects_copied"] == len(reachable(Catalog.from_url(src)))
    assert summary["refs_created"] == 10 and summary["dry_run"] is False
    assert set(summary) >= {
        "bytes_copied",
        "refs_updated",
        "refs_merged",
        "refs_unchanged",
        "conflicts_merged",
        "seconds",
    }
    again = run_cli("sync", src, dst)
    assert again.returncode == 0 and "Already up to date." in again.stdout
    assert "\x1b" not in again.stdout  # no progress bar when stdout is not a terminal


def test_dry_run_prints_the_plan_and_writes_nothing(tmp_path: Path, run_cli: Any) -> None:
    src, dst = str(tmp_path / "src"), str(tmp_path / "dst")
    populate(Catalog.from_url(src), keys=1, versions=1)
    done = run_cli("sync", src, dst, "--dry-run")
    assert done.returncode == 0, done.stderr
    assert "create artifacts/key-0" in done.stdout and "Would copy 2 objects" in done.stdout
    assert not Path(dst).exists()


def test_push_pull_and_clone_use_the_default_catalog(tmp_path: Path, run_cli: Any) -> None:
    home, remote, copy = (str(tmp_path / n) for n in ("home", "remote", "copy"))
    populate(Catalog.from_url(home), keys=2, versions=2)
    assert run_cli("push", remote, catalog=home).returncode == 0
    Catalog.from_url(remote).artifacts.create("markdown", "from remote", key="key-0")
    assert run_cli("pull", remote, catalog=home).returncode == 0
    latest = Catalog.from_url(home).artifacts.latest("key-0")
    assert latest is not None and latest.data == "from remote"
    assert run_cli("clone", remote, copy, catalog=None).returncode == 0
    assert dict(Catalog.from_url(copy).refs.iter_refs()) == dict(
        Catalog.from_url(remote).refs.iter_refs()
    )
    refused = run_cli("clone", remote, copy, catalog=None)
    assert refused.returncode == 1
    assert refused.stderr.count("\n") == 1 and "not empty" in refused.stderr


def test_a_corrupt_object_exits_non_zero_with_one_line(tmp_path: Path, run_cli: Any) -> None:
    src, dst = str(tmp_path / "src"), str(tmp_path / "dst")
    cat = Catalog.from_url(src)
    populate(cat, keys=1, versions=2)
    head = cat.refs.get("artifacts/key-0")
    assert head is not None
    path = Path(cat.objects.describe(head))
    path.chmod(0o644)
    path.write_bytes(b"{}")
    done = run_cli("sync", src, dst, catalog=None)
    assert done.returncode == 1
    assert done.stderr.startswith("Error: sync stopped: object") and "is corrupt" in done.stderr
    assert done.stderr.count("\n") == 1
    assert Catalog.from_url(dst).refs.get("artifacts/key-0") is None


def test_missing_source_is_one_line(tmp_path: Path, run_cli: Any) -> None:
    done = run_cli("sync", str(tmp_path / "none"), str(tmp_path / "dst"), catalog=None)
    assert done.returncode == 1 and "no cairn catalog" in done.stderr


def test_a_no_op_resync_on_s3_costs_a_few_requests(s3_env: Any, moto_s3: Any) -> None:
    src = Catalog.from_url(f"s3://{moto_s3.new_bucket()}/c")
    dst = Catalog.from_url(f"s3://{moto_s3.new_bucket()}/c")
    populate(src, keys=20, versions=3)
    sync(src, dst)
    src, dst = Catalog.from_url(src.url), Catalog.from_url(dst.url)
    with S3Requests() as requests:
        report = sync(src, dst)
    assert report.objects_copied == 0 and report.changes == []
    # LIST SRC's refs, LIST DST's refs, GET the state (and DST's marker, once).
    assert len(requests) <= 6, requests.summary()
    # After new commits on one key: per new object one GET on SRC and one PUT on DST.
    for v in range(10):
        src.artifacts.create("markdown", f"more {v}", key="key-3")
    src, dst = Catalog.from_url(src.url), Catalog.from_url(dst.url)
    with S3Requests() as requests:
        report = sync(src, dst)
    assert report.objects_copied == 10
    puts = requests.count("PUT")
    gets = requests.count("GET")
    assert len(requests) <= 2 * 10 + 12, requests.summary()
    assert puts <= 10 + 2 and gets <= 10 + 8, requests.summary()


def _stored(url: str, moto: Any) -> int:
    """How many objects the catalog at ``url`` holds now, counted without going through cairn.

    A local catalog's files are counted; an S3 one's keys are counted in moto's backend, in
    this process (no request that could race with the sync being measured).
    """
    if not url.startswith("s3://"):
        folder = Path(url, "objects")
        try:
            return sum(len(os.listdir(sub)) for sub in folder.iterdir() if sub.is_dir())
        except FileNotFoundError:
            return 0
    from moto.core.models import DEFAULT_ACCOUNT_ID
    from moto.s3.models import s3_backends

    bucket, _, prefix = url[len("s3://") :].partition("/")
    backend = s3_backends[DEFAULT_ACCOUNT_ID]["global"]
    with moto.app.lock:
        keys = list(backend.buckets[bucket].keys.keys())
    return sum(1 for k in keys if k.startswith(f"{prefix}/objects/"))


def _valid(url: str) -> None:
    cat = Catalog.from_url(url)
    for oid in reachable(cat):
        cat.objects.get(oid)


@pytest.mark.parametrize("kinds", ["local-local", "local-s3", "s3-s3"])
def test_a_sync_killed_at_random_moments_then_rerun_is_complete(
    tmp_path: Path, kinds: str, request: pytest.FixtureRequest
) -> None:
    rng = random.Random(kinds)
    env = clean_environment()
    moto = None
    urls = []
    for i, kind in enumerate(kinds.split("-")):
        if kind == "local":
            urls.append(str(tmp_path / f"cat{i}"))
        else:
            moto = request.getfixturevalue("moto_s3")
            env.update(request.getfixturevalue("s3_env"))
            urls.append(f"s3://{moto.new_bucket()}/cat{i}")
    src, dst = urls
    cat = Catalog.from_url(src)
    populate(cat, keys=30, versions=8)
    for k in range(30):
        cat.artifacts.create("markdown", "x" * 70_000 + str(k), key=f"big-{k}")
    expected = reachable(cat)
    assert len(expected) > 300
    kills = 0
    stored: list[int] = []
    total = len(expected)
    for step in range(4):
        # Kill once DST holds a random number of objects (a different moment each time, and
        # whatever the machine's speed): the objects phase, or the refs phase after it. A
        # run killed in its refs phase has already stored every object: the next one is
        # then killed as soon as it starts.
        low = min(stored[-1] + 1, total) if stored else 1
        threshold = rng.randint(low, total) if step < 3 else total + 1
        proc = subprocess.Popen(
            [*CAIRN_MODULE, "sync", src, dst, "--jobs", "2"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 120
        while proc.poll() is None and time.monotonic() < deadline:
            if _stored(dst, moto) >= threshold:
                break
            time.sleep(0.0005 if moto is None else 0.005)
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        proc.wait()
        if Catalog.from_url(dst).exists():
            _valid(dst)  # valid at every instant: every ref's objects are there
            stored.append(sum(1 for _ in Catalog.from_url(dst).objects.iter_ids()))
    assert kills >= 2, stored
    assert any(0 < n < len(expected) for n in stored), stored  # killed half way at least once
    done = subprocess.run(
        [*CAIRN_MODULE, "sync", src, dst, "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert dict(Catalog.from_url(dst).refs.iter_refs()) == dict(cat.refs.iter_refs())
    assert reachable(Catalog.from_url(dst)) == expected
    _valid(dst)
