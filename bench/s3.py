"""Issue 4's S3 goals: requests per operation, commits from 8 threads behind 50 ms of latency,
and the memory of uploading a 200 MB Parquet blob; against moto's S3 server on loopback.

1. ``requests``: the HTTP requests each operation sends, counted with botocore's
   ``before-send`` hook (:class:`cairn.testing.S3Requests`), against moto in this process
   (so that a 2,500-key catalog can be stored straight into moto's backend). Counts are
   deterministic; each entry lists the requests too.
2. ``throughput``: keyed commits per second from 1, 2, 4, 8 and 16 threads into one S3
   catalog (each thread its own key; one shared ``Catalog``, so one client and one
   connection pool), through :class:`cairn.testing.FaultProxy` adding 50 ms to every request,
   as a real S3 round trip takes. moto and the proxy run in processes of their own. Each
   thread first commits once (so that its view of its key is current), then all start
   together and commit ``--commits`` versions each. ``speedup_8`` = commits/s with 8 threads
   over commits/s with 1. The same with 8 threads each opening its own catalog (own client
   and pool) is reported beside it, to show the shared pool does not serialize them.
3. ``upload_200mb``: ``S3ObjectStore.put_file`` of a 200 MB Parquet file in a fresh child
   process: peak RSS during the upload minus RSS before it (``VmHWM`` after resetting it),
   over the file's size. ``s3fs_put_file`` does the same with s3fs's own ``put_file`` (what
   cairn used before), for comparison.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import _common

LISTING_KEYS = 2500
LATENCY = 0.05


# -- 1. request counts ----------------------------------------------------------------------


def request_counts() -> dict[str, Any]:
    from moto.core.models import DEFAULT_ACCOUNT_ID
    from moto.s3.models import s3_backends
    from moto.server import ThreadedMotoServer

    import cairn
    from cairn import flow, task
    from cairn.artifacts import Artifact, create_markdown_artifact
    from cairn.assets import materialize
    from cairn.catalog import Catalog
    from cairn.testing import S3Requests

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    saved_env = dict(os.environ)
    os.environ.update(_common.aws_env(endpoint))
    out: dict[str, Any] = {}
    tmp = tempfile.mkdtemp(prefix="cairn-bench-s3-")
    try:
        _common.create_bucket(endpoint, "cairn-bench")
        url = "s3://cairn-bench/catalog"
        with S3Requests() as requests:

            def measure(name: str, func: Callable[[], Any], note: str = "") -> Any:
                requests.clear()
                result = func()
                sent = requests.take()
                out[name] = {"count": len(sent), "requests": _summary(sent)}
                if note:
                    out[name]["note"] = note
                return result

            cat = measure("open", lambda: Catalog.from_url(url), "reads the format marker")
            measure(
                "create_catalog",
                lambda: cat.artifacts.create("markdown", "x", key="k"),
                "the first commit into an empty prefix: the marker, the check that conditional "
                "writes are enforced, then a first commit to a new key",
            )
            measure(
                "keyed_commit",
                lambda: cat.artifacts.create("markdown", "y", key="k"),
                "a writer whose view of the ref is current: object PUT, conditional ref PUT",
            )
            Catalog.from_url(url).artifacts.create("markdown", "elsewhere", key="k")
            measure(
                "keyed_commit_stale",
                lambda: cat.artifacts.create("markdown", "z", key="k"),
                "another writer moved the ref: a refused PUT, re-reads, and the commit again",
            )
            measure(
                "keyless_outside_run",
                lambda: cat.artifacts.create("markdown", "no run"),
                "object PUT and its own keyless/ ref",
            )
            with cairn.use_catalog(cat):
                seen: dict[str, Any] = {}

                @task
                def in_task() -> None:
                    requests.clear()
                    create_markdown_artifact("in a task")
                    seen["task"] = requests.take()

                @flow
                def in_flow() -> None:
                    requests.clear()
                    create_markdown_artifact("in a flow")
                    seen["flow"] = requests.take()
                    in_task()

                in_flow()
                for where in ("flow", "task"):
                    out[f"keyless_in_{where}_run"] = {
                        "count": len(seen[where]),
                        "requests": _summary(seen[where]),
                        "note": "one object PUT: the run's record (written at its end) anchors it",
                    }

                @flow
                def empty() -> None:
                    pass

                measure("flow_run", empty, "start and end records: object PUT and ref PUT each")

                @materialize("s3://bench/clean.csv")
                def clean() -> int:
                    return 1

                @flow
                def pipeline() -> None:
                    requests.clear()
                    clean()
                    seen["materialize"] = requests.take()

                pipeline()  # the first one in this process reads the asset's ref
                measure("flow_with_materialize", pipeline, "flow start, materialization, flow end")
                out["materialization"] = {
                    "count": len(seen["materialize"]),
                    "requests": _summary(seen["materialize"]),
                    "note": "a single-asset @materialize task in a flow: object PUT, ref PUT",
                }
                aid = cat.artifacts.create("progress", 0.0, key="job")
                measure(
                    "progress_update",
                    lambda: cat.artifacts.update_progress(aid, 50.0),
                    "is it still live (its key's ref), then object PUT and ref PUT",
                )
            reader = Catalog.from_url(url)
            measure("latest", lambda: reader.artifacts.latest("k"), "ref GET, record GET")
            measure(
                "artifact_get",
                lambda: Artifact.get("k", client=reader),
                "the facade's Artifact.get(key)",
            )
            for i in range(12):
                cat.artifacts.create("markdown", f"v{i}", key="long")
            measure(
                "inspect_key",
                lambda: reader.artifacts.history("long", limit=10),
                "`cairn artifact inspect KEY` (10 versions): the ref, then one GET per version "
                "(a chain is read link by link); the CLI also reads the marker",
            )
            cold = measure("cold_open", lambda: Catalog.from_url(url))
            measure(
                "cold_first_commit",
                lambda: cold.artifacts.create("markdown", "cold", key="k"),
                "a new process's first commit to an existing key: the ref and its head record "
                "(for the new version's time), then the two PUTs",
            )
            measure(
                "cold_progress_update",
                lambda: cold.artifacts.update_progress(aid, 60.0),
                "a process that did not create it: the artifact, its liveness, its latest "
                "update, then the two PUTs",
            )

            # 2,500 keys, built on disk and stored straight into moto's backend.
            local = Catalog.from_url(os.path.join(tmp, "local"))
            for i in range(LISTING_KEYS):
                local.artifacts.create("markdown", f"v{i}", key=f"key-{i:05d}")
            local.artifacts.list_latest()  # writes the listing index
            _common.log(f"built a {LISTING_KEYS}-key catalog; storing it in moto")
            backend = s3_backends[DEFAULT_ACCOUNT_ID]["global"]
            _common.create_bucket(endpoint, "cairn-bench-ls")
            root = Path(tmp) / "local"
            for path in root.rglob("*"):
                if path.is_file() and not path.name.endswith(".lock"):
                    rel = path.relative_to(root).as_posix()
                    backend.put_object("cairn-bench-ls", f"catalog/{rel}", path.read_bytes())
            ls_url = "s3://cairn-bench-ls/catalog"
            measure(
                f"ls_{LISTING_KEYS}_keys",
                lambda: Catalog.from_url(ls_url).artifacts.list_latest(),
                f"a new process's `artifact ls` over {LISTING_KEYS} keys: the marker, the "
                f"index, ceil({LISTING_KEYS}/1000) LISTs",
            )
            moved = Catalog.from_url(ls_url)
            moved.artifacts.create("markdown", "moved", key="key-00007")
            moved.artifacts.create("markdown", "moved", key="key-02222")
            lister = Catalog.from_url(ls_url)
            measure(
                f"ls_{LISTING_KEYS}_keys_2_moved",
                lambda: lister.artifacts.list_latest(),
                "two keys moved since the index was written: their refs and heads are read, "
                "and the index rewritten",
            )
    finally:
        os.environ.clear()
        os.environ.update(saved_env)
        server.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    out["ls_bound"] = math.ceil(LISTING_KEYS / 1000) + 2
    return out


def _summary(sent: list[Any]) -> list[str]:
    out = []
    for request in sent:
        text = request.short("catalog")
        method, _, where = text.partition(" ")
        folder, _, _ = where.rpartition("/")
        if folder in ("refs/keyless", "refs/runs", "refs/assets", "refs/progress", "refs/deleted"):
            where = f"{folder}/*"
        out.append(f"{method} {where}".strip())
    return out


# -- 2. throughput behind latency -------------------------------------------------------------


def commit_rate(
    url: str, options: dict[str, Any], threads: int, commits: int, shared: bool
) -> float:
    from cairn.catalog import Catalog

    shared_catalog = Catalog.from_url(url, storage_options=options) if shared else None
    catalogs = [
        shared_catalog or Catalog.from_url(url, storage_options=options) for _ in range(threads)
    ]
    tag = os.urandom(4).hex()
    keys = [f"t{threads}-{tag}-{i}" for i in range(threads)]
    for cat, key in zip(catalogs, keys, strict=True):
        cat.artifacts.create("markdown", "warm up", key=key)  # views current from here on
    start = threading.Barrier(threads + 1)
    errors: list[BaseException] = []

    def work(cat: Any, key: str) -> None:
        try:
            start.wait(60)
            for i in range(commits):
                cat.artifacts.create("markdown", f"commit {i}", key=key)
        except BaseException as exc:
            errors.append(exc)

    workers = [
        threading.Thread(target=work, args=(cat, key))
        for cat, key in zip(catalogs, keys, strict=True)
    ]
    for w in workers:
        w.start()
    start.wait(60)
    t0 = time.perf_counter()
    for w in workers:
        w.join()
    elapsed = time.perf_counter() - t0
    if errors:
        raise errors[0]
    return threads * commits / elapsed


def throughput(moto_url: str, commits: int, rounds: int) -> dict[str, Any]:
    proxy, proxy_url = _common.start_process(
        [sys.executable, "-c", "from cairn.testing._faults import main; main()",
         "--upstream", moto_url, "--latency", str(LATENCY)]
    )  # fmt: skip
    saved_env = dict(os.environ)
    os.environ.update(_common.aws_env(moto_url))
    try:
        _common.create_bucket(moto_url, "cairn-bench-tput")
        url = "s3://cairn-bench-tput/catalog"
        options = {"endpoint_url": proxy_url}
        from cairn.catalog import Catalog

        Catalog.init(url, storage_options=options)
        configs = [(1, True), (2, True), (4, True), (8, True), (16, True), (8, False)]
        rates: dict[str, list[float]] = {}
        for r in range(rounds):
            order = configs[r % len(configs) :] + configs[: r % len(configs)]
            for threads, shared in order:
                name = f"threads_{threads}" + ("" if shared else "_own_catalogs")
                rate = commit_rate(url, options, threads, commits, shared)
                rates.setdefault(name, []).append(rate)
                _common.log(f"round {r + 1}: {name}: {rate:.1f} commits/s")
    finally:
        os.environ.clear()
        os.environ.update(saved_env)
        proxy.kill()
        proxy.wait()
    out: dict[str, Any] = {
        "latency_ms": LATENCY * 1000,
        "commits_per_thread": commits,
        "rounds": rounds,
    }
    for name, values in rates.items():
        out[name] = {
            "commits_per_s": round(statistics.median(values), 1),
            "runs": [round(v, 1) for v in values],
        }
    one = out["threads_1"]["commits_per_s"]
    out["threads_1"]["ms_per_commit"] = round(1000 / one, 1)
    for name in rates:
        out[name]["speedup"] = round(out[name]["commits_per_s"] / one, 2)
    out["speedup_8"] = out["threads_8"]["speedup"]
    return out


# -- 3. memory of a 200 MB upload -------------------------------------------------------------


def upload_child(url: str, path: str, how: str) -> dict[str, Any]:
    from cairn.catalog import Catalog
    from cairn.testing import S3Requests

    def kib(field: str) -> int:
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) for line in f if line.startswith(field + ":"))

    store: Any = Catalog.from_url(url).objects
    store.put(b"warm up: imports, the client, a connection")
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    before = kib("VmRSS")
    t0 = time.perf_counter()
    with S3Requests() as requests:
        requests.watch(store)  # s3fs's put_file uses the client without cairn
        if how == "cairn":
            store.put_file(path)
        else:
            key = f"{store.location.bucket}/{store.location.key('s3fs-copy')}"
            store.location.fs.put_file(path, key, mode="create")
    elapsed = time.perf_counter() - t0
    return {
        "increase_bytes": (kib("VmHWM") - before) * 1024,
        "upload_s": round(elapsed, 2),
        "requests": len(requests),
    }


def upload_memory(size: int) -> dict[str, Any]:
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq
    from moto.server import ThreadedMotoServer

    tmp = tempfile.mkdtemp(prefix="cairn-bench-upload-")
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    try:
        path = os.path.join(tmp, "table.parquet")
        rows = size // 8 // 4
        rng = np.random.default_rng(0)
        table = pa.table({f"c{i}": rng.random(rows) for i in range(4)})
        pq.write_table(table, path, compression="none", use_dictionary=False)
        del table
        blob = os.path.getsize(path)
        _common.log(f"wrote a {blob / 1e6:.0f} MB Parquet file")
        _common.create_bucket(endpoint, "cairn-bench-upload")
        out: dict[str, Any] = {"blob_bytes": blob}
        for how in ("cairn", "s3fs"):
            proc = subprocess.run(
                [sys.executable, __file__, "--upload-child", how, path],
                env=_common.aws_env(endpoint),
                capture_output=True,
                text=True,
                timeout=600,
                check=False,
            )
            if proc.returncode != 0:
                out[how] = {"error": proc.stderr[-2000:]}
                continue
            got = json.loads(proc.stdout)
            got["increase_mib"] = round(got["increase_bytes"] / 2**20, 1)
            got["ratio"] = round(got["increase_bytes"] / blob, 3)
            _common.log(f"upload via {how}: {got}")
            out[how] = got
    finally:
        server.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    result = dict(out.get("cairn", {}))
    result["blob_mib"] = round(blob / 2**20, 1)
    result["s3fs_put_file"] = out.get("s3fs")
    return result


# -- main ---------------------------------------------------------------------------------------


def main() -> None:
    p = _common.parser(__doc__.splitlines()[0])
    p.add_argument("--commits", type=int, help="commits per thread (default 25, quick 10)")
    p.add_argument("--rounds", type=int, help="rounds of the throughput runs (default 3, quick 1)")
    p.add_argument("--upload-mb", type=int, help="size of the uploaded blob (default 200)")
    p.add_argument("--upload-child", nargs=2, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.upload_child:
        how, path = args.upload_child
        json.dump(upload_child("s3://cairn-bench-upload/catalog", path, how), sys.stdout)
        return
    commits = args.commits or (10 if args.quick else 25)
    rounds = args.rounds or (1 if args.quick else 3)
    size = (args.upload_mb or (50 if args.quick else 200)) * 10**6

    result: dict[str, Any] = {}
    _common.log("request counts")
    result["requests"] = request_counts()
    for name, entry in result["requests"].items():
        if isinstance(entry, dict):
            _common.log(f"  {name}: {entry['count']}  {entry['requests']}")

    _common.log(f"throughput behind {LATENCY * 1000:.0f} ms of latency")
    moto, port = _common.start_process([sys.executable, "-c", _common.MOTO_CHILD])
    try:
        result["throughput"] = throughput(f"http://127.0.0.1:{port}", commits, rounds)
    finally:
        moto.kill()
        moto.wait()

    _common.log(f"memory of a {size / 1e6:.0f} MB upload")
    result["upload_200mb"] = upload_memory(size)
    result["params"] = {"commits": commits, "rounds": rounds, "upload_bytes": size}
    result["machine"] = _common.machine()
    _common.emit("s3", result)


if __name__ == "__main__":
    main()
