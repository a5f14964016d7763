"""Writers killed with SIGKILL at random moments, on a local disk (issue 6, point 3).

One catalog, 100 writer processes in turn. Each runs this file as a script: it commits in a
tight loop (artifact versions of every kind, a table and a markdown text over 64 KiB among
them, keyless artifacts, progress updates, deletes, materializations recorded directly and
by ``@materialize`` tasks in a ``@flow``, and reads that rewrite the derived indexes) and is
killed with SIGKILL 0 to 50 ms after it says it has started, so the kill lands at random
moments, inside commits too. Before the kill it appends every commit that *returned* to a
log (one ``os.write`` on an ``O_APPEND`` file: in the kernel when the call returns, which is
all a SIGKILL can threaten), and every delete and progress update it is about to *try*.

After each kill:

* the catalog is valid: every object a ref reaches is there and re-hashes to its id (and
  every tenth run, :func:`cairn.catalog.fsck` finds nothing wrong);
* the derived indexes (artifact listing, asset lineage) as the kill left them answer exactly
  as indexes rebuilt from scratch, and the lineage agrees with the asset histories;
* every commit that returned is there: each version readable, in its key's history and kept
  alive by a ref; each materialization in its assets' histories; each finished flow run
  recorded; each deleted version gone; each progress artifact at its last value (or at the
  value of an update that was in flight);
* and a last writer, not killed, commits to every key and asset (taking over whatever lock
  files the kills left) and ends normally: no stale lock wedges the next writer.

The run is reproducible in what each writer does (a fixed seed); where the kills land depends
on the machine, and every property above holds wherever they land. About a minute on two
cores. No pytest import here: the children run this file, and start faster without it.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

RUNS = 100
SEED = 6
MAX_DELAY = 0.050
"""The longest a writer runs after saying it has started, in seconds."""

KEYS = {
    "markdown": ["notes", "summary"],
    "big": ["big-report"],
    "table": ["scores"],
    "link": ["docs-link"],
    "image": ["chart"],
    "custom": ["custom"],
    "progress": ["load-progress", "train-progress"],
}
ALL_KEYS = sorted({k for keys in KEYS.values() for k in keys} | {"task-output"})
ASSETS = [
    "s3://crash/raw.csv",
    "s3://crash/clean.csv",
    "s3://crash/model.pkl",
    "file:///crash/report.md",
]
EXTERNAL = "s3://lake/source"


# -- the writer (a child process) -----------------------------------------------------------


def read_log(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Return the log's complete lines (a line cut short by a kill is not a record)."""
    try:
        text = Path(path).read_text()
    except FileNotFoundError:
        return []
    lines = text.split("\n")
    return [json.loads(line) for line in lines[:-1] if line]


