"""cairn: Prefect-style artifacts and assets in a git-style catalog that lives in a folder.

The common names are importable from the top level; each is loaded on first use, so
``import cairn`` stays fast::

    from cairn import flow, task
    from cairn.artifacts import create_markdown_artifact

Example:
    >>> import cairn
    >>> @cairn.flow
    ... def report():
    ...     from cairn.artifacts import create_markdown_artifact
    ...     return create_markdown_artifact("# Done", key="status")
    >>> with cairn.use_catalog("memory://readme-example") as catalog:
    ...     artifact_id = report()
    >>> catalog.artifacts.latest("status").id == artifact_id
    True
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cairn._lazy import lazy_attributes

__version__ = "0.1.0"

__all__ = [
    "Artifact",
    "Catalog",
    "CatalogError",
    "Flow",
    "Task",
    "__version__",
    "flow",
    "materialize",
    "task",
    "unmapped",
    "use_catalog",
]

_LAZY = {
    "Artifact": "cairn.artifacts",
    "Catalog": "cairn.catalog",
    "CatalogError": "cairn.errors",
    "Flow": "cairn.runtime",
    "Task": "cairn.runtime",
    "flow": "cairn.runtime",
    "task": "cairn.runtime",
    "materialize": "cairn.runtime",
    "unmapped": "cairn.runtime",
    "use_catalog": "cairn._config",
}

if TYPE_CHECKING:
    from cairn._config import use_catalog
    from cairn.artifacts import Artifact
    from cairn.catalog import Catalog
    from cairn.errors import CatalogError
    from cairn.runtime import Flow, Task, flow, materialize, task, unmapped


__getattr__, __dir__ = lazy_attributes(__name__, _LAZY, __all__)
