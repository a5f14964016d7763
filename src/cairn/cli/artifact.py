"""``cairn artifact``: list, inspect, show and delete artifacts (Prefect's ``prefect artifact``).

The messages and exit codes of ``ls``, ``inspect`` and ``delete`` are Prefect's (see
SPEC-prefect.md §1.4), except where cairn decided otherwise: ``ls --all`` lists keyless
artifacts after keyed ones, ``delete KEY`` deletes every version and never prompts when
stdin is not a terminal, limits may be any positive number, and JSON output prints every
value exactly.

Ids are content hashes; every command that takes an id also takes a unique prefix of at
least 6 characters. Reads never validate keys: an invalid key is simply not found.
"""

import re
import sys
from typing import TYPE_CHECKING, Annotated, Any

import typer

from cairn.cli._errors import fail
from cairn.cli._options import (
    CatalogOption,
    JsonOption,
    OutputOption,
    open_catalog,
    wants_json,
)
from cairn.cli._output import (
    console,
    format_time,
    print_json,
    print_pretty,
    relative_time,
    write,
)

if TYPE_CHECKING:
    from cairn.catalog import ArtifactResponse, Catalog

__all__ = ["app", "delete", "inspect", "log", "ls", "show"]

app = typer.Typer(
    rich_markup_mode="markdown",
    name="artifact",
    help="List, inspect, show and delete artifacts.",
    no_args_is_help=True,
    add_completion=False,
)

_HEX = re.compile(r"[0-9a-f]+")
_MIN_PREFIX = 6  # cairn.objects.MIN_PREFIX, without importing the object store here
_SHORT = 12
"""How many characters of an id tables and logs show (the JSON output shows them whole)."""

KeyArgument = Annotated[
    str, typer.Argument(metavar="KEY", help="The artifact key.", show_default=False)
]


def _run_label(artifact: "ArtifactResponse") -> str:
    if artifact.flow_run_id:
        return f"flow run {artifact.flow_run_id[:8]}"
    if artifact.task_run_id:
        return f"task run {artifact.task_run_id[:8]}"
    return "no run"


def _collection_dict(artifact: "ArtifactResponse") -> dict[str, Any]:
    """Return a key's latest version as Prefect's collection JSON (with ``latest_id``)."""
    version = artifact.to_dict()
    out: dict[str, Any] = {}
    for name, value in version.items():
        out[name] = value
        if name == "key":
            out["latest_id"] = artifact.id
    return out


@app.command("ls")
def ls(
    ctx: typer.Context,
    limit: Annotated[
        int, typer.Option("--limit", min=1, help="Show at most this many artifacts.")
    ] = 100,
    all_: Annotated[
        bool,
        typer.Option("--all", "-a", help="Every version of every key, then keyless artifacts."),
    ] = False,
    output: OutputOption = None,
    json_: JsonOption = False,
    catalog: CatalogOption = None,
) -> None:
    """List the latest version of every artifact key, sorted by key.

    With --all, list every version: each key's versions newest first, then the keyless
    artifacts. A catalog that was never written lists nothing (and is not created).
    """
    as_json = wants_json(json_, output)
    cat = open_catalog(ctx, catalog)
    listing = cat.artifacts
    artifacts = listing.list_all(limit=limit) if all_ else listing.list_latest()[:limit]
    if as_json:
        if all_:
            print_json([a.to_dict() for a in artifacts])
        else:
            print_json([_collection_dict(a) for a in artifacts])
        return
    from rich.table import Table
    from rich.text import Text

    table = Table(title="Artifacts", caption="List Artifacts using `cairn artifact ls`")
    table.add_column("ID", style="blue", no_wrap=True)
    table.add_column("Key", style="blue", overflow="fold")
    table.add_column("Type", no_wrap=True)
    table.add_column("Updated", no_wrap=True)
    for a in artifacts:
        table.add_row(
            Text(a.id[:_SHORT]),
            Text(a.key or ""),
            Text(a.type),
            Text(relative_time(a.updated)),
        )
    console().print(table)


@app.command("inspect")
def inspect(
    ctx: typer.Context,
    key: KeyArgument,
    limit: Annotated[
        int, typer.Option("--limit", min=1, help="Show at most this many versions.")
    ] = 10,
    output: OutputOption = None,
    json_: JsonOption = False,
    catalog: CatalogOption = None,
) -> None:
    """Show the versions of an artifact key, newest first, with all their fields."""
    as_json = wants_json(json_, output)
    cat = open_catalog(ctx, catalog)
    versions = cat.artifacts.history(key, limit=limit)
    if not versions:
        fail(f"Artifact '{key}' not found.")
    dicts = [a.to_dict() for a in versions]
    if as_json:
        print_json(dicts)
        return
    for artifact, fields in zip(versions, dicts, strict=True):
        if artifact.image is not None:
            # The payload is the image's bytes, in the catalog: say what it is instead.
            fields["data"] = artifact.image.describe()
    print_pretty(dicts)