def writer(url: str, log_path: str, seed: int, final: bool) -> None:
    """Commit in a loop until killed; with ``final``, touch every key and asset, then end."""
    import cairn
    from cairn.artifacts import (
        Artifact,
        create_image_artifact,
        create_link_artifact,
        create_markdown_artifact,
        create_progress_artifact,
        create_table_artifact,
        update_progress_artifact,
    )
    from cairn.assets import materialize
    from cairn.catalog import Catalog

    rng = random.Random(seed)
    fd = os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def note(**entry: Any) -> None:
        os.write(fd, (json.dumps(entry, sort_keys=True) + "\n").encode())

    # What earlier writers left: versions to delete, progress artifacts to move on.
    live: dict[str, str] = {}  # version id -> kind ("keyed" or "keyless")
    progress: dict[str, float] = {}
    for entry in read_log(log_path):
        if entry["op"] in ("version", "keyless"):
            live[entry["id"]] = entry["op"]
            if entry.get("value") is not None:
                progress[entry["id"]] = entry["value"]
        elif entry["op"] in ("progress-try", "progress"):
            progress[entry["id"]] = max(progress.get(entry["id"], 0.0), entry["value"])
        elif entry["op"] == "delete-try":
            live.pop(entry["id"], None)
            progress.pop(entry["id"], None)

    indexes = final or rng.random() < 0.3
    cat = Catalog.from_url(url)
    step = 0

    @materialize(ASSETS[0])
    def build(tag: str) -> str:
        aid = create_markdown_artifact(f"built {tag}", key="task-output")
        note(op="version", id=aid, key="task-output")
        return cairn.runtime.task_run.id

    @materialize(ASSETS[3], by="pandoc")
    def publish(upstream_run: str) -> str:
        return cairn.runtime.task_run.id

    @cairn.flow
    def pipeline(keys: list[str], tag: str) -> tuple[str, list[str]]:
        first = build.with_options(assets=keys)(tag)
        note(op="task-mat", task_run=first, keys=keys)
        second = publish(first)  # lineage inferred from the argument
        note(op="task-mat", task_run=second, keys=[ASSETS[3]])
        keyless = [create_markdown_artifact(f"flow note {tag}")]
        return cairn.runtime.flow_run.id, keyless

    def version(kind: str, key: str, make: Any, value: float | None = None) -> None:
        aid = make(key)
        note(op="version", id=aid, key=key, kind=kind, value=value)
        live[aid] = "keyed"
        if value is not None:
            progress[aid] = value

    def table(n: int) -> list[dict[str, Any]]:
        return [{"i": i, "x": rng.random(), "nan": float("nan"), "s": "v" * 40} for i in range(n)]

    def one(op: str) -> None:
        nonlocal step
        step += 1
        tag = f"{seed}-{step}"
        if op == "markdown":
            version(op, rng.choice(KEYS[op]), lambda k: create_markdown_artifact(f"# {tag}", key=k))
        elif op == "big":
            text = f"# {tag}\n" + "z" * (64 * 1024 + rng.randrange(1, 8000))
            version(op, "big-report", lambda k: create_markdown_artifact(text, key=k))
        elif op == "table":
            rows = table(rng.choice([3, 30, 900]))  # 900 rows: over 64 KiB, a blob
            version(op, "scores", lambda k: create_table_artifact(rows, key=k))
        elif op == "link":
            version(op, "docs-link", lambda k: create_link_artifact(f"https://x.org/{tag}", key=k))
        elif op == "image":
            version(op, "chart", lambda k: create_image_artifact(f"https://x.org/{tag}.png", key=k))
        elif op == "custom":
            data = {"tag": tag, "n": step}
            version(op, "custom", lambda k: Artifact(type="custom", key=k, data=data).create().id)
        elif op == "arrow" and indexes:
            import pyarrow as pa

            arrow = pa.table({"i": list(range(50)), "tag": [tag] * 50})
            version(op, "scores", lambda k: cat.artifacts.create("table", key=k, table=arrow))
        elif op == "keyless":
            aid = create_markdown_artifact(f"keyless {tag}")
            note(op="keyless", id=aid)
            live[aid] = "keyless"
        elif op == "progress":
            value = float(rng.randrange(0, 50))
            key = rng.choice(KEYS[op])
            version(op, key, lambda k: create_progress_artifact(value, key=k), value)
        elif op == "update" and progress:
            aid = rng.choice(sorted(progress))
            value = progress[aid] + 1.0  # distinct, growing values: the last one is known
            note(op="progress-try", id=aid, value=value)
            update_progress_artifact(aid, value)
            note(op="progress", id=aid, value=value)
            progress[aid] = value
        elif op == "delete" and len(live) > 20:
            aid = rng.choice(sorted(live))
            note(op="delete-try", id=aid)
            live.pop(aid)
            progress.pop(aid, None)
            cat.artifacts.delete(aid)
            note(op="deleted", id=aid)
        elif op == "record":
            keys = rng.sample(ASSETS, rng.choice([1, 1, 2]))
            upstream = [*rng.sample([a for a in ASSETS if a not in keys], 1), EXTERNAL]
            status = rng.choice(["succeeded", "succeeded", "failed"])
            mid = cat.assets.record(keys, status=status, upstream=upstream, by="crash")
            note(op="mat", id=mid, keys=keys)
        elif op == "flow":
            keys = rng.sample(ASSETS[:3], rng.choice([1, 2]))
            run_id, keyless = pipeline(keys, tag)
            note(op="flow", id=run_id)
            for aid in keyless:  # kept alive by the run's final record, now written
                note(op="keyless", id=aid)
                live[aid] = "keyless"
        elif op == "list" and indexes:
            cat.artifacts.list_latest()
        elif op == "lineage" and indexes:
            if rng.random() < 0.5:
                cat.lineage.history(rng.choice(ASSETS))  # the rows (Parquet)
            else:
                cat.lineage.assets()  # the maps

    ops = ["markdown", "markdown", "big", "table", "link", "image", "custom", "arrow"]
    ops += ["keyless", "progress", "update", "update", "delete", "delete", "delete"]
    ops += ["record", "record", "record", "flow", "list", "lineage"]
    if indexes:
        # Bring the derived indexes up to date first, so that the loop's reads only add to
        # them (cheap, and often cut short by the kill) instead of building them whole.
        cat.artifacts.list_latest()
        cat.lineage.update()
    with cairn.use_catalog(cat):
        sys.stdout.write("ready\n")
        sys.stdout.flush()
        if final:
            for kind, keys in KEYS.items():
                for key in keys:
                    if kind == "progress":
                        version(kind, key, lambda k: create_progress_artifact(1.0, key=k), 1.0)
                    else:
                        version(kind, key, lambda k: create_markdown_artifact("final", key=k))
            for aid in sorted(progress):
                value = progress[aid] + 1.0
                note(op="progress-try", id=aid, value=value)
                update_progress_artifact(aid, value)
                note(op="progress", id=aid, value=value)
            for asset in ASSETS:
                mid = cat.assets.record([asset], status="succeeded", by="final")
                note(op="mat", id=mid, keys=[asset])
            one("flow")
            cat.artifacts.list_latest()
            cat.lineage.update()
            return
        while True:
            one(rng.choice(ops))


