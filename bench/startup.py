"""Goal (c): start-up time of ``import cairn`` and ``cairn --help``, as whole processes.

Each command runs once to warm the page cache, then 11 times (quick: 5); medians. ``python -c
pass`` is the floor every figure includes (interpreter start-up and ``site``);
``import cairn.artifacts`` is what a pipeline using the Prefect-style API pays.

``importtime`` (information only) lists, from one ``python -X importtime`` run each, the
modules that cost the most: each top-level package's summed self time, and the slowest
single modules by self time.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from typing import Any

import _common


def importtime(argv: list[str], env: dict[str, str], cwd: str, top: int = 8) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", *argv],
        capture_output=True,
        env=env,
        cwd=cwd,
        timeout=60,
        check=False,
    )
    rows: list[tuple[int, str]] = []  # self time in us, module name
    for line in proc.stderr.decode(errors="replace").splitlines():
        if not line.startswith("import time:") or "[us]" in line:
            continue
        try:
            self_us, _, name = line[len("import time:") :].split("|", 2)
        except ValueError:
            continue
        rows.append((int(self_us), name.strip()))
    packages: dict[str, int] = {}
    for self_us, name in rows:
        package = name.split(".", 1)[0]
        packages[package] = packages.get(package, 0) + self_us
    by_package = sorted(packages.items(), key=lambda kv: -kv[1])[:top]
    by_self = sorted(rows, key=lambda r: -r[0])[:top]
    return {
        "modules_imported": len(rows),
        "total_ms": round(sum(r[0] for r in rows) / 1000, 1),
        "by_package_ms": {name: round(us / 1000, 1) for name, us in by_package},
        "top_self_ms": {name: round(us / 1000, 1) for us, name in by_self},
    }


def main() -> None:
    p = _common.parser(__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, help="timed runs per command (default 11, quick 5)")
    args = p.parse_args()
    runs = args.runs or (5 if args.quick else 11)
    py = sys.executable
    cairn = str(_common.console_script("cairn"))
    commands = {
        "python_floor": [py, "-c", "pass"],
        "import_cairn": [py, "-c", "import cairn"],
        "import_cairn_artifacts": [py, "-c", "import cairn.artifacts"],
        "cairn_help": [cairn, "--help"],
    }
    env = _common.clean_env()
    result: dict[str, Any] = {"params": {"runs": runs}}
    # Run from an empty folder, so that no .cairn folder nearby changes what runs.
    with tempfile.TemporaryDirectory(prefix="cairn-bench-startup-") as cwd:
        os.sync()  # no writeback left over from an earlier bench competes with the timings
        for name, argv in commands.items():
            try:
                times, _ = _common.time_process(argv, runs=runs, env=env, cwd=cwd)
            except subprocess.CalledProcessError as exc:
                err = (exc.stderr or b"").decode(errors="replace").strip().splitlines()
                result[name] = {"error": f"exit {exc.returncode}: {err[-1] if err else ''}"}
                _common.log(f"{name}: {result[name]['error']}")
                continue
            result[name] = {**_common.seconds(times), "command": " ".join(argv[1:])}
            _common.log(f"{name}: median {result[name]['median_s']:.3f} s")
        floor = result["python_floor"].get("median_s")
        for name in commands:
            median = result[name].get("median_s")
            if floor is not None and median is not None and name != "python_floor":
                result[name]["over_floor_s"] = round(median - floor, 4)
        result["importtime"] = {
            "import_cairn": importtime(["-c", "import cairn"], env, cwd),
            "import_cairn_artifacts": importtime(["-c", "import cairn.artifacts"], env, cwd),
            "cairn_help": importtime([cairn, "--help"], env, cwd),
        }
    result["machine"] = _common.machine()
    _common.emit("startup", result)


if __name__ == "__main__":
    main()