@app.command("log")
def log(
    ctx: typer.Context,
    key: KeyArgument,
    limit: Annotated[
        int | None,
        typer.Option("--limit", "-n", min=1, help="Show at most this many versions."),
    ] = None,
    catalog: CatalogOption = None,
) -> None:
    """Show the history of an artifact key, one version a line, newest first.

    Each line gives the short id, when the version was created (local time), its type,
    the run that made it and the first line of its description.
    """
    cat = open_catalog(ctx, catalog)
    versions = cat.artifacts.history(key, limit=limit)
    if not versions:
        fail(f"Artifact '{key}' not found.")
    type_width = max(len(a.type) for a in versions)
    run_width = max(len(_run_label(a)) for a in versions)
    lines = []
    for a in versions:
        description = (a.description or "").strip().splitlines()
        first = description[0] if description else ""
        fields = [
            a.id[:_SHORT],
            format_time(a.created),
            a.type.ljust(type_width),
            _run_label(a).ljust(run_width),
            first,
        ]
        lines.append("  ".join(fields).rstrip() + "\n")
    write("".join(lines))


def _resolve(cat: "Catalog", target: str) -> "ArtifactResponse":
    """Return the artifact ``target`` names: a key's latest version, else an id or prefix."""
    from cairn.errors import ArtifactNotFoundError

    latest = cat.artifacts.latest(target)
    if latest is not None:
        return latest
    is_hex = bool(_HEX.fullmatch(target))
    if is_hex and len(target) >= _MIN_PREFIX:
        try:
            return cat.artifacts.get(target)
        except ArtifactNotFoundError:
            pass
    hint = ""
    if is_hex and len(target) < _MIN_PREFIX:
        hint = f" (an id prefix needs at least {_MIN_PREFIX} characters)"
    fail(f"Artifact '{target}' not found.{hint}")


@app.command("show")
def show(
    ctx: typer.Context,
    target: Annotated[
        str,
        typer.Argument(
            metavar="ID_OR_KEY",
            help="A key (its latest version), or an artifact id or id prefix (6+ characters).",
            show_default=False,
        ),
    ],
    json_: JsonOption = False,
    catalog: CatalogOption = None,
) -> None:
    """Show one artifact as it would look in Prefect's UI.

    Markdown is rendered, tables are drawn as tables, links show their text and URL,
    images their URL (or, stored in the catalog, their type and size), progress a bar.
    ID_OR_KEY is taken as a key when a key with exactly that name has versions; otherwise
    as an id or a unique id prefix.
    """
    cat = open_catalog(ctx, catalog)
    artifact = _resolve(cat, target)
    if json_:
        print_json(artifact.to_dict())
        return
    from cairn.cli._render import render_artifact

    render_artifact(console(), artifact)


@app.command("delete")
def delete(
    ctx: typer.Context,
    key: Annotated[
        str | None,
        typer.Argument(metavar="KEY", help="Delete every version of this key.", show_default=False),
    ] = None,
    artifact_id: Annotated[
        str | None,
        typer.Option(
            "--id", metavar="ID", help="Delete this one version (an id or a unique prefix)."
        ),
    ] = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    catalog: CatalogOption = None,
) -> None:
    """Delete every version of an artifact key, or one version by id.

    On a terminal, asks first (--yes skips the question); when stdin is not a terminal it
    never asks. Deleting a key's latest version makes the previous one the latest.
    """
    if key is not None and artifact_id is not None:
        fail("Please provide either a key or an artifact_id but not both.")
    if key is None and artifact_id is None:
        fail("Please provide a key or an artifact_id.")
    from cairn.errors import ArtifactNotFoundError

    cat = open_catalog(ctx, catalog)
    ask = not yes and sys.stdin.isatty()
    if artifact_id is not None:
        missing = f"Artifact with id '{artifact_id}' not found!"
        try:
            cat.artifacts.get(artifact_id)
        except ArtifactNotFoundError:
            fail(missing)
        if ask and not typer.confirm(
            f"Are you sure you want to delete artifact with id '{artifact_id}'?", default=False
        ):
            fail("Deletion aborted.")
        try:
            cat.artifacts.delete(artifact_id)
        except ArtifactNotFoundError:
            fail(missing)  # deleted by someone else since we looked
        typer.echo(f"Deleted artifact with id '{artifact_id}'.")
        return
    assert key is not None
    missing = (
        f"Artifact with key '{key}' not found. "
        "You can also specify an artifact id with the --id flag."
    )
    if ask:
        count = len(cat.artifacts.history(key))
        if count == 0:
            fail(missing)
        if not typer.confirm(
            f"Are you sure you want to delete {count} artifact(s) with key '{key}'?",
            default=False,
        ):
            fail("Deletion aborted.")
    deleted = cat.artifacts.delete_key(key)
    if deleted == 0:
        fail(missing)
    typer.echo(f"Deleted {deleted} artifact(s) with key '{key}'.")
