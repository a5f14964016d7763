"""Goal (runtime): the engine's overhead per ``@materialize`` task and per flow.

Measured in one process, into a local catalog in a temp folder (``--dir`` to choose):

* ``materialize_chain``: a flow of N (100) chained ``@materialize`` tasks, each taking the
  previous one's result and materializing its own asset, so each run infers one upstream
  asset and commits one materialization. ``per_task_ms`` = (flow time - time of calling the
  same N plain functions) / N, the issue's definition, so it carries 1/N of the flow's fixed
  overhead; ``net_per_task_ms`` takes the fixed overhead out (information).
* ``task_chain``: the same chain with plain ``@task`` (no assets), for comparison.
* ``flow``: a flow that calls one plain function, minus calling the function: the fixed
  overhead of a flow run (two run records: Running, then the final one).
* ``floor`` (information): the least a materialization commit costs on this file system in
  cairn's format, written here without cairn: read the asset's ref and its previous history
  node, encode and hash one small record (a single-asset materialization is its own history
  node), write it as an object file (on Linux an unnamed ``O_TMPFILE`` file and ``link``, as
  cairn does; elsewhere temp file, ``link``, ``unlink``), and move the ref (lock file,
  ``flock``, read, write, ``rename``). ``materialize_chain.over_floor_ms`` is
  ``per_task_ms`` minus this: what cairn's own Python costs per task.

The same rounds then run in ``/dev/shm`` (tmpfs, information; ``--no-tmpfs`` skips it), where
file system calls are cheap: the per-task figure there is close to cairn's own cost.

Rounds take turns (plain calls, the two chains, a batch of small flows), each timed run after
a ``gc.collect()``; figures are medians over the rounds. Every flow run writes into the same
catalog as the previous rounds, so asset histories and the run list grow as they would in
use. One extra chain run is profiled with cProfile (top lines by tottime in ``profile``, on
disk and on tmpfs; the whole listing goes to stderr).

Goals: ``per_task_ms`` <= 0.5 and ``flow.fixed_ms`` <= 5.
"""

from __future__ import annotations

import cProfile
import datetime as dt
import fcntl
import gc
import hashlib
import io
import os
import pstats
import secrets
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import _common
import msgspec

TMPFS = "/dev/shm"
TMPFILE = getattr(os, "O_TMPFILE", 0) if os.path.isdir("/proc/self/fd") else 0


def step(data: dict[str, Any]) -> dict[str, Any]:
    """One link of the chain: a small new dict, so the next task can trace where it came from."""
    return {"step": data["step"] + 1, "rows": data["rows"]}


def first_input() -> dict[str, Any]:
    return {"step": 0, "rows": [f"row-{i}" for i in range(3)]}


def asset_key(i: int) -> str:
    return f"s3://bench/chain/step-{i:03d}.csv"


class FloorRecord(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True, tag_field="kind"):
    """A record about the size of a materialization or a history step (no cairn)."""

    created: dt.datetime
    key: str
    upstream: list[str] = []
    parent: str | None = None
    task_run_id: str | None = None


def floor_chain(root: str, n: int) -> Callable[[], None]:
    """Return a function committing ``n`` materializations as cheaply as cairn's format allows."""
    encoder = msgspec.json.Encoder(order="sorted")
    objects, refs = f"{root}/objects", f"{root}/refs/assets"
    os.makedirs(refs, exist_ok=True)
    made: set[str] = set()

    def put(data: bytes) -> str:
        oid = hashlib.sha256(data).hexdigest()
        folder = f"{objects}/{oid[:2]}"
        if folder not in made:
            os.makedirs(folder, exist_ok=True)
            made.add(folder)
        if TMPFILE:  # as cairn does on Linux: an unnamed file, linked into place
            fd = os.open(folder, os.O_WRONLY | TMPFILE, 0o444)
            try:
                os.write(fd, data)
                os.link(f"/proc/self/fd/{fd}", f"{folder}/{oid[2:]}", src_dir_fd=fd)
            except FileExistsError:
                pass
            finally:
                os.close(fd)
            return oid
        tmp = f"{folder}/.tmp-{secrets.token_hex(8)}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o444)
        try:
            os.write(fd, data)
        finally:
            os.close(fd)
        try:
            os.link(tmp, f"{folder}/{oid[2:]}")
        except FileExistsError:
            pass
        os.unlink(tmp)
        return oid

    def read(path: str) -> bytes | None:
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            return None
        try:
            return os.read(fd, 1 << 16)
        finally:
            os.close(fd)

    def commit(i: int, run_id: str) -> None:
        key = asset_key(i)
        ref = f"{refs}/{hashlib.sha256(key.encode()).hexdigest()}"
        head = read(ref)
        if head is not None:
            oid = head.strip().decode()
            read(f"{objects}/{oid[:2]}/{oid[2:]}")
        new = put(
            encoder.encode(
                FloorRecord(
                    created=dt.datetime.now(dt.timezone.utc),
                    key=key,
                    upstream=[asset_key(i - 1)],
                    task_run_id=run_id,
                    parent=head.strip().decode() if head else None,
                )
            )
        )
        lock = ref + ".lock"
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            os.stat(lock)
            os.fstat(fd)
            read(ref)
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{new}\n".encode(), 0)
            os.rename(lock, ref)
        finally:
            os.close(fd)

    def run() -> None:
        run_id = secrets.token_hex(16)
        for i in range(n):
            commit(i, run_id)

    return run


