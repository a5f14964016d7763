"""The catalog: artifact versions, key histories, runs and their derived indexes.

A catalog is a root URL holding ``CAIRN`` (the format marker), ``objects/`` (immutable,
content-addressed records and blobs), ``refs/`` (named pointers moved by compare-and-swap) and
``index/`` (derived data, safe to delete). docs/FORMAT.md describes every file.

Example:
    >>> from cairn.catalog import Catalog
    >>> cat = Catalog.from_url("memory://catalog-example")
    >>> first = cat.artifacts.create("markdown", "v1", key="notes")
    >>> second = cat.artifacts.create("markdown", "v2", key="notes")
    >>> [a.data for a in cat.artifacts.history("notes")]
    ['v2', 'v1']
"""

from typing import TYPE_CHECKING

from cairn._lazy import lazy_attributes
from cairn.catalog._artifacts import (
    ARTIFACT_KEY_MAX,
    ArtifactResponse,
    Artifacts,
    validate_artifact_key,
)
from cairn.catalog._assets import (
    AssetRecords,
    asset_ref,
    validate_asset_key,
    validate_asset_properties,
)
from cairn.catalog._catalog import MARKER, Catalog
from cairn.catalog._index_runs import FoundRun, child_runs, find_run, top_level_runs
from cairn.catalog._runs import RunNotFoundError, Runs, check_run_id
from cairn.catalog.records import (
    FORMAT_VERSION,
    ArtifactVersion,
    AssetHead,
    AssetMerge,
    AssetProperties,
    HistorySnapshot,
    Materialization,
    MaterializedAsset,
    ProgressUpdate,
    Record,
    RunRecord,
    decode_record,
    encode_record,
    record_id,
)

if TYPE_CHECKING:
    from cairn.catalog._fsck import FsckProblem, FsckReport, fsck
    from cairn.catalog._gc import GcError, GcReport, gc
    from cairn.catalog._lineage import (
        AssetSummary,
        Lineage,
        LineageGraph,
        MaterializationEntry,
        RebuildStats,
    )
    from cairn.catalog._sync import RefChange, SyncError, SyncReport, sync

# Upkeep (fsck, gc, sync) and lineage queries are loaded on first use: most commands never
# need them.
_LAZY = {
    **dict.fromkeys(
        ("AssetSummary", "Lineage", "LineageGraph", "MaterializationEntry", "RebuildStats"),
        "cairn.catalog._lineage",
    ),
    **dict.fromkeys(("FsckProblem", "FsckReport", "fsck"), "cairn.catalog._fsck"),
    **dict.fromkeys(("GcError", "GcReport", "gc"), "cairn.catalog._gc"),
    **dict.fromkeys(("RefChange", "SyncError", "SyncReport", "sync"), "cairn.catalog._sync"),
}

__all__ = [
    "ARTIFACT_KEY_MAX",
    "FORMAT_VERSION",
    "MARKER",
    "ArtifactResponse",
    "ArtifactVersion",
    "Artifacts",
    "AssetHead",
    "AssetMerge",
    "AssetProperties",
    "AssetRecords",
    "AssetSummary",
    "Catalog",
    "FoundRun",
    "FsckProblem",
    "FsckReport",
    "GcError",
    "GcReport",
    "HistorySnapshot",
    "Lineage",
    "LineageGraph",
    "Materialization",
    "MaterializationEntry",
    "MaterializedAsset",
    "ProgressUpdate",
    "RebuildStats",
    "Record",
    "RefChange",
    "RunNotFoundError",
    "RunRecord",
    "Runs",
    "SyncError",
    "SyncReport",
    "check_run_id",
    "child_runs",
    "decode_record",
    "encode_record",
    "find_run",
    "fsck",
    "gc",
    "asset_ref",
    "record_id",
    "sync",
    "top_level_runs",
    "validate_artifact_key",
    "validate_asset_key",
    "validate_asset_properties",
]

__getattr__, __dir__ = lazy_attributes(__name__, _LAZY, __all__)
