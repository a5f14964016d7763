"""fsck: check that a catalog is whole (``cairn fsck``); it writes nothing.

What is checked, in one pass over the catalog:

1. **Every object is re-hashed.** The objects are listed and each is read once through the
   object store, whose ``get`` re-hashes the bytes (:class:`~cairn.errors.CorruptObjectError`
   on a mismatch), whether or not a ref reaches it. An object that starts like a record is
   decoded as it is read and kept (its large inline payload dropped), so the walk below
   reads nothing again: on a local disk the whole check costs little more than hashing
   every file, and on S3 the reads run ``jobs`` at a time (16 by default) because each is a
   request. Locally they run one at a time: reading small files is system calls and Python
   work that threads do not overlap (measured slower with 2 or 4 threads than with one).
2. **Every ref reaches only present, valid objects.** Each ref is read on its own, so a
   damaged ref file is reported by name and the others are still checked. Each ref must
   point at the kind of record its namespace holds and agree with it (``artifacts/<key>``
   at a history of that key, ``runs/<id>`` at that run, ``assets/<hash>`` at a node of the
   asset with that hash, ...). Then what the refs keep alive is walked, over the records in
   memory and from all refs at once, as :func:`cairn.catalog._reach.reachable` defines it
   (the rules sync and gc follow): a reached object must be stored, hash to its name, and be
   a record where a record is expected (a blob may hold anything), and each record reached
   must link to the kinds of record the format says (a snapshot lists artifact versions, an
   asset history's nodes are materializations of one asset, asset-heads or merges, ...).
   Only when something reached is bad are the refs walked again one by one (in memory, so
   at little cost) to name, with each problem, the first ref that reaches it.
3. **The lineage index agrees with the records.** The index (``index/lineage/``) is derived
   and may lag the refs; each of its files says which asset refs it reflects (its stamp).
   fsck rebuilds, in memory and from the records already read, what each file should hold
   for the refs in its own stamp, and compares: the rows (``base.parquet`` plus a
   ``delta.parquet`` that belongs to that base) and the maps (``maps.msgpack``). So:

   * an index that merely lags the refs is fine: queries bring it up to date themselves;
   * an index file that cannot be decoded (damaged, foreign, another version) is a
     *warning*: queries ignore it and rebuild it from the records, so no answer is wrong;
   * an index that decodes but disagrees with the records for its own stamp is an
     *error*: queries trust a decodable file and would answer wrongly until
     ``cairn index rebuild``;
   * an asset whose stamped history cannot be read (a record missing or corrupt, which is
     reported on its own when a ref reaches it) is left out of the comparison.

   Ties between two steps of one asset with the same time (possible only across a merge)
   may be broken differently by an incremental update and a rebuild; none occur in
   catalogs cairn writes.

Each problem is a :class:`FsckProblem` with a ``code``, the object id or ref name, the path
(the store's ``describe``) and a sentence; an *error* means readers can fail or answer
wrongly, a *warning* that something is off but no answer is wrong. The report's
:attr:`FsckReport.ok` is false when there is an error. fsck holds every record it reads in
memory for the walk (a few hundred bytes each, without large inline payloads) and may run
while other processes write: objects stored after the listing are not checked, and refs
are listed before objects, so every object a listed ref reaches was stored before the
listing saw it (objects before refs).
"""

from __future__ import annotations

import datetime as dt
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import msgspec

from cairn.catalog._assets import HistoryWalk, asset_ref, read_node
from cairn.catalog._index_lineage import (
    BASE_PATH,
    DELTA_PATH,
    MAPS_PATH,
    IndexPart,
    LineageMaps,
    RowBuilder,
    decode_part,
)
from cairn.catalog._reach import BLOB, kind_of, links, reachable
from cairn.catalog.records import (
    AnyRecord,
    ArtifactVersion,
    AssetHead,
    AssetMerge,
    HistorySnapshot,
    Materialization,
    ProgressUpdate,
    RunRecord,
    decode_record,
)
from cairn.errors import (
    CatalogError,
    CorruptObjectError,
    CorruptRefError,
    InvalidRefNameError,
    NotFoundError,
    ObjectNotFoundError,
    WrongTypeError,
)
from cairn.objects import LocalObjectStore, MemoryObjectStore, ObjectId

