"""Sync bench (issue 5): a first sync local -> S3 against an s3fs upload floor, a no-op
re-sync, and a sync after 100 new commits; against moto's S3 server in a process of its own.

1. **First sync.** A catalog of 10,000 objects (``--quick``: 1,000), a realistic mix: keyed
   artifact versions over many keys (one in fifty with a payload blob over 64 KiB), single-asset
   materializations over many assets, a few multi-asset ones; about 1,000 refs. It is synced
   into a new S3 prefix, and, in the same round, the floor: s3fs uploading the very same object
   files (``put`` with the same concurrency, 16) into another. Rounds alternate which goes
   first; the goal compares the medians: sync within 1.5 times the floor.
2. **No-op re-sync** of that catalog: requests and time (goal: at most 25 requests).
3. **After 100 new commits** on SRC: object copies and every other request (goal: at most 100
   copies and 25 other requests).

Requests are counted on the client (:class:`cairn.testing.S3Requests`).
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import _common

JOBS = 16


def build(root: Path, objects: int) -> Any:
    """A local catalog of about ``objects`` objects and ``objects / 10`` refs."""
    from cairn.catalog import Catalog

    cat = Catalog.from_url(str(root))
    keys = max(1, objects // 20)
    assets = max(1, objects // 20)
    n = i = 0
    while n < objects:
        key = f"key-{i % keys}"
        if i % 50 == 0:
            cat.artifacts.create("markdown", f"{i} " + "x" * 70_000, key=key)
            n += 2
        else:
            cat.artifacts.create("table", json.dumps([{"i": i, "v": i * 2}]), key=key)
            n += 1
        if i % 2 == 0:
            a = (i // 2) % assets
            cat.assets.record(
                [f"s3://lake/a{a}.csv"],
                status="succeeded",
                upstream=[f"s3://lake/a{(a + 1) % assets}.csv"],
            )
            n += 1
        if i % 97 == 0:
            cat.assets.record([f"s3://lake/m{i}.csv", f"s3://lake/n{i}.csv"], status="succeeded")
            n += 3
        i += 1
    return cat


def first_sync_round(src: Any, endpoint: str, sync_first: bool) -> dict[str, Any]:
    """One round: the s3fs floor and cairn's sync, each into a new bucket."""
    from cairn.catalog import Catalog, sync
    from cairn.objects._s3 import s3_filesystem
    from cairn.testing import S3Requests

    out: dict[str, Any] = {}

    def floor() -> None:
        bucket = f"floor-{uuid.uuid4().hex[:12]}"
        _common.create_bucket(endpoint, bucket)
        fs = s3_filesystem("s3://x")
        t0 = time.perf_counter()
        fs.put(
            str(Path(src.url) / "objects"),
            f"{bucket}/floor/objects",
            recursive=True,
            batch_size=JOBS,
        )
        out["floor_s"] = time.perf_counter() - t0

    def cairn_sync() -> None:
        bucket = f"sync-{uuid.uuid4().hex[:12]}"
        _common.create_bucket(endpoint, bucket)
        url = f"s3://{bucket}/cat"
        with S3Requests() as requests:
            t0 = time.perf_counter()
            report = sync(Catalog.from_url(src.url), Catalog.from_url(url), jobs=JOBS)
            out["sync_s"] = time.perf_counter() - t0
        out["url"] = url
        out["requests"] = len(requests)
        out["objects_copied"] = report.objects_copied
        out["bytes"] = report.bytes_copied

    for step in (cairn_sync, floor) if sync_first else (floor, cairn_sync):
        step()
    return out


def main() -> None:
    p = _common.parser(__doc__.splitlines()[0])
    p.add_argument("--objects", type=int, default=None, help="catalog size (default 10,000)")
    p.add_argument("--rounds", type=int, default=None, help="first-sync rounds (default 3)")
    args = p.parse_args()
    objects = args.objects or (1_000 if args.quick else 10_000)
    rounds = args.rounds or 3

    from cairn.catalog import Catalog, sync
    from cairn.testing import S3Requests

    moto, port = _common.start_process([sys.executable, "-c", _common.MOTO_CHILD])
    endpoint = f"http://127.0.0.1:{port}"
    os.environ.update(_common.aws_env(endpoint))
    try:
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            src = build(Path(tmp) / "src", objects)
            stored = sum(1 for _ in src.objects.iter_ids())
            refs = sum(1 for _ in src.refs.iter_tokens(""))
            _common.log(
                f"built {stored:,} objects, {refs:,} refs in {time.perf_counter() - t0:.1f} s"
            )

            results = []
            for r in range(rounds):
                got = first_sync_round(src, endpoint, sync_first=r % 2 == 0)
                results.append(got)
                _common.log(
                    f"round {r + 1}: sync {got['sync_s']:.1f} s, s3fs floor {got['floor_s']:.1f} s"
                )
            sync_s = statistics.median(g["sync_s"] for g in results)
            floor_s = statistics.median(g["floor_s"] for g in results)
            url = results[-1]["url"]

            with S3Requests() as requests:
                t0 = time.perf_counter()
                noop = sync(Catalog.from_url(src.url), Catalog.from_url(url), jobs=JOBS)
                noop_s = time.perf_counter() - t0
            noop_requests = [r.short(url.split("/", 3)[3]) for r in requests]

            for c in range(100):
                src.artifacts.create("markdown", f"new {c}", key=f"key-{c % 5}")
            with S3Requests() as requests:
                t0 = time.perf_counter()
                after = sync(Catalog.from_url(src.url), Catalog.from_url(url), jobs=JOBS)
                after_s = time.perf_counter() - t0
            object_puts = sum(
                1 for r in requests if r.operation == "PutObject" and "/objects/" in r.key
            )
            other = [
                r.short(url.split("/", 3)[3])
                for r in requests
                if not (r.operation == "PutObject" and "/objects/" in r.key)
            ]
    finally:
        moto.kill()
        moto.wait()

    _common.emit("sync", {
        "objects": stored,
        "refs": refs,
        "jobs": JOBS,
        "first_sync": {
            "rounds": rounds,
            "sync_s": [round(g["sync_s"], 3) for g in results],
            "floor_s3fs_s": [round(g["floor_s"], 3) for g in results],
            "median_sync_s": round(sync_s, 3),
            "median_floor_s": round(floor_s, 3),
            "ratio": round(sync_s / floor_s, 3),
            "objects_copied": results[-1]["objects_copied"],
            "bytes": results[-1]["bytes"],
            "requests": results[-1]["requests"],
        },
        "noop_resync": {
            "seconds": round(noop_s, 4), "requests": len(noop_requests),
            "detail": noop_requests, "objects_copied": noop.objects_copied,
        },
        "after_100_commits": {
            "seconds": round(after_s, 3), "objects_copied": after.objects_copied,
            "object_puts": object_puts, "other_requests": len(other), "other": other,
        },
    })  # fmt: skip


if __name__ == "__main__":
    main()
