"""Asset lineage queries on a catalog (``catalog.lineage``), served from a derived index.

The facts are the records: each asset's history (``refs/assets/<hash>`` -> ``asset-head`` ->
``parent`` ...) and the ``materialization`` record each head names. This module derives an
index from them under ``index/lineage/`` (layout and schema: :mod:`._index_lineage` and
docs/FORMAT.md) and answers from it, so a query costs a listing of the asset refs, not a read
of every record:

* the rows (``base.parquet`` + ``delta.parquet``, one row per (materialization, asset)) serve
  :meth:`Lineage.history` and :meth:`Lineage.for_run`;
* the maps (``maps.msgpack``: each asset's latest state, the graph's edges, the last time
  each referenced asset was named) serve :meth:`~Lineage.upstream`,
  :meth:`~Lineage.downstream`, :meth:`~Lineage.graph`, :meth:`~Lineage.assets` and
  :meth:`~Lineage.asset` without reading the rows or importing pyarrow. Both are kept in
  memory on the :class:`Lineage` object, keyed by the stamp (the refs) they reflect.

The graph:

* **Nodes** are asset keys: every key that was ever materialized or named upstream by a
  materialization.
* **Edges** run from an upstream asset to the asset built from it, and come from each
  asset's **latest** materialization only: its ``upstream`` list (inferred from the task
  graph, or declared with ``asset_deps``). The graph says how each asset is built now; an
  input an older run read and the latest run no longer reads is not an edge (the asset's
  :meth:`Lineage.history` still shows it). An asset that was only ever referenced has no
  materialization, hence no upstream edges: it is a root.
* Keys are global, so lineage spans flows: an ``asset_deps`` naming an asset that another
  flow materializes joins the two graphs at that key.
* :meth:`Lineage.upstream` and :meth:`Lineage.downstream` walk it breadth first: depth 1 is
  the direct neighbours, each key is listed once at its shortest depth (ties by key), and
  the asked key itself is never listed (even in a cycle).

Health (as Prefect Cloud shows it): ``succeeded`` or ``failed`` from an asset's latest
materialization; ``referenced`` when it was only ever named upstream. ``last_seen`` is the
time of the latest materialization, or for a referenced asset, of the latest materialization
that named it. Properties are last-writer-wins: those of the latest materialization of the
asset that carried properties.

Freshness. Every query lists the asset refs (with version tokens: one LIST on S3) and
compares them with the stamp of what it reads. When they differ, only the new heads are read:
each moved ref is walked back to the head in the stamp and the new rows are taken in (and
stored: the maps rewritten, the rows appended to the delta). A ref whose history no longer
reaches its stamped head (rewritten by a merge), or that disappeared, has its rows replaced,
which rewrites the base. A missing, damaged or foreign index file is rebuilt from the records.
The stored index may lag the refs, but an answer never does, and the index is never the only
copy of a fact: :meth:`Lineage.rebuild` (``cairn index rebuild``) recomputes it from scratch
with the same answers.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from cairn.catalog._assets import (
    HistoryNode,
    HistoryStep,
    HistoryWalk,
    _is_utf8,
    asset_ref,
    read_node,
)
from cairn.catalog._index_lineage import (
    BASE_PATH,
    DELTA_PATH,
    INDEX_FOLDER,
    MAPS_PATH,
    LineageMaps,
    RowBuilder,
    arrow_strings,
    decode_part,
    empty_table,
    encode_part,
    new_part_id,
    nonzero_indices,
)
from cairn.catalog.records import Materialization
from cairn.errors import InvalidInputError, NotFoundError, WrongTypeError
from cairn.objects import ObjectId

if TYPE_CHECKING:
    from cairn.catalog._catalog import Catalog
    from cairn.catalog.records import AnyRecord

__all__ = [
    "AssetSummary",
    "Health",
    "Lineage",
    "LineageGraph",
    "MaterializationEntry",
    "RebuildStats",
]

Health = Literal["succeeded", "failed", "referenced"]

_COMPACT_MIN_ROWS = 4096
"""A delta is folded into the base once it holds this many rows, or a quarter of the base."""
_PARALLEL_CHECK_S = 0.1
"""After this long walking histories in one process, decide whether to bring in workers."""
_PARALLEL_MIN_S = 0.75
"""Bring in worker processes only if the rest of the walk promises to take this long."""
_MAX_WORKERS = 8
_WORKER_START_S = 0.2
"""About how long a worker process takes to start (Python, cairn, pyarrow) before it reads."""
_REMOTE_THREADS = 16
"""Histories read at once from a remote store (S3), where each read is a request."""
_PROPERTY_FIELDS = ("name", "url", "description", "owners")
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)

_R = TypeVar("_R", bound=Materialization)


def _expect(record: object, kind: type[_R], oid: str) -> _R:
    if not isinstance(record, kind):
        what = "a materialization"
        raise WrongTypeError(f"object {oid!r} is a {type(record).__name__}, not {what}")
    return record


def _is_remote(catalog: Catalog) -> bool:
    from cairn.objects import LocalObjectStore, MemoryObjectStore

    return not isinstance(catalog.objects, (LocalObjectStore, MemoryObjectStore))


def _worker_count(catalog: Catalog) -> int:
    from cairn.objects import LocalObjectStore

    if not isinstance(catalog.objects, LocalObjectStore):
        return 1  # a memory catalog cannot be opened from another process
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cpus = os.cpu_count() or 1
    return max(1, min(cpus, _MAX_WORKERS))


def _is_text(value: object) -> bool:
    """Return whether ``value`` is a string the index can hold (UTF-8: no lone surrogates)."""
    return isinstance(value, str) and _is_utf8(value)


def _from_micros(value: int) -> dt.datetime:
    return _EPOCH + dt.timedelta(microseconds=value)


def _iso(value: dt.datetime) -> str:
    return value.astimezone(dt.timezone.utc).isoformat().replace("+00:00", "Z")


def _properties(raw: str | None) -> dict[str, Any] | None:
    if raw is None:
        return None
    stored = json.loads(raw)
    return {name: stored.get(name) for name in _PROPERTY_FIELDS}


@dataclass(frozen=True)
class MaterializationEntry:
    """One materialization of one asset, as the index holds it."""

    id: str
    """The ``materialization`` record's object id."""
    key: str
    """The asset."""
    status: Literal["succeeded", "failed"]
    created: dt.datetime
    upstream: list[str]
    """Every asset the task read (inferred or declared)."""
    declared: list[str]
    """The part of ``upstream`` named in ``asset_deps``."""
    by: str | None
    metadata: dict[str, Any]
    """What ``add_asset_metadata`` added to this asset during the run."""
    properties: dict[str, Any] | None
    """The properties the task declared for this asset (all four fields), or None."""
    flow_run_id: str | None
    task_run_id: str | None
    task_name: str | None

    def to_dict(self) -> dict[str, Any]:
        """Return the entry as ``cairn asset show --json`` prints it."""
        return {
            "status": self.status,
            "upstream": list(self.upstream),
            "by": self.by,
            "metadata": self.metadata,
            "flow_run_id": self.flow_run_id,
            "task_run_id": self.task_run_id,
            "created": _iso(self.created),
        }


