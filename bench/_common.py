"""Helpers shared by the bench scripts: timing, medians, the goals, JSON output.

Each bench script is run as its own process (``python bench/NAME.py``) and prints one JSON
document on stdout; progress goes to stderr. The goals live here, in one table, so that a
script run alone and ``bench/run.py`` judge the figures the same way.
"""

from __future__ import annotations

import argparse
import json
import operator
import os
import platform
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPO_DIR = BENCH_DIR.parent
OUT_DIR = BENCH_DIR / "out"


@dataclass(frozen=True)
class Goal:
    """One speed goal: ``result[path...][field] <op> threshold``."""

    name: str
    path: tuple[str, ...]
    field: str
    op: str
    threshold: float
    unit: str = ""

    def text(self) -> str:
        unit = f" {self.unit}" if self.unit else ""
        return f"{self.field} {self.op} {self.threshold:g}{unit}"


_OPS: dict[str, Callable[[float, float], bool]] = {
    "==": operator.eq,
    ">=": operator.ge,
    ">": operator.gt,
    "<=": operator.le,
    "<": operator.lt,
}

GOALS: dict[str, list[Goal]] = {
    # (a) A keyed create through the public API runs at least half as fast as the raw floor.
    "creates": [
        Goal("api_vs_floor", ("ratio",), "api_over_floor", ">=", 0.5),
    ],
    # (b) Listing and inspecting a 100,000-version catalog, as whole processes.
    "listing": [
        Goal("ls", ("ls",), "median_s", "<=", 0.3, "s"),
        Goal("inspect", ("inspect",), "median_s", "<=", 0.3, "s"),
        Goal("inspect_limit_100", ("inspect_limit_100",), "median_s", "<=", 0.3, "s"),
    ],
    # (c) Start-up time.
    "startup": [
        Goal("import_cairn", ("import_cairn",), "median_s", "<=", 0.15, "s"),
        Goal("cairn_help", ("cairn_help",), "median_s", "<=", 0.3, "s"),
    ],
    # (d) Peak memory of committing a big table, relative to the table's own size.
    "table_memory": [
        Goal("pandas", ("pandas",), "ratio", "<", 3.0),
        Goal("pyarrow", ("pyarrow",), "ratio", "<", 3.0),
    ],
    # (e) The engine: overhead per chained @materialize task, and a flow's fixed overhead.
    "runtime": [
        Goal("materialize_per_task", ("materialize_chain",), "per_task_ms", "<=", 0.5, "ms"),
        Goal("flow_fixed", ("flow",), "fixed_ms", "<=", 5.0, "ms"),
    ],
    # (f) S3 (issue 4): requests per operation, exactly; commits from 8 threads behind 50 ms
    # of latency; memory of uploading a 200 MB Parquet blob.
    "s3": [
        Goal("keyed_commit", ("requests", "keyed_commit"), "count", "==", 2, "requests"),
        Goal(
            "keyless_in_flow_run",
            ("requests", "keyless_in_flow_run"),
            "count",
            "==",
            1,
            "requests",
        ),
        Goal(
            "keyless_in_task_run",
            ("requests", "keyless_in_task_run"),
            "count",
            "==",
            1,
            "requests",
        ),
        Goal(
            "keyless_outside_run",
            ("requests", "keyless_outside_run"),
            "count",
            "==",
            2,
            "requests",
        ),
        Goal("latest", ("requests", "latest"), "count", "==", 2, "requests"),
        Goal("artifact_get", ("requests", "artifact_get"), "count", "==", 2, "requests"),
        Goal("ls_2500_keys", ("requests", "ls_2500_keys"), "count", "<=", 5, "requests"),
        Goal("materialization", ("requests", "materialization"), "count", "==", 2, "requests"),
        Goal("flow_run", ("requests", "flow_run"), "count", "==", 4, "requests"),
        Goal("threads_8_speedup", ("throughput",), "speedup_8", ">=", 4.0),
        Goal("upload_200mb_memory", ("upload_200mb",), "ratio", "<", 1.0),
    ],
    # (g) Sync (issue 5): a first sync local -> S3 against s3fs uploading the same files; a
    # no-op re-sync of 10,000 objects and ~1,000 refs; a sync after 100 new commits.
    "sync": [
        Goal("first_sync_vs_s3fs", ("first_sync",), "ratio", "<=", 1.5),
        Goal("noop_resync", ("noop_resync",), "requests", "<=", 25, "requests"),
        Goal("after_100_copies", ("after_100_commits",), "objects_copied", "<=", 100, "objects"),
        Goal("after_100_other", ("after_100_commits",), "other_requests", "<=", 25, "requests"),
    ],
    # (h) fsck of a 100,000-object local catalog at least half as fast as re-hashing every
    # object file in a plain Python loop.
    "fsck": [
        Goal("fsck_vs_loop", ("ratio",), "loop_over_fsck", ">=", 0.5),
    ],
    # (i) gc of a 100,000-object local catalog with nothing to delete, as a whole process.
    "gc": [
        Goal("nothing_to_delete", ("cli",), "median_s", "<=", 5.0, "s"),
    ],
    # (j) cairn ui (issue 7): server time for the artifacts page of 10,000 keys and 100,000
    # versions, and for the lineage graph page of 1,000 assets.
    "ui": [
        Goal("artifacts_page", ("artifacts_page",), "median_s", "<=", 0.3, "s"),
        Goal("graph_page", ("graph_page_1000_assets",), "median_s", "<=", 1.0, "s"),
    ],
    # (k) Lineage (issue 3) over 100,000 materializations: rebuilding the index from scratch,
    # and an upstream / downstream query once the index is built.
    "lineage": [
        Goal("rebuild", ("rebuild",), "materializations_per_s", ">=", 20000),
        Goal("upstream_leaf", ("upstream_leaf",), "median_ms", "<=", 50, "ms"),
        Goal("downstream_root", ("downstream_root",), "median_ms", "<=", 50, "ms"),
    ],
}


