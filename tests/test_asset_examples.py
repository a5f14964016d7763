"""Prefect's assets docs examples (examples/assets/), run unchanged, then their lineage checked.

The example files only define flows (the docs page never calls them), so a small ``python -c``
runner loads each file by path and calls its flow, in a subprocess whose working directory is
a fresh folder and whose environment has no ``CAIRN_*`` variable: the records go to the
default catalog ``./.cairn``. The lineage is then read with the Python API, and through
``python -m cairn asset lineage KEY --upstream --json``, and must be the graph the docs page
describes.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from cairn.catalog import Catalog
from cairn.catalog.records import Materialization

EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "assets"

# Loads the example at argv[1] as a module, then runs the code in argv[2] with the module
# bound to ``example``.
RUNNER = """
import importlib.util, sys
spec = importlib.util.spec_from_file_location("example", sys.argv[1])
example = importlib.util.module_from_spec(spec)
spec.loader.exec_module(example)
exec(sys.argv[2], {"example": example})
"""

# multiple_assets.py calls helpers the docs page assumes exist; they are put in the loaded
# module's globals (the file is not edited), and generate_reports() runs inside a flow.
MULTIPLE_ASSETS_CALL = """
from cairn import flow

made = []
example.fetch_source_data = lambda: {"rows": [1, 2, 3]}
example.create_summary_report = lambda data: made.append(("summary", len(data["rows"])))
example.create_detailed_report = lambda data: made.append(("details", len(data["rows"])))

@flow
def reports_pipeline():
    example.generate_reports()

reports_pipeline()
assert made == [("summary", 3), ("details", 3)], made
"""

CALLS = {
    "basic_materialization.py": 'example.data_pipeline(data={"rows": 3})',
    "inferred_dependencies.py": "example.etl_pipeline()",
    "external_dependencies.py": "example.analytics_pipeline()",
    "dynamic_daily_report.py": "example.dynamic_reporting_pipeline()",
    "dynamic_environments.py": (
        'example.environment_specific_pipeline("dev")\n'
        'example.environment_specific_pipeline("prod")'
    ),
    "multiple_assets.py": MULTIPLE_ASSETS_CALL,
}


def clean_environment() -> dict[str, str]:
    """This environment without any ``CAIRN_*`` variable: the default catalog is ./.cairn."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAIRN_")}
    env["PYTHONIOENCODING"] = "utf-8"
    return env


def today() -> str:
    return dt.datetime.now().strftime("%Y-%m-%d")