@dataclass(frozen=True)
class AssetSummary:
    """An asset as ``cairn asset ls`` lists it."""

    key: str
    health: Health
    last_seen: dt.datetime
    properties: dict[str, Any] | None
    """Last-writer-wins properties (all four fields), or None if none were ever declared."""

    def to_dict(self) -> dict[str, Any]:
        """Return the summary as ``cairn asset ls --json`` prints it."""
        return {"key": self.key, "health": self.health, "last_seen": _iso(self.last_seen)}


@dataclass(frozen=True)
class LineageGraph:
    """The whole asset graph: nodes are keys; an edge ``(upstream, asset)`` per dependency."""

    nodes: list[str]
    edges: list[tuple[str, str]]


@dataclass(frozen=True)
class RebuildStats:
    """What :meth:`Lineage.rebuild` did."""

    assets: int
    """Materialized assets (asset refs) walked."""
    materializations: int
    """Distinct materialization records indexed."""
    rows: int
    """Index rows written: one per (materialization, asset)."""
    records: int
    """Records read (asset heads and materializations)."""
    seconds: float


class _Rows:
    """The Parquet index as one process holds it: every row, and the refs they reflect."""

    def __init__(self, table: Any, refs: Mapping[str, str], base_id: str, base_rows: int):
        self.table = table
        self.refs = dict(refs)
        self.base_id = base_id
        self.base_rows = base_rows

    @property
    def delta_rows(self) -> int:
        return int(self.table.num_rows) - self.base_rows