def build(n: int) -> dict[str, Callable[[], Any]]:
    """The callables timed: plain calls, the two chained flows, a one-call flow, one call."""
    import cairn
    from cairn.assets import materialize

    plain_steps = [step] * n
    materializing = [materialize(asset_key(i))(step) for i in range(n)]
    tasks = [cairn.task(name=f"step-{i:03d}")(step) for i in range(n)]

    def plain_chain() -> Any:
        data = first_input()
        for fn in plain_steps:
            data = fn(data)
        return data

    @cairn.flow
    def materialize_chain() -> Any:
        data = first_input()
        for t in materializing:
            data = t(data)
        return data

    @cairn.flow
    def task_chain() -> Any:
        data = first_input()
        for t in tasks:
            data = t(data)
        return data

    @cairn.flow
    def one_call() -> Any:
        return step(first_input())

    def plain_one_call() -> Any:
        return step(first_input())

    return {
        "plain_chain": plain_chain,
        "materialize_chain": materialize_chain,
        "task_chain": task_chain,
        "one_call_flow": one_call,
        "one_call": plain_one_call,
    }


def timed(fn: Callable[[], Any], repeat: int = 1) -> float:
    """Seconds per call of ``fn``, over ``repeat`` calls after a collection."""
    gc.collect()
    t0 = time.perf_counter()
    for _ in range(repeat):
        fn()
    return (time.perf_counter() - t0) / repeat


def check_lineage(catalog: Any, n: int) -> None:
    """The chain really recorded its lineage: each step's upstream is the step before."""
    for i in (1, n // 2, n - 1):
        found = catalog.assets.latest(asset_key(i))
        assert found is not None, asset_key(i)
        assert found[1].upstream == [asset_key(i - 1)], (i, found[1].upstream)
        assert found[1].status == "succeeded"


def profile(fn: Callable[[], Any], top: int) -> list[str]:
    profiler = cProfile.Profile()
    profiler.enable()
    fn()
    profiler.disable()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out).sort_stats("tottime")
    stats.print_stats(top)
    print(out.getvalue(), file=sys.stderr)
    lines = out.getvalue().splitlines()
    start = next(i for i, line in enumerate(lines) if line.lstrip().startswith("ncalls"))
    return [line.rstrip() for line in lines[start : start + top + 1] if line.strip()]


def measure(
    parent: str, n: int, rounds: int, flows: int, label: str, top: int
) -> tuple[dict[str, list[float]], list[str]]:
    """Time every callable ``rounds`` times in a new catalog under ``parent``; profile one chain."""
    import cairn
    from cairn.catalog import Catalog

    base = Path(tempfile.mkdtemp(prefix="cairn-bench-runtime-", dir=parent))
    try:
        catalog = Catalog.from_url(str(base / "catalog"))
        with cairn.use_catalog(catalog):
            fns = build(n)
            fns["floor"] = floor_chain(str(base / "floor"), n)
            for fn in fns.values():  # warm-up: imports, lazy loads, the first writes
                fn()
            check_lineage(catalog, n)
            times: dict[str, list[float]] = {name: [] for name in fns}
            turns = ["materialize_chain", "task_chain", "one_call_flow", "floor"]
            for r in range(rounds):
                times["plain_chain"].append(timed(fns["plain_chain"], repeat=100))
                times["one_call"].append(timed(fns["one_call"], repeat=1000))
                k = r % len(turns)
                for name in turns[k:] + turns[:k]:  # the order rotates, round by round
                    times[name].append(timed(fns[name], repeat=flows if "one" in name else 1))
                _common.log(
                    f"runtime ({label}) round {r + 1}/{rounds}: "
                    + ", ".join(f"{k} {v[-1] * 1e3:.3f} ms" for k, v in times.items())
                )
            check_lineage(catalog, n)
            lines = profile(fns["materialize_chain"], top) if top else []
    finally:
        shutil.rmtree(base, ignore_errors=True)
    return times, lines


