"""``cairn fsck``: check that a catalog is whole, as ``git fsck`` does; it writes nothing.

A thin shell over :func:`cairn.catalog.fsck`: every object is re-hashed, every ref walked,
the lineage index compared with the records. Each problem is one line on stdout (its
severity, then a sentence naming the id or ref and the path), then a summary line; the exit
code is 1 when there is an error (warnings alone exit 0). A progress bar is shown on
stderr, only when stderr is a terminal; ``--json`` prints the report as one JSON document
instead (``FsckReport.to_dict``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from cairn.cli._options import CatalogOption, open_catalog
from cairn.cli._output import ProgressBar, human_size, print_json, write

if TYPE_CHECKING:
    from cairn.catalog import FsckReport

__all__ = ["fsck"]


def fsck(
    ctx: typer.Context,
    json_: Annotated[
        bool, typer.Option("--json", help="Print the report as JSON (counts and each problem).")
    ] = False,
    jobs: Annotated[
        int | None,
        typer.Option(
            "--jobs",
            "-j",
            min=1,
            max=256,
            help="Objects read at once (default 16 on S3, 1 locally).",
            show_default=False,
        ),
    ] = None,
    catalog: CatalogOption = None,
) -> None:
    """Check the catalog: re-hash every object, walk every ref, compare the lineage index.

    Reports each corrupt, missing or misplaced object and each damaged or dangling ref, with
    its id or name and its path, and whether the lineage index (derived data) disagrees with
    the records. Nothing is written.

    Exit code 0 when nothing is wrong (warnings, such as an index file that will be rebuilt,
    are printed but do not count), 1 otherwise. Repair by copying the damaged files back from
    another copy of the catalog; rebuild the index with `cairn index rebuild`.
    """
    from cairn.catalog import fsck as check

    cat = open_catalog(ctx, catalog)
    # Objects checked out of those listed, and bytes read.
    with ProgressBar("listing", shown=not json_) as bar:

        def progress(checked: int, total: int, size: int) -> None:
            bar.set(checked, total, f"checking, {human_size(size)}")

        report = check(cat, jobs=jobs, progress=progress if bar.active else None)
    if json_:
        print_json(report.to_dict())
    else:
        _print(report)
    if not report.ok:
        raise typer.Exit(1)


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}" + ("" if n == 1 else "s")


def _print(report: FsckReport) -> None:
    lines = [f"{p.severity}: {' '.join(p.message.split())}\n" for p in report.problems]
    counts = [
        _plural(n, word)
        for n, word in ((len(report.errors), "error"), (len(report.warnings), "warning"))
        if n
    ]
    garbage = f"; {report.unreachable:,} unreachable" if report.unreachable else ""
    index = f", {_plural(report.lineage_rows, 'lineage index row')}" if report.lineage_rows else ""
    lines.append(
        f"Checked {_plural(report.objects, 'object')} ({human_size(report.bytes)}{garbage}), "
        f"{_plural(report.refs, 'ref')}{index} in {report.seconds:.2f} s: "
        f"{', '.join(counts) or 'no problems found'}.\n"
    )
    write("".join(lines))
