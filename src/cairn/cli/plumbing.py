"""Plumbing: look at a catalog's objects and refs directly, as git's ``cat-file`` and ``show-ref``.

These commands show the storage format (docs/FORMAT.md) rather than artifacts: a record as
the JSON it is stored as, a blob's size or bytes, and the refs with the object each points to.
"""

import sys
from typing import Annotated

import typer

from cairn.cli._options import CatalogOption, JsonOption, open_catalog
from cairn.cli._output import print_json, write

__all__ = ["cat_object", "show_ref"]


def cat_object(
    ctx: typer.Context,
    object_id: Annotated[
        str,
        typer.Argument(
            metavar="ID",
            help="An object id, or a unique prefix of 6+ characters.",
            show_default=False,
        ),
    ],
    raw: Annotated[
        bool, typer.Option("--raw", help="Write the object's stored bytes to stdout as they are.")
    ] = False,
    catalog: CatalogOption = None,
) -> None:
    """Print an object: a record as indented JSON, or what a blob is.

    Records (artifact versions, history snapshots, progress updates, runs) are printed as
    the JSON they are stored as, fields sorted. A blob (a large payload, a Parquet table) is
    described by its size; --raw writes the bytes of any object instead.
    """
    import json

    from cairn.catalog.records import decode_record
    from cairn.errors import WrongTypeError

    cat = open_catalog(ctx, catalog)
    oid = cat.resolve_id(object_id)
    data = cat.objects.get(oid)
    if raw:
        sys.stdout.flush()
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
        return
    try:
        decode_record(data)
    except WrongTypeError:
        write(
            f"{oid} is a blob of {len(data)} bytes, not a record (use --raw to write its bytes)\n"
        )
        return
    print_json(json.loads(data))


def show_ref(
    ctx: typer.Context,
    prefix: Annotated[
        str,
        typer.Argument(
            metavar="PREFIX",
            help="List only refs whose name starts with this (for example 'artifacts/').",
            show_default=False,
        ),
    ] = "",
    json_: JsonOption = False,
    catalog: CatalogOption = None,
) -> None:
    """List refs, one per line: the object id, a space, the ref's name.

    Refs are the catalog's only mutable files: 'artifacts/KEY' is the head of a key's
    history, 'progress/ID' the latest update of a progress artifact, 'runs/ID' a run's
    latest record, 'keyless/ID' and 'deleted/ID' keep keyless artifacts and their deletions,
    and 'assets/HASH' (the SHA-256 of the asset key) is the head of an asset's history.
    """
    cat = open_catalog(ctx, catalog)
    refs = list(cat.refs.iter_refs(prefix))
    if json_:
        print_json([{"name": name, "id": oid} for name, oid in refs])
        return
    write("".join(f"{oid} {name}\n" for name, oid in refs))