# -- the checks (in the test process) -----------------------------------------------------


class Verified:
    """The objects already re-hashed, and the records they hold.

    An object never changes (a writer never rewrites one), so the check after each kill
    reads only the new ones; every tenth run, everything is read again.
    """

    def __init__(self) -> None:
        self.records: dict[str, Any] = {}
        self.blobs: set[str] = set()


def check_valid(cat: Any, seen: Verified) -> dict[str, str]:
    """Assert every object the refs reach is present and intact; return them with kinds."""
    from cairn.catalog._reach import BLOB, reachable

    refs = list(cat.refs.iter_refs(""))  # a ref holding anything but an id raises here

    def read(oid: str) -> Any:
        rec = seen.records.get(oid)
        if rec is None:
            rec = seen.records[oid] = cat.get_record(oid)  # re-hashed, then decoded
        return rec

    reach = reachable(cat, refs, read)
    for oid, kind in reach.items():
        if kind == BLOB and oid not in seen.blobs:
            cat.objects.get(oid)  # re-hashed
            seen.blobs.add(oid)
    return reach


def view(url: str, where: Path, keep_index: bool) -> Any:
    """Open a copy of the catalog at ``url`` that shares its objects and refs (read-only
    links), with a copy of its ``index/`` or none: a place to compare index answers."""
    from cairn.catalog import Catalog

    root = Path(url)
    shutil.rmtree(where, ignore_errors=True)
    where.mkdir(parents=True)
    shutil.copy(root / "CAIRN", where / "CAIRN")
    for part in ("objects", "refs"):
        if (root / part).exists():
            (where / part).symlink_to(root / part)
    if keep_index and (root / "index").exists():
        shutil.copytree(root / "index", where / "index")
    return Catalog.from_url(str(where))


def index_answers(cat: Any) -> dict[str, Any]:
    lineage = cat.lineage
    graph = lineage.graph()
    return {
        "latest": [(a.key, a.id, a.data, a.updated) for a in cat.artifacts.list_latest()],
        "graph": graph,
        "assets": lineage.assets(),
        "history": {key: lineage.history(key) for key in graph.nodes},
    }


def check_indexes(url: str, scratch: Path) -> None:
    """The indexes as the kill left them answer as rebuilt ones, and as the records do."""
    left = index_answers(view(url, scratch / "left", keep_index=True))
    rebuilt_cat = view(url, scratch / "rebuilt", keep_index=False)
    rebuilt = index_answers(rebuilt_cat)
    assert left == rebuilt
    for key in left["graph"].nodes:
        from_records = [mid for mid, _ in rebuilt_cat.assets.history(key)]
        assert [e.id for e in left["history"][key]] == from_records, key


