"""``cairn demo``: run a small pipeline into the catalog, then show what it kept."""

from typing import Annotated

import typer

from cairn.cli import artifact, asset
from cairn.cli._options import CatalogOption, catalog_url

__all__ = ["demo"]


def demo(
    ctx: typer.Context,
    catalog: CatalogOption = None,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="Run the pipeline, print only a summary.")
    ] = False,
) -> None:
    """Run a demo flow that materializes assets and creates each kind of artifact, then show them.

    The flow's tasks materialize the orders (read from a CRM table another system owns) and
    a sales report built from them, and create a link, a table, a markdown report (twice, so it
    has a history), an image and a progress artifact that advances to 100%, in the catalog
    (by default ./.cairn). Afterwards, explore with the commands printed at the end.
    """
    from cairn._config import use_catalog
    from cairn.catalog import Catalog
    from cairn.demo import REPORT, run_demo

    url = catalog_url(ctx, catalog)
    cat = Catalog.from_url(url)
    with use_catalog(cat):
        run_demo()
    runs = [r for r in cat.runs.list() if r.run_type == "flow" and r.function == "cairn-demo"]
    run = runs[0]
    typer.echo(
        f"Ran flow 'cairn-demo' (run {run.name}, {run.state}): "
        f"{len(run.artifacts)} artifacts in {url}\n"
    )
    if not quiet:
        artifact.ls(ctx, limit=100, all_=False, output=None, json_=False, catalog=catalog)
        typer.echo("")
        artifact.show(ctx, target="demo-report", json_=False, catalog=catalog)
        typer.echo("")
        asset.ls(ctx, prefix=None, output=None, json_=False, catalog=catalog)
        typer.echo("")
        asset.lineage(
            ctx, key=REPORT, upstream=True, downstream=False, depth=None, json_=False,
            catalog=catalog,
        )  # fmt: skip
    typer.echo(
        "\nTry next:\n"
        "  cairn artifact log demo-report         # the report's two versions\n"
        "  cairn artifact show demo-orders        # the table\n"
        "  cairn artifact inspect demo-progress --json\n"
        f"  cairn asset show {REPORT}\n"
        "  cairn asset graph                      # the lineage, as Mermaid\n"
        "  cairn run ls                           # the flow run and its task runs\n"
        "  cairn ui                               # all of it in a browser (cairn[ui])"
    )
