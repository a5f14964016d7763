"""``cairn init``: create a catalog, as ``git init`` creates a repository."""

import os
from typing import Annotated

import typer

from cairn.cli._options import CatalogOption, catalog_url

__all__ = ["init"]


def _where(url: str) -> str:
    if "://" in url:
        return url
    return os.path.abspath(os.path.expanduser(url))


def init(
    ctx: typer.Context,
    url: Annotated[
        str | None,
        typer.Argument(
            metavar="URL",
            help="Where to create it: a folder, file:///abs/path, s3://bucket/prefix or "
            "memory://name. Default: --catalog, $CAIRN_CATALOG, the nearest .cairn folder, "
            "else ./.cairn.",
            show_default=False,
        ),
    ] = None,
    catalog: CatalogOption = None,
) -> None:
    """Create a catalog: write its format marker (the CAIRN file).

    A catalog is also created by its first write, so init is optional; it lets you choose
    where the catalog lives, or make a non-empty folder a catalog. Running it on an existing
    catalog changes nothing.
    """
    from cairn.catalog import Catalog

    target = url if url is not None else catalog_url(ctx, catalog)
    existed = Catalog.from_url(target).exists()
    Catalog.init(target)
    if existed:
        typer.echo(f"{_where(target)} is already a cairn catalog; nothing changed")
    else:
        typer.echo(f"Initialized empty cairn catalog in {_where(target)}")
