"""Prefect's artifacts docs examples (examples/artifacts/), checked through the CLI.

Each example runs as a script in a fresh folder with no ``CAIRN_CATALOG``, so its artifacts
go to the default catalog ``./.cairn``; then ``python -m cairn artifact ...`` run in the
same folder must show what Prefect's docs page says the example makes.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "artifacts"
BUCKET = "https://nyc3.digitaloceanspaces.com/my-bucket-name"
GIF = (
    "https://media3.giphy.com/media/v1.Y2lkPTc5MGI3NjExZmQydzBjOHQ2M3BhdWJ4M3V1MGtoZGxuNmloeGh6b2"
    "dvaHhpaHg0eSZlcD12MV9pbnRlcm5hbF9naWZfYnlfaWQmY3Q9Zw/3KC2jD2QcBOSc/giphy.gif"
)


@pytest.fixture
def example(cli_env: dict[str, str]) -> Any:
    """Return ``run(name, cwd)``: run an example script in ``cwd``, with no CAIRN_* set."""

    def run(name: str, cwd: Path) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [sys.executable, str(EXAMPLES / name)],
            cwd=cwd,
            env=cli_env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, (name, result.stdout, result.stderr)
        return result

    return run


@pytest.fixture
def cli(run_cli: Any, tmp_path: Path) -> Any:
    """Return ``cli(*args)``: ``python -m cairn ...`` in ``tmp_path``, default catalog."""

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return run_cli(*args, catalog=None, cwd=tmp_path)

    return run


def as_json(cli: Any, *args: str) -> Any:
    result = cli(*args, "--json")
    assert result.returncode == 0, (args, result.stdout, result.stderr)
    return json.loads(result.stdout)


def latest(cli: Any) -> dict[str, dict[str, Any]]:
    """Return ``artifact ls --json`` as {key: row}."""
    return {row["key"]: row for row in as_json(cli, "artifact", "ls")}


def test_every_example_is_covered() -> None:
    covered = {
        "link_artifacts.py",
        "link_text.py",
        "markdown_report.py",
        "table_artifact.py",
        "image_artifact.py",
        "progress_artifact.py",
        "fetch_artifact.py",
    }
    assert {p.name for p in EXAMPLES.glob("*.py")} == covered


def test_link_artifacts(tmp_path: Path, example: Any, cli: Any) -> None:
    example("link_artifacts.py", tmp_path)
    assert (tmp_path / ".cairn" / "CAIRN").is_file()  # the default catalog, ./.cairn
    versions = as_json(cli, "artifact", "inspect", "irregular-data")
    assert [v["data"] for v in versions] == [
        f"[{BUCKET}/low_pred_data.csv]({BUCKET}/low_pred_data.csv)",
        f"[{BUCKET}/highly_variable_data.csv]({BUCKET}/highly_variable_data.csv)",
    ]
    assert [v["description"] for v in versions] == [
        "# Low prediction accuracy",
        "## Highly variable data",
    ]
    assert {v["type"] for v in versions} == {"markdown"}
    assert all(v["flow_run_id"] and v["task_run_id"] for v in versions)
    row = latest(cli)["irregular-data"]
    assert row["latest_id"] == row["id"] == versions[0]["id"]  # the latest is the second

    deleted = cli("artifact", "delete", "irregular-data")
    assert deleted.returncode == 0, deleted.stderr
    assert deleted.stdout.strip() == "Deleted 2 artifact(s) with key 'irregular-data'."
    assert "irregular-data" not in latest(cli)
    assert "irregular-data" not in cli("artifact", "ls").stdout


def test_link_text(tmp_path: Path, example: Any, cli: Any) -> None:
    example("link_text.py", tmp_path)
    row = latest(cli)["my-important-link"]
    assert row["data"] == "[Prefect](https://www.prefect.io/)"
    assert row["type"] == "markdown"
    assert row["flow_run_id"] and row["task_run_id"] is None  # made in the flow body
    shown = cli("artifact", "show", "my-important-link")
    assert "Prefect" in shown.stdout and "https://www.prefect.io/" in shown.stdout


def test_markdown_report(tmp_path: Path, example: Any, cli: Any) -> None:
    example("markdown_report.py", tmp_path)
    row = latest(cli)["gtm-report"]
    assert row["type"] == "markdown"
    assert row["description"] == "Quarterly Sales Report"
    assert row["data"].startswith("# Sales Report\n")
    assert "| North America | $500,000 |" in row["data"]
    shown = cli("artifact", "show", "gtm-report").stdout
    assert "North America" in shown and "$500,000" in shown


def test_table_artifact(tmp_path: Path, example: Any, cli: Any) -> None:
    example("table_artifact.py", tmp_path)
    row = latest(cli)["personalized-reachout"]
    assert row["type"] == "table"
    assert json.loads(row["data"]) == [
        {"customer_id": "12345", "name": "John Smith", "churn_probability": 0.85},
        {"customer_id": "56789", "name": "Jane Jones", "churn_probability": 0.65},
    ]
    assert row["description"] == "# Marvin, please reach out to these customers today!"
    assert row["flow_run_id"] is None  # a plain function, no run
    shown = cli("artifact", "show", "personalized-reachout").stdout
    assert "customer_id" in shown and "Jane Jones" in shown and "0.65" in shown


def test_image_artifact(tmp_path: Path, example: Any, cli: Any) -> None:
    result = example("image_artifact.py", tmp_path)
    assert result.stdout.strip() == f"Image URL: {GIF}"
    row = latest(cli)["gif"]
    assert row["type"] == "image"
    assert row["data"] == GIF
    assert row["description"] == "A gif."


@pytest.mark.slow
def test_progress_artifact_and_keyless_listing(tmp_path: Path, example: Any, cli: Any) -> None:
    example("progress_artifact.py", tmp_path)  # ten updates, two seconds apart
    assert latest(cli) == {}  # keyless: not in the default listing
    everything = as_json(cli, "artifact", "ls", "--all")
    assert len(everything) == 1
    progress = everything[0]
    assert progress["key"] is None and progress["type"] == "progress"
    assert progress["data"] == 100.0
    assert progress["description"] == "Indicates the progress of fetching data in batches."
    assert progress["updated"] > progress["created"]
    assert "100.0%" in cli("artifact", "show", progress["id"][:8]).stdout

    example("link_text.py", tmp_path)
    everything = as_json(cli, "artifact", "ls", "--all")
    assert [row["key"] for row in everything] == ["my-important-link", None]


def test_fetch_artifact(tmp_path: Path, example: Any, cli: Any) -> None:
    result = example("fetch_artifact.py", tmp_path)
    assert result.stdout == ""
    assert not (tmp_path / ".cairn").exists()  # a read creates nothing
    assert as_json(cli, "artifact", "ls") == []