def check_durable(cat: Any, log: list[dict[str, Any]], reach: dict[str, str]) -> Counter[str]:
    """Every commit the log says returned is in the catalog, as the log says it should be."""
    from cairn.errors import ArtifactNotFoundError

    tried: set[str] = {e["id"] for e in log if e["op"] == "delete-try"}
    histories: dict[str, set[str]] = {}
    asset_histories: dict[str, list[Any]] = {}
    values: dict[str, list[float]] = {}  # progress: the last value set, then any in flight
    counts: Counter[str] = Counter()

    def history(key: str) -> set[str]:
        if key not in histories:
            histories[key] = {a.id for a in cat.artifacts.history(key)}
        return histories[key]

    def assets(key: str) -> list[Any]:
        if key not in asset_histories:
            asset_histories[key] = cat.assets.history(key)
        return asset_histories[key]

    for e in log:
        op = e["op"]
        counts[op] += 1
        if op in ("version", "keyless") and e["id"] not in tried:
            got = cat.artifacts.get(e["id"])
            assert got.key == e.get("key"), e
            assert e["id"] in reach, f"{e} is not kept alive by any ref"
            if op == "version":
                assert e["id"] in history(e["key"]), e
            if e.get("value") is not None:
                values[e["id"]] = [e["value"]]
        elif op == "deleted":
            try:
                cat.artifacts.get(e["id"])
            except ArtifactNotFoundError:
                pass
            else:
                raise AssertionError(f"deleted version {e['id']} is still live")
        elif op == "progress-try" and e["id"] in values:
            values[e["id"]].append(e["value"])
        elif op == "progress" and e["id"] in values:
            values[e["id"]] = [e["value"]]
        elif op == "mat":
            for key in e["keys"]:
                assert e["id"] in [mid for mid, _ in assets(key)], e
        elif op == "task-mat":
            for key in e["keys"]:
                runs = [m.task_run_id for _, m in assets(key)]
                assert e["task_run"] in runs, e
        elif op == "flow":
            assert cat.runs.get(e["id"]).state == "Completed", e
    for e in log:
        if e["op"] == "deleted":
            assert not any(e["id"] in ids for ids in histories.values()), e
    for aid, allowed in values.items():
        if aid not in tried:
            assert cat.artifacts.get(aid).data in allowed, (aid, allowed)
    return counts


def leftovers(root: Path) -> set[str]:
    """Lock files and temporary files: the marks of a write cut short."""
    out = set()
    for folder in ("refs", "objects"):
        for path in (root / folder).rglob("*") if (root / folder).exists() else ():
            if path.name.endswith(".lock") or path.name.startswith(".tmp-"):
                out.add(str(path.relative_to(root)))
    return out


def test_writers_killed_at_random_moments_lose_nothing(tmp_path: Path) -> None:
    from cairn.catalog import Catalog, asset_ref, fsck
    from conftest import clean_environment

    rng = random.Random(SEED)
    url, log_path = str(tmp_path / "cat"), str(tmp_path / "log.jsonl")
    # A killed writer may leave the temporary Parquet file of a table it was storing.
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    env = clean_environment({"TMPDIR": str(scratch)})
    seen = Verified()
    marks: set[str] = set()
    cut_short = 0  # kills that left a lock file, a temporary file or an update in flight
    for run in range(RUNS + 1):
        final = run == RUNS
        proc = subprocess.Popen(
            [sys.executable, __file__, url, log_path, str(SEED * 1000 + run), str(int(final))],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        assert proc.stdout is not None and proc.stderr is not None
        ready = proc.stdout.readline()
        if final:
            _, err = proc.communicate(timeout=300)  # a guard against a wedge, not a measure
            assert proc.returncode == 0, err.decode()
        else:
            time.sleep(rng.uniform(0, MAX_DELAY))
            ended = proc.poll()
            proc.send_signal(signal.SIGKILL)
            _, err = proc.communicate()
            # A writer never stops on its own: an error in it fails the test.
            assert ready == b"ready\n" and ended is None, (ready, ended, err.decode())
        if not Catalog.from_url(url).exists():
            assert not read_log(log_path)
            continue
        new_marks = leftovers(Path(url)) - marks
        marks |= new_marks
        log = read_log(log_path)
        in_flight = bool(log) and log[-1]["op"].endswith("-try")
        cut_short += bool(new_marks) or in_flight
        cat = Catalog.from_url(url)
        if run % 10 == 9 or final:
            # Every object, reachable or not, the kind of every link, and the lineage
            # index's files against the records for the refs they were built from.
            report = fsck(cat)
            assert report.ok and not report.warnings, report.to_dict()["problems"]
            seen = Verified()  # below: re-hash every reachable object, not only the new ones
        reach = check_valid(cat, seen)
        counts = check_durable(cat, log, reach)
        check_indexes(url, tmp_path / "views")

    # The last writer committed to every ref the others wrote: any lock file they left on
    # those refs was taken over and is gone.
    touched = {f"artifacts/{k}" for k in ALL_KEYS} | {asset_ref(a) for a in ASSETS}
    locks = leftovers(Path(url))
    assert not {f"refs/{name}.lock" for name in touched} & locks, locks
    # The test is only as good as its kills: some landed inside a write (about a quarter
    # do), and the writers did some of everything (how much depends on the machine).
    assert cut_short >= RUNS // 20, (cut_short, sorted(marks))
    for op in ("version", "keyless", "progress", "deleted", "mat", "task-mat", "flow"):
        assert counts[op] >= 5, counts


if __name__ == "__main__":
    writer(sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4] == "1")
