"""Sync: copy what one catalog has and another lacks, then merge the refs (``cairn sync``).

One pass goes from SRC to DST (:func:`sync` runs two for ``both=True``):

1. **Decide what moved.** List SRC's refs and DST's refs with their version tokens (on S3,
   one LIST per 1,000 refs) and read DST's sync state, ``index/sync/<sha256 of SRC's
   URL>.msgpack``: the refs of both sides as the last pass left them. Only SRC refs whose token
   changed since are read and merged. Without a state (a first sync, or one deleted: it is
   derived data), every ref has moved and DST's objects are listed once instead.
2. **Copy objects, children first** (:mod:`._reach` ``links``). From each moved ref, walk SRC,
   reading each object through SRC's store (which verifies its hash: a corrupt object stops
   the sync before any ref that reaches it moves) and stopping at objects DST is known to
   have: those the last pass left reachable from either side's refs, those DST's listing
   shows, those just copied. Objects are written with DST's create-only ``put``, blobs first
   and then records by height, so an object is stored only after everything it links to:
   a sync killed at any moment leaves DST valid, and the next one stops at what arrived.
3. **Merge the refs** on DST, each by compare-and-swap (re-read and redo on conflict, so a
   sync racing with DST's writers loses none of their commits), by namespace:
   ``deleted/``, ``keyless/``, ``artifacts/``, ``runs/``, ``assets/``, then ``progress/``
   (whose objects are copied only for artifacts still live after the merge). The rules are
   in docs/FORMAT.md, "Merge (sync)".
4. Write the new state, and bring DST's lineage index up to date when asset refs moved.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

import msgspec

from cairn.catalog._assets import HistoryNode, HistoryWalk, read_node
from cairn.catalog._reach import BLOB, kind_of, links
from cairn.catalog.records import (
    AnyRecord,
    ArtifactVersion,
    AssetMerge,
    HistorySnapshot,
    ProgressUpdate,
    RunRecord,
    decode_record,
    encode_record,
    utcnow,
)
from cairn.errors import (
    CatalogError,
    CorruptObjectError,
    NotFoundError,
    ObjectNotFoundError,
    RefConflictError,
    WrongTypeError,
)
from cairn.objects import LocalObjectStore, MemoryObjectStore, ObjectId
from cairn.objects._s3 import S3ObjectStore

if TYPE_CHECKING:
    from cairn.catalog._catalog import Catalog

__all__ = ["RefChange", "SyncError", "SyncReport", "sync"]

STATE_FOLDER = "index/sync"
_STATE_VERSION = 1
_ONE_US = dt.timedelta(microseconds=1)
_CAS_ATTEMPTS = 1000
_READ_ALL_ABOVE = 64
"""More moved refs than this are read with one listing (LIST + reads) rather than one by one."""
_LIST_DST_ABOVE = 256
"""After this many objects of unknown presence on a remote DST, list DST's objects once."""
_NAMESPACES = ("deleted", "keyless", "artifacts", "runs", "assets", "progress")

_Decide = Callable[[ObjectId], tuple[str, ObjectId, bool]]
ProgressCallback = Callable[[int, int, int], None]
"""Called as objects are found and copied: ``(objects copied, bytes copied, objects found)``
so far in this pass, where *found* counts the objects known to need copying; it grows as the
walk of SRC goes on, so it is a total that becomes exact when the walk ends."""


class SyncError(CatalogError):
    """A sync could not complete (a corrupt or missing object on SRC, a bad target)."""


@dataclass
class RefChange:
    """One ref a sync moved (or, in a dry run, would move) on DST."""

    name: str
    action: str
    """``create``, ``update`` (fast-forward or a winner replaced), ``merge`` (a new merge
    record was written) or ``delete``."""
    old: str | None
    new: str | None

    def to_dict(self) -> dict[str, Any]:
        """Return the change as ``--json`` and ``--dry-run`` show it."""
        return {"ref": self.name, "action": self.action, "old": self.old, "new": self.new}


