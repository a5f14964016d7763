"""Assets on a catalog: asset keys, materialization records and per-asset histories.

Refs this module owns (see docs/FORMAT.md):

* ``assets/<sha256 of the asset key>``: the asset's latest :class:`AssetHead`. Asset keys are
  URIs with characters no file name can hold, so the ref is named by the key's hash and the
  records carry the key itself.

A finished task attempt that materializes one asset writes one :class:`Materialization`
whose ``parent`` is the asset's previous history node, and moves the asset's ref to it by
compare-and-swap: one object and one ref move. One that materializes several assets writes
the materialization once and, for each asset, a small :class:`AssetHead` naming it. An asset's
history is the walk of ``parent`` links from its ref, over both kinds of node
(:meth:`AssetRecords.steps`). When ``cairn sync`` joins two catalogs that both materialized an
asset, it writes an :class:`AssetMerge` node with both heads as ``parents``: a history is then
a DAG, walked newest first with each node once (:class:`HistoryWalk`). Lineage (what was
built from what) is in the materializations' ``upstream`` lists; the lineage index under
``index/`` is derived from them.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import heapq
import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

import msgspec

from cairn.catalog.records import (
    AssetHead,
    AssetMerge,
    AssetProperties,
    Materialization,
    MaterializedAsset,
    check_storable,
    utcnow,
)
from cairn.errors import (
    CatalogError,
    InvalidAssetKeyError,
    InvalidDataError,
    InvalidInputError,
    RefConflictError,
    StorageError,
    WrongTypeError,
)
from cairn.objects import ObjectId

if TYPE_CHECKING:
    from cairn.catalog._catalog import Catalog

__all__ = [
    "MAX_ASSET_DESCRIPTION_LENGTH",
    "MAX_ASSET_KEY_LENGTH",
    "RESTRICTED_ASSET_CHARACTERS",
    "AssetRecords",
    "HistoryNode",
    "HistoryStep",
    "HistoryWalk",
    "asset_ref",
    "check_asset_metadata",
    "read_node",
    "read_step",
    "validate_asset_key",
    "validate_asset_properties",
]

MAX_ASSET_KEY_LENGTH = 512
MAX_ASSET_DESCRIPTION_LENGTH = 2500
RESTRICTED_ASSET_CHARACTERS = (
    "\n", "\r", "\t", "\0", " ", "#", "?", "&", "%", '"', "'",
    "<", ">", "[", "]", "{", "}", "|", "\\", "^", "`",
)  # fmt: skip
_URI_RE = re.compile(r"[a-z0-9]+://")
_ONE_US = dt.timedelta(microseconds=1)
_CAS_DEADLINE = 120.0


def validate_asset_key(key: object) -> str:
    """Return ``key`` if it is a valid asset key, else raise :class:`InvalidAssetKeyError`.

    Prefect's rules and messages, checked in Prefect's order: no restricted character, at
    most 512 characters, and a URI scheme of lowercase letters and digits (``s3://...``).

    Example:
        >>> validate_asset_key("s3://bucket/clean-data.csv")
        's3://bucket/clean-data.csv'
    """
    if not isinstance(key, str):
        raise InvalidAssetKeyError(f"Asset key must be a string, got {type(key).__name__}")
    for char in RESTRICTED_ASSET_CHARACTERS:
        if char in key:
            raise InvalidAssetKeyError(f"Asset key cannot contain '{char}'")
    if not _is_utf8(key):
        # A lone surrogate (from a file name Python could not decode, say) has no UTF-8
        # form, so it can be neither stored nor hashed into the asset's ref name.
        raise InvalidAssetKeyError(f"Asset key cannot contain a lone surrogate: {key!r}")
    if len(key) > MAX_ASSET_KEY_LENGTH:
        raise InvalidAssetKeyError(f"Asset key cannot exceed {MAX_ASSET_KEY_LENGTH} characters")
    if not _URI_RE.match(key):
        raise InvalidAssetKeyError(
            "Key must be a valid URI, e.g. storage://bucket/folder/asset.csv"
        )
    return key


def validate_asset_properties(
    name: object = None, url: object = None, description: object = None, owners: object = None
) -> AssetProperties:
    """Return checked :class:`AssetProperties` (description at most 2,500 characters).

    Raises:
        InvalidInputError: a field has the wrong type, or the description is too long.
    """
    for field, value in (("name", name), ("url", url), ("description", description)):
        if value is not None and not isinstance(value, str):
            raise InvalidInputError(f"asset property {field!r} must be a string or None")
        check_storable(f"asset property {field!r}", value)
    if isinstance(description, str) and len(description) > MAX_ASSET_DESCRIPTION_LENGTH:
        raise InvalidInputError(
            f"String should have at most {MAX_ASSET_DESCRIPTION_LENGTH} characters"
        )
    owner_list: list[str] | None = None
    if owners is not None:
        if isinstance(owners, str) or not isinstance(owners, Iterable):
            raise InvalidInputError("asset property 'owners' must be a list of strings")
        owner_list = list(owners)
        if not all(isinstance(o, str) for o in owner_list):
            raise InvalidInputError("asset property 'owners' must be a list of strings")
        check_storable("asset property 'owners'", owner_list)
    return AssetProperties(
        name=name,  # type: ignore[arg-type]
        url=url,  # type: ignore[arg-type]
        description=description,  # type: ignore[arg-type]
        owners=owner_list,
    )


def check_asset_metadata(key: str, metadata: object) -> None:
    """Refuse metadata for asset ``key`` that a materialization record could not hold.

    Metadata is a dict of JSON values; each entry is checked on its own, so the message
    names the one at fault.

    Raises:
        InvalidDataError: ``metadata`` is not a dict, or an entry holds a value (or has a
            name) JSON cannot hold; also a ``TypeError``.
        InvalidInputError: an entry holds text with a lone surrogate.
    """
    if not isinstance(metadata, Mapping):
        raise InvalidDataError(
            f"asset metadata must be a dict, got a {type(metadata).__name__} (for {key!r})"
        )
    for name, value in metadata.items():
        check_storable(f"asset metadata {name!r} (for {key!r})", {name: value})


class HistoryStep(NamedTuple):
    """One step of an asset's history, whichever kind of node holds it."""

    key: str
    materialization: ObjectId
    status: Literal["succeeded", "failed"]
    created: dt.datetime
    parent: ObjectId | None


def read_step(catalog: Catalog, oid: ObjectId) -> tuple[HistoryStep, Materialization | None]:
    """Read history node ``oid``: return its step, and its materialization when it holds one.

    A single-asset :class:`Materialization` is its own node (returned with the step); an
    :class:`AssetHead` names a materialization that is not read here (None is returned).
    """
    return _step_of(oid, catalog.get_record(oid))


def _step_of(oid: ObjectId, rec: object) -> tuple[HistoryStep, Materialization | None]:
    """Return the step of history node ``oid``, whose record is ``rec`` (see :func:`read_step`)."""
    if isinstance(rec, Materialization):
        if len(rec.assets) != 1:
            raise WrongTypeError(
                f"object {oid!r} is a materialization of {len(rec.assets)} assets, which is "
                "not a history node (its assets have asset-heads)"
            )
        step = HistoryStep(rec.assets[0].key, oid, rec.status, rec.created, rec.parent)
        return step, rec
    if isinstance(rec, AssetHead):
        return HistoryStep(rec.key, rec.materialization, rec.status, rec.created, rec.parent), None
    raise WrongTypeError(f"asset history object {oid!r} is a {type(rec).__name__}")


class HistoryNode(NamedTuple):
    """A node of an asset's history: a step (with its materialization, if read) or a merge."""

    key: str
    created: dt.datetime
    parents: tuple[ObjectId, ...]
    step: HistoryStep | None
    """None for an :class:`AssetMerge`, which names no materialization."""
    materialization: Materialization | None


def read_node(catalog: Catalog, oid: ObjectId) -> HistoryNode:
    """Read history node ``oid``, whichever of the three kinds it is."""
    rec = catalog.get_record(oid)
    if isinstance(rec, AssetMerge):
        return HistoryNode(rec.key, rec.created, tuple(rec.parents), None, None)
    step, mat = _step_of(oid, rec)  # the record once: not read_step, which reads it again
    parents = (step.parent,) if step.parent is not None else ()
    return HistoryNode(step.key, step.created, parents, step, mat)


class HistoryWalk:
    """The nodes of an asset history reachable from ``head`` and not from ``stop``.

    Iterating yields ``(node id, node)`` newest first (by ``created``, ties by id), each node
    once, over a chain or a DAG of merges alike. Creation times fall strictly along every
    ``parent`` link, so by the time a node comes up, every node that links to it has been
    seen: a node reachable from ``stop`` is then known to be so, and the walk ends as soon as
    only such nodes are left (reading a few of them, not the whole old history).

    After the walk, :attr:`met` says whether some yielded node links to ``stop`` (with
    ``stop`` None: always true), that is whether ``head``'s history still contains it.
    """

    def __init__(
        self,
        read: Callable[[ObjectId], HistoryNode],
        head: ObjectId | None,
        stop: ObjectId | None = None,
    ) -> None:
        self._read = read
        self._head = head
        self._stop = stop
        self.met = stop is None
        self.read = 0

    def __iter__(self) -> Iterator[tuple[ObjectId, HistoryNode]]:
        if self._head is None:
            return
        heap: list[tuple[int, str]] = []  # (-created in microseconds, complemented id)
        nodes: dict[str, HistoryNode] = {}
        state: dict[str, bool] = {}  # id -> old (reachable from stop)
        fresh = 0

        def push(oid: ObjectId, old: bool) -> None:
            nonlocal fresh
            had = state.get(oid)
            if had is not None:
                if old and not had:
                    state[oid] = True  # known old after all: children come first
                    fresh -= 1
                return
            node = self._read(oid)
            self.read += 1
            nodes[oid] = node
            state[oid] = old
            fresh += 0 if old else 1
            heapq.heappush(heap, (-_micros(node.created), _neg(oid)))

        stop = self._stop
        if stop == self._head:
            self.met = True
            return
        # The stop node is read only once a merge shows up: along a chain no node before
        # it can be one of its ancestors, so a linear walk never reads it.
        pending = stop is not None
        if stop is not None:
            state[stop] = True
        push(self._head, False)
        while heap and fresh > 0:
            _, key = heapq.heappop(heap)
            oid = ObjectId(_neg(key))
            old = state[oid]
            node = nodes.pop(oid)
            if pending and len(node.parents) > 1:
                assert stop is not None
                pending = False
                del state[stop]
                push(stop, True)
                if _micros(nodes[stop].created) > _micros(node.created):
                    # Should not happen (times fall along links), but stay correct: put this
                    # node back and take the stop node first.
                    heapq.heappush(heap, (-_micros(node.created), key))
                    nodes[oid] = node
                    continue
            if not old:
                fresh -= 1
                if self._stop is not None and self._stop in node.parents:
                    self.met = True
                yield oid, node
            for parent in node.parents:
                push(parent, old)


def _micros(value: dt.datetime) -> int:
    delta = value - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)


