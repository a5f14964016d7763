"""A small pipeline that shows what cairn keeps: run it with ``cairn demo``.

It runs a flow whose tasks materialize three assets (the orders, read from a CRM table that
another system owns, and the report built from them) and create one artifact of each kind
(link, markdown, table, image and a progress bar that advances) in the default catalog. The
report is built twice, so its history has two versions.
"""

from __future__ import annotations

import statistics
import struct
import zlib

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
    create_image_artifact(  # stored in the catalog: no public URL needed
        bar_chart_png(revenue), key="demo-chart", description="Revenue by region"
    )
    return markdown


def bar_chart_png(values: list[float], width: int = 360, height: int = 180) -> bytes:
    """Draw ``values`` as a bar chart and return it as PNG bytes (no plotting library)."""
    background, bar, axis = b"\xff\xff\xff", b"\x2b\x6c\xb0", b"\x55\x55\x55"
    margin, gap = 12, 10
    slot = (width - 2 * margin) // max(len(values), 1)
    top = max(values, default=0) or 1
    heights = [round((height - 2 * margin) * v / top) for v in values]
    rows = []
    for y in range(height):
        row = bytearray(background * width)
        for i, h in enumerate(heights):
            if height - margin - h <= y < height - margin:
                left = margin + i * slot + gap // 2
                row[3 * left : 3 * (left + slot - gap)] = bar * (slot - gap)
        if y == height - margin:
            row[3 * margin : 3 * (width - margin)] = axis * (width - 2 * margin)
        rows.append(b"\x00" + bytes(row))  # filter type 0 per scanline

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"".join(rows), 9))
        + chunk(b"IEND", b"")
    )


@flow(name="cairn-demo")
def demo_pipeline(quarter: str = "2026-Q3") -> str:
    """Extract the orders, then report on them (twice, so the report has a history)."""
    rows = extract()
    report(rows[:3], quarter + " (preliminary)")
    return report(rows, quarter)


def run_demo() -> str:
    """Run the demo flow in the default catalog and return the final report."""
    return demo_pipeline()
