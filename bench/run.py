"""Run every bench script, each in its own process, and print one JSON document.

Usage: ``python bench/run.py [--quick] [--only NAME ...]``. The document is also written to
``bench/out/latest.json``. Each bench's figures carry their goals beside them (``goal``,
``met``); ``summary`` lists every goal, and ``met`` says whether all were met.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import time
from typing import Any

import _common

BENCHES = {
    # name: (script, timeout in seconds)
    "creates": ("creates.py", 300),
    "listing": ("listing.py", 900),
    "startup": ("startup.py", 120),
    "table_memory": ("table_memory.py", 300),
    "runtime": ("runtime.py", 300),
    "lineage": ("lineage.py", 900),
    "s3": ("s3.py", 900),
    "sync": ("sync.py", 1500),
    "fsck": ("fsck.py", 900),
    "gc": ("gc.py", 900),
    "ui": ("ui.py", 900),
}


def git_commit() -> str | None:
    try:
        proc = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=_common.REPO_DIR,
            capture_output=True,
            timeout=10,
            check=True,
        )
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "src"],
            cwd=_common.REPO_DIR,
            capture_output=True,
            timeout=10,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return proc.stdout.decode().strip() + ("+dirty" if dirty else "")


def run_bench(name: str, quick: bool, extra: list[str], wait: float = 0.0) -> dict[str, Any]:
    script, timeout = BENCHES[name]
    timeout += wait
    argv = [
        sys.executable,
        str(_common.BENCH_DIR / script),
        *(["--quick"] if quick else []),
        *extra,
    ]
    _common.log(f"--- {name}: {' '.join(argv[1:])}")
    t0 = time.perf_counter()
    try:
        # stderr (progress) goes straight through; stdout is the bench's JSON.
        proc = subprocess.run(
            argv, stdout=subprocess.PIPE, timeout=timeout, check=False, cwd=_common.REPO_DIR
        )
    except subprocess.TimeoutExpired:
        result: dict[str, Any] = {"error": f"timed out after {timeout} s"}
    else:
        try:
            result = json.loads(proc.stdout)
        except ValueError:
            tail = proc.stdout.decode(errors="replace")[-500:]
            result = {"error": f"exit {proc.returncode}, no JSON on stdout: {tail!r}"}
        else:
            if proc.returncode != 0:
                result["error"] = f"exit {proc.returncode}"
    result.pop("bench", None)
    result.pop("machine", None)  # reported once, at the top
    result["elapsed_s"] = round(time.perf_counter() - t0, 1)
    if "goals" not in result:
        _common.apply_goals(name, result)  # the bench crashed: its goals are not met
    return result


def main() -> None:
    p = _common.parser(__doc__.splitlines()[0])
    p.add_argument("--only", nargs="+", choices=list(BENCHES), help="run only these benches")
    p.add_argument(
        "--listing-wait-cli",
        type=float,
        default=0.0,
        help="passed to listing.py --wait-cli: seconds to wait for a working 'cairn artifact ls'",
    )
    args = p.parse_args()
    names = args.only or list(BENCHES)

    started = dt.datetime.now(dt.timezone.utc)
    doc: dict[str, Any] = {
        "started": started.isoformat(timespec="seconds"),
        "quick": args.quick,
        "cairn": _common.cairn_version(),
        "git": git_commit(),
        "machine": _common.machine(),
    }
    summary: dict[str, Any] = {}
    for name in names:
        extra, wait = [], 0.0
        if name == "listing" and args.listing_wait_cli:
            extra, wait = ["--wait-cli", str(args.listing_wait_cli)], args.listing_wait_cli
        result = run_bench(name, args.quick, extra, wait)
        doc[name] = result
        for goal, verdict in result["goals"].items():
            summary[f"{name}.{goal}"] = verdict
    doc["elapsed_s"] = round((dt.datetime.now(dt.timezone.utc) - started).total_seconds(), 1)
    doc["summary"] = summary
    doc["met"] = all(v["met"] for v in summary.values())

    text = _common.dumps(doc)
    _common.OUT_DIR.mkdir(parents=True, exist_ok=True)
    (_common.OUT_DIR / "latest.json").write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