@dataclass
class SyncReport:
    """What a sync did (or, with ``dry_run``, would do).

    For a two-way sync the counts are the sums over both passes, and :attr:`passes` holds
    each pass's own report.
    """

    src: str
    dst: str
    dry_run: bool = False
    objects_copied: int = 0
    bytes_copied: int = 0
    refs_created: int = 0
    refs_updated: int = 0
    refs_merged: int = 0
    refs_deleted: int = 0
    refs_unchanged: int = 0
    conflicts_merged: int = 0
    """Refs that both sides had changed since they last agreed, combined by the merge rules."""
    seconds: float = 0.0
    changes: list[RefChange] = field(default_factory=list)
    objects: list[tuple[str, str, int]] = field(default_factory=list)
    """``(id, kind, size)`` of each object copied (or to be copied)."""
    passes: list[SyncReport] = field(default_factory=list)

    def add(self, other: SyncReport) -> None:
        """Add ``other``'s counts, changes and objects to this report's."""
        for name in (
            "objects_copied", "bytes_copied", "refs_created", "refs_updated", "refs_merged",
            "refs_deleted", "refs_unchanged", "conflicts_merged",
        ):  # fmt: skip
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.changes.extend(other.changes)
        self.objects.extend(other.objects)
        self.passes.append(other)

    def summary(self) -> dict[str, Any]:
        """Return the counts as ``cairn sync --json`` prints them."""
        return {
            "src": self.src,
            "dst": self.dst,
            "dry_run": self.dry_run,
            "objects_copied": self.objects_copied,
            "bytes_copied": self.bytes_copied,
            "refs_created": self.refs_created,
            "refs_updated": self.refs_updated,
            "refs_merged": self.refs_merged,
            "refs_deleted": self.refs_deleted,
            "refs_unchanged": self.refs_unchanged,
            "conflicts_merged": self.conflicts_merged,
            "seconds": round(self.seconds, 3),
        }


class _State(msgspec.Struct):
    """``index/sync/<sha256 of SRC's URL>.msgpack`` on DST (derived data)."""

    version: int
    src_url: str
    src: dict[str, str]
    """SRC's refs (name -> value) as the last pass saw and merged them."""
    dst: dict[str, str]
    """DST's refs (name -> value) as the last pass left them."""


def catalog_identity(catalog: Catalog) -> str:
    """Return the URL that names ``catalog`` in sync states (an absolute path when local)."""
    if isinstance(catalog.objects, LocalObjectStore):
        return str(catalog.objects.root.parent)
    return catalog.url.rstrip("/")


def state_path(src: Catalog) -> str:
    """Return where a destination keeps the state of its syncs from ``src``."""
    digest = hashlib.sha256(catalog_identity(src).encode("utf-8")).hexdigest()
    return f"{STATE_FOLDER}/{digest}.msgpack"


def _is_remote(catalog: Catalog) -> bool:
    return not isinstance(catalog.objects, (LocalObjectStore, MemoryObjectStore))