class Lineage:
    """The asset lineage of one catalog (``catalog.lineage``).

    Every query brings what it reads up to date with the asset refs first (see the module
    docstring), so answers always reflect the catalog's refs at the time of the call.

    Example:
        >>> from cairn.catalog import Catalog
        >>> cat = Catalog.from_url("memory://lineage-docstring")
        >>> _ = cat.assets.record(["s3://b/raw.csv"], status="succeeded")
        >>> _ = cat.assets.record(
        ...     ["s3://b/clean.csv"], status="succeeded", upstream=["s3://b/raw.csv"]
        ... )
        >>> cat.lineage.upstream("s3://b/clean.csv")
        [('s3://b/raw.csv', 1)]
        >>> cat.lineage.downstream("s3://b/raw.csv")
        [('s3://b/clean.csv', 1)]
    """

    def __init__(self, catalog: Catalog) -> None:
        self._catalog = catalog
        self._maps: LineageMaps | None = None
        self._rows: _Rows | None = None
        # One lock for updates and reads: a query walks dicts that an update changes.
        self._lock = threading.RLock()
        self._records_read = 0
        # Records the caller has already read (sync: those it copied), used before reading.
        self._known: Mapping[ObjectId, AnyRecord] = {}
        self._known_refs: dict[str, str] = {}

    # -- queries --------------------------------------------------------------------------

    def upstream(self, key: str, depth: int | None = None) -> list[tuple[str, int]]:
        """Return the assets ``key`` is built from, as ``(key, depth)``, nearest first.

        Args:
            key: an asset key.
            depth: how many steps to go (1: direct inputs only); None for every depth.

        Raises:
            NotFoundError: no materialization made or named ``key``.
            InvalidInputError: ``depth`` is less than 1.
        """
        return self._walk_graph(key, depth, upstream=True)

    def downstream(self, key: str, depth: int | None = None) -> list[tuple[str, int]]:
        """Return the assets built from ``key``, as ``(key, depth)``, nearest first.

        Args:
            key: an asset key.
            depth: how many steps to go (1: direct consumers only); None for every depth.

        Raises:
            NotFoundError: no materialization made or named ``key``.
            InvalidInputError: ``depth`` is less than 1.
        """
        return self._walk_graph(key, depth, upstream=False)

    def graph(self) -> LineageGraph:
        """Return every known asset key and every edge ``(upstream, asset)``, sorted."""
        with self._lock:
            m = self._current_maps()
            edges = [(up, key) for key, ups in m.up.items() for up in ups]
            return LineageGraph(nodes=sorted(m.nodes), edges=sorted(edges))

    def assets(self, prefix: str | None = None) -> list[AssetSummary]:
        """Return every known asset (materialized or referenced), sorted by key.

        Args:
            prefix: list only the keys that start with this.
        """
        with self._lock:
            m = self._current_maps()
            keys = sorted(k for k in m.nodes if not prefix or k.startswith(prefix))
            return [_summary(m, k) for k in keys]

    def asset(self, key: str) -> AssetSummary | None:
        """Return the summary of asset ``key``, or None if no materialization made or named it."""
        with self._lock:
            m = self._current_maps()
            return _summary(m, key) if key in m.nodes else None

    def history(self, key: str) -> list[MaterializationEntry]:
        """Return the materializations of asset ``key``, newest first ([] if there are none)."""
        import pyarrow.compute as pc

        if not _is_text(key):
            return []  # no asset has such a key
        with self._lock:
            rows = self._current_rows()
            mask = pc.equal(rows.table.column("key"), arrow_strings([key])[0])
            entries = _entries(rows.table, mask)
        return [e for _, e in sorted(entries, key=lambda pair: pair[0], reverse=True)]

    def for_run(self, run_id: str) -> list[MaterializationEntry]:
        """Return the materializations made in a flow run or task run, oldest first.

        A flow run's include those of its task runs. Each asset of a materialization is its
        own entry (they share the entry's ``id``).
        """
        import pyarrow.compute as pc

        if not _is_text(run_id):
            return []  # no run has such an id
        with self._lock:
            table = self._current_rows().table
            target = arrow_strings([run_id])[0]
            mask = pc.or_kleene(
                pc.equal(table.column("flow_run_id"), target),
                pc.equal(table.column("task_run_id"), target),
            )
            entries = [e for _, e in _entries(table, mask)]
        entries.sort(key=lambda e: (e.created, e.id, e.key))
        return entries

    # -- maintenance ----------------------------------------------------------------------

    def update(self) -> None:
        """Bring the stored index up to date with the asset refs, reading only what is new.

        Queries do this themselves, for the part they read; call it to pay the whole cost at
        a time of your choosing.
        """
        with self._lock:
            self._current_rows()
            self._current_maps()

    def update_from(
        self, known: Mapping[ObjectId, AnyRecord], refs: Mapping[str, str | None] | None = None
    ) -> None:
        """:meth:`update`, taking records from ``known`` (id -> record) before reading them.

        For a caller that has just read the records anyway: sync brings a destination's
        index up to date from the records it copied, instead of reading them back. ``refs``
        (name -> value) are ref values the caller believes current; each is used only if
        the ref's listed version token confirms it, so a stale one just costs a read.
        """
        with self._lock:
            self._known = known
            self._known_refs = {n: v for n, v in (refs or {}).items() if v is not None}
            try:
                self.update()
            finally:
                self._known, self._known_refs = {}, {}

    def rebuild(self) -> RebuildStats:
        """Recompute the index from the records, ignoring (and replacing) what is stored.

        Returns:
            What was read and written, and how long it took.
        """
        import pyarrow.compute as pc

        with self._lock:
            started = time.perf_counter()
            self._records_read = 0
            refs = self._asset_refs(*(m.refs for m in (self._maps, self._rows) if m is not None))
            table = self._build_all(refs)
            rows = _Rows(table, refs, new_part_id(), int(table.num_rows))
            maps = LineageMaps.from_table(table, refs)
            self._clear()
            self._save_rows(rows, full=True)
            self._save_maps(maps)
            self._rows, self._maps = rows, maps
            return RebuildStats(
                assets=len(refs),
                materializations=pc.count_distinct(table.column("materialization")).as_py(),
                rows=int(table.num_rows),
                records=self._records_read,
                seconds=time.perf_counter() - started,
            )

    # -- keeping the maps current ---------------------------------------------------------

    def _asset_refs(self, *known: Mapping[str, str]) -> dict[str, str]:
        """Return every asset ref and the head it holds now.

        Refs are listed with their version tokens (on S3, the ETags a LIST returns), and only
        those whose token does not match a value already ``known`` (from a stamp) are read:
        checking a current index costs a listing, not a read per asset.
        """
        store = self._catalog.refs
        seen: dict[str, str] = {}
        for stamp in (*known, self._known_refs):  # the caller's values are the newest
            seen.update(stamp)
        out: dict[str, str] = {}
        for name, token in store.iter_tokens("assets/"):
            head = seen.get(name)
            if head is None or store.value_token(ObjectId(head)) != token:
                head = store.get(name)
                if head is None:
                    continue  # deleted since the listing
            out[name] = head
        return out

    def _current_maps(self) -> LineageMaps:
        maps = self._maps
        if maps is None:
            raw = self._catalog.area.read(MAPS_PATH)
            maps = LineageMaps.decode(raw) if raw is not None else None
        refs = self._asset_refs(*(m.refs for m in (maps, self._rows) if m is not None))
        if maps is not None and maps.refs == refs:
            self._maps = maps
            return maps
        if maps is not None:
            maps = self._advance_maps(maps, refs)
        if maps is None:
            # No usable maps: derive them from the rows (which are brought up to date,
            # or built from the records, first).
            maps = LineageMaps.from_table(self._current_rows(refs).table, refs)
        self._save_maps(maps)
        self._maps = maps
        return maps

    def _advance_maps(self, maps: LineageMaps, refs: dict[str, str]) -> LineageMaps | None:
        """Return ``maps`` brought up to ``refs``, or None if a history was rewritten.

        Only the new heads are read, and no Arrow is involved: this is the path a command
        takes after a few new materializations.
        """
        if any(name not in refs for name in maps.refs):
            return None
        builder = RowBuilder()
        for name, head in refs.items():
            old = maps.refs.get(name)
            if old != head and not self._walk_history(head, old, builder) and old is not None:
                return None  # rewritten (a merge): a new walk from the start is needed
        maps.extend(builder.rows())
        maps.refs = dict(refs)
        return maps

    def _save_maps(self, maps: LineageMaps) -> None:
        self._write(MAPS_PATH, maps.encode)

    # -- keeping the rows current ---------------------------------------------------------

    def _current_rows(self, refs: dict[str, str] | None = None) -> _Rows:
        rows = self._rows
        if rows is None:
            rows = self._load_rows()
        if refs is None:
            refs = self._asset_refs(*(m.refs for m in (self._maps, rows) if m is not None))
        if rows is not None and rows.refs == refs:
            self._rows = rows
            return rows
        if rows is None:
            table = self._build_all(refs)
            rows = _Rows(table, refs, new_part_id(), int(table.num_rows))
            self._save_rows(rows, full=True)
        elif rows.refs != refs:
            rows = self._advance_rows(rows, refs)
        self._rows = rows
        return rows

    def _load_rows(self) -> _Rows | None:
        import pyarrow as pa

        area = self._catalog.area
        raw = area.read(BASE_PATH)
        base = decode_part(raw, "base") if raw is not None else None
        if base is None:
            return None
        table, refs = base.table, base.refs
        raw = area.read(DELTA_PATH)
        delta = decode_part(raw, "delta") if raw is not None else None
        if delta is not None and delta.base == base.id:
            table = pa.concat_tables([table, delta.table])
            refs = delta.refs
        return _Rows(table, refs, base.id, int(base.table.num_rows))

    def _advance_rows(self, rows: _Rows, refs: dict[str, str]) -> _Rows:
        """Return ``rows`` brought up to ``refs``, reading only the heads that are new."""
        import pyarrow as pa
        import pyarrow.compute as pc

        builder = RowBuilder()
        replaced: set[str] = set()
        for name, head in refs.items():
            old = rows.refs.get(name)
            if old != head and not self._walk_history(head, old, builder) and old is not None:
                replaced.add(name)  # rewritten: the walk read the whole history again
        replaced.update(name for name in rows.refs if name not in refs)
        new = builder.table()
        if replaced:
            keys = pc.unique(rows.table.column("key")).to_pylist()
            drop = sorted(key for key in keys if asset_ref(key) in replaced)
            keep = pc.invert(pc.is_in(rows.table.column("key"), value_set=arrow_strings(drop)))
            table = pa.concat_tables([rows.table.filter(keep), new])
            fresh = _Rows(table, refs, new_part_id(), int(table.num_rows))
            self._save_rows(fresh, full=True)
            return fresh
        rows.table = pa.concat_tables([rows.table, new])
        rows.refs = dict(refs)
        if rows.delta_rows >= max(_COMPACT_MIN_ROWS, rows.base_rows // 4):
            rows.base_id = new_part_id()
            rows.base_rows = int(rows.table.num_rows)
            self._save_rows(rows, full=True)
        else:
            self._save_rows(rows, full=False)
        return rows

    def _save_rows(self, rows: _Rows, *, full: bool) -> None:
        if full:
            # The base first, then an empty delta tied to it: a crash between the two leaves
            # an old delta naming an old base, which readers ignore.
            self._write(
                BASE_PATH,
                lambda: encode_part(rows.table, part="base", part_id=rows.base_id, refs=rows.refs),
            )
        delta = empty_table() if full else rows.table.slice(rows.base_rows)
        self._write(
            DELTA_PATH,
            lambda: encode_part(
                delta, part="delta", part_id=new_part_id(), refs=rows.refs, base=rows.base_id
            ),
        )

    def _write(self, path: str, make: Callable[[], bytes]) -> None:
        cat = self._catalog
        if not cat.exists():
            return  # reading a catalog never creates it
        try:
            cat.area.write(path, make())
        except OSError:
            pass  # derived data: failing to store it costs time later, never correctness

    def _clear(self) -> None:
        if self._catalog.exists():
            try:
                self._catalog.area.delete_tree(INDEX_FOLDER)
            except OSError:
                pass

    # -- reading the records --------------------------------------------------------------

    def _build_all(self, refs: Mapping[str, str]) -> Any:
        """Return the rows of every asset history in ``refs``, read from the records.

        The walk starts in this process. Reading is bound by per-object system calls and
        Python overhead, which threads do not overlap (measured: slower than one thread), so
        when the rest of the walk promises to be long and the catalog is a local folder, the
        remaining histories are shared among this process and child processes, each child
        returning its rows as Arrow IPC (measured on 2 cores: 1.5 to 2 times faster over
        100,000 records). Any failure in a child (a damaged record included) falls back to
        walking its histories in this process, which raises the real error.
        """
        import pyarrow as pa

        names = sorted(refs)
        builder = RowBuilder()
        if (_is_remote(self._catalog) or self._known) and len(names) > 1:
            # Each read is a network round trip that releases the GIL: threads overlap them
            # (and records already known are not read at all).
            from concurrent.futures import ThreadPoolExecutor

            with ThreadPoolExecutor(_REMOTE_THREADS) as pool:
                for steps, count in pool.map(self._read_history, [refs[n] for n in names]):
                    self._records_read += count
                    for step, mat_id, mat in steps:
                        builder.add(step, mat_id, mat)
            return builder.table()
        started = time.perf_counter()
        workers = _worker_count(self._catalog)
        for done, name in enumerate(names, start=1):
            self._walk_history(refs[name], None, builder)
            left = names[done:]
            elapsed = time.perf_counter() - started
            if workers > 1 and len(left) >= 2 * workers and elapsed >= _PARALLEL_CHECK_S:
                if elapsed / done * len(left) >= _PARALLEL_MIN_S:
                    items = [(n, refs[n]) for n in left]
                    # This process walks on while the workers start: give it that much more.
                    lead = int(done / elapsed * _WORKER_START_S)
                    return pa.concat_tables(self._build_in_workers(items, workers, builder, lead))
                workers = 1  # decided once: finish here
        return builder.table()

    def _build_in_workers(
        self, items: list[tuple[str, str]], workers: int, builder: RowBuilder, lead: int = 0
    ) -> list[Any]:
        """Walk ``items``' histories shared among this process and ``workers - 1`` children.

        This process walks the first ``lead`` histories and an equal share of the others,
        into ``builder``. Returns the tables of ``builder`` and of each child. Children are
        plain ``python -m cairn.catalog._index_worker`` processes (see there why not
        ``multiprocessing``); the histories of a child that fails are walked here.

        A child's request and answer go through temporary files, not pipes: this process
        is busy walking its own share meanwhile, and reading a pipe would take the GIL from
        it chunk by chunk (and block the child whenever the pipe is full).
        """
        import contextlib
        import subprocess
        import sys
        import tempfile

        rest = items[lead:]
        chunks = [rest[i::workers] for i in range(workers)]
        env = dict(os.environ)
        # The children must import this very cairn, wherever it was imported from.
        package_root = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (package_root, env.get("PYTHONPATH", "")) if p
        )

        # Scratch space inside the catalog's derived folder, never outside the catalog (workers
        # run only for a local catalog): a leftover there is deleted with the rest of index/.
        from cairn.objects import LocalObjectStore

        objects = self._catalog.objects
        assert isinstance(objects, LocalObjectStore)  # see _worker_count
        scratch = os.path.join(os.path.dirname(objects.root), "index")

        def start(chunk: list[tuple[str, str]], stack: contextlib.ExitStack) -> Any:
            """Start a child on ``chunk``: return it and the file it answers in, or None."""
            request = json.dumps({"url": self._catalog.url, "heads": [h for _, h in chunk]})
            try:
                os.makedirs(scratch, exist_ok=True)
                folder = stack.enter_context(
                    tempfile.TemporaryDirectory(prefix=".rebuild-", dir=scratch)
                )
                answer = os.path.join(folder, "rows.arrow")
                with open(os.path.join(folder, "request.json"), "w+b") as stdin:
                    stdin.write(request.encode())
                    stdin.seek(0)
                    with open(answer, "wb") as stdout:
                        proc = subprocess.Popen(
                            [sys.executable, "-m", "cairn.catalog._index_worker"],
                            stdin=stdin,
                            stdout=stdout,
                            stderr=subprocess.DEVNULL,
                            env=env,
                        )
            except OSError:
                return None  # cannot start: its histories are walked here
            # If this process fails before the child is done, its rows are not wanted.
            stack.callback(_stop, proc)
            return proc, answer

        with contextlib.ExitStack() as stack:
            children = [(chunk, start(chunk, stack)) for chunk in chunks[1:] if chunk]
            for _, head in [*items[:lead], *chunks[0]]:
                self._walk_history(head, None, builder)
            tables = [builder.table()]  # while the children finish
            for chunk, child in children:
                table = _worker_rows(*child) if child is not None else None
                if table is None:  # any failure: walk them here, raising the real error
                    mine = RowBuilder()
                    for _, head in chunk:
                        self._walk_history(head, None, mine)
                    tables.append(mine.table())
                    continue
                meta = table.schema.metadata or {}
                self._records_read += int(meta.get(b"cairn.records", b"0"))
                tables.append(table.replace_schema_metadata(None))
            return tables

    def _read_history(
        self, head: str
    ) -> tuple[list[tuple[HistoryStep, str, Materialization]], int]:
        """Return the steps of a whole asset history and how many records were read."""
        cat = self._records
        steps: list[tuple[HistoryStep, str, Materialization]] = []
        read = 0
        walk = HistoryWalk(lambda oid: read_node(cat, oid), ObjectId(head))
        for _, node in walk:
            step, mat = node.step, node.materialization
            if step is None:
                continue  # a merge node: its parents' steps come on their own
            if mat is None:
                mat = _expect(
                    cat.get_record(step.materialization), Materialization, step.materialization
                )
                read += 1
            steps.append((step, step.materialization, mat))
        return steps, read + walk.read

    def _walk_history(self, head: str, stop: str | None, builder: RowBuilder) -> bool:
        """Add the rows of the steps of ``head``'s history that ``stop``'s does not have.

        A history merged by sync is a DAG (see :class:`~cairn.catalog._assets.HistoryWalk`):
        each step is added once, and the walk ends where only steps reachable from ``stop``
        (already indexed) are left.

        Returns:
            Whether ``head``'s history still contains ``stop`` (with ``stop`` None: True).
        """
        cat = self._records

        def read(oid: ObjectId) -> HistoryNode:
            return read_node(cat, oid)

        oid: ObjectId | None = ObjectId(head)
        if stop is None:
            # A whole history (a rebuild). Along a chain of single-parent nodes, the walk's
            # order is the chain's own: follow the parent links without HistoryWalk's
            # bookkeeping, and hand over to it at the first merge node, if any (no node
            # before a merge is reachable from it, so the walk from there is the rest).
            while oid is not None:
                node = read(oid)
                self._records_read += 1
                if len(node.parents) > 1:
                    break
                self._add_step(cat, node, builder)
                oid = node.parents[0] if node.parents else None
            if oid is None:
                return True
        walk = HistoryWalk(read, oid, ObjectId(stop) if stop is not None else None)
        for _, node in walk:
            self._add_step(cat, node, builder)
        self._records_read += walk.read
        return walk.met

    def _add_step(self, cat: Any, node: HistoryNode, builder: RowBuilder) -> None:
        """Add the row of history node ``node``, reading its materialization if need be."""
        step, mat = node.step, node.materialization
        if step is None:
            return  # a merge node: its parents' steps come on their own
        mat_id = step.materialization
        if mat is None and not builder.knows(mat_id):
            mat = _expect(cat.get_record(mat_id), Materialization, mat_id)
            self._records_read += 1
        builder.add(step, mat_id, mat)

    @property
    def _records(self) -> Any:
        """What the walks read records through: the catalog, or ``_known`` first."""
        return _KnownFirst(self._known, self._catalog) if self._known else self._catalog

    def _walk_graph(self, key: str, depth: int | None, *, upstream: bool) -> list[tuple[str, int]]:
        if depth is not None and depth < 1:
            raise InvalidInputError(f"depth must be 1 or more, got {depth}")
        with self._lock:
            m = self._current_maps()
            if key not in m.nodes:
                raise NotFoundError(f"Asset '{key}' not found.")
            return walk_levels(m.up if upstream else m.down, key, depth)