def figures(times: dict[str, list[float]], n: int) -> dict[str, Any]:
    med = {k: statistics.median(v) for k, v in times.items()}
    fixed = [f - c for f, c in zip(times["one_call_flow"], times["one_call"], strict=True)]
    fixed_med = statistics.median(fixed)
    floor_med = med["floor"] / n

    def chain(name: str) -> dict[str, Any]:
        per_task = [(t - p) / n for t, p in zip(times[name], times["plain_chain"], strict=True)]
        net = [
            (t - p - fixed_med) / n for t, p in zip(times[name], times["plain_chain"], strict=True)
        ]
        return {
            "per_task_ms": round(statistics.median(per_task) * 1e3, 4),
            "net_per_task_ms": round(statistics.median(net) * 1e3, 4),
            "flow_ms": round(med[name] * 1e3, 3),
            "runs_per_task_ms": [round(v * 1e3, 4) for v in per_task],
        }

    out: dict[str, Any] = {
        "materialize_chain": chain("materialize_chain"),
        "task_chain": chain("task_chain"),
        "flow": {
            "fixed_ms": round(fixed_med * 1e3, 4),
            "one_call_flow_ms": round(med["one_call_flow"] * 1e3, 4),
            "one_call_us": round(med["one_call"] * 1e6, 3),
            "runs_fixed_ms": [round(v * 1e3, 4) for v in fixed],
        },
        "floor": {
            "per_materialization_ms": round(floor_med * 1e3, 4),
            "runs_ms": [round(v / n * 1e3, 4) for v in times["floor"]],
        },
        "plain_chain_us": round(med["plain_chain"] * 1e6, 3),
    }
    m = out["materialize_chain"]
    m["over_floor_ms"] = round(m["per_task_ms"] - out["floor"]["per_materialization_ms"], 4)
    return out


def main() -> None:
    p = _common.parser(__doc__.splitlines()[0])
    p.add_argument("--tasks", type=int, default=100, help="tasks in each chain (default 100)")
    p.add_argument("--rounds", type=int, help="timed rounds (default 15, quick 5)")
    p.add_argument("--flows", type=int, help="one-call flows per round (default 20, quick 10)")
    p.add_argument("--dir", help="where the temp catalog goes (default: the system temp dir)")
    p.add_argument("--top", type=int, default=12, help="profile lines to keep (default 12)")
    p.add_argument("--no-tmpfs", action="store_true", help="skip the rounds in /dev/shm")
    args = p.parse_args()
    n = args.tasks
    rounds = args.rounds or (5 if args.quick else 15)
    flows = args.flows or (10 if args.quick else 20)
    parent = args.dir or tempfile.gettempdir()

    times, top = measure(parent, n, rounds, flows, "disk", args.top)
    result: dict[str, Any] = {
        "params": {
            "tasks": n,
            "rounds": rounds,
            "one_call_flows_per_round": flows,
            "dir": parent,
            "quick": args.quick,
        },
        **figures(times, n),
    }
    if not args.no_tmpfs and os.path.isdir(TMPFS) and os.access(TMPFS, os.W_OK):
        tmpfs_times, tmpfs_top = measure(TMPFS, n, min(rounds, 5), flows, "tmpfs", args.top)
        tmpfs = figures(tmpfs_times, n)
        result["tmpfs"] = {
            "materialize_per_task_ms": tmpfs["materialize_chain"]["per_task_ms"],
            "materialize_over_floor_ms": tmpfs["materialize_chain"]["over_floor_ms"],
            "task_per_task_ms": tmpfs["task_chain"]["per_task_ms"],
            "flow_fixed_ms": tmpfs["flow"]["fixed_ms"],
            "floor_per_materialization_ms": tmpfs["floor"]["per_materialization_ms"],
        }
    result["profile"] = {"run": f"one materialize_chain flow of {n} tasks", "top_by_tottime": top}
    if "tmpfs" in result:
        result["profile"]["tmpfs_top_by_tottime"] = tmpfs_top
    result["machine"] = _common.machine()
    result["cairn"] = _common.cairn_version()
    _common.emit("runtime", result)


if __name__ == "__main__":
    main()
