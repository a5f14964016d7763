"""cairn's command line: ``cairn`` (or ``python -m cairn``).

A thin typer shell over :mod:`cairn.catalog`, one module per noun:

* ``cairn init``: :mod:`cairn.cli.init`;
* ``cairn demo``: :mod:`cairn.cli.demo`;
* ``cairn artifact ls | inspect | log | show | delete``: :mod:`cairn.cli.artifact`;
* ``cairn asset ls | show | lineage | graph``: :mod:`cairn.cli.asset`;
* ``cairn run ls | show``: :mod:`cairn.cli.run`;
* ``cairn index rebuild``: :mod:`cairn.cli.index`;
* ``cairn sync``, ``push``, ``pull`` and ``clone``: :mod:`cairn.cli.sync`;
* ``cairn fsck``: :mod:`cairn.cli.fsck`;
* ``cairn gc``: :mod:`cairn.cli.gc`;
* ``cairn ui`` and ``cairn ui export``: :mod:`cairn.cli.ui`;
* ``cairn cat-object`` and ``cairn show-ref`` (plumbing): :mod:`cairn.cli.plumbing`.

Options used by several commands live in :mod:`cairn.cli._options`; the one place that turns
cairn's errors into a message and an exit code is :mod:`cairn.cli._errors`.

Importing this package is cheap: the catalog, rich and pyarrow are imported by the commands
that use them, so ``cairn --help`` starts as fast as typer does.
"""

from collections.abc import Sequence
from typing import Annotated

import typer

from cairn.cli import artifact, asset, demo, fsck, gc, index, init, plumbing, run, sync, ui
from cairn.cli._errors import CairnGroup
from cairn.cli._options import CatalogOption, State

__all__ = ["app", "main"]

app = typer.Typer(
    rich_markup_mode="markdown",
    name="cairn",
    cls=CairnGroup,
    help=(
        "cairn: Prefect-style artifacts in a git-style catalog that lives in a folder.\n\n"
        "The catalog is --catalog, else $CAIRN_CATALOG, else the nearest .cairn folder above "
        "the working directory, else ./.cairn."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _print_version(value: bool) -> None:
    if value:
        from cairn import __version__

        typer.echo(f"cairn {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    ctx: typer.Context,
    catalog: CatalogOption = None,
    debug: Annotated[
        bool,
        typer.Option(
            "--debug",
            help="On an error, print the traceback too (also: CAIRN_DEBUG=1).",
        ),
    ] = False,
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_print_version,
            is_eager=True,
            help="Print cairn's version and exit.",
        ),
    ] = False,
) -> None:
    ctx.obj = State(catalog=catalog, debug=debug)


app.command("init")(init.init)
app.command("demo")(demo.demo)
app.add_typer(artifact.app, name="artifact")
app.add_typer(asset.app, name="asset")
app.add_typer(run.app, name="run")
app.add_typer(index.app, name="index")
app.add_typer(ui.app, name="ui")
app.command("sync", rich_help_panel="Sync")(sync.sync)
app.command("push", rich_help_panel="Sync")(sync.push)
app.command("pull", rich_help_panel="Sync")(sync.pull)
app.command("clone", rich_help_panel="Sync")(sync.clone)
app.command("fsck", rich_help_panel="Upkeep")(fsck.fsck)
app.command("gc", rich_help_panel="Upkeep")(gc.gc)
app.command("cat-object", rich_help_panel="Plumbing")(plumbing.cat_object)
app.command("show-ref", rich_help_panel="Plumbing")(plumbing.show_ref)


def main(args: Sequence[str] | None = None) -> None:
    """Run the cairn command line (the ``cairn`` console script and ``python -m cairn``).

    Args:
        args: the arguments, without the program name; default ``sys.argv[1:]``.
    """
    app(args=list(args) if args is not None else None, prog_name="cairn")
