"""Goal (h): ``fsck`` of a 100,000-object local catalog, against re-hashing its files in a loop.

The catalog is the listing bench's (100,000 markdown versions in 1,000 keys, 100 per key,
built through ``catalog.artifacts.create`` and cached under ``bench/out/``; see
``listing.py``), so the two benches share one build. Each round times, in this process and
in turns (the order alternating round by round):

* ``loop``: the least a re-hash must do, written without cairn: list the fan-out folders
  with ``os.scandir`` and ``hashlib.sha256(open(p, "rb").read())`` every object file;
* ``fsck``: ``cairn.catalog.fsck(Catalog.from_url(path))`` on a fresh ``Catalog``: list the
  refs and objects, read and re-hash every object, decode the records, walk every ref.

One untimed pass reads every file first, so both run on a warm page cache; 7 rounds (quick:
3, on 10,000 objects). The goal is on the ratio of the medians, ``loop / fsck`` (fsck at
least half as fast as the loop). ``hash_only`` (the loop over paths listed beforehand,
untimed listing) is information: the pure hashing floor.
"""

from __future__ import annotations

import hashlib
import os
import statistics
import time
from pathlib import Path
from typing import Any

import _common
import listing


def hash_loop(objects: str) -> int:
    """Re-hash every object file the plain way; return how many there were."""
    count = 0
    for fanout in os.scandir(objects):
        if fanout.is_dir():
            for entry in os.scandir(fanout.path):
                hashlib.sha256(open(entry.path, "rb").read()).hexdigest()  # noqa: SIM115
                count += 1
    return count


def hash_paths(paths: list[str]) -> None:
    for p in paths:
        hashlib.sha256(open(p, "rb").read()).hexdigest()  # noqa: SIM115


def run_fsck(path: Path) -> Any:
    from cairn.catalog import Catalog, fsck

    return fsck(Catalog.from_url(str(path)))


def main() -> None:
    p = _common.parser(__doc__.splitlines()[0])
    listing.catalog_options(p, rounds=7)
    args = p.parse_args()
    path, rounds, result = listing.cached_catalog(args, rounds=7)

    objects = str(path / "objects")
    paths = [e.path for f in os.scandir(objects) if f.is_dir() for e in os.scandir(f.path)]
    _common.log(f"warming the page cache: {len(paths):,} object files")
    hash_paths(paths)
    report = run_fsck(path)  # also a warm-up (imports, first-call costs)
    if not report.ok or report.objects != len(paths):
        raise SystemExit(f"fsck did not check the catalog cleanly: {report.summary()}")

    loop_s: list[float] = []
    fsck_s: list[float] = []
    hash_only_s: list[float] = []
    for r in range(rounds):
        order = ("loop", "fsck") if r % 2 == 0 else ("fsck", "loop")
        for name in order:
            t0 = time.perf_counter()
            if name == "loop":
                assert hash_loop(objects) == len(paths)
                loop_s.append(time.perf_counter() - t0)
            else:
                report = run_fsck(path)
                fsck_s.append(time.perf_counter() - t0)
                assert report.ok
        t0 = time.perf_counter()
        hash_paths(paths)
        hash_only_s.append(time.perf_counter() - t0)
        _common.log(
            f"round {r + 1}: loop {loop_s[-1]:.3f} s, fsck {fsck_s[-1]:.3f} s, "
            f"ratio {loop_s[-1] / fsck_s[-1]:.2f}"
        )

    n = len(paths)
    med_loop, med_fsck = statistics.median(loop_s), statistics.median(fsck_s)
    med_hash = statistics.median(hash_only_s)
    result["loop"] = {**_common.seconds(loop_s), "objects_per_s": round(n / med_loop)}
    result["fsck"] = {
        **_common.seconds(fsck_s),
        "objects_per_s": round(n / med_fsck),
        "objects": report.objects,
        "bytes": report.bytes,
        "refs": report.refs,
        "reachable": report.reachable,
    }
    result["hash_only"] = {**_common.seconds(hash_only_s), "objects_per_s": round(n / med_hash)}
    by_round = [a / b for a, b in zip(loop_s, fsck_s, strict=True)]
    result["ratio"] = {
        "loop_over_fsck": round(med_loop / med_fsck, 3),
        "hash_only_over_fsck": round(med_hash / med_fsck, 3),
        "median_by_round": round(statistics.median(by_round), 3),
        "by_round": [round(r, 3) for r in by_round],
    }
    result["machine"] = _common.machine()
    _common.emit("fsck", result)


if __name__ == "__main__":
    main()