def walk_levels(
    adjacency: Mapping[str, Iterable[str]], start: str, depth: int | None
) -> list[tuple[str, int]]:
    """Return each node reachable from ``start`` and its distance, nearest first.

    Breadth first over ``adjacency`` (node to neighbours), at most ``depth`` steps (None: no
    limit); ``start`` itself is not listed, and nodes at one distance come in key order.
    """
    seen = {start}
    frontier = [start]
    out: list[tuple[str, int]] = []
    level = 0
    while frontier and (depth is None or level < depth):
        level += 1
        found = []
        for node in frontier:
            for nxt in adjacency.get(node, ()):
                if nxt not in seen:
                    seen.add(nxt)
                    found.append(nxt)
        found.sort()
        out.extend((k, level) for k in found)
        frontier = found
    return out


def _stop(proc: Any) -> None:
    """End worker process ``proc`` if it is still running."""
    if proc.poll() is None:
        proc.kill()
        proc.wait()


def _worker_rows(proc: Any, answer: str) -> Any | None:
    """Return the rows worker process ``proc`` wrote to file ``answer``, or None if it failed."""
    import pyarrow as pa

    if proc.wait() != 0:
        return None
    try:
        with open(answer, "rb") as f:
            return pa.ipc.open_stream(f.read()).read_all()
    except (OSError, pa.ArrowException):
        return None


