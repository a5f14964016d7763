"""Where the catalog is: the one resolver used by the Python API and the CLI.

Precedence, first match wins:

1. an explicit URL (the ``--catalog`` option, ``Catalog.from_url``, or :func:`use_catalog`);
2. the catalog of the flow or task run in progress;
3. the ``CAIRN_CATALOG`` environment variable;
4. the nearest folder named ``.cairn`` in the working directory or any folder above it;
5. ``./.cairn`` in the working directory, created on the first write.

The environment is read when a catalog is needed, never at import time.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cairn.catalog import Catalog

__all__ = ["DEFAULT_DIRNAME", "ENV_VAR", "default_catalog", "resolve_catalog_url", "use_catalog"]

ENV_VAR = "CAIRN_CATALOG"
DEFAULT_DIRNAME = ".cairn"

_override: contextvars.ContextVar[Catalog | None] = contextvars.ContextVar(
    "cairn_catalog_override", default=None
)
_cache: dict[str, Catalog] = {}
_cache_lock = threading.Lock()


def resolve_catalog_url(explicit: str | None = None) -> str:
    """Return the URL of the catalog to use, following the documented precedence.

    An explicit URL is returned as given, even an empty one (which opening then refuses):
    ``--catalog ""`` must not quietly mean the default catalog. An empty ``CAIRN_CATALOG``
    counts as unset.

    Example:
        >>> resolve_catalog_url("memory://docs")
        'memory://docs'
    """
    if explicit is not None:
        return explicit
    env = os.environ.get(ENV_VAR)
    if env:
        return env
    cwd = Path.cwd()
    for folder in (cwd, *cwd.parents):
        candidate = folder / DEFAULT_DIRNAME
        if candidate.is_dir():
            return str(candidate)
    return str(cwd / DEFAULT_DIRNAME)


def default_catalog() -> Catalog:
    """Return the catalog that module-level functions such as ``create_markdown_artifact`` use.

    Inside :func:`use_catalog` that catalog; inside a flow or task run, the run's catalog;
    otherwise the one :func:`resolve_catalog_url` names. Catalog objects are cached per URL, so
    a process keeps one view of each catalog.
    """
    override = _override.get()
    if override is not None:
        return override
    from cairn.runtime._context import current_catalog

    in_run = current_catalog()
    if in_run is not None:
        return in_run
    return catalog_for_url(resolve_catalog_url())


def catalog_for_url(url: str) -> Catalog:
    """Return the process's cached :class:`~cairn.catalog.Catalog` for ``url``."""
    with _cache_lock:
        cat = _cache.get(url)
        if cat is None:
            from cairn.catalog import Catalog

            cat = _cache[url] = Catalog.from_url(url)
        return cat


@contextlib.contextmanager
def use_catalog(catalog: Catalog | str) -> Iterator[Catalog]:
    """Make ``catalog`` (a Catalog or a URL) the default catalog inside a ``with`` block.

    Example:
        >>> import cairn
        >>> from cairn.artifacts import create_markdown_artifact
        >>> with cairn.use_catalog("memory://docs-example") as cat:
        ...     artifact_id = create_markdown_artifact("# Hello", key="hello")
        >>> cat.artifacts.latest("hello").data
        '# Hello'
    """
    from cairn.catalog import Catalog

    cat = catalog if isinstance(catalog, Catalog) else Catalog.from_url(catalog)
    token = _override.set(cat)
    try:
        yield cat
    finally:
        _override.reset(token)
