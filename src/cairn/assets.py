"""Prefect 3's assets API, with cairn underneath.

Code written for ``prefect.assets`` runs unchanged with ``from cairn.assets import ...``:
``@materialize`` marks a function that writes assets, lineage is inferred from the task graph
(plus ``asset_deps`` for what the graph cannot show), and ``add_asset_metadata`` attaches
metadata to a materialization. Unlike Prefect's open-source server, cairn keeps every
materialization as a record in the catalog, so the asset graph is yours to query
(``catalog.lineage``, ``cairn asset lineage``).
"""

from cairn.runtime._assets import Asset, AssetProperties, add_asset_metadata
from cairn.runtime._engine import MaterializingTask, materialize

__all__ = ["Asset", "AssetProperties", "MaterializingTask", "add_asset_metadata", "materialize"]
