"""Goal (a): keyed markdown creates per second, against the raw floor of one commit.

Ways to commit N versions of one key, each into a fresh local folder of its own, timed in
the same process, taking turns every few hundred creates, round after round:

* ``api``: ``cairn.artifacts.create_markdown_artifact(md, key=...)`` inside
  ``cairn.use_catalog(path)`` (entered once per turn), outside any flow: the public,
  Prefect-compatible API;
* ``catalog``: ``catalog.artifacts.create("markdown", md, key=...)``;
* ``floor``: a plain loop written here, without cairn, doing the least a commit must do:
  encode a small record (msgspec, sorted keys), SHA-256 it, write it to a temp file in its
  fan-out folder, ``os.link`` it to its name, unlink the temp, then move one ref file: create
  ``REF.lock`` exclusively, write the id, ``os.rename`` it over ``REF``;
* ``floor_cas`` (information only): the floor plus reading the ref back under the lock, which
  a compare-and-swap needs to check the old value.

The goal compares medians within this one run: api creates/s / floor creates/s >= 0.5, on
disk (the system temp dir, or ``--dir``). The same rounds (at most 3) then run in ``/dev/shm``
(``tmpfs``, information only): in memory, file system calls are cheap, so that ratio shows
what cairn's own Python costs, which a slow disk hides.
"""

from __future__ import annotations

import cProfile
import datetime as dt
import gc
import hashlib
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

KEY = "bench-report"
TMPFS = "/dev/shm"
UTC = dt.timezone.utc


class FloorRecord(
    msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True, tag_field="kind", tag="artifact"
):
    """The fields of cairn's ArtifactVersion, defined here: the floor uses no cairn."""

    type: str
    created: dt.datetime
    key: str | None = None
    parent: str | None = None
    data: Any = None
    blob: str | None = None
    description: str | None = None
    metadata: dict[str, str] | None = None
    flow_run_id: str | None = None
    task_run_id: str | None = None
    nonce: str = ""


def payloads(n: int) -> list[str]:
    return [
        f"# Nightly report {i}\n\nRows processed: {i * 7}. Failures: 0.\n\n| a | b |\n|---|---|\n"
        f"| {i} | {i * 2} |\n"
        for i in range(n)
    ]


Writer = Callable[[list[str]], None]
"""Commits each text as a new version of KEY, continuing where its last call stopped."""


def floor_writer(root: str, *, read_back: bool = False) -> Writer:
    encoder = msgspec.json.Encoder(order="sorted")
    objects = os.path.join(root, "objects")
    refs = os.path.join(root, "refs", "artifacts")
    os.makedirs(objects, exist_ok=True)
    os.makedirs(refs, exist_ok=True)
    ref_path = os.path.join(refs, KEY)
    lock_path = ref_path + ".lock"
    made: set[str] = set()
    head: list[str | None] = [None]
    wflags = os.O_WRONLY | os.O_CREAT | os.O_EXCL

    def write(texts: list[str]) -> None:
        parent = head[0]
        for text in texts:
            record = FloorRecord(
                type="markdown",
                created=dt.datetime.now(UTC),
                key=KEY,
                parent=parent,
                data=text,
                nonce=secrets.token_hex(8),
            )
            data = encoder.encode(record)
            oid = hashlib.sha256(data).hexdigest()
            folder = os.path.join(objects, oid[:2])
            if folder not in made:
                os.makedirs(folder, exist_ok=True)
                made.add(folder)
            tmp = os.path.join(folder, ".tmp-" + secrets.token_hex(8))
            fd = os.open(tmp, wflags, 0o444)
            try:
                os.write(fd, data)
            finally:
                os.close(fd)
            os.link(tmp, os.path.join(folder, oid[2:]))
            os.unlink(tmp)
            fd = os.open(lock_path, wflags, 0o644)
            try:
                if read_back:
                    try:
                        with open(ref_path, "rb") as f:
                            current: str | None = f.read().strip().decode()
                    except FileNotFoundError:
                        current = None
                    if current != parent:
                        raise RuntimeError("the ref moved under the floor loop")
                os.write(fd, (oid + "\n").encode())
            finally:
                os.close(fd)
            os.rename(lock_path, ref_path)
            parent = oid
        head[0] = parent

    return write


def floor_cas_writer(root: str) -> Writer:
    return floor_writer(root, read_back=True)


def api_writer(root: str) -> Writer:
    import cairn
    from cairn.artifacts import create_markdown_artifact

    def write(texts: list[str]) -> None:
        with cairn.use_catalog(root):
            for text in texts:
                create_markdown_artifact(text, key=KEY)

    return write


def catalog_writer(root: str) -> Writer:
    from cairn.catalog import Catalog

    catalog = Catalog.from_url(root)

    def write(texts: list[str]) -> None:
        for text in texts:
            catalog.artifacts.create("markdown", text, key=KEY)

    return write


METHODS: dict[str, Callable[[str], Writer]] = {
    "api": api_writer,
    "catalog": catalog_writer,
    "floor": floor_writer,
    "floor_cas": floor_cas_writer,
}


def check(root: str, n: int) -> None:
    """A sanity check outside the timing: the loop really committed n versions of KEY."""
    objects = sum(
        1 for d in os.scandir(os.path.join(root, "objects")) if d.is_dir() for _ in os.scandir(d)
    )
    if objects < n:
        raise RuntimeError(f"{root}: expected at least {n} objects, found {objects}")
    if not os.path.isfile(os.path.join(root, "refs", "artifacts", KEY)):
        raise RuntimeError(f"{root}: the ref of {KEY!r} is missing")