def sync(
    src: Catalog | str,
    dst: Catalog | str,
    *,
    both: bool = False,
    dry_run: bool = False,
    jobs: int | None = None,
    progress: ProgressCallback | None = None,
) -> SyncReport:
    """Copy what ``src`` has and ``dst`` lacks into ``dst``, and merge their refs.

    Args:
        src: the source catalog (a :class:`~cairn.catalog.Catalog` or a URL).
        dst: the destination (created if it does not exist yet, unless ``dry_run``).
        both: then sync ``dst`` into ``src`` too, after which both hold the same refs.
        dry_run: work out what would be copied and which refs would change; write nothing.
        jobs: how many transfers run at once (default 16 when a side is remote, else 4).
        progress: called with (objects copied, bytes copied, objects found to copy) so far,
            as objects are found and copied (see :data:`ProgressCallback`).

    Returns:
        What was done (see :class:`SyncReport`).

    Raises:
        SyncError: a corrupt or missing object on the source (nothing that reaches it is
            written to the destination), or both URLs name the same catalog.
        NotFoundError: the source catalog does not exist.
    """
    from cairn.catalog._catalog import Catalog

    a = Catalog.from_url(src) if isinstance(src, str) else src
    b = Catalog.from_url(dst) if isinstance(dst, str) else dst
    if catalog_identity(a) == catalog_identity(b):
        raise SyncError(f"{a.url!r} and {b.url!r} are the same catalog: nothing to sync")
    if not a.exists():
        raise NotFoundError(f"there is no cairn catalog at {a.url!r} to sync from")
    started = time.perf_counter()
    report = SyncReport(src=a.url, dst=b.url, dry_run=dry_run)
    report.add(_Pass(a, b, dry_run=dry_run, jobs=jobs, progress=progress).run())
    if both and (b.exists() or not dry_run):
        report.add(_Pass(b, a, dry_run=dry_run, jobs=jobs, progress=progress).run())
    report.seconds = time.perf_counter() - started
    return report


