"""``cairn ui``: a read-only web viewer of a catalog, and static exports of it.

The viewer shows what Prefect users read in a browser: artifacts by key and type (markdown
rendered, links, sortable and paged tables with CSV and Parquet downloads, images, progress
bars that move live), flow runs with their task runs and what each made, and, where
:mod:`cairn.ui._assets` is present, assets and their lineage graph.

* :func:`create_app` (:mod:`cairn.ui._app`): the Starlette app, served by uvicorn;
* :func:`export_site` (:mod:`cairn.ui._export`): the same pages written as static files;
* :mod:`cairn.ui._views`: what each page shows, read through :mod:`cairn.catalog`;
* :mod:`cairn.ui._links`: where each page lives, on the server and in an export;
* :mod:`cairn.ui._render`: markdown, sanitizing, URL checks, tables and times.

Everything it needs ships in the package (templates/ and static/): no CDN, nothing fetched
at run time, no JavaScript build. It needs the ``ui`` extra (``pip install 'cairn[ui]'``):
Starlette, uvicorn, Jinja2, markdown-it-py and nh3. Importing :mod:`cairn` or running
``cairn --help`` imports none of this.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cairn.ui._app import create_app
    from cairn.ui._export import export_site

__all__ = ["REQUIREMENTS", "create_app", "export_site", "missing_requirements"]

REQUIREMENTS = ("starlette", "uvicorn", "jinja2", "markdown_it", "nh3")
"""The modules the viewer imports (from the ``ui`` extra)."""


def missing_requirements() -> list[str]:
    """Return the modules of :data:`REQUIREMENTS` that cannot be imported here."""
    import importlib

    missing = []
    for name in REQUIREMENTS:
        try:
            importlib.import_module(name)
        except ImportError:
            missing.append(name)
    return missing


def __getattr__(name: str) -> Any:
    # The app and the exporter import Starlette and Jinja: only when asked for.
    if name == "create_app":
        from cairn.ui._app import create_app

        return create_app
    if name == "export_site":
        from cairn.ui._export import export_site

        return export_site
    raise AttributeError(f"module 'cairn.ui' has no attribute {name!r}")