def run_round(base: Path, label: str, texts: list[str], block: int) -> dict[str, float]:
    """Commit ``texts`` with every method, block by block; return each method's creates/s.

    Each method writes into a fresh folder of its own. The methods take turns every
    ``block`` creates (the order rotating), so a burst of load from the rest of the machine
    hits them alike. Folders are removed only at the end of the run: deleting thousands of
    files makes the file system work in the background, which would spill into timings.
    """
    methods = list(METHODS)
    writers = {m: METHODS[m](str(base / f"{label}-{m}")) for m in methods}
    spent = dict.fromkeys(methods, 0.0)
    gc.collect()
    os.sync()  # start from a clean page cache: no earlier writeback competes with the round
    for b, start in enumerate(range(0, len(texts), block)):
        chunk = texts[start : start + block]
        shift = b % len(methods)
        for method in methods[shift:] + methods[:shift]:
            t0 = time.perf_counter()
            writers[method](chunk)
            spent[method] += time.perf_counter() - t0
    for method in methods:
        check(str(base / f"{label}-{method}"), len(texts))
    return {m: len(texts) / spent[m] for m in methods}


def profile_api(base: Path, texts: list[str], top: int) -> None:
    write = api_writer(str(base / "profile-api"))
    profiler = cProfile.Profile()
    profiler.enable()
    write(texts)
    profiler.disable()
    for sort in ("cumulative", "tottime"):
        print(f"\n=== {len(texts)} creates through the public API, by {sort} ===", file=sys.stderr)
        pstats.Stats(profiler, stream=sys.stderr).sort_stats(sort).print_stats(top)


def measure(
    parent: str | None, label: str, rounds: int, texts: list[str], block: int, profile: bool
) -> dict[str, list[float]]:
    """Run the warm-up and ``rounds`` rounds in a new temp folder under ``parent``."""
    base = Path(tempfile.mkdtemp(prefix="cairn-bench-creates-", dir=parent))
    rates: dict[str, list[float]] = {m: [] for m in METHODS}
    try:
        run_round(base, "warmup", texts[:200], 50)  # imports, lazy loads, the allocator
        for r in range(rounds):
            for method, rate in run_round(base, f"round{r}", texts, block).items():
                rates[method].append(rate)
            _common.log(
                f"creates ({label}) round {r + 1}/{rounds}: "
                + ", ".join(f"{m} {v[-1]:,.0f}/s" for m, v in rates.items())
            )
        if profile:
            profile_api(base, texts, top=35)
    finally:
        shutil.rmtree(base, ignore_errors=True)
    return rates


def figures(rates: dict[str, list[float]], result: dict[str, Any]) -> dict[str, Any]:
    medians = {m: statistics.median(v) for m, v in rates.items()}
    for method, values in rates.items():
        s = _common.summarize(values, digits=1)
        result[method] = {
            "creates_per_s": s["median"],
            "us_per_create": round(1e6 / medians[method], 1),
            "min_per_s": s["min"],
            "max_per_s": s["max"],
            "runs_per_s": s["runs"],
        }
    paired = [a / f for a, f in zip(rates["api"], rates["floor"], strict=True)]
    result["ratio"] = {
        "api_over_floor": round(medians["api"] / medians["floor"], 3),
        "catalog_over_floor": round(medians["catalog"] / medians["floor"], 3),
        "api_over_catalog": round(medians["api"] / medians["catalog"], 3),
        "floor_cas_over_floor": round(medians["floor_cas"] / medians["floor"], 3),
        "api_over_floor_per_round": [round(x, 3) for x in paired],
    }
    return result


def main() -> None:
    p = _common.parser(__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, help="rounds (default 7, quick 3)")
    p.add_argument("--creates", type=int, help="creates per method per round (default 2000)")
    p.add_argument("--block", type=int, default=250, help="creates per turn (default 250)")
    p.add_argument("--dir", help="parent of the temporary catalogs (default: the system tmp)")
    p.add_argument("--no-tmpfs", action="store_true", help=f"skip the information run in {TMPFS}")
    p.add_argument("--profile", action="store_true", help="also print a cProfile of the API loop")
    args = p.parse_args()
    rounds = args.rounds or (3 if args.quick else 7)
    n = args.creates or (500 if args.quick else 2000)
    texts = payloads(n)
    parent = args.dir or tempfile.gettempdir()

    rates = measure(parent, "disk", rounds, texts, args.block, args.profile)
    result: dict[str, Any] = {
        "params": {
            "rounds": rounds,
            "creates_per_round": n,
            "block": args.block,
            "key": KEY,
            "dir": parent,
        },
    }
    figures(rates, result)
    if not args.no_tmpfs and os.path.isdir(TMPFS) and os.access(TMPFS, os.W_OK):
        tmpfs_rounds = min(rounds, 3)
        tmpfs_rates = measure(TMPFS, "tmpfs", tmpfs_rounds, texts, args.block, profile=False)
        result["tmpfs"] = figures(tmpfs_rates, {"dir": TMPFS, "rounds": tmpfs_rounds})
    result["machine"] = _common.machine()
    _common.emit("creates", result)


if __name__ == "__main__":
    main()