def apply_goals(bench: str, result: dict[str, Any]) -> dict[str, Any]:
    """Write ``goal`` and ``met`` beside each goal's figure, and a summary under ``goals``.

    A figure that is missing (the bench could not measure it) is not met.
    """
    summary: dict[str, Any] = {}
    for goal in GOALS.get(bench, []):
        node: Any = result
        for part in goal.path:
            node = node.get(part) if isinstance(node, dict) else None
        value = node.get(goal.field) if isinstance(node, dict) else None
        met = isinstance(value, (int, float)) and _OPS[goal.op](value, goal.threshold)
        if isinstance(node, dict):
            node["goal"] = goal.text()
            node["met"] = met
        summary[goal.name] = {"value": value, "goal": goal.text(), "met": met}
    result["goals"] = summary
    result["met"] = bool(summary) and all(g["met"] for g in summary.values())
    return result


_NUMBER_LIST = re.compile(r"\[\s+(-?[0-9.eE+-]+(?:,\s+-?[0-9.eE+-]+)*)\s+\]")


def dumps(doc: Any) -> str:
    """Indented JSON, with each list of numbers kept on one line."""
    text = json.dumps(doc, indent=2)
    return _NUMBER_LIST.sub(
        lambda m: "[" + ", ".join(n.strip() for n in m.group(1).split(",")) + "]", text
    )


def emit(bench: str, result: dict[str, Any]) -> None:
    """Judge ``result`` against its goals and print it as the script's JSON output."""
    result = {"bench": bench, **result}
    apply_goals(bench, result)
    sys.stdout.write(dumps(result) + "\n")
    sys.stdout.flush()


def parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--quick", action="store_true", help="a smaller, faster run")
    return p


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def summarize(values: Sequence[float], digits: int = 4) -> dict[str, Any]:
    """Median, min and max of repeated measurements, plus the values themselves."""
    return {
        "median": round(statistics.median(values), digits),
        "min": round(min(values), digits),
        "max": round(max(values), digits),
        "runs": [round(v, digits) for v in values],
    }


def seconds(values: Sequence[float]) -> dict[str, Any]:
    """Like :func:`summarize`, for wall times in seconds (``median_s``, ``min_s``...)."""
    s = summarize(values)
    return {"median_s": s["median"], "min_s": s["min"], "max_s": s["max"], "runs_s": s["runs"]}


def console_script(name: str) -> Path:
    """The installed console script ``name`` next to this interpreter."""
    return Path(sys.executable).parent / name


def time_process(
    argv: Sequence[str | os.PathLike[str]],
    *,
    runs: int,
    warmup: int = 1,
    env: dict[str, str] | None = None,
    cwd: str | os.PathLike[str] | None = None,
    timeout: float = 60.0,
) -> tuple[list[float], subprocess.CompletedProcess[bytes]]:
    """Run ``argv`` ``warmup + runs`` times; return the timed runs' wall times and the last run.

    Raises:
        subprocess.CalledProcessError: a run failed.
    """
    times: list[float] = []
    last: subprocess.CompletedProcess[bytes] | None = None
    for i in range(warmup + runs):
        t0 = time.perf_counter()
        last = subprocess.run(
            [os.fspath(a) for a in argv],
            capture_output=True,
            env=env,
            cwd=cwd,
            timeout=timeout,
            check=False,
        )
        elapsed = time.perf_counter() - t0
        if last.returncode != 0:
            raise subprocess.CalledProcessError(
                last.returncode, last.args, output=last.stdout, stderr=last.stderr
            )
        if i >= warmup:
            times.append(elapsed)
    assert last is not None
    return times, last


def clean_env(**extra: str) -> dict[str, str]:
    """The environment for timed child processes: ours, minus what would change the timing."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("PYTHONSTARTUP", "PYTHONPROFILEIMPORTTIME", "PYTHONTRACEMALLOC")
        and not k.startswith("CAIRN_")
    }
    env.update(extra)
    return env


def machine() -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "executable": sys.executable,
    }


def cairn_version() -> str:
    import cairn

    return str(cairn.__version__)


# -- S3 (moto's server, in a process of its own) ------------------------------------------

AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    "AWS_EC2_METADATA_DISABLED": "true",
}

# A child process that runs moto's S3 server on a free port and prints the port.
MOTO_CHILD = """
import sys, time
from moto.server import ThreadedMotoServer
server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
server.start()
print(server.get_host_and_port()[1], flush=True)
while True:
    time.sleep(3600)
"""


def aws_env(endpoint: str) -> dict[str, str]:
    """This process's environment without AWS_* and CAIRN_* settings, pointed at ``endpoint``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "CAIRN_"))}
    env.update(AWS_ENV, AWS_ENDPOINT_URL=endpoint)
    return env


def start_process(argv: list[str]) -> tuple[subprocess.Popen[str], str]:
    """Start a helper process that prints its port or URL first; return it and that line."""
    proc = subprocess.Popen(  # its stderr (a log line per request, for moto) is not ours
        argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=aws_env("")
    )
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    if not line:
        proc.kill()
        raise RuntimeError(f"{argv[:3]} did not start")
    return proc, line


def create_bucket(endpoint: str, name: str) -> None:
    import boto3

    client = boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id="bench",
        aws_secret_access_key="bench",
        region_name="us-east-1",
    )
    client.create_bucket(Bucket=name)
