"""Reachability: which objects a catalog's refs keep alive (for sync, fsck and gc).

Two views of the same links (docs/FORMAT.md, "Reachability"):

* :func:`links` lists every object id a record names, except a snapshot's informational
  ``bases``. Sync copies along these links, children before parents, so that a catalog it
  writes to keeps the rule "an object that is stored has everything it links to stored",
  which is what lets a later sync stop at the first object the destination already has.
  Two kinds of link are *optional* (they may dangle): a version's ``parent``, and the
  versions a run record lists. Once a version is deleted, garbage collection may reclaim it,
  while a newer version still points at it as its parent and the run that made it still
  lists it.
* :func:`reachable` walks from every ref by namespace, as the format defines what each ref
  keeps alive: ``artifacts/<key>`` its history walk (each version and its blob; a snapshot's
  listed versions and their blobs; never ``bases``), ``progress/<id>`` the update chain,
  ``runs/<id>`` the run record and the *live* versions it lists (with their blobs),
  ``keyless/<id>`` that version, ``deleted/<id>`` nothing, and ``assets/<hash>`` every node
  of the asset's history and the materialization an ``asset-head`` names.

A run lists every artifact made in it, and a run record never changes, so "live" needs the
rest of the catalog: a listed version is dead once its key's history has it in ``removed``
(the snapshot a history walk reaches holds every id ever deleted from the key, and merges
keep the union) or a ``deleted/<id>`` tombstone names it. :func:`dead_versions` gathers that
set; :func:`reachable` gathers it as it walks when given every ref, and must be handed it
when walking some refs only.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Set
from concurrent.futures import ThreadPoolExecutor
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

__all__ = ["BLOB", "Link", "dead_versions", "kind_of", "links", "reachable", "run_artifacts"]

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
        out.extend(Link(v, False, True) for v in dict.fromkeys(run_artifacts(record)))
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
    *,
    dead: Set[ObjectId] | None = None,
    jobs: int = 1,
    progress: Callable[[int], None] | None = None,
) -> dict[ObjectId, str]:
    """Return every object reachable from ``refs`` (default: all of them), with its kind.

    Args:
        catalog: the catalog whose objects are read.
        refs: ``(ref name, object id)`` pairs to start from; ``deleted/`` refs (and refs of
            namespaces cairn does not know) keep nothing alive.
        read: how to read a record (default: ``catalog.get_record``, which verifies it).
        dead: the deleted artifact versions (:func:`dead_versions`), which the runs that
            list them do not keep alive. By default, those ``refs`` themselves say are
            deleted, which is all of them when ``refs`` are all the catalog's refs; a caller
            walking some refs only must pass the set.
        jobs: how many records are read at once (threads; worth it where a read is a
            request, as on S3).
        progress: called with the number of objects reached so far, as the walk goes.

    Raises:
        ObjectNotFoundError: a reachable object is missing (the catalog is damaged).
        CorruptObjectError: a reachable object does not match its id.
    """
    walk = _Walk(read or catalog.get_record, jobs, progress)
    pairs = list(refs if refs is not None else catalog.refs.iter_refs(""))
    runs = [(value, _RUN) for name, value in pairs if name.startswith("runs/")]
    others = []
    for name, value in pairs:
        context = _ROOTS.get(name.split("/", 1)[0])
        if context is not None and context != _RUN:
            others.append((value, context))
    # Every history first: their snapshots say which versions are deleted, which the runs
    # that list them then do not keep alive.
    try:
        walk.run(others)
        if dead is None:
            tombstones = [name for name, _ in pairs if name.startswith("deleted/")]
            dead = walk.removed | {ObjectId(name[len("deleted/") :]) for name in tombstones}
        walk.dead = dead
        walk.run(runs)
    finally:
        walk.close()
    return walk.out


def dead_versions(
    catalog: Catalog,
    refs: Iterable[tuple[str, ObjectId]] | None = None,
    read: Callable[[ObjectId], AnyRecord] | None = None,
) -> set[ObjectId]:
    """Return the artifact versions that ``refs`` (default: all) say were deleted.

    Each id in the ``removed`` of the snapshot a key's history walk reaches, and each id a
    ``deleted/`` tombstone names. Walks the ``artifacts/`` histories; what :func:`reachable`
    needs as ``dead`` when it walks the refs one by one.
    """
    get = read or catalog.get_record
    pairs = list(refs if refs is not None else catalog.refs.iter_refs(""))
    out = {ObjectId(name[len("deleted/") :]) for name, _ in pairs if name.startswith("deleted/")}
    for name, value in pairs:
        if not name.startswith("artifacts/"):
            continue
        cur: ObjectId | None = value
        while cur is not None:
            rec = get(cur)
            if isinstance(rec, HistorySnapshot):
                out.update(rec.removed)
                break
            cur = rec.parent if isinstance(rec, ArtifactVersion) else None
    return out


class _Walk:
    """The walk behind :func:`reachable`: level by level, each level's records read at once."""

    def __init__(
        self,
        read: Callable[[ObjectId], AnyRecord],
        jobs: int,
        progress: Callable[[int], None] | None,
    ) -> None:
        self.read = read
        self.progress = progress
        self.pool = ThreadPoolExecutor(jobs) if jobs > 1 else None
        self.out: dict[ObjectId, str] = {}
        self.seen: set[tuple[ObjectId, str]] = set()
        self.removed: set[ObjectId] = set()
        self.dead: Set[ObjectId] = frozenset()

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown()

    def run(self, roots: list[tuple[ObjectId, str]]) -> None:
        out, seen = self.out, self.seen
        frontier = roots
        while frontier:
            todo: list[tuple[ObjectId, str]] = []
            for item in frontier:
                oid, context = item
                # A version already reached through its history has had its blobs and its
                # parent followed: reaching it again through a run or snapshot adds nothing.
                if item in seen or (context == _VERSION and (oid, _HISTORY) in seen):
                    continue
                seen.add(item)
                if context == BLOB:
                    out[oid] = BLOB
                else:
                    todo.append(item)
            if self.pool is not None and len(todo) > 1:
                records = list(self.pool.map(self.read, [oid for oid, _ in todo]))
            else:
                records = [self.read(oid) for oid, _ in todo]
            frontier = []
            for (oid, context), rec in zip(todo, records, strict=True):
                out[oid] = kind_of(rec)
                frontier.extend(self._children(rec, context))
            if self.progress is not None:
                self.progress(len(out))

    def _children(self, rec: AnyRecord, context: str) -> list[tuple[ObjectId, str]]:
        out: list[tuple[ObjectId, str]] = []
        if isinstance(rec, HistorySnapshot):
            self.removed.update(rec.removed)
        for link in links(rec):
            if link.blob:
                out.append((link.oid, BLOB))
            elif isinstance(rec, ArtifactVersion):
                if context == _HISTORY:  # only a history walk goes on to the parent
                    out.append((link.oid, _HISTORY))
            elif isinstance(rec, RunRecord):
                if link.oid not in self.dead:  # a deleted version: the run keeps it no more
                    out.append((link.oid, _VERSION))
            elif isinstance(rec, HistorySnapshot):
                out.append((link.oid, _VERSION))
            elif isinstance(rec, AssetHead) and link.oid == rec.materialization:
                out.append((link.oid, _VERSION))  # a leaf: a multi-asset record
            else:
                out.append((link.oid, context))
        return out