def _summary(maps: LineageMaps, key: str) -> AssetSummary:
    state = maps.latest.get(key)
    health: Health
    if state is not None:
        _, status, when = state
        health = "failed" if status == "failed" else "succeeded"
    else:
        health, when = "referenced", maps.referenced[key]
    props = maps.props.get(key)
    return AssetSummary(
        key=key,
        health=health,
        last_seen=_from_micros(when),
        properties=_properties(props[1] if props else None),
    )


def _entries(table: Any, mask: Any) -> list[tuple[int, MaterializationEntry]]:
    """Return ``(head_created, entry)`` for each row of ``table`` where ``mask`` is true."""
    import pyarrow as pa

    rows = table.take(nonzero_indices(mask))
    # Times go through int64: TimestampScalar.as_py makes pyarrow import pandas.
    order = rows.column("head_created").cast(pa.int64()).to_pylist()
    made = rows.column("created").cast(pa.int64()).to_pylist()
    rows = rows.drop_columns(["created", "head_created"])
    out = []
    for when, created, rec in zip(order, made, rows.to_pylist(), strict=True):
        edges = rec["upstream"]
        entry = MaterializationEntry(
            id=rec["materialization"],
            key=rec["key"],
            status=rec["status"],
            created=_from_micros(created),
            upstream=[e["key"] for e in edges],
            declared=[e["key"] for e in edges if e["declared"]],
            by=rec["by"],
            metadata=json.loads(rec["metadata"]),
            properties=_properties(rec["properties"]),
            flow_run_id=rec["flow_run_id"],
            task_run_id=rec["task_run_id"],
            task_name=rec["task_name"],
        )
        out.append((when, entry))
    return out


class _KnownFirst:
    """Enough of a catalog for the walks: ``get_record`` from ``known``, else from the catalog."""

    def __init__(self, known: Mapping[ObjectId, AnyRecord], catalog: Catalog) -> None:
        self._known = known
        self._catalog = catalog

    def get_record(self, oid: str) -> AnyRecord:
        rec = self._known.get(ObjectId(oid))
        return rec if rec is not None else self._catalog.get_record(oid)
