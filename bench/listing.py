"""Goal (b): ``cairn artifact ls`` and ``cairn artifact inspect KEY`` on a big local catalog.

The catalog (100,000 markdown versions in 1,000 keys, 100 per key) is built once through
``catalog.artifacts.create``, by a few processes in parallel (one per key range), and cached
under ``bench/out/`` by a version string; ``--rebuild`` builds it again. Each command is then
timed as a whole process (the installed ``cairn`` console script, ``--catalog PATH``): one
warm-up run, then 7 timed runs; median and min. The goal (median <= 0.3 s) applies to
``ls`` (its default 100 keys), ``inspect KEY`` (10 versions) and ``inspect KEY --limit 100``;
``ls_json`` and ``ls_all_keys`` (``--limit`` the number of keys) are information. The
listing index (``index/``, derived data) is deleted first and the rebuild run timed on its
own as ``ls_cold_index``.

For reading the figures, the same reads are also timed inside this process
(``in_process``): what the commands cost without interpreter start-up and imports.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import _common

BUILD_VERSION = 1  # bump when the way the catalog is built changes


def key_name(i: int) -> str:
    return f"key-{i:04d}"


def build_range(root: str, start: int, stop: int, per_key: int) -> int:
    from cairn.catalog import Catalog

    catalog = Catalog.from_url(root)
    keys = [key_name(i) for i in range(start, stop)]
    for v in range(per_key):  # versions interleave across keys, as in a real catalog
        for key in keys:
            catalog.artifacts.create(
                "markdown",
                f"# {key}, run {v}\n\nRows loaded: {v * 1000 + 17}. Rejected: {v % 7}.\n\n"
                f"| metric | value |\n|---|---|\n| duration | {v * 1.5:.1f} s |\n",
                key=key,
                description=f"Nightly load of {key}, run {v}",
            )
    return (stop - start) * per_key


def catalog_path(keys: int, per_key: int) -> Path:
    from cairn.catalog import FORMAT_VERSION

    tag = f"b{BUILD_VERSION}-f{FORMAT_VERSION}-cairn{_common.cairn_version()}-{keys}x{per_key}"
    return _common.OUT_DIR / f"listing-catalog-{tag}"


def remove_stale(path: Path, keys: int, per_key: int) -> None:
    """Delete catalogs of the same size cached by older versions, and abandoned builds."""
    for old in path.parent.glob(f"listing-catalog-*-{keys}x{per_key}"):
        if old != path:
            shutil.rmtree(old, ignore_errors=True)
    for scratch in path.parent.glob(f".building-{path.name}-*"):
        try:
            os.kill(int(scratch.name.rsplit("-", 1)[1]), 0)
        except ProcessLookupError:
            shutil.rmtree(scratch, ignore_errors=True)  # its builder is gone
        except (ValueError, PermissionError):
            pass


def build(path: Path, keys: int, per_key: int, workers: int) -> float:
    """Build the catalog into a scratch folder, then rename it into place; return seconds."""
    from cairn.catalog import Catalog

    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale(path, keys, per_key)
    scratch = path.with_name(f".building-{path.name}-{os.getpid()}")
    Catalog.init(str(scratch))  # before the workers start, so none sees a half-made root
    bounds = [keys * w // workers for w in range(workers + 1)]
    t0 = time.perf_counter()
    with ProcessPoolExecutor(workers) as pool:
        futures = [
            pool.submit(build_range, str(scratch), bounds[w], bounds[w + 1], per_key)
            for w in range(workers)
        ]
        total = sum(f.result() for f in futures)
    elapsed = time.perf_counter() - t0
    assert total == keys * per_key
    refs = list((scratch / "refs" / "artifacts").iterdir())
    if len(refs) != keys:
        raise RuntimeError(f"built {len(refs)} keys, expected {keys}")
    shutil.rmtree(path, ignore_errors=True)
    os.rename(scratch, path)
    return elapsed


def cli_forms(path: Path) -> list[tuple[str, list[str], list[str], dict[str, str]]]:
    """Ways to name the catalog, best first: (label, before the command, after it, env)."""
    p = str(path)
    return [
        ("option after the command", [], ["--catalog", p], {}),
        ("option before the command", ["--catalog", p], [], {}),
        ("CAIRN_CATALOG", [], [], {"CAIRN_CATALOG": p}),
    ]


def find_cli_form(
    cairn: Path, path: Path, first_key: str
) -> tuple[tuple[str, list[str], list[str], dict[str, str]] | None, str]:
    """Return the first way of calling ``cairn artifact ls`` that works, or None and why not."""
    why = ""
    for form in cli_forms(path):
        _, pre, post, extra = form
        try:
            proc = subprocess.run(
                [str(cairn), *pre, "artifact", "ls", *post],
                capture_output=True,
                env=_common.clean_env(**extra),
                timeout=120,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            why = f"{type(exc).__name__}: {exc}"
            continue
        out = proc.stdout.decode(errors="replace")
        if proc.returncode == 0 and first_key in out:
            return form, ""
        err = proc.stderr.decode(errors="replace").strip().splitlines()
        why = f"exit {proc.returncode}: {err[-1] if err else out[:200]!r}"
    return None, why


def in_process(path: Path, key: str, runs: int) -> dict[str, Any]:
    from cairn.catalog import Catalog

    out: dict[str, Any] = {}
    cases = {
        "list_latest": lambda c: c.artifacts.list_latest(),
        "history_10": lambda c: c.artifacts.history(key, limit=10),
        "history_100": lambda c: c.artifacts.history(key, limit=100),
    }
    for name, fn in cases.items():
        times = []
        for i in range(runs + 1):
            t0 = time.perf_counter()
            fn(Catalog.from_url(str(path)))  # a fresh Catalog: nothing cached between runs
            if i:
                times.append(time.perf_counter() - t0)
        out[name] = _common.seconds(times)
    return out


def catalog_options(p: argparse.ArgumentParser, rounds: int) -> None:
    """Add the options of a bench over the cached catalog (fsck, gc): size, rounds, build."""
    p.add_argument("--keys", type=int, help="keys in the catalog (default 1000, quick 100)")
    p.add_argument("--per-key", type=int, default=100, help="versions per key (default 100)")
    p.add_argument("--rounds", type=int, help=f"timed rounds (default {rounds}, quick 3)")
    p.add_argument("--workers", type=int, help="processes building the catalog")
    p.add_argument("--rebuild", action="store_true", help="build the catalog even if cached")


def cached_catalog(args: argparse.Namespace, rounds: int) -> tuple[Path, int, dict[str, Any]]:
    """Return the catalog :func:`catalog_options` describe (built unless cached), the rounds
    to time, and the start of the bench's result (``params`` and ``build``)."""
    keys = args.keys or (100 if args.quick else 1000)
    per_key = args.per_key
    rounds = args.rounds or (3 if args.quick else rounds)
    workers = args.workers or max(2, min(4, os.cpu_count() or 2))
    path = catalog_path(keys, per_key)
    result: dict[str, Any] = {
        "params": {
            "keys": keys,
            "versions_per_key": per_key,
            "objects": keys * per_key,
            "rounds": rounds,
            "catalog": str(path),
        }
    }
    if args.rebuild or not path.is_dir():
        _common.log(f"building {keys * per_key:,} versions with {workers} processes: {path}")
        seconds = build(path, keys, per_key, workers)
        result["build"] = {"seconds": round(seconds, 2), "workers": workers}
        _common.log(f"built in {seconds:.1f} s")
    else:
        result["build"] = {"cached": True}
    return path, rounds, result


