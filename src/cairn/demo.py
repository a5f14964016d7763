"""A small pipeline that shows what cairn keeps: run it with ``cairn demo``.

It runs a flow whose tasks materialize three assets (the orders, read from a CRM table that
another system owns, and the report built from them) and create one artifact of each kind
(link, markdown, table, image and a progress bar that advances) in the default catalog. The
report is built twice, so its history has two versions.
"""

from __future__ import annotations

import statistics

from cairn.artifacts import (
    create_image_artifact,
    create_link_artifact,
    create_markdown_artifact,
    create_progress_artifact,
    create_table_artifact,
    update_progress_artifact,
)
from cairn.assets import add_asset_metadata
from cairn.runtime import flow, materialize

__all__ = ["DEMO_ASSETS", "DEMO_KEYS", "demo_pipeline", "run_demo"]

DEMO_KEYS = ("demo-source", "demo-orders", "demo-report", "demo-chart", "demo-progress")
ORDERS = "file://demo/orders-2026-q3.csv"
CRM = "postgres://crm/regions"
REPORT = "s3://demo-bucket/reports/sales-2026-q3.md"
DEMO_ASSETS = (ORDERS, CRM, REPORT)
"""The assets the demo materializes (or, for the CRM table, reads)."""

_ORDERS = [
    {"region": "North America", "orders": 412, "revenue": 500_000.0},
    {"region": "Europe", "orders": 198, "revenue": 250_000.0},
    {"region": "Asia", "orders": 151, "revenue": 150_000.0},
    {"region": "South America", "orders": 77, "revenue": 75_000.0},
    {"region": "Africa", "orders": 31, "revenue": 25_000.0},
]


@materialize(ORDERS, asset_deps=[CRM])
def extract() -> list[dict[str, object]]:
    """Load the orders and record where they came from."""
    progress_id = create_progress_artifact(
        0.0, key="demo-progress", description="Loading order batches"
    )
    rows = []
    for i, row in enumerate(_ORDERS, start=1):
        rows.append(dict(row))
        update_progress_artifact(progress_id, 100.0 * i / len(_ORDERS))
    create_link_artifact(
        "https://example.com/data/orders-2026-q3.csv",
        link_text="orders-2026-q3.csv",
        key="demo-source",
        description="Where the orders came from",
    )
    create_table_artifact(rows, key="demo-orders", description="Orders by region")
    add_asset_metadata(ORDERS, {"rows": len(rows)})
    return rows


@materialize(REPORT, by="cairn-demo")
def report(rows: list[dict[str, object]], quarter: str) -> str:
    """Summarise the orders as a markdown report."""
    revenue = [float(r["revenue"]) for r in rows]  # type: ignore[arg-type]
    lines = [
        f"# Sales report, {quarter}",
        "",
        f"Total revenue: **${sum(revenue):,.0f}** across {len(rows)} regions "
        f"(median ${statistics.median(revenue):,.0f}).",
        "",
        "| Region | Orders | Revenue |",
        "|:--|--:|--:|",
        *(f"| {r['region']} | {r['orders']} | ${float(r['revenue']):,.0f} |" for r in rows),  # type: ignore[arg-type]
    ]
    markdown = "\n".join(lines) + "\n"
    create_markdown_artifact(markdown, key="demo-report", description=f"Sales, {quarter}")
    add_asset_metadata(REPORT, {"regions": len(rows), "revenue": sum(revenue)})
    create_image_artifact(
        "https://example.com/charts/revenue-by-region.png",
        key="demo-chart",
        description="Revenue by region",
    )
    return markdown


@flow(name="cairn-demo")
def demo_pipeline(quarter: str = "2026-Q3") -> str:
    """Extract the orders, then report on them (twice, so the report has a history)."""
    rows = extract()
    report(rows[:3], quarter + " (preliminary)")
    return report(rows, quarter)


def run_demo() -> str:
    """Run the demo flow in the default catalog and return the final report."""
    return demo_pipeline()