if TYPE_CHECKING:
    from cairn.catalog._catalog import Catalog

__all__ = ["FsckProblem", "FsckReport", "ProgressCallback", "fsck"]

ProgressCallback = Callable[[int, int, int], None]
"""Called as objects are checked, with (objects checked, objects listed, bytes read)."""

Severity = Literal["error", "warning"]

_REMOTE_JOBS = 16
_BATCH = 256
"""Objects per batch of concurrent reads, and between two progress calls."""
_SLIM_ABOVE = 1024
"""An artifact version bigger than this is kept without its inline payload."""
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
_NOTHING = HistorySnapshot(key="", created=_EPOCH)
"""What the walk is given for an object that is not a usable record: it links to nothing."""

_NODES = frozenset({"materialization", "asset-head", "asset-merge"})
_HEADS = (ArtifactVersion, HistorySnapshot, type(None))
"""What an artifact version's parent may be (None: missing, reported by the walk)."""
_ROOT_KINDS: dict[str, frozenset[str]] = {
    "artifacts": frozenset({"artifact", "history"}),
    "progress": frozenset({"progress-update"}),
    "runs": frozenset({"run"}),
    "keyless": frozenset({"artifact"}),
    "assets": _NODES,
}
_KIND_NAMES = {
    "artifact": "an artifact version",
    "history": "a history snapshot",
    "progress-update": "a progress update",
    "run": "a run record",
    "materialization": "a materialization",
    "asset-head": "an asset-head",
    "asset-merge": "an asset-merge",
}


@dataclass(frozen=True)
class FsckProblem:
    """One thing wrong with a catalog."""

    code: str
    """What is wrong: ``corrupt-object``, ``missing-object``, ``unreadable-object``,
    ``not-a-record``, ``wrong-kind``, ``corrupt-ref``, ``invalid-ref-name``,
    ``dangling-ref``, ``ref-mismatch``, ``missing-marker``, ``lineage-mismatch`` (errors);
    ``unknown-ref``, ``index-unreadable`` (warnings)."""
    message: str
    """A sentence naming the thing, where it is and, when there is one, the fix."""
    severity: Severity = "error"
    oid: str | None = None
    """The object concerned, if any."""
    ref: str | None = None
    """The ref concerned, or the first ref found to reach the object."""
    path: str | None = None
    """Where the object, ref or index file is (the store's ``describe``)."""

    def to_dict(self) -> dict[str, Any]:
        """Return the problem as ``cairn fsck --json`` prints it."""
        return {
            "severity": self.severity,
            "code": self.code,
            "id": self.oid,
            "ref": self.ref,
            "path": self.path,
            "message": self.message,
        }


@dataclass
class FsckReport:
    """What :func:`fsck` found."""

    url: str
    problems: list[FsckProblem] = field(default_factory=list)
    objects: int = 0
    """Objects read and re-hashed."""
    bytes: int = 0
    """Bytes read from them."""
    refs: int = 0
    """Refs read and walked."""
    reachable: int = 0
    """Objects some ref keeps alive."""
    unreachable: int = 0
    """Stored objects no ref keeps alive (garbage, e.g. deleted versions)."""
    lineage_rows: int = 0
    """Rows of the lineage index compared with the records."""
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        """Whether nothing is wrong (warnings aside)."""
        return not self.errors

    @property
    def errors(self) -> list[FsckProblem]:
        """The problems of severity ``error``."""
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[FsckProblem]:
        """The problems of severity ``warning``."""
        return [p for p in self.problems if p.severity == "warning"]

    def summary(self) -> dict[str, Any]:
        """Return the counts, without the problems themselves."""
        return {
            "url": self.url,
            "ok": self.ok,
            "errors": len(self.errors),
            "warnings": len(self.warnings),
            "objects": self.objects,
            "bytes": self.bytes,
            "refs": self.refs,
            "reachable": self.reachable,
            "unreachable": self.unreachable,
            "lineage_rows": self.lineage_rows,
            "seconds": round(self.seconds, 3),
        }

    def to_dict(self) -> dict[str, Any]:
        """Return the report as ``cairn fsck --json`` prints it: the counts and each problem."""
        return {**self.summary(), "problems": [p.to_dict() for p in self.problems]}


