"""``cairn gc``: delete the objects no ref reaches, as ``git gc --prune`` does.

A thin shell over :func:`cairn.catalog.gc`. Text output ends with one summary line; with
``--dry-run``, each version and object that would go is listed first (``delete version ID of
KEY``, ``delete ID SIZE``). ``--json`` prints the summary (``GcReport.summary``) instead. A
progress bar is shown on stderr, only when stderr is a terminal. A bad duration, a missing
catalog or a damaged one is one line on stderr and exit code 1.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from cairn.cli._options import CatalogOption, catalog_url
from cairn.cli._output import ProgressBar, human_size, print_json, write

if TYPE_CHECKING:
    from cairn.catalog import GcReport

__all__ = ["gc"]


def gc(
    ctx: typer.Context,
    prune: Annotated[
        str,
        typer.Option(
            "--prune",
            metavar="WHEN",
            help=(
                "Delete unreachable objects older than this: a duration such as 2w, 14d, 36h "
                "or 90m, or 'now' (only when nothing else writes to the catalog)."
            ),
        ),
    ] = "2w",
    keep_versions: Annotated[
        int | None,
        typer.Option(
            "--keep-versions",
            metavar="N",
            min=1,
            help="First delete all but the N newest versions of each artifact key.",
            show_default=False,
        ),
    ] = None,
    older_than: Annotated[
        str | None,
        typer.Option(
            "--older-than",
            metavar="DURATION",
            help=(
                "First delete versions created longer ago than this (with --keep-versions: "
                "only those beyond the N newest)."
            ),
            show_default=False,
        ),
    ] = None,
    dry_run: Annotated[
        bool,
        typer.Option("--dry-run", help="List what would be deleted, and its size; delete nothing."),
    ] = False,
    json_: Annotated[
        bool, typer.Option("--json", help="Print a JSON summary instead of text.")
    ] = False,
    jobs: Annotated[
        int | None,
        typer.Option(
            "--jobs",
            "-j",
            min=1,
            max=256,
            help="Objects read at once while marking (default 16 on S3, 1 locally).",
            show_default=False,
        ),
    ] = None,
    catalog: CatalogOption = None,
) -> None:
    """Delete objects that no ref reaches and that are older than --prune (two weeks).

    Deleted artifact versions, replaced history snapshots and run records, and the losers of
    commit races take space until gc reclaims them. An unreachable object younger than the
    grace period is kept, so a commit still in flight never loses one; `--prune=now` reclaims
    everything unreachable at once and is for a catalog nobody is writing to.

    Retention: `--keep-versions N` and `--older-than DURATION` first delete old versions of
    every key (never a key's latest), as `cairn artifact delete` would. The sweep reclaims
    them once they are older than the grace period: at once with `--prune=now`, else by a
    later gc.
    """
    from cairn.catalog import gc as collect

    url = catalog_url(ctx, catalog)
    # Keys trimmed, objects marked, then objects swept.
    with ProgressBar("starting", shown=not json_) as bar:

        def progress(phase: str, done: int, total: int | None) -> None:
            bar.set(done, total, _PHASES.get(phase, phase))

        report = collect(
            url, prune=prune, dry_run=dry_run, keep_versions=keep_versions,
            older_than=older_than, jobs=jobs, progress=progress if bar.active else None,
        )  # fmt: skip
    if json_:
        print_json(report.summary())
    else:
        _print(report)


_PHASES = {
    "retention": "retention: keys",
    "marking": "marking: objects reached",
    "sweeping": "sweeping: objects",
}


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}" + ("" if n == 1 else "s")


def _print(report: GcReport) -> None:
    from cairn.catalog._gc import format_duration, parse_duration

    lines: list[str] = []
    would = report.dry_run
    if would:
        lines.extend(f"delete version {vid} of {key}\n" for key, vid in report.versions)
        lines.extend(f"delete {oid} {size}\n" for oid, size in report.deleted)
    if report.versions_deleted:
        verb = "Would delete" if would else "Deleted"
        lines.append(
            f"{verb} {_plural(report.versions_deleted, 'old version')} of "
            f"{_plural(report.keys_trimmed, 'key')}.\n"
        )
    parts = []
    if report.objects_deleted:
        verb = "Would delete" if would else "Deleted"
        parts.append(
            f"{verb} {_plural(report.objects_deleted, 'unreachable object')} "
            f"({human_size(report.bytes_deleted)})"
        )
    else:
        parts.append("Nothing to delete")
    keep = "would keep" if would else "kept"
    if report.objects_kept_recent:
        age = (
            "stored since gc started"
            if report.prune == "now"
            else f"younger than {format_duration(parse_duration(report.prune), long=True)}"
        )
        parts.append(
            f"{keep} {_plural(report.objects_kept_recent, 'unreachable object')} {age} "
            f"({human_size(report.bytes_kept_recent)})"
        )
    if report.objects_kept_moved:
        parts.append(
            f"{keep} {_plural(report.objects_kept_moved, 'object')} that refs moved meanwhile reach"
        )
    if report.leftovers_removed:
        verb = "would remove" if would else "removed"
        leftovers = _plural(report.leftovers_removed, "leftover")
        parts.append(f"{verb} {leftovers} of interrupted writes")
    lines.append(
        f"{'; '.join(parts)}. {_plural(report.reachable, 'object')} reachable "
        f"({human_size(report.reachable_bytes)}), "
        f"in {report.seconds:.2f} s.\n"
    )
    write("".join(lines))
