"""``cairn index``: rebuild the derived data under ``index/`` from the records.

Everything under ``index/`` is derived (docs/FORMAT.md): deleting it loses nothing, and every
command that reads an index checks it against the refs and repairs it. ``rebuild`` deletes it
and computes it again from scratch: the lineage index (``index/lineage/``) and the artifact
listing (``index/artifacts-latest.msgpack``).
"""

import time

import typer

from cairn.cli._options import CatalogOption, open_catalog
from cairn.cli._output import write

__all__ = ["app", "rebuild"]

app = typer.Typer(
    rich_markup_mode="markdown",
    name="index",
    help="Rebuild the derived indexes (lineage, artifact listing) from the records.",
    no_args_is_help=True,
    add_completion=False,
)


@app.command("rebuild")
def rebuild(ctx: typer.Context, catalog: CatalogOption = None) -> None:
    """Delete index/ and rebuild it from the records; print what was rebuilt and how fast.

    Queries give the same answers before and after: the index is only ever a cache.
    """
    cat = open_catalog(ctx, catalog)
    if not cat.exists():
        write(f"Nothing to rebuild: there is no catalog at {cat.url} yet.\n")
        return
    started = time.perf_counter()
    cat.area.delete_tree("index")
    stats = cat.lineage.rebuild()
    rate = f", {stats.records / stats.seconds:,.0f} records/s" if stats.seconds > 0 else ""
    lines = [
        f"index/lineage: {stats.assets:,} assets, {stats.materializations:,} materializations, "
        f"{stats.rows:,} rows from {stats.records:,} records in {stats.seconds:.2f} s{rate}\n"
    ]
    t0 = time.perf_counter()
    keys = len(cat.artifacts.list_latest())
    lines.append(
        f"index/artifacts-latest.msgpack: {keys:,} artifact key{'' if keys == 1 else 's'} in "
        f"{time.perf_counter() - t0:.2f} s\n"
    )
    lines.append(f"Rebuilt index/ in {time.perf_counter() - started:.2f} s.\n")
    write("".join(lines))