def fsck(
    catalog: Catalog | str,
    *,
    jobs: int | None = None,
    progress: ProgressCallback | None = None,
) -> FsckReport:
    """Check a catalog: re-hash every object, walk every ref, compare the lineage index.

    Nothing is written. See the module docstring for what is checked and what counts as
    an error or a warning.

    Args:
        catalog: the catalog (a :class:`~cairn.catalog.Catalog` or a URL).
        jobs: how many objects are read at once (default 16 on S3, 1 on a local disk or in
            memory, where threads only add overhead).
        progress: called with (objects checked, objects listed, bytes read) as objects are
            read.

    Returns:
        Every problem found, and what was checked (see :class:`FsckReport`).

    Raises:
        NotFoundError: there is no catalog at that URL (nothing stored at all).
        StorageError: listing the objects or refs failed.

    Example:
        >>> from cairn.catalog import Catalog, fsck
        >>> cat = Catalog.from_url("memory://fsck-docstring")
        >>> _ = cat.artifacts.create("markdown", "hello", key="greeting")
        >>> report = fsck(cat)
        >>> report.ok, report.objects, report.refs
        (True, 1, 1)
    """
    from cairn.catalog._catalog import Catalog

    cat = Catalog.from_url(catalog) if isinstance(catalog, str) else catalog
    return _Check(cat, jobs=jobs, progress=progress).run()