def _neg(oid: str) -> str:
    # Ties of created are broken by id, greatest first, like the rest of the newest-first
    # order: a min-heap over the complemented hex digits gives that.
    return oid.translate(_COMPLEMENT)


_COMPLEMENT = str.maketrans("0123456789abcdef", "fedcba9876543210")


def _is_utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def asset_ref(key: str) -> str:
    """Return the name of the ref holding asset ``key``'s latest history head."""
    # "surrogatepass": a read of a key no asset can have (see validate_asset_key) finds
    # nothing, rather than failing; every valid key is plain UTF-8, hashed as it always was.
    return f"assets/{hashlib.sha256(key.encode('utf-8', 'surrogatepass')).hexdigest()}"


class AssetRecords:
    """The materializations and asset histories of one catalog (``catalog.assets``)."""

    def __init__(self, catalog: Catalog) -> None:
        self._catalog = catalog
        # This process's last known history node of each asset: (node id, node created). A
        # stale view only costs a failed compare-and-swap and a re-read.
        self._views: dict[str, tuple[ObjectId | None, dt.datetime | None]] = {}

    def record(
        self,
        assets: Sequence[str],
        *,
        status: Literal["succeeded", "failed"],
        upstream: Iterable[str] = (),
        declared: Iterable[str] = (),
        by: str | None = None,
        metadata: Mapping[str, Mapping[str, Any]] | None = None,
        properties: Mapping[str, AssetProperties] | None = None,
        flow_run_id: str | None = None,
        task_run_id: str | None = None,
        task_name: str | None = None,
    ) -> ObjectId:
        """Commit one materialization of ``assets`` and move each asset's history.

        Args:
            assets: the keys materialized (duplicates collapse).
            status: whether the task attempt succeeded or failed.
            upstream: every asset read (inferred from the task graph or declared).
            declared: the assets named in ``asset_deps`` (added to ``upstream`` too).
            by: the tool that did the work.
            metadata: per asset key, the metadata added during the attempt (JSON values).
            properties: per asset key, properties to set (last writer wins).
            flow_run_id: the flow run.
            task_run_id: the task run.
            task_name: the task's name.

        Returns:
            The materialization's object id.

        Raises:
            InvalidAssetKeyError: a key is not a valid asset key.
            InvalidInputError: ``status`` is neither ``succeeded`` nor ``failed``, or text
                holds a lone surrogate.
            InvalidDataError: metadata holds a value JSON cannot hold.
        """
        keys = sorted({validate_asset_key(k) for k in assets})
        if not keys:
            raise InvalidInputError("a materialization needs at least one asset")
        declared_keys = sorted({validate_asset_key(k) for k in declared})
        upstream_keys = sorted({validate_asset_key(k) for k in upstream} | set(declared_keys))
        if status not in ("succeeded", "failed"):
            raise InvalidInputError(
                f"a materialization's status is 'succeeded' or 'failed', not {status!r}"
            )
        metadata = metadata or {}
        properties = properties or {}
        for k in keys:
            check_asset_metadata(k, metadata.get(k) or {})
        for name, value in (("by", by), ("task_name", task_name)):
            check_storable(f"materialization {name!r}", value)
        record = Materialization(
            created=utcnow(),
            status=status,
            assets=[
                MaterializedAsset(
                    key=k,
                    metadata=dict(metadata.get(k) or {}),
                    properties=properties.get(k),
                )
                for k in keys
            ],
            upstream=upstream_keys,
            declared=declared_keys,
            by=by,
            flow_run_id=flow_run_id,
            task_run_id=task_run_id,
            task_name=task_name,
        )
        if len(keys) == 1:
            # The common case: the materialization is itself the asset's next history node.
            def single(parent: ObjectId | None, created: dt.datetime) -> Materialization:
                return msgspec.structs.replace(record, parent=parent, created=created)

            return self._commit(keys[0], single)
        oid = self._catalog.put_record(record)
        for key in keys:

            def head(parent: ObjectId | None, created: dt.datetime, key: str = key) -> AssetHead:
                return AssetHead(
                    key=key,
                    materialization=oid,
                    status=record.status,
                    created=created,
                    parent=parent,
                )

            self._commit(key, head)
        return oid

    def _commit(
        self,
        key: str,
        make: Callable[[ObjectId | None, dt.datetime], Materialization | AssetHead],
    ) -> ObjectId:
        """Append the node ``make(parent, created)`` to asset ``key``'s history; return its id."""
        cat = self._catalog
        ref = asset_ref(key)
        view = self._views.get(key)
        deadline = time.monotonic() + _CAS_DEADLINE
        while True:
            if view is None:
                view = self._read_view(ref)
            head, head_created = view
            created = utcnow()
            if head_created is not None and created <= head_created:
                created = head_created + _ONE_US  # keep history order = creation order
            node = make(head, created)
            oid = cat.put_record(node)
            refs = cat.refs
            try:
                moved = refs.set_if_equals(ref, head, oid)
            except StorageError as exc:
                if not refs.ambiguous_failures:
                    raise
                # No answer even after retries: the move may have taken effect.
                try:
                    landed = self._landed(refs.get(ref), oid, head, created)
                except CatalogError:
                    landed = False  # cannot tell: report the original error
                if not landed:
                    raise exc
                self._views.pop(key, None)
                return oid
            if moved:
                self._views[key] = (oid, created)
                return oid
            # Refused. On a store whose refusals can hide a write that landed (S3: the answer
            # was lost and another writer built on it), look for ours before appending again.
            if refs.ambiguous_failures and self._landed(refs.recent(ref), oid, head, created):
                self._views.pop(key, None)
                return oid
            view = None  # another writer moved the ref: re-read and append on top
            if time.monotonic() > deadline:
                raise RefConflictError(f"could not record a materialization of {key!r}")

    def _landed(
        self,
        current: ObjectId | None,
        oid: ObjectId,
        parent: ObjectId | None,
        created: dt.datetime,
    ) -> bool:
        """Return whether node ``oid`` (written on ``parent`` at ``created``) is in the history.

        Walks back from ``current`` only through nodes newer than ``oid``: creation times fall
        along every path, so the walk is short, and it stops at ``parent`` (the other writer
        built on the head this writer saw: the plain lost race, which costs no read).
        """
        todo: list[ObjectId | None] = [current]
        seen: set[ObjectId] = set()
        while todo:
            nid = todo.pop()
            if nid == oid:
                return True
            if nid is None or nid == parent or nid in seen:
                continue
            seen.add(nid)
            node = read_node(self._catalog, nid)
            if node.created > created:
                todo.extend(node.parents)
        return False

    def _read_view(self, ref: str) -> tuple[ObjectId | None, dt.datetime | None]:
        head = self._catalog.refs.get(ref)
        if head is None:
            return None, None
        return head, read_node(self._catalog, head).created

    def steps(self, key: str) -> Iterator[tuple[ObjectId, HistoryStep, Materialization | None]]:
        """Yield ``(node id, step, its materialization if already read)``, newest first.

        Over a merged history (a DAG, see :class:`HistoryWalk`) each step comes once, in
        order of ``created`` (ties by id); merge nodes themselves are not steps.
        """
        if not isinstance(key, str):
            return
        head = self._catalog.refs.get(asset_ref(key))
        for oid, node in HistoryWalk(lambda o: read_node(self._catalog, o), head):
            if node.step is not None:
                yield oid, node.step, node.materialization

    def history(self, key: str, limit: int | None = None) -> list[tuple[ObjectId, Materialization]]:
        """Return asset ``key``'s materializations, newest first (at most ``limit``)."""
        out: list[tuple[ObjectId, Materialization]] = []
        for _, step, mat in self.steps(key):
            if limit is not None and len(out) >= limit:
                break
            if mat is None:
                rec = self._catalog.get_record(step.materialization)
                if not isinstance(rec, Materialization):
                    raise WrongTypeError(
                        f"object {step.materialization!r} is a {type(rec).__name__}, "
                        "not a materialization"
                    )
                mat = rec
            out.append((step.materialization, mat))
        return out

    def latest(self, key: str) -> tuple[ObjectId, Materialization] | None:
        """Return asset ``key``'s latest materialization, or None if it was never materialized."""
        found = self.history(key, limit=1)
        return found[0] if found else None

    def keys(self) -> list[str]:
        """Return the key of every asset that has been materialized, sorted."""
        return sorted(read_node(self._catalog, head).key for _, head in self.materialized_heads())

    def materialized_heads(self) -> Iterator[tuple[str, ObjectId]]:
        """Yield ``(ref name, head id)`` for every materialized asset, in ref order."""
        yield from self._catalog.refs.iter_refs("assets/")
