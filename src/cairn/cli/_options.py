"""Options shared by several commands, and how a command finds its catalog.

``--catalog`` is accepted both before the command (``cairn --catalog X artifact ls``) and
after it (``cairn artifact ls --catalog X``); the one given after the command wins. Without
either, :func:`cairn._config.resolve_catalog_url` decides: ``CAIRN_CATALOG``, then the
nearest ``.cairn`` folder above the working directory, then ``./.cairn``.

Nothing heavy is imported here: the catalog is imported when a command opens it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated

import typer

from cairn.cli._errors import fail

if TYPE_CHECKING:
    from cairn.catalog import Catalog

__all__ = [
    "CatalogOption",
    "JsonOption",
    "OutputOption",
    "State",
    "catalog_url",
    "open_catalog",
    "wants_json",
]

CatalogOption = Annotated[
    str | None,
    typer.Option(
        "--catalog",
        metavar="URL",
        help=(
            "The catalog: a folder, file:///abs/path, s3://bucket/prefix or memory://name. "
            "Default: $CAIRN_CATALOG, else the nearest .cairn folder, else ./.cairn."
        ),
        show_default=False,
    ),
]

JsonOption = Annotated[
    bool,
    typer.Option("--json", help="Print JSON (values exactly as stored) instead of a table."),
]

OutputOption = Annotated[
    str | None,
    typer.Option(
        "--output",
        "-o",
        metavar="FORMAT",
        help="Output format; only 'json' is supported (the same as --json).",
        show_default=False,
    ),
]


@dataclass
class State:
    """What the top-level options said; kept on the root context's ``obj``."""

    catalog: str | None = None
    debug: bool = False


def catalog_url(ctx: typer.Context, flag: str | None) -> str:
    """Return the URL of the catalog a command should use.

    Args:
        ctx: the command's context (its root holds the ``--catalog`` given before the command).
        flag: the ``--catalog`` given after the command, if any.
    """
    from cairn._config import resolve_catalog_url

    if flag is None:
        state = ctx.find_root().obj
        if isinstance(state, State):
            flag = state.catalog
    return resolve_catalog_url(flag)


def open_catalog(ctx: typer.Context, flag: str | None) -> Catalog:
    """Open the catalog a command should use (nothing is created by opening it).

    Raises:
        InvalidURLError: the URL names no usable catalog (reported by the error handler).
    """
    from cairn.catalog import Catalog

    return Catalog.from_url(catalog_url(ctx, flag))


def wants_json(json_flag: bool, output: str | None) -> bool:
    """Return whether JSON output was asked for with ``--json`` or ``-o json``.

    Any other ``-o`` value ends the command with Prefect's message and exit code 1.
    """
    if output is not None:
        if output.strip().lower() != "json":
            fail("Only 'json' output format is supported.")
        return True
    return json_flag
