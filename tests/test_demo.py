"""`cairn demo`, the README's first command, run through the real console script."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from cairn.demo import DEMO_KEYS


def test_demo_fills_the_default_catalog_and_shows_it(run_cli: Any, tmp_path: Path) -> None:
    script = str(Path(sys.executable).parent / "cairn")
    done = run_cli("demo", catalog=None, cwd=tmp_path, command=[script])
    assert done.returncode == 0, done.stderr
    assert "Ran flow 'cairn-demo'" in done.stdout and "Completed" in done.stdout
    assert "Sales report, 2026-Q3" in done.stdout  # the report, rendered
    assert (tmp_path / ".cairn" / "CAIRN").is_file()  # the default catalog, created

    listed = run_cli("artifact", "ls", "--json", catalog=None, cwd=tmp_path)
    rows = {row["key"]: row for row in json.loads(listed.stdout)}
    assert sorted(rows) == sorted(DEMO_KEYS)
    assert {k: rows[k]["type"] for k in rows} == {
        "demo-chart": "image",
        "demo-orders": "table",
        "demo-progress": "progress",
        "demo-report": "markdown",
        "demo-source": "markdown",
    }
    assert rows["demo-progress"]["data"] == 100.0
    assert rows["demo-source"]["data"] == (
        "[orders-2026-q3.csv](https://example.com/data/orders-2026-q3.csv)"
    )
    assert len(json.loads(rows["demo-orders"]["data"])) == 5

    history = run_cli("artifact", "inspect", "demo-report", "--json", catalog=None, cwd=tmp_path)
    versions = json.loads(history.stdout)
    assert [v["description"] for v in versions] == [
        "Sales, 2026-Q3",
        "Sales, 2026-Q3 (preliminary)",
    ]


def test_demo_materializes_assets_with_lineage(run_cli: Any, tmp_path: Path) -> None:
    from cairn.catalog import Catalog
    from cairn.demo import CRM, DEMO_ASSETS, ORDERS, REPORT

    done = run_cli("demo", "--quiet", catalog=None, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    cat = Catalog.from_url(str(tmp_path / ".cairn"))
    assert cat.assets.keys() == sorted([ORDERS, REPORT])
    health = {a.key: a.health for a in cat.lineage.assets()}
    assert health == {ORDERS: "succeeded", CRM: "referenced", REPORT: "succeeded"}
    assert sorted(health) == sorted(DEMO_ASSETS)
    # The report is built from the orders (inferred from the task graph), which are read from
    # the CRM table (declared with asset_deps).
    assert cat.lineage.upstream(REPORT) == [(ORDERS, 1), (CRM, 2)]
    ((_, orders),) = cat.assets.history(ORDERS)
    assert orders.declared == [CRM] and orders.assets[0].metadata == {"rows": 5}
    reports = [m for _, m in cat.assets.history(REPORT)]
    assert [m.by for m in reports] == ["cairn-demo", "cairn-demo"]
    assert [m.assets[0].metadata["regions"] for m in reports] == [5, 3]