def main() -> None:
    p = _common.parser(__doc__.splitlines()[0])
    p.add_argument("--keys", type=int, help="keys in the catalog (default 1000, quick 200)")
    p.add_argument("--per-key", type=int, default=100, help="versions per key (default 100)")
    p.add_argument("--runs", type=int, help="timed runs per command (default 7, quick 3)")
    p.add_argument("--workers", type=int, help="processes building the catalog")
    p.add_argument("--rebuild", action="store_true", help="build the catalog even if cached")
    p.add_argument(
        "--wait-cli",
        type=float,
        default=0.0,
        help="if 'cairn artifact ls' does not work yet, retry every 60 s for this many seconds",
    )
    args = p.parse_args()
    keys = args.keys or (200 if args.quick else 1000)
    per_key = args.per_key
    runs = args.runs or (3 if args.quick else 7)
    workers = args.workers or max(2, min(4, os.cpu_count() or 2))

    path = catalog_path(keys, per_key)
    result: dict[str, Any] = {
        "params": {
            "keys": keys,
            "versions_per_key": per_key,
            "versions": keys * per_key,
            "runs": runs,
            "catalog": str(path),
        }
    }
    if args.rebuild or not path.is_dir():
        _common.log(f"building {keys * per_key:,} versions with {workers} processes: {path}")
        seconds = build(path, keys, per_key, workers)
        result["build"] = {
            "seconds": round(seconds, 2),
            "workers": workers,
            "creates_per_s": round(keys * per_key / seconds, 1),
        }
        _common.log(f"built in {seconds:.1f} s")
    else:
        result["build"] = {"cached": True}

    inspect_key = key_name(keys // 2)
    cairn = _common.console_script("cairn")
    deadline = time.monotonic() + args.wait_cli
    while True:
        form, why = find_cli_form(cairn, path, key_name(0))
        if form is not None or time.monotonic() >= deadline:
            break
        _common.log(f"'cairn artifact ls' does not work yet ({why}); retrying in 60 s")
        time.sleep(60)

    if form is None:
        result["error"] = f"'cairn artifact ls' does not work: {why}"
        _common.log(result["error"])
    else:
        label, pre, post, extra = form
        env = _common.clean_env(**extra)
        result["params"]["cli_form"] = label
        result["params"]["inspect_key"] = inspect_key

        def argv(*command: str) -> list[str]:
            return [str(cairn), *pre, "artifact", *command, *post]

        # The listing index is derived data: time its rebuild once, from nothing.
        shutil.rmtree(path / "index", ignore_errors=True)
        os.sync()  # no writeback left over from the build (or an earlier bench) competes
        cold, _ = _common.time_process(argv("ls"), runs=1, warmup=0, env=env)
        result["ls_cold_index"] = {"seconds": round(cold[0], 4)}

        commands = {
            "ls": argv("ls"),
            "ls_json": argv("ls", "--json"),
            "ls_all_keys": argv("ls", "--limit", str(keys)),
            "inspect": argv("inspect", inspect_key),
            "inspect_limit_100": argv("inspect", inspect_key, "--limit", "100"),
        }
        for name, command in commands.items():
            try:
                times, last = _common.time_process(command, runs=runs, env=env)
            except subprocess.CalledProcessError as exc:
                err = (exc.stderr or b"").decode(errors="replace").strip().splitlines()
                result[name] = {"error": f"exit {exc.returncode}: {err[-1] if err else ''}"}
                _common.log(f"{name}: {result[name]['error']}")
                continue
            result[name] = {
                **_common.seconds(times),
                "command": " ".join(command[1:]).replace(str(path), "PATH"),
                "stdout_bytes": len(last.stdout),
            }
            if name == "ls_json":
                try:
                    doc = json.loads(last.stdout)
                    result[name]["entries"] = len(doc) if isinstance(doc, list) else None
                except ValueError:
                    result[name]["entries"] = None
            _common.log(f"{name}: median {statistics.median(times):.3f} s")

    result["in_process"] = in_process(path, inspect_key, runs)
    result["machine"] = _common.machine()
    _common.emit("listing", result)


if __name__ == "__main__":
    main()