class _Check:
    """One run of :func:`fsck` over one catalog."""

    def __init__(self, catalog: Catalog, *, jobs: int | None, progress: ProgressCallback | None):
        self.cat = catalog
        remote = not isinstance(catalog.objects, (LocalObjectStore, MemoryObjectStore))
        self.jobs = jobs or (_REMOTE_JOBS if remote else 1)
        self.progress = progress
        self.report = FsckReport(url=catalog.url)
        self.records: dict[ObjectId, AnyRecord] = {}
        """Every object that verified and decoded as a record (inline payloads dropped)."""
        self.stored: set[ObjectId] = set()
        """Every object that was listed and read back whole (any content)."""
        self.bad: dict[ObjectId, FsckProblem] = {}
        """Objects that are corrupt, unreadable, missing or not records where a record is
        expected, by id: each reported once, after the walk."""
        self.problems: list[FsckProblem] = []

    def run(self) -> FsckReport:
        started = time.perf_counter()
        cat = self.cat
        # Refs first: every object a listed ref reaches was stored before the object listing
        # below (objects before refs), so it cannot be missed by it.
        names = list(cat.refs.iter_names(""))
        ids = list(cat.objects.iter_ids())
        if not cat.exists():
            if not names and not ids:
                raise NotFoundError(f"there is no cairn catalog at {cat.url!r} to check")
            self._problem(
                "missing-marker",
                f"{cat.url!r} holds objects or refs but no CAIRN format marker; run "
                f"'cairn init {cat.url}' to write it again",
                path=cat.url,
            )
        refs = self._read_refs(names)
        self._read_objects(ids)
        roots = self._roots(refs)
        # One walk from all the refs at once, as reachability is defined (what one ref keeps
        # alive may depend on what the others say); problems are matched to refs afterwards.
        reached = reachable(cat, roots, read=self._read)
        for oid, kind in reached.items():
            if kind == BLOB:
                self._check_blob(oid)
        self.report.reachable = len(reached)
        self.report.unreachable = len((self.stored | set(self.bad)) - set(reached))
        linked = self._check_links(reached)
        self._attribute(roots, reached, linked)
        self._check_lineage()
        self.report.problems = self.problems
        self.report.seconds = time.perf_counter() - started
        return self.report

    def _problem(
        self,
        code: str,
        message: str,
        *,
        severity: Severity = "error",
        oid: str | None = None,
        ref: str | None = None,
        path: str | None = None,
    ) -> None:
        self.problems.append(FsckProblem(code, message, severity, oid, ref, path))

    def _map(self, func: Callable[[str], Any], items: Sequence[str]) -> Iterator[Any]:
        """Yield ``func(item)`` for each item in order, ``jobs`` at a time."""
        if self.jobs <= 1 or len(items) <= 1:
            yield from map(func, items)
            return
        with ThreadPoolExecutor(self.jobs) as pool:
            for start in range(0, len(items), _BATCH):
                yield from pool.map(func, items[start : start + _BATCH])

    # -- refs -------------------------------------------------------------------------------

    def _read_refs(self, names: Sequence[str]) -> list[tuple[str, ObjectId]]:
        """Return ``(name, value)`` of every ref that could be read; report the others."""
        store = self.cat.refs

        def get(name: str) -> ObjectId | CatalogError | None:
            try:
                return store.get(name)
            except (CorruptRefError, InvalidRefNameError) as exc:
                return exc

        out: list[tuple[str, ObjectId]] = []
        for name, got in zip(names, self._map(get, names), strict=True):
            if isinstance(got, CorruptRefError):
                path = store.describe(name)
                self._problem(
                    "corrupt-ref",
                    f"ref {name!r} at {path!r} is damaged: it holds {got.value[:80]!r} instead "
                    "of an object id; restore it from another copy of the catalog",
                    ref=name, path=path,
                )  # fmt: skip
            elif isinstance(got, InvalidRefNameError):
                path = self._path(f"refs/{name}")
                self._problem(
                    "invalid-ref-name",
                    f"{path!r} is not named like a ref (cairn did not write it, and listing "
                    "refs fails on it); move it out of the catalog",
                    ref=name, path=path,
                )  # fmt: skip
            elif got is not None:  # else deleted since it was listed
                out.append((name, got))
        return out

    # -- objects ----------------------------------------------------------------------------

    def _read_objects(self, ids: list[ObjectId]) -> None:
        """Read (and so re-hash) every listed object once, keeping the records decoded."""
        total = len(ids)
        report = self.report
        progress = self.progress
        if progress is not None:
            progress(0, total, 0)
        checked = size = 0
        results: Iterable[bytes | CatalogError] = self._map(self._fetch, ids)
        # The loop every object goes through: kept lean (this is most of fsck's own cost).
        records, stored, decode = self.records, self.stored, decode_record
        for oid, got in zip(ids, results, strict=True):
            checked += 1
            if type(got) is bytes:
                stored.add(oid)
                n = len(got)
                size += n
                if got.startswith(b"{"):  # a record is a JSON object; a blob may be anything
                    try:
                        rec = decode(got)
                    except WrongTypeError:
                        pass  # a blob that happens to start like JSON
                    else:
                        records[oid] = _slim(rec) if n > _SLIM_ABOVE else rec
            elif not isinstance(got, (bytes, ObjectNotFoundError)):  # else removed (gc)
                self._note_bad(oid, got)
            if progress is not None and checked % _BATCH == 0:
                progress(checked, total, size)
        corrupt = sum(p.code == "corrupt-object" for p in self.bad.values())
        report.objects, report.bytes = len(stored) + corrupt, size
        if progress is not None:
            progress(checked, total, size)

    def _fetch(self, oid: str) -> bytes | CatalogError:
        try:
            return self.cat.objects.get(oid)
        except CatalogError as exc:
            return exc

    def _note_bad(self, oid: ObjectId, exc: CatalogError) -> None:
        path = self.cat.objects.describe(oid)
        if isinstance(exc, CorruptObjectError):
            self.bad[oid] = FsckProblem(
                "corrupt-object",
                f"object {oid!r} at {path!r} is corrupt: its bytes hash to {exc.actual!r}; "
                "copy it back from another copy of the catalog",
                oid=oid,
                path=path,
            )
        else:
            self.bad[oid] = FsckProblem(
                "unreadable-object", f"object {oid!r} at {path!r} cannot be read: {exc}",
                oid=oid, path=path,
            )  # fmt: skip

    def _late(self, oid: ObjectId) -> bool:
        """Read an object the listing did not show (stored since, or missing); True if there."""
        got = self._fetch(oid)
        if isinstance(got, ObjectNotFoundError):
            return False
        if isinstance(got, CatalogError):
            self.report.objects += isinstance(got, CorruptObjectError)
            self._note_bad(oid, got)
            return True
        self.stored.add(oid)
        self.report.objects += 1
        self.report.bytes += len(got)
        try:
            self.records[oid] = _slim(decode_record(got))
        except WrongTypeError:
            pass
        return True

    # -- the walk from the refs ---------------------------------------------------------------

    def _roots(self, refs: list[tuple[str, ObjectId]]) -> list[tuple[str, ObjectId]]:
        """Check what each ref points at; return the refs to walk from."""
        self.report.refs = len(refs)
        roots = []
        for name, value in refs:
            namespace = name.split("/", 1)[0]
            if namespace == "deleted":
                # A tombstone keeps nothing alive and may name a reclaimed object; the walk
                # still takes it (it says which versions are deleted).
                roots.append((name, value))
            elif namespace not in _ROOT_KINDS:
                self._problem(
                    "unknown-ref",
                    f"ref {name!r} is in a namespace this cairn does not know; not checked",
                    severity="warning", ref=name, path=self.cat.refs.describe(name),
                )  # fmt: skip
            elif self._check_root(name, value):
                roots.append((name, value))
        return roots

    def _check_root(self, name: str, value: ObjectId) -> bool:
        """Check what ref ``name`` points at; return whether to walk from it."""
        path = self.cat.refs.describe(name)
        if value not in self.stored and value not in self.bad and not self._late(value):
            self._problem(
                "dangling-ref",
                f"ref {name!r} at {path!r} points at object {value!r}, which is missing",
                oid=value, ref=name, path=path,
            )  # fmt: skip
            return False
        rec = self.records.get(value)
        if rec is None:
            return True  # corrupt, unreadable or not a record: the walk reports it
        namespace, _, rest = name.partition("/")
        kind = kind_of(rec)
        if kind not in _ROOT_KINDS[namespace] or not _one_asset(rec):
            self._problem(
                "wrong-kind",
                f"ref {name!r} at {path!r} points at object {value!r}, which is "
                f"{_what(rec)}, not {_expected(_ROOT_KINDS[namespace])}",
                oid=value, ref=name, path=path,
            )  # fmt: skip
            return False
        subject = _subject(namespace, value, rec)
        if subject is not None and subject != rest:
            self._problem(
                "ref-mismatch",
                f"ref {name!r} at {path!r} points at object {value!r}, which belongs to "
                f"{namespace + '/' + subject!r}",
                oid=value, ref=name, path=path,
            )  # fmt: skip
        return True

    def _read(self, oid: ObjectId) -> AnyRecord:
        """The walk's reader: a record from memory, or nothing (the problem is noted)."""
        rec = self.records.get(oid)
        if rec is not None:
            return rec
        if oid not in self.bad:
            if oid in self.stored:
                path = self.cat.objects.describe(oid)
                self.bad[oid] = FsckProblem(
                    "not-a-record", f"object {oid!r} at {path!r} is not a cairn record",
                    oid=oid, path=path,
                )  # fmt: skip
            elif self._late(oid):
                return self._read(oid)
            else:
                self._missing(oid)
        return _NOTHING

    def _check_blob(self, oid: ObjectId) -> None:
        if oid not in self.stored and oid not in self.bad and not self._late(oid):
            self._missing(oid)

    def _missing(self, oid: ObjectId) -> None:
        path = self.cat.objects.describe(oid)
        self.bad[oid] = FsckProblem(
            "missing-object", f"object {oid!r} is missing: expected at {path!r}",
            oid=oid, path=path,
        )  # fmt: skip

    def _attribute(
        self,
        roots: list[tuple[str, ObjectId]],
        reached: Mapping[ObjectId, str],
        linked: list[tuple[ObjectId, FsckProblem]],
    ) -> None:
        """Add the problems found, each bad object with the first ref found to reach it.

        Only when something reached is bad are the refs walked again one by one (over the
        records in memory), until each such object has its ref.
        """
        wanted = {oid for oid in self.bad if oid in reached} | {src for src, _ in linked}
        as_record = {
            oid for oid in wanted if oid in self.bad and self.bad[oid].code == "not-a-record"
        }
        first: dict[ObjectId, str] = {}
        read: set[ObjectId] = set()

        def quiet(oid: ObjectId) -> AnyRecord:
            read.add(oid)
            return self.records.get(oid, _NOTHING)  # the problems are known already

        for name, value in roots:
            if len(first) == len(wanted):
                break
            read.clear()
            for oid in reachable(self.cat, [(name, value)], read=quiet):
                # Not a record: the ref to name is one that needs it to be one.
                if oid in wanted and (oid not in as_record or oid in read):
                    first.setdefault(oid, name)

        def with_ref(problem: FsckProblem, ref: str | None) -> FsckProblem:
            if ref is None:
                return problem
            message = f"{problem.message}; reached from ref {ref!r}"
            return FsckProblem(
                problem.code, message, problem.severity, problem.oid, ref, problem.path
            )

        self.problems.extend(with_ref(self.bad[oid], first.get(oid)) for oid in sorted(self.bad))
        self.problems.extend(with_ref(problem, first.get(src)) for src, problem in linked)

    def _check_links(self, reached: Iterable[ObjectId]) -> list[tuple[ObjectId, FsckProblem]]:
        """Check that each reached record links to the kinds of records the format says.

        Returns:
            ``(the linking record's id, the problem)`` for each link to the wrong kind.
        """
        records = self.records
        out: list[tuple[ObjectId, FsckProblem]] = []
        for oid in reached:
            rec = records.get(oid)
            if rec is None:
                continue
            if type(rec) is ArtifactVersion:
                # Most records; their one record link is the parent (blobs may be anything).
                parent = rec.parent
                if parent is None or type(records.get(parent)) in _HEADS:
                    continue
            for link in links(rec):
                target = records.get(link.oid) if not link.blob else None
                if target is None:
                    continue  # a blob (anything goes), or missing: reported by the walk
                allowed = _link_kinds(rec, link.oid)
                if kind_of(target) in allowed and (allowed is not _NODES or _one_asset(target)):
                    continue
                path = self.cat.objects.describe(link.oid)
                message = (
                    f"{_what(rec)} {oid!r} links to object {link.oid!r} at {path!r}, which is "
                    f"{_what(target)}, not {_expected(allowed)}"
                )
                out.append((oid, FsckProblem("wrong-kind", message, oid=link.oid, path=path)))
        return out

    # -- the lineage index ---------------------------------------------------------------------

    def _check_lineage(self) -> None:
        area = self.cat.area
        raws = {path: area.read(path) for path in (BASE_PATH, DELTA_PATH, MAPS_PATH)}
        if all(raw is None for raw in raws.values()):
            return  # never built (or deleted): nothing to disagree
        parts: dict[str, IndexPart] = {}
        for path, part in ((BASE_PATH, "base"), (DELTA_PATH, "delta")):
            raw = raws[path]
            if raw is not None:
                decoded = decode_part(raw, part)
                if decoded is None:
                    self._unreadable_index(path)
                else:
                    parts[part] = decoded
        maps = None
        raw_maps = raws[MAPS_PATH]
        if raw_maps is not None:
            maps = LineageMaps.decode(raw_maps)
            if maps is None:
                self._unreadable_index(MAPS_PATH)
        builds: dict[tuple[tuple[str, str], ...], tuple[RowBuilder, set[str]]] = {}

        def expected(refs: Mapping[str, str]) -> tuple[RowBuilder, set[str]]:
            stamp = tuple(sorted(refs.items()))
            if stamp not in builds:
                builds[stamp] = self._expected_rows(refs)
            return builds[stamp]

        base = parts.get("base")
        if base is not None:
            delta = parts.get("delta")
            tables = [(BASE_PATH, base.table)]
            refs = base.refs
            if delta is not None and delta.base == base.id:
                tables.append((DELTA_PATH, delta.table))
                refs = delta.refs
            builder, skipped = expected(refs)
            self._compare_rows(tables, builder, skipped)
        if maps is not None:
            builder, skipped = expected(maps.refs)
            self._compare_maps(maps, builder, skipped)

    def get_record(self, oid: str) -> AnyRecord:
        """Return record ``oid`` as the walk read it, reading only an object not yet seen.

        Raises:
            CatalogError: the object is missing, corrupt or not a record.
        """
        oid = ObjectId(oid)
        rec = self.records.get(oid)
        if rec is None:
            listed = oid in self.stored or oid in self.bad
            if not listed and not self._late(oid):
                raise ObjectNotFoundError(oid, self.cat.objects.describe(oid))
            rec = self.records.get(oid)
            if rec is None:
                raise WrongTypeError(f"object {oid!r} is not a usable record")
        return rec

    def _unreadable_index(self, relpath: str) -> None:
        self._problem(
            "index-unreadable",
            f"lineage index file {self._path(relpath)!r} cannot be decoded (damaged, "
            "foreign or another version); queries ignore it and rebuild it from the records",
            severity="warning", path=self._path(relpath),
        )  # fmt: skip

    def _path(self, relpath: str) -> str:
        """Return where file ``relpath`` of the catalog is, for messages."""
        return f"{self.cat.url.rstrip('/')}/{relpath}"

    def _expected_rows(self, refs: Mapping[str, str]) -> tuple[RowBuilder, set[str]]:
        """Return the rows the index should hold for ``refs``, and the refs left out.

        The histories are walked over the records already in memory, as the index builds
        them; an asset whose history cannot be read is left out (its damage is reported by
        the walk from the refs, if a ref reaches it).
        """
        source: Any = self  # enough of a catalog for the walks: see get_record
        builder = RowBuilder()
        skipped: set[str] = set()
        for name in sorted(refs):
            steps = []
            try:
                for _, node in HistoryWalk(lambda o: read_node(source, o), ObjectId(refs[name])):
                    step = node.step
                    if step is None:
                        continue  # a merge node: its parents' steps come on their own
                    mat = node.materialization
                    if mat is None:
                        rec = source.get_record(step.materialization)
                        if not isinstance(rec, Materialization):
                            raise WrongTypeError(f"{step.materialization} is not a materialization")
                        mat = rec
                    steps.append((step, mat))
            except CatalogError:
                skipped.add(name)
                continue
            for step, mat in steps:
                builder.add(step, step.materialization, mat)
        return builder, skipped

    def _compare_rows(
        self, tables: list[tuple[str, Any]], builder: RowBuilder, skipped: set[str]
    ) -> None:
        stored: Counter[tuple[Any, ...]] = Counter()
        where: dict[tuple[Any, ...], str] = {}
        for relpath, table in tables:
            for row in _row_tuples(table):
                if asset_ref(row[1]) not in skipped:
                    stored[row] += 1
                    where.setdefault(row, relpath)
        wanted = Counter(
            row for row in _row_tuples(builder.table()) if asset_ref(row[1]) not in skipped
        )
        self.report.lineage_rows += sum(stored.values())
        extra, missing = stored - wanted, wanted - stored
        keys = sorted({row[1] for row in extra} | {row[1] for row in missing})
        last = tables[-1][0]
        for key in keys:
            n_extra = sum(n for row, n in extra.items() if row[1] == key)
            n_missing = sum(n for row, n in missing.items() if row[1] == key)
            relpath = next((where[row] for row in extra if row[1] == key), last)
            path = self._path(relpath)
            self._problem(
                "lineage-mismatch",
                f"the lineage index at {path!r} disagrees with the records of asset {key!r}: "
                f"{n_extra} row(s) the records do not give, {n_missing} row(s) missing; "
                "run 'cairn index rebuild'",
                ref=asset_ref(key), path=path,
            )  # fmt: skip

    def _compare_maps(self, maps: LineageMaps, builder: RowBuilder, skipped: set[str]) -> None:
        wanted = LineageMaps(maps.refs)
        wanted.extend(builder.rows())
        # An asset's latest state, properties and inputs come from its own history alone; the
        # last time a key was named upstream comes from every history, so it can be checked
        # only when none was left out.
        fields = ("latest", "props", "up") if skipped else ("latest", "props", "up", "referenced")
        differ: dict[str, list[str]] = {}
        for name in fields:
            have, want = getattr(maps, name), getattr(wanted, name)
            for key in set(have) | set(want):
                if have.get(key) != want.get(key) and asset_ref(key) not in skipped:
                    differ.setdefault(key, []).append(name)
        path = self._path(MAPS_PATH)
        for key in sorted(differ):
            self._problem(
                "lineage-mismatch",
                f"the lineage index at {path!r} disagrees with the records about asset "
                f"{key!r} ({', '.join(differ[key])}); run 'cairn index rebuild'",
                ref=asset_ref(key), path=path,
            )  # fmt: skip


