"""``cairn sync``, ``push``, ``pull`` and ``clone``: move history between catalogs.

A thin shell over :func:`cairn.catalog.sync`: objects SRC has and DST lacks are copied
(verified), then DST's refs are merged by compare-and-swap (docs/FORMAT.md, "Sync"). A
progress bar (objects and bytes) is shown on a terminal only; ``--json`` prints a summary and
``--dry-run`` what would change, writing nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from cairn.cli._errors import fail
from cairn.cli._options import CatalogOption, catalog_url
from cairn.cli._output import ProgressBar, human_size, print_json, write

if TYPE_CHECKING:
    from cairn.catalog import SyncReport

__all__ = ["clone", "pull", "push", "sync"]

Both = Annotated[
    bool, typer.Option("--both", help="Then sync DST into SRC too: both end with the same refs.")
]
DryRun = Annotated[
    bool, typer.Option("--dry-run", help="Print what would be copied and changed; write nothing.")
]
Json = Annotated[bool, typer.Option("--json", help="Print a JSON summary instead of text.")]
Jobs = Annotated[
    int | None,
    typer.Option(
        "--jobs",
        "-j",
        min=1,
        max=256,
        help="Transfers at once (default 16 on S3, 4 locally).",
        show_default=False,
    ),
]


def _run(src: str, dst: str, *, both: bool, dry_run: bool, json: bool, jobs: int | None) -> None:
    from cairn.catalog import sync as do_sync

    # Objects copied of those found so far: the total grows while sync walks the source (it
    # finds what to copy as it goes) and is exact once the walk ends.
    with ProgressBar(f"copying, {human_size(0)}", shown=not (json or dry_run)) as bar:

        def progress(objects: int, size: int, found: int) -> None:
            bar.set(objects, found, f"copying, {human_size(size)}")

        report = do_sync(
            src, dst, both=both, dry_run=dry_run, jobs=jobs,
            progress=progress if bar.active else None,
        )  # fmt: skip
    if json:
        print_json(report.summary())
        return
    _print(report)


def _print(report: SyncReport) -> None:
    lines: list[str] = []
    verb = "Would copy" if report.dry_run else "Copied"
    if report.dry_run:
        for oid, kind, size in report.objects:
            lines.append(f"copy {oid} {kind} {size}\n")
        for change in report.changes:
            old, new = change.old or "-", change.new or "-"
            lines.append(f"{change.action} {change.name} {old[:12]} -> {new[:12]}\n")
    changed = report.refs_created + report.refs_updated + report.refs_merged + report.refs_deleted
    if not report.dry_run and changed == 0 and report.objects_copied == 0:
        write("Already up to date.\n")
        return
    lines.append(
        f"{verb} {report.objects_copied:,} objects ({human_size(report.bytes_copied)}); "
        f"refs: {report.refs_created} created, {report.refs_updated} updated, "
        f"{report.refs_merged} merged, {report.refs_deleted} deleted, "
        f"{report.refs_unchanged} unchanged; {report.conflicts_merged} conflicts merged "
        f"in {report.seconds:.2f} s.\n"
    )
    write("".join(lines))


def sync(
    src: Annotated[str, typer.Argument(metavar="SRC", help="The catalog to copy from.")],
    dst: Annotated[str, typer.Argument(metavar="DST", help="The catalog to copy into.")],
    both: Both = False,
    dry_run: DryRun = False,
    json: Json = False,
    jobs: Jobs = None,
) -> None:
    """Copy what SRC has and DST lacks into DST, and merge their refs.

    Objects are hash-checked as they are copied and go first; refs move last, by
    compare-and-swap, merging histories that both sides changed. Re-running finishes a sync
    that was interrupted without copying again what already arrived.
    """
    _run(src, dst, both=both, dry_run=dry_run, json=json, jobs=jobs)


def push(
    ctx: typer.Context,
    dst: Annotated[str, typer.Argument(metavar="DST", help="The catalog to push to.")],
    dry_run: DryRun = False,
    json: Json = False,
    jobs: Jobs = None,
    catalog: CatalogOption = None,
) -> None:
    """Sync the default catalog (--catalog, $CAIRN_CATALOG, .cairn) into DST."""
    _run(catalog_url(ctx, catalog), dst, both=False, dry_run=dry_run, json=json, jobs=jobs)


def pull(
    ctx: typer.Context,
    src: Annotated[str, typer.Argument(metavar="SRC", help="The catalog to pull from.")],
    dry_run: DryRun = False,
    json: Json = False,
    jobs: Jobs = None,
    catalog: CatalogOption = None,
) -> None:
    """Sync SRC into the default catalog (--catalog, $CAIRN_CATALOG, .cairn)."""
    _run(src, catalog_url(ctx, catalog), both=False, dry_run=dry_run, json=json, jobs=jobs)


def clone(
    src: Annotated[str, typer.Argument(metavar="SRC", help="The catalog to copy.")],
    dst: Annotated[str, typer.Argument(metavar="DST", help="A new catalog (absent or empty).")],
    json: Json = False,
    jobs: Jobs = None,
) -> None:
    """Make DST a full copy of SRC; DST must not exist yet, or be empty."""
    from cairn.catalog import Catalog

    target = Catalog.from_url(dst)
    if target.exists() or _has_anything(target):
        fail(f"Error: {dst} is not empty; clone copies into a new catalog (use 'cairn sync')")
    _run(src, dst, both=False, dry_run=False, json=json, jobs=jobs)


def _has_anything(catalog: Any) -> bool:
    if catalog.area.is_nonempty_foreign():
        return True
    return next(iter(catalog.refs.iter_tokens("")), None) is not None
