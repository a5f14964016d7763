"""Reachability: which objects a catalog's refs keep alive (for sync, and later fsck and gc).

Two views of the same links (docs/FORMAT.md, "Reachability"):

* :func:`links` lists every object id a record names, except a snapshot's informational
  ``bases``. Sync copies along these links, children before parents, so that a catalog it
  writes to keeps the rule "an object that is stored has everything it links to stored",
  which is what lets a later sync stop at the first object the destination already has.
  A version's ``parent`` is *optional*: once a version is deleted (a snapshot replaces the
  history) garbage collection may reclaim it, while a newer version that a run still lists
  keeps pointing at it.
* :func:`reachable` walks from every ref by namespace, as the format defines what each ref
  keeps alive: ``artifacts/<key>`` its history walk (each version and its blob; a snapshot's
  listed versions and their blobs; never ``bases``), ``progress/<id>`` the update chain,
  ``runs/<id>`` the run record and the versions it lists (with their blobs),
  ``keyless/<id>`` that version, ``deleted/<id>`` nothing, and ``assets/<hash>`` every node
  of the asset's history and the materialization an ``asset-head`` names.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, NamedTuple

from cairn.catalog.records import (
    AnyRecord,
    ArtifactVersion,
    AssetHead,
    AssetMerge,
    HistorySnapshot,
    Materialization,
    ProgressUpdate,
    RunRecord,
)
from cairn.objects import ObjectId

if TYPE_CHECKING:
    from cairn.catalog._catalog import Catalog

__all__ = ["BLOB", "Link", "kind_of", "links", "reachable", "run_artifacts"]

BLOB = "blob"
"""The kind :func:`reachable` gives an object that is not a record."""


class Link(NamedTuple):
    """One object id a record names."""

    oid: ObjectId
    blob: bool
    """The object is a payload (never decoded as a record)."""
    optional: bool
    """The link may dangle (its target may have been reclaimed): see the module docstring."""


_KINDS: dict[type, str] = {
    ArtifactVersion: "artifact",
    HistorySnapshot: "history",
    ProgressUpdate: "progress-update",
    RunRecord: "run",
    Materialization: "materialization",
    AssetHead: "asset-head",
    AssetMerge: "asset-merge",
}


def kind_of(record: AnyRecord) -> str:
    """Return the ``kind`` tag of ``record`` (``artifact``, ``history``, ...)."""
    return _KINDS[type(record)]


def run_artifacts(run: RunRecord) -> list[ObjectId]:
    """Return the artifacts a run record lists, its embedded task runs' included."""
    out = list(run.artifacts)
    for task_run in run.task_runs:
        out.extend(run_artifacts(task_run))
    return out


def links(record: AnyRecord) -> list[Link]:
    """Return every object ``record`` names (except a snapshot's ``bases``)."""
    out: list[Link] = []
    if isinstance(record, ArtifactVersion):
        for blob in (record.blob, record.image):
            if blob is not None:
                out.append(Link(blob, True, False))
        if record.parent is not None:
            out.append(Link(record.parent, False, True))
    elif isinstance(record, HistorySnapshot):
        out.extend(Link(v, False, False) for v in record.versions)
    elif isinstance(record, ProgressUpdate):
        if record.parent is not None:
            out.append(Link(record.parent, False, False))
    elif isinstance(record, RunRecord):
        out.extend(Link(v, False, False) for v in dict.fromkeys(run_artifacts(record)))
    elif isinstance(record, Materialization):
        if record.parent is not None:
            out.append(Link(record.parent, False, False))
    elif isinstance(record, AssetHead):
        out.append(Link(record.materialization, False, False))
        if record.parent is not None:
            out.append(Link(record.parent, False, False))
    elif isinstance(record, AssetMerge):
        out.extend(Link(p, False, False) for p in record.parents)
    return out


# What a ref keeps alive depends on how the walk reached an object: a version reached through
# its key's history keeps its parent; the same version listed by a run or a snapshot does not.
_HISTORY, _VERSION, _CHAIN, _RUN, _ASSET = "history", "version", "chain", "run", "asset"
_ROOTS = {
    "artifacts": _HISTORY,
    "progress": _CHAIN,
    "runs": _RUN,
    "keyless": _VERSION,
    "assets": _ASSET,
}


def reachable(
    catalog: Catalog,
    refs: Iterable[tuple[str, ObjectId]] | None = None,
    read: Callable[[ObjectId], AnyRecord] | None = None,
) -> dict[ObjectId, str]:
    """Return every object reachable from ``refs`` (default: all of them), with its kind.

    Args:
        catalog: the catalog whose objects are read.
        refs: ``(ref name, object id)`` pairs to start from; ``deleted/`` refs (and refs of
            namespaces cairn does not know) keep nothing alive.
        read: how to read a record (default: ``catalog.get_record``, which verifies it).

    Raises:
        ObjectNotFoundError: a reachable object is missing (the catalog is damaged).
        CorruptObjectError: a reachable object does not match its id.
    """
    get = read or catalog.get_record
    out: dict[ObjectId, str] = {}
    seen: set[tuple[ObjectId, str]] = set()
    stack: list[tuple[ObjectId, str]] = []
    for name, value in refs if refs is not None else catalog.refs.iter_refs(""):
        context = _ROOTS.get(name.split("/", 1)[0])
        if context is not None:
            stack.append((value, context))
    while stack:
        oid, context = stack.pop()
        if (oid, context) in seen:
            continue
        seen.add((oid, context))
        if context == BLOB:
            out[oid] = BLOB
            continue
        rec = get(oid)
        out[oid] = kind_of(rec)
        for link in links(rec):
            if link.blob:
                stack.append((link.oid, BLOB))
            elif isinstance(rec, ArtifactVersion):
                if context == _HISTORY:  # only a history walk goes on to the parent
                    stack.append((link.oid, _HISTORY))
            elif isinstance(rec, (HistorySnapshot, RunRecord)):
                stack.append((link.oid, _VERSION))
            elif isinstance(rec, AssetHead) and link.oid == rec.materialization:
                stack.append((link.oid, _VERSION))  # a leaf: a multi-asset record
            else:
                stack.append((link.oid, context))
    return out