def _slim(rec: AnyRecord) -> AnyRecord:
    """Return ``rec`` without an inline payload, which no check needs (to save memory)."""
    if isinstance(rec, ArtifactVersion):
        return msgspec.structs.replace(rec, data=None, description=None, metadata=None)
    return rec


def _one_asset(rec: AnyRecord) -> bool:
    """Whether ``rec`` can be an asset history node (a materialization must be of one asset)."""
    return not isinstance(rec, Materialization) or len(rec.assets) == 1


def _link_kinds(rec: AnyRecord, target: ObjectId) -> frozenset[str]:
    """Return the kinds of record ``rec`` may link to at ``target`` (not a blob link)."""
    if isinstance(rec, ArtifactVersion):
        return frozenset({"artifact", "history"})  # its parent: the key's previous head
    if isinstance(rec, (HistorySnapshot, RunRecord)):
        return frozenset({"artifact"})
    if isinstance(rec, ProgressUpdate):
        return frozenset({"progress-update"})
    if isinstance(rec, AssetHead) and target == rec.materialization:
        return frozenset({"materialization"})
    return _NODES


def _subject(namespace: str, value: ObjectId, rec: AnyRecord) -> str | None:
    """Return what the ref name after the namespace should be for ``rec``, if it says."""
    if namespace == "artifacts" and isinstance(rec, (ArtifactVersion, HistorySnapshot)):
        return rec.key or ""
    if namespace == "keyless":
        return value
    if namespace == "progress" and isinstance(rec, ProgressUpdate):
        return rec.artifact
    if namespace == "runs" and isinstance(rec, RunRecord):
        return rec.id
    if namespace == "assets":
        if isinstance(rec, Materialization):
            return asset_ref(rec.assets[0].key).split("/", 1)[1]
        if isinstance(rec, (AssetHead, AssetMerge)):
            return asset_ref(rec.key).split("/", 1)[1]
    return None