class _Pass:
    """One direction of a sync: SRC into DST."""

    def __init__(
        self,
        src: Catalog,
        dst: Catalog,
        *,
        dry_run: bool,
        jobs: int | None,
        progress: ProgressCallback | None,
    ) -> None:
        self.src, self.dst = src, dst
        self.dry_run = dry_run
        self.jobs = jobs or (16 if _is_remote(src) or _is_remote(dst) else 4)
        self.progress = progress
        self.report = SyncReport(src=src.url, dst=dst.url, dry_run=dry_run)
        self.lock = threading.Lock()
        self.records: dict[ObjectId, AnyRecord] = {}  # read during this pass
        self.present: set[ObjectId] = set()  # on DST with everything they link to
        self.listed = False
        self.unknown = 0
        self.dst_values: dict[str, ObjectId | None] = {}  # DST refs as this pass knows them
        self.src_deleted: set[str] = set()
        self.found = 0  # objects found to need copying
        self.src_first = _is_remote(dst) and not _is_remote(src)
        # Blobs are copied inside S3 when both sides are S3 (behind one endpoint, as tried).
        self.server_side = (
            not dry_run
            and isinstance(src.objects, S3ObjectStore)
            and isinstance(dst.objects, S3ObjectStore)
        )

    # -- the pass ---------------------------------------------------------------------------

    def run(self) -> SyncReport:
        started = time.perf_counter()
        src, dst = self.src, self.dst
        if not self.dry_run:
            dst.ensure_initialized()
        state = self._load_state()
        src_tokens: dict[str, str] = dict(src.refs.iter_tokens(""))
        dst_tokens: dict[str, str] = dict(dst.refs.iter_tokens("")) if dst.exists() else {}
        old_src = state.src if state else {}
        moved = [
            name
            for name, token in src_tokens.items()
            if name.split("/", 1)[0] in _NAMESPACES
            and (name not in old_src or src.refs.value_token(ObjectId(old_src[name])) != token)
        ]
        self.src_deleted = {n[len("deleted/") :] for n in src_tokens if n.startswith("deleted/")}
        if state is not None:
            for name, value in state.dst.items():
                if dst_tokens.get(name) == dst.refs.value_token(ObjectId(value)):
                    self.dst_values[name] = ObjectId(value)
            self.present.update(_complete(state))
        self.dst_tokens = dst_tokens
        if not moved:
            self.report.seconds = time.perf_counter() - started
            return self.report
        if state is None and dst.exists():
            self._list_dst()
        values = self._read_src(moved)
        for name, value in values.items():
            # DST's ref lists with the token of SRC's value: DST holds that very value.
            if name in dst_tokens and dst_tokens[name] == dst.refs.value_token(value):
                self.dst_values[name] = value
                if not name.startswith("deleted/"):
                    self.present.add(value)
        by_ns: dict[str, list[tuple[str, ObjectId]]] = {ns: [] for ns in _NAMESPACES}
        for name, value in values.items():
            by_ns[name.split("/", 1)[0]].append((name, value))
        with ThreadPoolExecutor(self.jobs) as pool:
            self.pool = pool
            roots = [v for ns in ("keyless", "artifacts", "runs", "assets") for _, v in by_ns[ns]]
            self._copy(roots)
            self._each(by_ns["deleted"], self._merge_deleted)
            self._each(by_ns["keyless"], self._merge_keyless)
            self._each(by_ns["artifacts"], self._merge_artifact)
            self._each(by_ns["runs"], self._merge_run)
            self._each(by_ns["assets"], self._merge_asset)
            live = [(n, v) for n, v in by_ns["progress"] if self._progress_live(v)]
            self._copy([v for _, v in live])
            self._each(live, self._merge_progress)
        if not self.dry_run:
            new_src: dict[str, str] = {n: old_src[n] for n in src_tokens if n in old_src}
            new_src.update(values)
            self._save_state(state, new_src)
            if any(c.name.startswith("assets/") for c in self.report.changes):
                # From the records and ref values this pass has just read: no reading back.
                dst.lineage.update_from(self.records, self.dst_values)
        self.report.seconds = time.perf_counter() - started
        return self.report

    def _each(
        self, items: list[tuple[str, ObjectId]], merge: Callable[[str, ObjectId], None]
    ) -> None:
        for future in [self.pool.submit(merge, n, v) for n, v in sorted(items)]:
            future.result()

    # -- state ------------------------------------------------------------------------------

    def _load_state(self) -> _State | None:
        if not self.dst.exists():
            return None
        raw = self.dst.area.read(state_path(self.src))
        if raw is None:
            return None
        try:
            state = msgspec.msgpack.decode(raw, type=_State)
        except (msgspec.DecodeError, msgspec.ValidationError):
            return None  # derived data: a damaged state only costs a full comparison
        if state.version != _STATE_VERSION or state.src_url != catalog_identity(self.src):
            return None
        return state

    def _save_state(self, old: _State | None, src_refs: dict[str, str]) -> None:
        dst_refs: dict[str, str] = {
            n: v for n, v in self.dst_values.items() if v is not None and n in self.dst_tokens
        }
        for change in self.report.changes:
            if change.new is not None:
                dst_refs[change.name] = change.new
            else:
                dst_refs.pop(change.name, None)
        new = _State(_STATE_VERSION, catalog_identity(self.src), src_refs, dst_refs)
        if old is not None and old.src == new.src and old.dst == new.dst:
            return
        try:
            self.dst.area.write(state_path(self.src), msgspec.msgpack.encode(new))
        except OSError:
            pass  # derived data: the next sync compares more, and loses nothing

    # -- reading ----------------------------------------------------------------------------

    def _read_src(self, names: list[str]) -> dict[str, ObjectId]:
        refs = self.src.refs
        if len(names) > _READ_ALL_ABOVE:
            wanted = set(names)
            return {n: v for n, v in refs.iter_refs("") if n in wanted}
        got = self.pool_map_plain(refs.get, names)
        return {n: v for n, v in zip(names, got, strict=True) if v is not None}

    def pool_map_plain(self, func: Callable[[str], Any], items: list[str]) -> list[Any]:
        with ThreadPoolExecutor(self.jobs) as pool:
            return list(pool.map(func, items))

    def _list_dst(self) -> None:
        self.present.update(self.dst.objects.iter_ids())
        self.listed = True

    def read(self, oid: ObjectId) -> AnyRecord:
        """Return record ``oid``: read in this pass, else from either side."""
        rec = self.records.get(oid)
        if rec is not None:
            return rec
        # The same bytes either side (content addressing): ask the cheaper side first.
        first, second = (self.src, self.dst) if self.src_first else (self.dst, self.src)
        try:
            rec = first.get_record(oid)
        except ObjectNotFoundError:
            rec = second.get_record(oid)
        self.records[oid] = rec
        return rec

    def dst_ref(self, name: str, fresh: bool = False) -> ObjectId | None:
        if not fresh and name in self.dst_values:
            return self.dst_values[name]
        if not fresh and name not in self.dst_tokens:
            return None  # not listed on DST (if created since, the CAS fails and re-reads)
        value = self.dst.refs.get(name) if self.dst.exists() else None
        self.dst_values[name] = value
        return value

    # -- copying ----------------------------------------------------------------------------

    def _has(self, oid: ObjectId) -> bool:
        if oid in self.present:
            return True
        if self.listed or not self.dst.exists():
            return False
        if not _is_remote(self.dst):
            return self.dst.objects.exists(oid)
        return False

    def _copy(self, roots: Iterable[ObjectId]) -> None:
        """Copy every object reachable from ``roots`` that DST lacks, children first."""
        frontier = [(oid, False, False) for oid in dict.fromkeys(roots)]
        seen: set[ObjectId] = set()
        pending: dict[ObjectId, tuple[bytes, list[ObjectId]]] = {}
        while frontier:
            todo = []
            for oid, blob, optional in frontier:
                if oid in seen:
                    continue
                seen.add(oid)
                todo.append((oid, blob, optional))
            if _is_remote(self.dst) and not self.listed and self.dst.exists():
                self.unknown += sum(1 for o, _, _ in todo if o not in self.present)
                if self.unknown > _LIST_DST_ABOVE:
                    self._list_dst()
            frontier = []
            for got in self.pool.map(self._fetch, todo):
                if got is None:
                    continue
                oid, data, children = got
                if data is not None:
                    pending[oid] = (data, [c for c, blob, _ in children if not blob])
                frontier.extend(children)
        self._write_records(pending)

    def _fetch(
        self, item: tuple[ObjectId, bool, bool]
    ) -> tuple[ObjectId, bytes | None, list[tuple[ObjectId, bool, bool]]] | None:
        """Read one object from SRC; write a blob at once; return a record's bytes and links."""
        oid, blob, optional = item
        if self._has(oid):
            return None
        self._found()
        if blob and self.server_side and self._copy_inside(oid, optional):
            return oid, None, []
        try:
            data = self.src.objects.get(oid)
        except CorruptObjectError as exc:
            raise SyncError(
                f"sync stopped: {exc} (on the source {self.src.url!r}); nothing that reaches "
                f"it was written to {self.dst.url!r}"
            ) from exc
        except ObjectNotFoundError as exc:
            if optional:
                return None  # a reclaimed parent of a deleted version: nothing to copy
            raise SyncError(
                f"sync stopped: the source {self.src.url!r} is missing object {oid!r}, which "
                f"its refs reach ({exc}); nothing that reaches it was written to "
                f"{self.dst.url!r}"
            ) from exc
        if blob:
            self._put(oid, data, BLOB)
            return oid, None, []
        try:
            rec = decode_record(data)
        except WrongTypeError as exc:
            raise SyncError(f"sync stopped: object {oid!r} on {self.src.url!r}: {exc}") from exc
        with self.lock:
            self.records[oid] = rec
        children = [(link.oid, link.blob, link.optional) for link in links(rec)]
        return oid, data, children

    def _copy_inside(self, oid: ObjectId, optional: bool) -> bool:
        """Copy blob ``oid`` inside S3 (see ``S3ObjectStore.copy_from``); False: not here."""
        src, dst = self.src.objects, self.dst.objects
        assert isinstance(src, S3ObjectStore) and isinstance(dst, S3ObjectStore)
        try:
            size = dst.copy_from(src, oid)
        except CorruptObjectError as exc:
            raise SyncError(
                f"sync stopped: {exc} (on the source {self.src.url!r}); nothing that reaches "
                f"it was written to {self.dst.url!r}"
            ) from exc
        except ObjectNotFoundError:
            if optional:
                return True  # a reclaimed parent of a deleted version: nothing to copy
            raise
        if size is None:
            self.server_side = False  # not possible between these two: through the client
            return False
        self._count(oid, size, BLOB)
        return True

    def _put(self, oid: ObjectId, data: bytes, kind: str) -> None:
        if not self.dry_run:
            self.dst.objects.put(data)
        self._count(oid, len(data), kind)

    def _found(self) -> None:
        with self.lock:
            self.found += 1
            if self.progress is not None:
                r = self.report
                self.progress(r.objects_copied, r.bytes_copied, self.found)

    def _count(self, oid: ObjectId, size: int, kind: str) -> None:
        with self.lock:
            self.present.add(oid)
            r = self.report
            r.objects_copied += 1
            r.bytes_copied += size
            r.objects.append((oid, kind, size))
            if self.progress is not None:
                self.progress(r.objects_copied, r.bytes_copied, max(self.found, r.objects_copied))

    def _write_records(self, pending: dict[ObjectId, tuple[bytes, list[ObjectId]]]) -> None:
        """Write ``pending`` records so that each comes after every record it links to."""
        height: dict[ObjectId, int] = {}
        for start in pending:
            stack = [start]
            while stack:
                oid = stack[-1]
                if oid in height:
                    stack.pop()
                    continue
                kids = [c for c in pending[oid][1] if c in pending and c not in height]
                if kids:
                    stack.extend(kids)
                    continue
                stack.pop()
                height[oid] = 1 + max(
                    (height[c] for c in pending[oid][1] if c in pending), default=-1
                )
        levels: dict[int, list[ObjectId]] = {}
        for oid, h in height.items():
            levels.setdefault(h, []).append(oid)
        for h in sorted(levels):
            batch = levels[h]
            list(
                self.pool.map(
                    lambda oid: self._put(oid, pending[oid][0], kind_of(self.records[oid])),
                    batch,
                )
            )

    # -- merging refs -----------------------------------------------------------------------

    def _cas(self, name: str, old: ObjectId | None, new: ObjectId | None) -> bool:
        """Move DST's ``name`` from ``old`` to ``new`` (None: delete); False on a conflict."""
        if self.dry_run:
            return True
        refs = self.dst.refs
        if new is None:
            return old is None or refs.delete_if_equals(name, old)
        return refs.set_if_equals(name, old, new)

    def _record(self, name: str, action: str, old: ObjectId | None, new: ObjectId | None) -> None:
        with self.lock:
            r = self.report
            if action == "unchanged":
                r.refs_unchanged += 1
                return
            r.changes.append(RefChange(name, action, old, new))
            if action == "create":
                r.refs_created += 1
            elif action == "update":
                r.refs_updated += 1
            elif action == "merge":
                r.refs_merged += 1
            elif action == "delete":
                r.refs_deleted += 1
            self.dst_values[name] = new

    def _conflict(self) -> None:
        with self.lock:
            self.report.conflicts_merged += 1

    def _resolve(self, name: str, src_value: ObjectId, decide: _Decide) -> None:
        """Merge ``src_value`` into DST's ``name``: ``decide(dst value)`` gives the action.

        Absent on DST: create. Equal: unchanged. Otherwise ``decide`` returns ``(action,
        new value, whether both sides had diverged)``, tried by compare-and-swap and redone
        on the value found on conflict.
        """
        fresh = False
        for _ in range(_CAS_ATTEMPTS):
            current = self.dst_ref(name, fresh)
            fresh = True
            if current == src_value:
                self._record(name, "unchanged", current, current)
                return
            if current is None:
                if self._cas(name, None, src_value):
                    self._record(name, "create", None, src_value)
                    return
                continue
            action, new, diverged = decide(current)
            if diverged:
                self._conflict()
            if action == "unchanged" or new == current:
                self._record(name, "unchanged", current, current)
                return
            if self._cas(name, current, new):
                self._record(name, action, current, new)
                return
        raise RefConflictError(f"could not merge ref {name!r}: DST's writers kept moving it")

    # deleted/ and keyless/

    def _merge_deleted(self, name: str, value: ObjectId) -> None:
        aid = name[len("deleted/") :]
        self._resolve(name, value, _keep)
        for other in (f"keyless/{aid}", f"progress/{aid}"):
            self._drop(other)

    def _drop(self, name: str) -> None:
        for _ in range(_CAS_ATTEMPTS):
            current = self.dst_ref(name, fresh=True)
            if current is None:
                return
            if self._cas(name, current, None):
                self._record(name, "delete", current, None)
                return
        raise RefConflictError(f"could not delete ref {name!r} on {self.dst.url!r}")

    def _merge_keyless(self, name: str, value: ObjectId) -> None:
        aid = name[len("keyless/") :]
        if aid in self.src_deleted or self.dst_ref(f"deleted/{aid}") is not None:
            return
        self._resolve(name, value, _keep)

    # artifacts/

    def _merge_artifact(self, name: str, value: ObjectId) -> None:
        key = name[len("artifacts/") :]
        dropped: list[ObjectId] = []

        def decide(current: ObjectId) -> tuple[str, ObjectId, bool]:
            dropped.clear()
            if self._chain_reaches(value, current):
                return "update", value, False
            if self._chain_reaches(current, value):
                return "unchanged", current, False
            sv, sr, s_at = self._history(value)
            dv, dr, d_at = self._history(current)
            removed = set(sr) | set(dr)
            merged = sorted(
                {v for v in (*sv, *dv) if v not in removed},
                key=lambda v: (self._created(v), v),
                reverse=True,
            )
            dropped.extend(sorted(removed - set(dr)))
            if merged == sv and removed == set(sr):
                return "update", value, False  # SRC's history holds all of DST's
            if merged == dv and removed == set(dr):
                return "unchanged", current, False
            snapshot = HistorySnapshot(
                key=key,
                created=max(utcnow(), max(s_at, d_at) + _ONE_US),
                versions=merged,
                removed=sorted(removed),
                bases=[current, value],
            )
            return "merge", self._put_record(snapshot), True

        self._resolve(name, value, decide)
        for oid in dropped:
            self._drop(f"progress/{oid}")

    def _put_record(self, record: AnyRecord) -> ObjectId:
        data = encode_record(record)
        oid = ObjectId(hashlib.sha256(data).hexdigest())
        with self.lock:
            self.records[oid] = record
        if not self.dry_run:
            self.dst.objects.put(data)
        return oid

    def _created(self, oid: ObjectId) -> dt.datetime:
        rec = self.read(oid)
        if isinstance(rec, (ArtifactVersion, HistorySnapshot, AssetMerge)):
            return rec.created
        raise WrongTypeError(f"object {oid!r} is a {kind_of(rec)}, not an artifact history")

    def _chain_reaches(self, head: ObjectId, target: ObjectId) -> bool:
        """Return whether ``target`` is on the chain of ``parent`` links from ``head``."""
        at = self._created(target)
        cur: ObjectId | None = head
        while cur is not None:
            if cur == target:
                return True
            rec = self.read(cur)
            if not isinstance(rec, ArtifactVersion) or rec.created < at:
                return False
            cur = rec.parent
        return False

    def _history(self, head: ObjectId) -> tuple[list[ObjectId], list[ObjectId], dt.datetime]:
        """Return a history's versions (newest first), its removed ids and its head's time."""
        versions: list[ObjectId] = []
        cur: ObjectId | None = head
        while cur is not None:
            rec = self.read(cur)
            if isinstance(rec, ArtifactVersion):
                versions.append(cur)
                cur = rec.parent
            elif isinstance(rec, HistorySnapshot):
                versions.extend(rec.versions)
                return versions, list(rec.removed), self._created(head)
            else:
                raise WrongTypeError(f"history object {cur!r} is a {kind_of(rec)}")
        return versions, [], self._created(head)

    # runs/

    def _merge_run(self, name: str, value: ObjectId) -> None:
        def rank(oid: ObjectId) -> tuple[bool, dt.datetime, str]:
            rec = self.read(oid)
            if not isinstance(rec, RunRecord):
                raise WrongTypeError(f"ref {name!r} points at a {kind_of(rec)}, not a run")
            return rec.end is not None, rec.end or rec.start, oid

        def decide(current: ObjectId) -> tuple[str, ObjectId, bool]:
            if rank(value) > rank(current):
                return "update", value, True
            return "unchanged", current, True

        self._resolve(name, value, decide)

    # assets/

    def _node(self, oid: ObjectId) -> HistoryNode:
        return read_node(cast("Catalog", _Reader(self)), oid)

    def _asset_reaches(self, head: ObjectId, target: ObjectId) -> bool:
        at = self._node(target).created
        for oid, node in HistoryWalk(self._node, head):
            if oid == target:
                return True
            if node.created < at:
                return False
        return False

    def _merge_asset(self, name: str, value: ObjectId) -> None:
        def decide(current: ObjectId) -> tuple[str, ObjectId, bool]:
            if self._asset_reaches(value, current):
                return "update", value, False
            if self._asset_reaches(current, value):
                return "unchanged", current, False
            mine, theirs = self._node(current), self._node(value)
            merge = AssetMerge(
                key=mine.key,
                created=max(utcnow(), max(mine.created, theirs.created) + _ONE_US),
                parents=[current, value],
            )
            return "merge", self._put_record(merge), True

        self._resolve(name, value, decide)

    # progress/

    def _progress_live(self, value: ObjectId) -> bool:
        """Return whether the artifact of progress update ``value`` is live on merged DST."""
        update = self.read(value)
        if not isinstance(update, ProgressUpdate):
            return False
        aid = update.artifact
        try:
            art = self.read(aid)
        except NotFoundError:
            return False
        if not isinstance(art, ArtifactVersion):
            return False
        if art.key is None:
            return aid not in self.src_deleted and self.dst_ref(f"deleted/{aid}") is None
        head = self.dst_ref(f"artifacts/{art.key}")
        cur = head
        while cur is not None:
            rec = self.read(cur)
            if isinstance(rec, HistorySnapshot):
                return aid in rec.versions
            if not isinstance(rec, ArtifactVersion):
                return False
            if cur == aid:
                return True
            if rec.created < art.created:
                return False
            cur = rec.parent
        return False

    def _merge_progress(self, name: str, value: ObjectId) -> None:
        def rank(oid: ObjectId) -> tuple[dt.datetime, str]:
            rec = self.read(oid)
            if not isinstance(rec, ProgressUpdate):
                raise WrongTypeError(f"ref {name!r} points at a {kind_of(rec)}")
            return rec.updated, oid

        def decide(current: ObjectId) -> tuple[str, ObjectId, bool]:
            if rank(value) > rank(current):
                return "update", value, True
            return "unchanged", current, True

        self._resolve(name, value, decide)


def _keep(current: ObjectId) -> tuple[str, ObjectId, bool]:
    return "unchanged", current, False


class _Reader:
    """Enough of a catalog for :func:`read_node`: records read through a pass's cache."""

    def __init__(self, sync_pass: _Pass) -> None:
        self._pass = sync_pass

    def get_record(self, oid: str) -> AnyRecord:
        return self._pass.read(ObjectId(oid))


def _complete(state: _State) -> Iterator[ObjectId]:
    """Yield the objects the last pass left on DST with everything they link to.

    The values of the refs it merged, except ``deleted/`` refs (which may name reclaimed
    objects) and SRC's ``progress/`` refs that it skipped (of deleted artifacts).
    """
    for name, value in state.dst.items():
        if not name.startswith("deleted/"):
            yield ObjectId(value)
    for name, value in state.src.items():
        namespace = name.split("/", 1)[0]
        if namespace in ("artifacts", "runs", "keyless", "assets"):
            yield ObjectId(value)
