"""Goal (d): peak memory of committing a 1,000,000-row x 10-column float64 table.

Each variant (a pandas DataFrame, a pyarrow Table) runs in a fresh child process, which:

1. imports numpy, pandas, pyarrow, pyarrow.parquet and cairn, and commits a 10-row table of
   the same kind once, so that one-time imports and lazy set-up are not counted;
2. builds the table from numpy random columns and measures its size in memory
   (``df.memory_usage(deep=True).sum()`` or ``table.nbytes``);
3. resets the process's peak RSS (``/proc/self/clear_refs``, Linux), reads the current RSS
   as the baseline, runs ``create_table_artifact(table, key=...)`` inside
   ``cairn.use_catalog(tmp)``, and reads the peak RSS (``VmHWM``) afterwards.

``ratio`` = (peak RSS - baseline RSS) / table size; goal < 3. Where the peak cannot be reset,
the increase of ``ru_maxrss`` is used instead, which undercounts when building the table
peaked higher than the commit does (``method`` says which was used). ``commit_s`` is the wall
time of the commit. Each variant is run ``--repeats`` times; medians.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any

import _common

VARIANTS = ("pandas", "pyarrow")
COLUMNS = 10


def status_kib(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{field} is not in /proc/self/status")


def reset_peak() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        return False
    return True


def make_table(variant: str, rows: int, seed: int = 0) -> tuple[Any, int]:
    import numpy as np
    import pandas as pd
    import pyarrow as pa

    rng = np.random.default_rng(seed)
    columns = {f"c{i}": rng.random(rows) for i in range(COLUMNS)}
    if variant == "pandas":
        df = pd.DataFrame(columns)
        return df, int(df.memory_usage(deep=True).sum())
    table = pa.table(columns)
    return table, int(table.nbytes)


def child(variant: str, rows: int) -> dict[str, Any]:
    for module in ("numpy", "pandas", "pyarrow", "pyarrow.parquet"):
        importlib.import_module(module)  # before the baseline: imports are not the commit's

    import cairn
    from cairn.artifacts import create_table_artifact

    root = tempfile.mkdtemp(prefix="cairn-bench-table-")
    try:
        with cairn.use_catalog(os.path.join(root, "catalog")) as catalog:
            small, _ = make_table(variant, 10, seed=1)
            create_table_artifact(small, key="warm-up")
            del small

            table, size = make_table(variant, rows)
            gc.collect()
            resettable = reset_peak()
            baseline = status_kib("VmRSS")
            maxrss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            t0 = time.perf_counter()
            artifact_id = create_table_artifact(table, key="big-table")
            elapsed = time.perf_counter() - t0
            peak = status_kib("VmHWM")
            maxrss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

            record = catalog.artifacts.get(artifact_id).record
            blob_bytes = os.path.getsize(catalog.objects.describe(record.blob))
    finally:
        shutil.rmtree(root, ignore_errors=True)
    increase_kib = peak - baseline if resettable else maxrss_after - maxrss_before
    return {
        "table_bytes": size,
        "parquet_blob_bytes": blob_bytes,
        "baseline_rss_mib": round(baseline / 1024, 1),
        "peak_rss_mib": round(peak / 1024, 1),
        "increase_mib": round(increase_kib / 1024, 1),
        "ru_maxrss_increase_mib": round((maxrss_after - maxrss_before) / 1024, 1),
        "method": "VmHWM after clear_refs" if resettable else "ru_maxrss increase",
        "ratio": round(increase_kib * 1024 / size, 3),
        "commit_s": round(elapsed, 3),
    }


def run_child(variant: str, rows: int) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, __file__, "--child", variant, "--rows", str(rows)],
        capture_output=True,
        timeout=600,
        check=False,
    )
    if proc.returncode != 0:
        err = proc.stderr.decode(errors="replace").strip().splitlines()
        return {"error": f"exit {proc.returncode}: {err[-1] if err else ''}"}
    return json.loads(proc.stdout)  # type: ignore[no-any-return]


def main() -> None:
    p = _common.parser(__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, help="rows (default 1,000,000, quick 200,000)")
    p.add_argument("--repeats", type=int, help="child processes per variant (default 2, quick 1)")
    p.add_argument("--child", choices=VARIANTS, help=argparse.SUPPRESS)
    args = p.parse_args()
    rows = args.rows or (200_000 if args.quick else 1_000_000)
    if args.child:
        json.dump(child(args.child, rows), sys.stdout)
        return
    repeats = args.repeats or (1 if args.quick else 2)

    result: dict[str, Any] = {"params": {"rows": rows, "columns": COLUMNS, "repeats": repeats}}
    for variant in VARIANTS:
        runs = []
        for _ in range(repeats):
            run = run_child(variant, rows)
            _common.log(f"{variant}: {run}")
            if "error" in run:
                result[variant] = run
                break
            runs.append(run)
        else:
            summary = dict(runs[-1])
            for field in ("increase_mib", "ru_maxrss_increase_mib", "ratio", "commit_s"):
                summary[field] = round(statistics.median(r[field] for r in runs), 3)
            summary["table_mib"] = round(summary["table_bytes"] / 2**20, 1)
            summary["ratio_runs"] = [r["ratio"] for r in runs]
            summary["commit_s_runs"] = [r["commit_s"] for r in runs]
            del summary["baseline_rss_mib"], summary["peak_rss_mib"]
            result[variant] = summary
    result["machine"] = _common.machine()
    _common.emit("table_memory", result)


if __name__ == "__main__":
    main()