def _what(rec: AnyRecord) -> str:
    if isinstance(rec, Materialization) and len(rec.assets) != 1:
        return f"a materialization of {len(rec.assets)} assets"
    return _KIND_NAMES[kind_of(rec)]


def _expected(kinds: Iterable[str]) -> str:
    names = [_KIND_NAMES[k] for k in sorted(kinds)]
    if set(kinds) >= _NODES:
        return "an asset history node (a materialization of one asset, an asset-head or merge)"
    return " or ".join(names)


def _row_tuples(table: Any) -> Iterator[tuple[Any, ...]]:
    """Yield each row of a lineage table as a hashable tuple (times as microseconds)."""
    import pyarrow as pa

    # Times go through int64: converting timestamps to Python makes pyarrow import pandas.
    columns = {}
    for name in table.column_names:
        column = table.column(name)
        if pa.types.is_timestamp(column.type):
            column = column.cast(pa.int64())
        columns[name] = column.to_pylist()
    order = (
        "materialization", "key", "created", "head_created", "status", "by", "flow_run_id",
        "task_run_id", "task_name", "metadata", "properties",
    )  # fmt: skip
    for i, upstream in enumerate(columns["upstream"]):
        edges = tuple((e["key"], e["declared"]) for e in upstream)
        yield (*(columns[name][i] for name in order), edges)
