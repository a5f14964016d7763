"""``cairn asset``, ``cairn run`` and ``cairn index``, through the real entry point.

Materializations, runs and artifacts are written with the catalog API in the test process;
the CLI reads them in a child process (``python -m cairn``), as a user would.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from cairn.catalog import AssetProperties, Catalog, RunRecord
from conftest import error_line, ok

RAW = "s3://lake/raw.csv"
CLEAN = "s3://lake/clean.csv"
REPORT = "s3://mart/report.parquet"
USERS = "postgres://db/users"
FEED = "sftp://vendor/feed.csv"

FLOW = "0a1b2c3d-0000-4000-8000-000000000001"
TASK_EXTRACT = "1a1b2c3d-0000-4000-8000-000000000002"
TASK_CLEAN = "2a1b2c3d-0000-4000-8000-000000000003"
FLOW_B = "3a1b2c3d-0000-4000-8000-000000000004"
TASK_REPORT = "4a1b2c3d-0000-4000-8000-000000000005"
LONE_TASK = "5a1b2c3d-0000-4000-8000-000000000006"


def as_json(result: subprocess.CompletedProcess[str]) -> Any:
    return json.loads(ok(result).stdout)


T0 = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.timezone.utc)


def populate(cat: Catalog) -> dict[str, str]:
    """Two flow runs and a task run outside any flow, with artifacts and materializations."""
    ids: dict[str, str] = {}
    ids["extract_md"] = cat.artifacts.create(
        "markdown",
        "# extracted",
        key="extract-report",
        flow_run_id=FLOW,
        task_run_id=TASK_EXTRACT,
    )
    ids["flow_md"] = cat.artifacts.create("markdown", "# flow body", flow_run_id=FLOW)
    cat.assets.record(
        [RAW],
        status="succeeded",
        upstream=[USERS],
        flow_run_id=FLOW,
        task_run_id=TASK_EXTRACT,
        task_name="extract",
        metadata={RAW: {"rows": 10}},
        properties={RAW: AssetProperties(name="Raw data", owners=["data-team"])},
    )
    cat.assets.record(
        [CLEAN],
        status="succeeded",
        upstream=[RAW],
        by="dbt",
        flow_run_id=FLOW,
        task_run_id=TASK_CLEAN,
        task_name="clean",
        metadata={CLEAN: {"rows": 9}},
    )
    cat.assets.record(
        [REPORT],
        status="failed",
        upstream=[CLEAN],
        declared=[FEED],
        flow_run_id=FLOW_B,
        task_run_id=TASK_REPORT,
        task_name="report",
    )

    def task(run_id: str, name: str, flow: str | None, start: int, artifacts: list[str]) -> Any:
        return RunRecord(
            id=run_id,
            run_type="task",
            name=f"{name}-0",
            function=name,
            state="Completed",
            start=T0 + dt.timedelta(seconds=start),
            end=T0 + dt.timedelta(seconds=start + 1),
            flow_run_id=flow,
            artifacts=artifacts,  # type: ignore[arg-type]
        )

    cat.runs.save(
        RunRecord(
            id=FLOW,
            run_type="flow",
            name="crimson-otter",
            function="etl",
            state="Completed",
            start=T0,
            end=T0 + dt.timedelta(seconds=5),
            parameters={"day": "'2026-03-01'"},
            artifacts=[ids["extract_md"], ids["flow_md"]],  # type: ignore[list-item]
            task_runs=[
                task(TASK_EXTRACT, "extract", FLOW, 1, [ids["extract_md"]]),
                task(TASK_CLEAN, "clean", FLOW, 2, []),
            ],
        )
    )
    cat.runs.save(
        RunRecord(
            id=FLOW_B,
            run_type="flow",
            name="brave-heron",
            function="reporting",
            state="Failed",
            start=T0 + dt.timedelta(minutes=5),
            end=T0 + dt.timedelta(minutes=5, seconds=2),
            message="report failed",
            task_runs=[task(TASK_REPORT, "report", FLOW_B, 301, [])],
        )
    )
    cat.runs.save(task(LONE_TASK, "lonely", None, 900, []))
    return ids


@pytest.fixture
def filled(catalog: Catalog) -> dict[str, str]:
    return populate(catalog)


# -- help, imports ---------------------------------------------------------------------------


def test_help_lists_the_new_commands(run_cli: Any) -> None:
    out = ok(run_cli("--help")).stdout
    for noun in ("asset", "run", "index"):
        assert noun in out
    sub = ok(run_cli("asset", "--help")).stdout
    for command in ("ls", "show", "lineage", "graph"):
        assert f" {command} " in sub
    assert " rebuild " in ok(run_cli("index", "--help")).stdout
    for command in ("ls", "show"):
        assert f" {command} " in ok(run_cli("run", "--help")).stdout


def test_the_cli_modules_import_nothing_heavy() -> None:
    code = (
        "import sys, cairn.cli.asset, cairn.cli.run, cairn.cli.index; "
        "print([m for m in ('cairn.catalog', 'pyarrow', 'rich', 'msgspec') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# -- asset ls ----------------------------------------------------------------------------------


def test_asset_ls_of_an_empty_catalog(run_cli: Any, catalog_url: str) -> None:
    result = ok(run_cli("asset", "ls"))
    assert result.stdout.strip() == "No assets found in this catalog."
    assert as_json(run_cli("asset", "ls", "--json")) == []
    assert not Path(catalog_url).exists()


def test_asset_ls_json(run_cli: Any, filled: dict[str, str]) -> None:
    rows = as_json(run_cli("asset", "ls", "--json"))
    assert [list(r) for r in rows] == [["key", "health", "last_seen"]] * 5
    assert [(r["key"], r["health"]) for r in rows] == [
        (USERS, "referenced"),
        (CLEAN, "succeeded"),
        (RAW, "succeeded"),
        (REPORT, "failed"),
        (FEED, "referenced"),
    ]
    seen = {
        r["key"]: dt.datetime.fromisoformat(r["last_seen"].replace("Z", "+00:00")) for r in rows
    }
    assert all(r["last_seen"].endswith("Z") for r in rows)
    assert seen[USERS] == seen[RAW]  # referenced: the time of the materialization naming it
    assert seen[FEED] == seen[REPORT]
    lake = as_json(run_cli("asset", "ls", "--prefix", "s3://lake/", "--json"))
    assert [r["key"] for r in lake] == [CLEAN, RAW]
    assert as_json(run_cli("asset", "ls", "-p", "s3://lake/", "-o", "json")) == lake
    assert error_line(run_cli("asset", "ls", "-o", "yaml")) == (
        "Only 'json' output format is supported."
    )


def test_asset_ls_table(run_cli: Any, filled: dict[str, str]) -> None:
    out = ok(run_cli("asset", "ls")).stdout
    for column in ("Key", "Health", "Last Seen"):
        assert column in out
    line = next(line for line in out.splitlines() if REPORT in line)
    assert "failed" in line and "ago" in line
    assert out.index(USERS) < out.index(CLEAN) < out.index(FEED)


# -- asset show --------------------------------------------------------------------------------


def test_asset_show_json(run_cli: Any, filled: dict[str, str]) -> None:
    shown = as_json(run_cli("asset", "show", RAW, "--json"))
    assert list(shown) == ["key", "properties", "materializations"]
    assert shown["key"] == RAW
    assert shown["properties"] == {
        "name": "Raw data",
        "url": None,
        "description": None,
        "owners": ["data-team"],
    }
    [mat] = shown["materializations"]
    assert list(mat) == [
        "status",
        "upstream",
        "by",
        "metadata",
        "flow_run_id",
        "task_run_id",
        "created",
    ]
    assert mat["status"] == "succeeded" and mat["upstream"] == [USERS]
    assert mat["metadata"] == {"rows": 10}
    assert (mat["flow_run_id"], mat["task_run_id"]) == (FLOW, TASK_EXTRACT)
    report = as_json(run_cli("asset", "show", REPORT, "--json"))
    assert report["properties"] is None
    assert report["materializations"][0]["upstream"] == [CLEAN, FEED]
    referenced = as_json(run_cli("asset", "show", USERS, "--json"))
    assert referenced == {"key": USERS, "properties": None, "materializations": []}


def test_asset_show_history_is_newest_first(run_cli: Any, catalog: Catalog) -> None:
    for i in range(3):
        catalog.assets.record(
            [RAW],
            status="failed" if i == 2 else "succeeded",
            by=f"tool-{i}",
            metadata={RAW: {"run": i}},
        )
    mats = as_json(run_cli("asset", "show", RAW, "--json"))["materializations"]
    assert [m["by"] for m in mats] == ["tool-2", "tool-1", "tool-0"]
    assert [m["status"] for m in mats] == ["failed", "succeeded", "succeeded"]
    assert len(as_json(run_cli("asset", "show", RAW, "--json", "-n", "2"))["materializations"]) == 2
    text = ok(run_cli("asset", "show", RAW)).stdout
    assert text.startswith(f"{RAW}\n")
    assert "health     failed" in text
    assert "run: 2" in text  # the latest materialization's metadata
    assert text.index("by tool-2") < text.index("by tool-0")


def test_asset_show_unknown(run_cli: Any, filled: dict[str, str]) -> None:
    assert error_line(run_cli("asset", "show", "s3://nope/x")) == "Asset 's3://nope/x' not found."
    assert error_line(run_cli("asset", "show", "not a key")) == "Asset 'not a key' not found."


# -- asset lineage -----------------------------------------------------------------------------


def test_asset_lineage_json(run_cli: Any, filled: dict[str, str]) -> None:
    up = as_json(run_cli("asset", "lineage", REPORT, "--upstream", "--json"))
    assert up == [
        {"key": CLEAN, "depth": 1},
        {"key": FEED, "depth": 1},
        {"key": RAW, "depth": 2},
        {"key": USERS, "depth": 3},
    ]
    assert (
        as_json(run_cli("asset", "lineage", REPORT, "--upstream", "--depth", "1", "--json"))
        == up[:2]
    )
    down = as_json(run_cli("asset", "lineage", USERS, "--downstream", "--json"))
    assert down == [
        {"key": RAW, "depth": 1},
        {"key": CLEAN, "depth": 2},
        {"key": REPORT, "depth": 3},
    ]
    both = as_json(run_cli("asset", "lineage", CLEAN, "--json"))
    assert both == [
        {"key": RAW, "depth": 1, "direction": "upstream"},
        {"key": USERS, "depth": 2, "direction": "upstream"},
        {"key": REPORT, "depth": 1, "direction": "downstream"},
    ]
    assert as_json(run_cli("asset", "lineage", USERS, "--upstream", "--json")) == []


def test_asset_lineage_text_is_labelled(run_cli: Any, filled: dict[str, str]) -> None:
    out = ok(run_cli("asset", "lineage", CLEAN)).stdout
    assert out == (
        f"Upstream of {CLEAN}:\n  1  {RAW}\n  2  {USERS}\nDownstream of {CLEAN}:\n  1  {REPORT}\n"
    )
    out = ok(run_cli("asset", "lineage", REPORT, "--downstream")).stdout
    assert out == f"Downstream of {REPORT}:\n  (none)\n"


def test_asset_lineage_errors(run_cli: Any, filled: dict[str, str]) -> None:
    assert error_line(run_cli("asset", "lineage", "s3://nope/x")) == (
        "Asset 's3://nope/x' not found."
    )
    result = run_cli("asset", "lineage", CLEAN, "--depth", "0")
    assert result.returncode == 2 and "Traceback" not in result.stderr


# -- asset graph -------------------------------------------------------------------------------


def test_asset_graph_mermaid(run_cli: Any, filled: dict[str, str]) -> None:
    out = ok(run_cli("asset", "graph")).stdout
    lines = out.splitlines()
    assert lines[0] == "flowchart LR"
    for scheme in ("postgres", "s3", "sftp"):
        assert f"    subgraph {scheme} " in out
    ids = dict(re.findall(r'(n\d+)\["([^"]+)"\]', out))
    assert sorted(ids.values()) == sorted([USERS, RAW, CLEAN, REPORT, FEED])
    by_key = {v: k for k, v in ids.items()}
    for up, down in [(USERS, RAW), (RAW, CLEAN), (CLEAN, REPORT), (FEED, REPORT)]:
        assert f"    {by_key[up]} --> {by_key[down]}" in lines
    assert out.count(" --> ") == 4
    assert f"class {by_key[REPORT]} failed" in out
    # The s3 nodes sit inside the s3 subgraph.
    s3 = out[out.index("subgraph s3 ") :]
    s3 = s3[: s3.index("    end")]
    assert RAW in s3 and REPORT in s3 and USERS not in s3


def test_asset_graph_dot(run_cli: Any, filled: dict[str, str]) -> None:
    out = ok(run_cli("asset", "graph", "--format", "dot")).stdout
    assert out.startswith("digraph assets {\n") and out.endswith("}\n")
    for scheme in ("postgres", "s3", "sftp"):
        assert f"subgraph cluster_{scheme} {{" in out
    ids = dict(re.findall(r'(n\d+) \[label="([^"]+)"', out))
    by_key = {v: k for k, v in ids.items()}
    assert f"    {by_key[CLEAN]} -> {by_key[REPORT]};" in out
    assert out.count(" -> ") == 4
    assert error_line(run_cli("asset", "graph", "--format", "svg")) == (
        "Unknown graph format 'svg': use 'mermaid' or 'dot'."
    )


def test_asset_graph_node_ids_are_safe_and_labels_escaped(run_cli: Any, catalog: Catalog) -> None:
    odd = "s3://b/(weird);*@~:=ünï/data.csv"
    keyword = "end://x/y"
    catalog.assets.record([odd], status="succeeded", upstream=[keyword, "3d://m/x"])
    mermaid = ok(run_cli("asset", "graph")).stdout
    assert f'["{odd}"]' in mermaid
    assert "subgraph scheme_end " in mermaid  # "end" closes a subgraph in Mermaid
    assert "subgraph scheme_3d " in mermaid
    for line in mermaid.splitlines()[1:]:
        token = line.split()[0]
        assert re.fullmatch(r"n\d+(\[.*\])?|subgraph|end|classDef|class", token), line
    dot = ok(run_cli("asset", "graph", "-f", "dot")).stdout
    assert f'label="{odd}"' in dot
    assert "subgraph cluster_end {" in dot and "subgraph cluster_3d {" in dot


def test_asset_graph_of_an_empty_catalog(run_cli: Any) -> None:
    assert ok(run_cli("asset", "graph")).stdout == "flowchart LR\n"
    assert ok(run_cli("asset", "graph", "-f", "dot")).stdout.startswith("digraph assets {")


# -- run ls / run show -------------------------------------------------------------------------


def test_run_ls_json(run_cli: Any, filled: dict[str, str]) -> None:
    rows = as_json(run_cli("run", "ls", "--json"))
    assert [r["id"] for r in rows] == [LONE_TASK, FLOW_B, FLOW]  # newest first
    assert list(rows[0]) == [
        "id",
        "run_type",
        "name",
        "flow",
        "task",
        "state",
        "start",
        "end",
        "duration",
        "flow_run_id",
        "task_runs",
        "artifacts",
    ]
    etl = rows[2]
    assert (etl["name"], etl["flow"], etl["task"], etl["state"]) == (
        "crimson-otter",
        "etl",
        None,
        "Completed",
    )
    assert (etl["task_runs"], etl["artifacts"], etl["duration"]) == (2, 2, 5.0)
    assert etl["start"] == "2026-03-01T12:00:00Z"
    lone = rows[0]
    assert (lone["run_type"], lone["flow"], lone["task"]) == ("task", None, "lonely")
    assert as_json(run_cli("run", "ls", "--limit", "1", "--json")) == rows[:1]


def test_run_ls_table_and_empty(run_cli: Any, catalog: Catalog) -> None:
    assert ok(run_cli("run", "ls")).stdout.strip() == "No runs found in this catalog."
    assert as_json(run_cli("run", "ls", "--json")) == []
    populate(catalog)
    out = ok(run_cli("run", "ls", env={"COLUMNS": "120"})).stdout
    for column in ("ID", "Name", "Flow", "State", "Start", "Duration", "Tasks", "Artifacts"):
        assert column in out
    line = next(line for line in out.splitlines() if "crimson-otter" in line)
    assert FLOW[:8] in line and "etl" in line and "5.00s" in line


def test_run_show_a_flow_run(run_cli: Any, filled: dict[str, str]) -> None:
    shown = as_json(run_cli("run", "show", FLOW, "--json"))
    assert (shown["id"], shown["run_type"], shown["flow"]) == (FLOW, "flow", "etl")
    assert shown["parameters"] == {"day": "'2026-03-01'"}
    assert {a["id"] for a in shown["artifacts"]} == {filled["extract_md"], filled["flow_md"]}
    assert [m["assets"] for m in shown["materializations"]] == [[RAW], [CLEAN]]
    extract, clean = shown["task_runs"]
    assert (extract["id"], extract["task"], extract["state"]) == (
        TASK_EXTRACT,
        "extract",
        "Completed",
    )
    assert extract["artifacts"] == [
        {"id": filled["extract_md"], "key": "extract-report", "type": "markdown"}
    ]
    assert [(m["assets"], m["status"], m["upstream"]) for m in extract["materializations"]] == [
        ([RAW], "succeeded", [USERS])
    ]
    assert clean["artifacts"] == []
    assert [m["by"] for m in clean["materializations"]] == ["dbt"]
    assert shown["subflow_runs"] == []
    text = ok(run_cli("run", "show", FLOW)).stdout
    assert text.startswith(f"Flow run crimson-otter  ({FLOW})\n")
    assert "Task runs (2):" in text
    assert "materialized  s3://lake/raw.csv  succeeded  <- postgres://db/users" in text
    assert "extract-report" in text
    assert "(keyless)" in text  # the artifact made in the flow body


def test_run_show_a_task_run_inside_a_flow(run_cli: Any, filled: dict[str, str]) -> None:
    shown = as_json(run_cli("run", "show", TASK_REPORT, "--json"))
    assert (shown["id"], shown["run_type"], shown["task"]) == (TASK_REPORT, "task", "report")
    assert shown["flow_run_id"] == FLOW_B
    assert [(m["assets"], m["status"]) for m in shown["materializations"]] == [([REPORT], "failed")]
    assert shown["task_runs"] == [] and shown["subflow_runs"] == []
    text = ok(run_cli("run", "show", TASK_REPORT)).stdout
    assert text.startswith(f"Task run report-0  ({TASK_REPORT})\n")
    assert f"flow run    brave-heron ({FLOW_B})" in text


def test_run_show_by_prefix_and_errors(run_cli: Any, filled: dict[str, str]) -> None:
    assert as_json(run_cli("run", "show", TASK_CLEAN[:8], "--json"))["id"] == TASK_CLEAN
    assert as_json(run_cli("run", "show", LONE_TASK[:6], "--json"))["id"] == LONE_TASK
    assert error_line(run_cli("run", "show", "ffffffff")) == "Run 'ffffffff' not found."
    assert error_line(run_cli("run", "show", "not-a-run!")) == "Run 'not-a-run!' not found."
    assert error_line(run_cli("run", "show", "0a1b2")) == (
        "Run '0a1b2' not found (a run id prefix needs at least 6 characters)."
    )


def test_run_show_an_ambiguous_prefix(run_cli: Any, catalog: Catalog) -> None:
    for suffix in ("1", "2"):
        catalog.runs.save(
            RunRecord(
                id=f"abcdef00-0000-4000-8000-00000000000{suffix}",
                run_type="flow",
                name="x",
                function="f",
                state="Completed",
                start=T0,
            )
        )
    assert error_line(run_cli("run", "show", "abcdef")) == (
        "Run id prefix 'abcdef' is ambiguous: it matches 2 runs; give more characters."
    )


# -- index rebuild -----------------------------------------------------------------------------


def test_index_rebuild_gives_the_same_answers(
    run_cli: Any, filled: dict[str, str], catalog_url: str
) -> None:
    queries = [
        ("asset", "ls", "--json"),
        ("asset", "show", RAW, "--json"),
        ("asset", "show", REPORT, "--json"),
        ("asset", "lineage", CLEAN, "--json"),
        ("asset", "graph"),
        ("run", "show", FLOW, "--json"),
    ]
    before = [ok(run_cli(*q)).stdout for q in queries]
    out = ok(run_cli("index", "rebuild")).stdout
    assert re.search(
        r"index/lineage: 3 assets, 3 materializations, 3 rows from 3 records in "
        r"[0-9.]+ s",
        out,
    )
    assert "index/artifacts-latest.msgpack: 1 artifact key in" in out
    assert re.search(r"Rebuilt index/ in [0-9.]+ s\.", out)
    assert [ok(run_cli(*q)).stdout for q in queries] == before
    shutil.rmtree(Path(catalog_url) / "index")
    assert [ok(run_cli(*q)).stdout for q in queries] == before
    (Path(catalog_url) / "index" / "lineage" / "base.parquet").write_bytes(b"garbage")
    (Path(catalog_url) / "index" / "lineage" / "maps.msgpack").write_bytes(b"garbage")
    assert [ok(run_cli(*q)).stdout for q in queries] == before


def test_index_rebuild_of_a_catalog_never_written(run_cli: Any, catalog_url: str) -> None:
    out = ok(run_cli("index", "rebuild")).stdout
    assert out.startswith("Nothing to rebuild: there is no catalog at")
    assert not Path(catalog_url).exists()
