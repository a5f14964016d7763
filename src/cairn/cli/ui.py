"""``cairn ui``: browse a catalog in a web browser; ``cairn ui export DIR``: as static files.

Both need the ``ui`` extra (``pip install 'cairn[ui]'``); without it they say so in one
line and exit with code 1. Nothing of the viewer is imported until one of them runs, so
``cairn --help`` stays fast.

``cairn ui`` listens on 127.0.0.1:4200 by default, and there answers only requests that name
a loopback host (so a web page cannot reach it through DNS rebinding): the viewer is
read-only but shows everything in the catalog, so serving it beyond this machine (``--host
0.0.0.0``) is a choice to make knowingly. ``--port 0`` picks a free port; the first line
printed gives the address either way.
"""

from __future__ import annotations

from typing import Annotated

import typer

from cairn.cli._errors import fail
from cairn.cli._options import CatalogOption, open_catalog

__all__ = ["app", "export", "serve"]

app = typer.Typer(
    rich_markup_mode="markdown",
    name="ui",
    help="Browse the catalog in a web browser (read-only), or export it as static HTML.",
    invoke_without_command=True,
    add_completion=False,
)


def _require_ui() -> None:
    from cairn.ui import missing_requirements

    missing = missing_requirements()
    if missing:
        fail(
            f"Error: cairn ui needs the 'ui' extra, which is not installed (missing: "
            f"{', '.join(missing)}): pip install 'cairn[ui]'"
        )


@app.callback(invoke_without_command=True)
def serve(
    ctx: typer.Context,
    host: Annotated[
        str, typer.Option("--host", help="The address to listen on.", show_default=True)
    ] = "127.0.0.1",
    port: Annotated[
        int,
        typer.Option("--port", min=0, max=65535, help="The port to listen on (0: any free one)."),
    ] = 4200,
    catalog: CatalogOption = None,
) -> None:
    """Serve a read-only web viewer of the catalog: artifacts, runs, assets and lineage.

    Open the address it prints in a browser; stop it with Ctrl+C. Run `cairn ui export DIR`
    to write the same pages as static files instead.
    """
    if ctx.invoked_subcommand is not None:
        return
    import socket

    _require_ui()
    cat = open_catalog(ctx, catalog)
    if not cat.exists():
        fail(
            f"Error: there is no cairn catalog at {cat.url!r} yet: run a flow that creates "
            "artifacts (or 'cairn demo') first, or give --catalog"
        )
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(128)  # connections wait from now on, even before the app is up
    except OSError as exc:
        sock.close()
        fail(f"Error: cannot listen on {host}:{port}: {exc.strerror or exc}")
    except (socket.gaierror, UnicodeError) as exc:
        sock.close()
        fail(f"Error: cannot listen on {host!r}: {exc}")
    bound = sock.getsockname()[1]
    shown = f"[{host}]" if family == socket.AF_INET6 else host
    typer.echo(f"cairn ui: {cat.url} at http://{shown}:{bound}/ (read-only; Ctrl+C to stop)")
    import ipaddress

    from cairn.ui._app import LOOPBACK_HOSTS, run_server

    # On a loopback address, answer only to loopback names: a page on another site could
    # otherwise point a name of its own at 127.0.0.1 (DNS rebinding) and read the catalog.
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    run_server(cat, sock, allowed_hosts=LOOPBACK_HOSTS if loopback else None)


@app.command("export")
def export(
    ctx: typer.Context,
    dest: Annotated[
        str,
        typer.Argument(
            metavar="DIR",
            help="A new or empty folder (or an earlier export, which is replaced).",
            show_default=False,
        ),
    ],
    catalog: CatalogOption = None,
) -> None:
    """Write the viewer's pages as static HTML into DIR, to publish on any static host.

    Every page links to the others by relative paths, with the data it shows and the
    downloads as files: open DIR/index.html, or copy DIR to a bucket's website.
    """
    _require_ui()
    from cairn.ui._export import export_site

    cat = open_catalog(ctx, catalog)
    if not cat.exists():
        fail(f"Error: there is no cairn catalog at {cat.url!r} to export")
    report = export_site(cat, dest, progress=lambda line: typer.echo(line, err=True))
    parts = [
        f"{_count(report.keys, 'artifact key')} ({_count(report.versions, 'version')})",
        _count(report.runs, "run"),
    ]
    if report.assets:
        parts.append(_count(report.assets, "asset"))
    typer.echo(
        f"Exported {', '.join(parts)}: {_count(report.pages, 'page')}, "
        f"{_count(report.files, 'file')} in {report.path}; open {report.path / 'index.html'}"
    )


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}{'' if n == 1 else 's'}"
