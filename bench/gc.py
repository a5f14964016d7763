"""Goal (i): ``cairn gc`` of a 100,000-object local catalog with nothing to delete.

The catalog is the listing bench's (100,000 markdown versions in 1,000 keys, 100 per key,
built through ``catalog.artifacts.create`` and cached under ``bench/out/``; see
``listing.py``), so the benches share one build. Every object is reachable, so gc must read
every record (the walk from the refs: each key's history, version by version), list every
object with its time, and delete nothing. Each round times, in turns:

* ``cli``: ``cairn gc --catalog PATH --json`` as a whole process (the installed console
  script): start-up, imports, the walk, the listing. **Goal: median <= 5 s.**
* ``in_process``: ``cairn.catalog.gc(Catalog.from_url(path))`` in this process, on a fresh
  ``Catalog``: the same work without start-up (information).

One untimed run first warms the page cache (and would delete any garbage an earlier run
left, so that every timed round has nothing to delete; each round checks it deleted
nothing). 5 rounds (quick: 3, on 10,000 objects).
"""

from __future__ import annotations

import json
import statistics
import time
from pathlib import Path
from typing import Any

import _common
import listing


def run_in_process(path: Path) -> Any:
    from cairn.catalog import Catalog, gc

    return gc(Catalog.from_url(str(path)))


def main() -> None:
    p = _common.parser(__doc__.splitlines()[0])
    listing.catalog_options(p, rounds=5)
    args = p.parse_args()
    path, rounds, result = listing.cached_catalog(args, rounds=5)

    cairn = _common.console_script("cairn")
    argv = [str(cairn), "gc", "--catalog", str(path), "--json"]
    env = _common.clean_env()
    _common.log("warm-up run")
    _, warm = _common.time_process(argv, runs=1, warmup=0, env=env, timeout=600)
    result["warm_up"] = {"objects_deleted": json.loads(warm.stdout)["objects_deleted"]}

    cli: list[float] = []
    inner: list[float] = []
    summary: dict[str, Any] = {}
    for r in range(rounds):
        order = ("cli", "in_process") if r % 2 == 0 else ("in_process", "cli")
        for name in order:
            if name == "cli":
                times, last = _common.time_process(argv, runs=1, warmup=0, env=env, timeout=600)
                cli.append(times[0])
                summary = json.loads(last.stdout)
            else:
                t0 = time.perf_counter()
                report = run_in_process(path)
                inner.append(time.perf_counter() - t0)
                summary = report.summary()
            if summary["objects_deleted"] or summary["reachable"] != summary["objects"]:
                raise RuntimeError(f"expected nothing to delete, got {summary}")
        _common.log(f"round {r + 1}: cli {cli[-1]:.2f} s, in process {inner[-1]:.2f} s")

    result["cli"] = {
        **_common.seconds(cli),
        "command": " ".join(argv[1:]).replace(str(path), "PATH"),
        "objects": summary["objects"],
        "reachable": summary["reachable"],
    }
    result["in_process"] = _common.seconds(inner)
    result["per_object_us"] = round(statistics.median(inner) / max(summary["objects"], 1) * 1e6, 2)
    result["machine"] = _common.machine()
    _common.emit("gc", result)


if __name__ == "__main__":
    main()
