"""Sync bench: a first sync local -> S3 (moto) against an s3fs upload floor, a no-op re-sync,
and a sync after 100 new commits. Prints one JSON document on stdout.

Goals (issue 5): first sync <= 1.5 x the floor; no-op re-sync <= 25 requests; a sync after
100 new commits <= 100 object copies + 25 other requests.

The catalog is a realistic mix: keyed artifact versions over many keys (some with blobs over
64 KiB), single-asset materializations over many assets, a few multi-asset ones, runs. The
floor uploads the very same object files with s3fs (``put`` with the same concurrency).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

JOBS = 16


def start_moto() -> str:
    from moto.server import DomainDispatcherApplication, create_backend_app
    from werkzeug.serving import WSGIRequestHandler, make_server

    class Quiet(WSGIRequestHandler):
        def log_request(self, *args: Any) -> None:
            pass

    app = DomainDispatcherApplication(create_backend_app)
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=Quiet)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.port}"
    os.environ.update(
        AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing",
        AWS_DEFAULT_REGION="us-east-1", AWS_ENDPOINT_URL=url,
        AWS_CONFIG_FILE=os.devnull, AWS_SHARED_CREDENTIALS_FILE=os.devnull,
        AWS_EC2_METADATA_DISABLED="true",
    )  # fmt: skip
    return url


def new_bucket() -> str:
    import boto3

    name = f"bench-{uuid.uuid4().hex[:12]}"
    boto3.client("s3").create_bucket(Bucket=name)
    return name


def build(root: Path, objects: int) -> Any:
    from cairn.catalog import Catalog

    cat = Catalog.from_url(str(root))
    keys = max(1, objects // 40)
    assets = max(1, objects // 40)
    n = 0
    i = 0
    while n < objects:
        key = f"key-{i % keys}"
        if i % 50 == 0:
            cat.artifacts.create("markdown", f"{i} " + "x" * 70_000, key=key)
            n += 2
        else:
            cat.artifacts.create("table", json.dumps([{"i": i, "v": i * 2}]), key=key)
            n += 1
        if i % 2 == 0:
            cat.assets.record([f"s3://lake/a{i % assets}.csv"], status="succeeded",
                              upstream=[f"s3://lake/a{(i + 1) % assets}.csv"])
            n += 1
        if i % 97 == 0:
            cat.assets.record([f"s3://lake/m{i}.csv", f"s3://lake/n{i}.csv"],
                              status="succeeded")
            n += 3
        i += 1
    return cat


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--quick", action="store_true", help="1,000 objects instead of 10,000")
    p.add_argument("--objects", type=int, default=None)
    args = p.parse_args()
    objects = args.objects or (1_000 if args.quick else 10_000)
    import tempfile

    from cairn.catalog import Catalog, sync
    from cairn.objects._s3 import s3_filesystem
    from cairn.testing._requests import S3Requests

    start_moto()
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        src = build(Path(tmp) / "src", objects)
        stored = sum(1 for _ in src.objects.iter_ids())
        print(f"built {stored} objects in {time.perf_counter() - t0:.1f} s", file=sys.stderr)

        # The floor: s3fs uploading the same object files, same concurrency.
        fs = s3_filesystem("s3://x")
        floor_bucket = new_bucket()
        t0 = time.perf_counter()
        fs.put(str(Path(tmp) / "src" / "objects"), f"{floor_bucket}/floor/objects",
               recursive=True, batch_size=JOBS)
        floor = time.perf_counter() - t0

        bucket = new_bucket()
        url = f"s3://{bucket}/cat"
        t0 = time.perf_counter()
        with S3Requests() as reqs:
            first = sync(src, Catalog.from_url(url), jobs=JOBS)
        first_s = time.perf_counter() - t0
        first_requests = len(reqs)

        with S3Requests() as reqs:
            t0 = time.perf_counter()
            noop = sync(Catalog.from_url(src.url), Catalog.from_url(url), jobs=JOBS)
            noop_s = time.perf_counter() - t0
        noop_requests = reqs.summary()

        for c in range(100):
            src.artifacts.create("markdown", f"new {c}", key=f"key-{c % 5}")
        with S3Requests() as reqs:
            t0 = time.perf_counter()
            after = sync(Catalog.from_url(src.url), Catalog.from_url(url), jobs=JOBS)
            after_s = time.perf_counter() - t0
        copies = after.objects_copied
        other = len(reqs) - 2 * copies  # each copy: nothing on SRC (local), one PUT on DST
        object_puts = sum(1 for r in reqs if r.method == "PUT" and "/objects/" in r.key)

    result = {
        "bench": "sync",
        "objects": stored,
        "first_sync": {
            "seconds": round(first_s, 3), "floor_s3fs_seconds": round(floor, 3),
            "ratio": round(first_s / floor, 3), "objects_copied": first.objects_copied,
            "bytes": first.bytes_copied, "requests": first_requests,
            "goal": "ratio <= 1.5", "met": first_s / floor <= 1.5,
        },
        "noop_resync": {
            "seconds": round(noop_s, 4), "requests": len(noop_requests),
            "detail": noop_requests, "objects_copied": noop.objects_copied,
            "goal": "requests <= 25", "met": len(noop_requests) <= 25,
        },
        "after_100_commits": {
            "seconds": round(after_s, 3), "objects_copied": copies,
            "object_puts": object_puts, "other_requests": len(reqs) - object_puts,
            "goal": "copies <= 100 and other requests <= 25",
            "met": copies <= 100 and len(reqs) - object_puts <= 25,
        },
    }  # fmt: skip
    del other
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