class Ran:
    """An example that ran: its folder, and the dates before and after it ran."""

    def __init__(self, folder: Path, dates: set[str]) -> None:
        self.folder = folder
        self.dates = dates
        self.catalog = Catalog.from_url(str(folder / ".cairn"))

    def keys(self) -> list[str]:
        return self.catalog.assets.keys()

    def only(self, key: str) -> Materialization:
        found = [m for _, m in self.catalog.assets.history(key)]
        assert len(found) == 1, (key, found)
        return found[0]

    def cli_lineage(self, key: str, *options: str) -> list[dict[str, Any]]:
        result = subprocess.run(
            [sys.executable, "-m", "cairn", "asset", "lineage", key, *options, "--json"],
            cwd=self.folder,
            env=clean_environment(),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, (key, result.stdout, result.stderr)
        return sorted(json.loads(result.stdout), key=lambda e: (e["depth"], e["key"]))


@pytest.fixture(scope="module")
def ran(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """Return ``ran(name)``: the example run once in a fresh folder (cached per module)."""
    done: dict[str, Ran] = {}

    def run(name: str) -> Ran:
        if name not in done:
            folder = tmp_path_factory.mktemp(name.removesuffix(".py"))
            before = today()
            result = subprocess.run(
                [sys.executable, "-c", RUNNER, str(EXAMPLES / name), CALLS[name]],
                cwd=folder,
                env=clean_environment(),
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=120,
            )
            assert result.returncode == 0, (name, result.stdout, result.stderr)
            assert result.stderr == "", result.stderr
            assert (folder / ".cairn").is_dir()
            done[name] = Ran(folder, {before, today()})
        return done[name]

    return run


def test_every_example_has_a_call():
    assert sorted(p.name for p in EXAMPLES.glob("*.py")) == sorted(CALLS)


def test_basic_materialization(ran):
    r = ran("basic_materialization.py")
    assert r.keys() == ["s3://my-bucket/processed-data.csv"]
    m = r.only("s3://my-bucket/processed-data.csv")
    assert (m.status, m.upstream, m.declared, m.by) == ("succeeded", [], [], None)
    assert m.flow_run_id is not None and m.task_name == "process_data"
    flow_record = r.catalog.runs.get(m.flow_run_id)
    assert (flow_record.function, flow_record.state) == ("data-pipeline", "Completed")
    assert [t.id for t in flow_record.task_runs] == [m.task_run_id]


def test_inferred_dependencies(ran):
    r = ran("inferred_dependencies.py")
    raw, clean = "file://my-local-directory/raw-data.csv", "s3://my-bucket/clean-data.csv"
    assert r.keys() == [raw, clean]
    assert (r.only(clean).upstream, r.only(clean).declared) == ([raw], [])
    assert r.only(raw).upstream == []
    assert r.only(raw).flow_run_id == r.only(clean).flow_run_id
    # The example writes its file in the working directory.
    assert (r.folder / "raw-data.csv").read_text() == "name,age\nchris,21"


def test_external_dependencies(ran):
    r = ran("external_dependencies.py")
    downstream, enriched = "s3://my-bucket/downstream-data.csv", "s3://my-bucket/enriched-data.csv"
    # Referenced assets are not materialized.
    assert r.keys() == [downstream, enriched]
    d = r.only(downstream)
    assert (d.upstream, d.declared) == (["s3://my-bucket/upstream-data.csv"],) * 2
    e = r.only(enriched)
    externals = ["postgres://db/users_table", "sftp://vendor/daily-feed.csv"]
    assert (e.upstream, e.declared) == (externals, externals)
    # The two tasks share no data, so neither is upstream of the other.
    assert d.task_run_id != e.task_run_id


def test_dynamic_daily_report(ran):
    r = ran("dynamic_daily_report.py")
    (key,) = r.keys()
    match = re.fullmatch(r"s3://my-bucket/reports/(\d{4}-\d{2}-\d{2})/daily-report\.csv", key)
    assert match is not None, key
    assert match.group(1) in r.dates
    m = r.only(key)
    assert (m.status, m.upstream, m.task_name) == ("succeeded", [], "generate_daily_report")
    # with_options replaced the decorator's key: it was never materialized.
    assert r.catalog.assets.history("s3://my-bucket/daily-report.csv") == []


def test_dynamic_environments(ran):
    r = ran("dynamic_environments.py")
    assert r.keys() == [
        "s3://my-bucket/dev/processed-data.csv",
        "s3://my-bucket/prod/processed-data.csv",
    ]
    for env in ("dev", "prod"):
        m = r.only(f"s3://my-bucket/{env}/processed-data.csv")
        # asset_deps was replaced, not added to: the decorator's raw-data.csv is gone.
        assert (m.status, m.upstream, m.declared) == (
            "succeeded",
            [f"s3://my-bucket/{env}/raw-data.csv"],
            [f"s3://my-bucket/{env}/raw-data.csv"],
        )
    dev, prod = (r.only(f"s3://my-bucket/{env}/processed-data.csv") for env in ("dev", "prod"))
    assert dev.flow_run_id != prod.flow_run_id  # two flow runs
    assert r.catalog.assets.history("s3://my-bucket/processed-data.csv") == []


def test_multiple_assets(ran):
    r = ran("multiple_assets.py")
    summary, details = "s3://my-bucket/summary.csv", "s3://my-bucket/details.csv"
    assert r.keys() == [details, summary]
    ((summary_id, m),) = r.catalog.assets.history(summary)
    ((details_id, _),) = r.catalog.assets.history(details)
    assert summary_id == details_id  # one materialization of both
    assert sorted(a.key for a in m.assets) == [details, summary]
    assert (m.status, m.upstream, m.task_name) == ("succeeded", [], "generate_reports")
    assert r.catalog.runs.get(m.flow_run_id).function == "reports-pipeline"


def test_lineage_through_the_cli(ran):
    inferred = ran("inferred_dependencies.py")
    raw, clean = "file://my-local-directory/raw-data.csv", "s3://my-bucket/clean-data.csv"
    assert inferred.cli_lineage(clean, "--upstream") == [{"key": raw, "depth": 1}]
    assert inferred.cli_lineage(raw, "--downstream") == [{"key": clean, "depth": 1}]
    assert inferred.cli_lineage(raw, "--upstream") == []

    external = ran("external_dependencies.py")
    assert external.cli_lineage("s3://my-bucket/enriched-data.csv", "--upstream") == [
        {"key": "postgres://db/users_table", "depth": 1},
        {"key": "sftp://vendor/daily-feed.csv", "depth": 1},
    ]
    assert external.cli_lineage("s3://my-bucket/downstream-data.csv", "--upstream") == [
        {"key": "s3://my-bucket/upstream-data.csv", "depth": 1}
    ]
    assert external.cli_lineage("postgres://db/users_table", "--downstream") == [
        {"key": "s3://my-bucket/enriched-data.csv", "depth": 1}
    ]

    envs = ran("dynamic_environments.py")
    for env in ("dev", "prod"):
        assert envs.cli_lineage(f"s3://my-bucket/{env}/processed-data.csv", "--upstream") == [
            {"key": f"s3://my-bucket/{env}/raw-data.csv", "depth": 1}
        ]

    daily = ran("dynamic_daily_report.py")
    (key,) = daily.keys()
    assert daily.cli_lineage(key, "--upstream") == []
