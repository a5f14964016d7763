"""The lineage index on storage: an explicit Arrow schema, Parquet rows and MessagePack maps.

Layout (all derived data, safe to delete; see docs/FORMAT.md, "index/")::

    index/lineage/base.parquet     every row, as of the stamp in its metadata
    index/lineage/delta.parquet    rows added since the base (append-only, rewritten whole)
    index/lineage/maps.msgpack     the graph and each asset's state (:class:`LineageMaps`)

One row per step of an asset's history, that is per (materialization, asset key). Each file
carries its stamp in the Parquet key-value metadata under ``cairn.lineage``: a JSON object

    {"format": "cairn-lineage", "version": 1, "part": "base" | "delta", "id": <random hex>,
     "base": <the base's id; delta only>, "rows": <row count>,
     "refs": {<asset ref name>: <asset-head id>, ...}}

``refs`` are the asset refs (and the heads they held) that the rows were built from: the
base's rows reflect the base's ``refs``; base plus delta reflect the delta's ``refs``. A delta
whose ``base`` is not the base's ``id`` belongs to an older base and is ignored, which is how
two files replaced one after the other (by this process or a concurrent one) never combine
into a wrong answer: a reader only ever trusts rows that come with the refs they reflect.

``maps.msgpack`` carries the same kind of stamp (its ``refs``), checked the same way.

pyarrow is imported inside the functions that need it, so importing this module is cheap.
Nothing here converts Python values with ``pa.array``, ``pa.scalar`` or
``Schema.empty_table``: pyarrow imports pandas (when installed) on the first such call, which
costs more than a whole query; rows go through Arrow's JSON reader instead.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, TypeAlias

import msgspec

from cairn.catalog._assets import HistoryStep
from cairn.catalog.records import Materialization

__all__ = [
    "BASE_PATH",
    "DELTA_PATH",
    "INDEX_FOLDER",
    "INDEX_VERSION",
    "MAPS_PATH",
    "IndexPart",
    "LineageMaps",
    "MapRow",
    "RowBuilder",
    "arrow_strings",
    "decode_part",
    "empty_table",
    "encode_part",
    "new_part_id",
    "schema",
]

INDEX_VERSION = 1
"""The version of the lineage index layout; a file with another version is rebuilt."""
INDEX_FOLDER = "index/lineage"
BASE_PATH = f"{INDEX_FOLDER}/base.parquet"
DELTA_PATH = f"{INDEX_FOLDER}/delta.parquet"
MAPS_PATH = f"{INDEX_FOLDER}/maps.msgpack"
_META_KEY = b"cairn.lineage"
_FORMAT = "cairn-lineage"

_json = msgspec.json.Encoder(order="sorted")

MapRow: TypeAlias = "tuple[str, int, str, int, str | None, list[str]]"
"""A row as :class:`LineageMaps` takes it in: key, head_created, status, created (times in
microseconds), properties JSON or None, upstream keys."""
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)


def schema() -> Any:
    """Return the Arrow schema of the lineage index (without the stamp metadata)."""
    import pyarrow as pa

    edge = pa.struct(
        [pa.field("key", pa.string(), nullable=False), pa.field("declared", pa.bool_(), False)]
    )
    ts = pa.timestamp("us", tz="UTC")
    return pa.schema(
        [
            pa.field("materialization", pa.string(), nullable=False),  # the record's object id
            pa.field("key", pa.string(), nullable=False),  # the asset this row is a step of
            pa.field("created", ts, nullable=False),  # when the materialization finished
            pa.field("head_created", ts, nullable=False),  # orders the asset's history
            pa.field("status", pa.string(), nullable=False),  # succeeded | failed
            pa.field("by", pa.string()),
            pa.field("flow_run_id", pa.string()),
            pa.field("task_run_id", pa.string()),
            pa.field("task_name", pa.string()),
            pa.field("metadata", pa.string(), nullable=False),  # JSON object
            pa.field("properties", pa.string()),  # JSON object, or null when none declared
            pa.field("upstream", pa.list_(pa.field("item", edge, nullable=False)), False),
        ]
    )


def empty_table() -> Any:
    """Return a lineage table with no rows."""
    import pyarrow as pa

    # Not Schema.empty_table(), which makes pyarrow import pandas (see RowBuilder).
    return pa.Table.from_batches([], schema=schema())


def new_part_id() -> str:
    """Return a fresh id for an index file (ties a delta to its base)."""
    return secrets.token_hex(8)


def _micros(value: dt.datetime) -> int:
    delta = value - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


# The structs below only ever hold strings, numbers and lists of each other: they cannot be
# part of a reference cycle, so the garbage collector need not track them (gc=False), which
# spares a rebuild its collections over hundreds of thousands of them.


class _Edge(msgspec.Struct, gc=False):
    key: str
    declared: bool


class _Row(msgspec.Struct, gc=False):
    """One index row as JSON: the fields of :func:`schema`, times in microseconds."""

    materialization: str
    key: str
    created: int
    head_created: int
    status: str
    by: str | None
    flow_run_id: str | None
    task_run_id: str | None
    task_name: str | None
    metadata: str
    properties: str | None
    upstream: list[_Edge]


class _MatColumns(msgspec.Struct, gc=False):
    """What a materialization contributes to each of its rows, computed once per record."""

    created: int
    by: str | None
    flow_run_id: str | None
    task_run_id: str | None
    task_name: str | None
    upstream: list[_Edge]
    assets: dict[str, tuple[str, str | None]]
    """key -> (metadata JSON, properties JSON or None)."""


def _mat_columns(mat: Materialization) -> _MatColumns:
    declared = set(mat.declared)
    upstream = mat.upstream
    # ``declared`` is a subset of ``upstream`` as written by cairn; a record written by
    # another tool might not keep that, and a declared edge is an edge all the same.
    if not declared.issubset(upstream):
        had = set(upstream)
        upstream = [*upstream, *(k for k in dict.fromkeys(mat.declared) if k not in had)]
    return _MatColumns(
        created=_micros(mat.created),
        by=mat.by,
        flow_run_id=mat.flow_run_id,
        task_run_id=mat.task_run_id,
        task_name=mat.task_name,
        upstream=[_Edge(key=k, declared=k in declared) for k in upstream],
        assets={
            a.key: (
                _json.encode(a.metadata).decode(),
                None if a.properties is None else _json.encode(a.properties).decode(),
            )
            for a in mat.assets
        },
    )


_row_encoder = msgspec.json.Encoder()
_row_decoder = msgspec.json.Decoder(_Row)
_MIN_BLOCK = 4 << 20


class RowBuilder:
    """Collects rows as JSON lines and turns them into an Arrow table in one go.

    Arrow's JSON reader parses the lines with the explicit schema, in C and in parallel
    blocks. This is as fast as converting Python lists column by column, and unlike
    ``pa.array`` it never makes pyarrow import pandas (which it does, when pandas is
    installed, on its first conversion of Python values: longer than a whole small query).

    Each row is encoded as it is added: a rebuild holds a hundred thousand rows as bytes,
    which the garbage collector does not walk, rather than as Python objects.
    """

    def __init__(self) -> None:
        self._mats: dict[str, _MatColumns] = {}
        self._lines: list[bytes] = []

    def __len__(self) -> int:
        return len(self._lines)

    def knows(self, mat_id: str) -> bool:
        """Return whether materialization ``mat_id`` need not be read again for :meth:`add`."""
        return mat_id in self._mats

    def add(self, head: HistoryStep, mat_id: str, mat: Materialization | None) -> None:
        """Add the row of one asset-history step: ``head`` and the materialization it names.

        ``mat`` may be None only when :meth:`knows` says the record was already seen.
        """
        cols = self._mats.get(mat_id)
        if cols is None:
            if mat is None:
                raise ValueError(f"materialization {mat_id!r} was not read")
            cols = _mat_columns(mat)
            if len(mat.assets) > 1:  # only a multi-asset record is met again
                self._mats[mat_id] = cols
        meta, props = cols.assets.get(head.key, ("{}", None))
        row = _Row(
            materialization=mat_id,
            key=head.key,
            created=cols.created,
            head_created=_micros(head.created),
            status=head.status,
            by=cols.by,
            flow_run_id=cols.flow_run_id,
            task_run_id=cols.task_run_id,
            task_name=cols.task_name,
            metadata=meta,
            properties=props,
            upstream=cols.upstream,
        )
        self._lines.append(_row_encoder.encode(row))

    def _rows(self) -> list[_Row]:
        return _row_decoder.decode_lines(b"\n".join(self._lines)) if self._lines else []

    def rows(self) -> Iterator[MapRow]:
        """Yield the rows added so far as :class:`LineageMaps` takes them in."""
        for r in self._rows():
            yield (
                r.key, r.head_created, r.status, r.created, r.properties,
                [e.key for e in r.upstream],
            )  # fmt: skip

    def materializations(self) -> set[str]:
        """Return the ids of the materializations added so far."""
        return {r.materialization for r in self._rows()}

    def table(self) -> Any:
        """Return the rows added so far as an Arrow table with :func:`schema`."""
        import pyarrow as pa
        import pyarrow.json as pj

        sch = schema()
        if not self._lines:
            return empty_table()
        ts = pa.timestamp("us", tz="UTC")
        raw_schema = pa.schema([f.with_type(pa.int64()) if f.type == ts else f for f in sch])
        data = b"\n".join(self._lines)
        # A block must hold the longest line whole.
        block = max(_MIN_BLOCK, 2 * max(map(len, self._lines)) + 2)
        raw = pj.read_json(
            pa.BufferReader(data),
            read_options=pj.ReadOptions(block_size=block),
            parse_options=pj.ParseOptions(
                explicit_schema=raw_schema, unexpected_field_behavior="error"
            ),
        )
        columns = [raw.column(f.name).cast(ts) if f.type == ts else raw.column(f.name) for f in sch]
        return pa.Table.from_arrays(columns, schema=sch)


class IndexPart(msgspec.Struct, frozen=True):
    """One index file as read back: its rows and its stamp."""

    table: Any
    """The rows, an Arrow table with :func:`schema`."""
    part: str
    """``base`` or ``delta``."""
    id: str
    base: str | None
    """For a delta, the id of the base it extends."""
    refs: dict[str, str]
    """The asset refs (name -> head id) the rows reflect."""


def encode_part(
    table: Any, *, part: str, part_id: str, refs: Mapping[str, str], base: str | None = None
) -> bytes:
    """Return the Parquet bytes of ``table`` with its stamp in the file metadata."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    stamp: dict[str, Any] = {
        "format": _FORMAT,
        "version": INDEX_VERSION,
        "part": part,
        "id": part_id,
        "rows": table.num_rows,
        "refs": dict(refs),
    }
    if base is not None:
        stamp["base"] = base
    sch = schema().with_metadata({_META_KEY: json.dumps(stamp, sort_keys=True).encode()})
    sink = pa.BufferOutputStream()
    with pq.ParquetWriter(sink, sch, compression="zstd") as writer:
        writer.write_table(table.cast(sch) if table.schema != sch else table)
    return bytes(sink.getvalue().to_pybytes())


def decode_part(raw: bytes, part: str) -> IndexPart | None:
    """Return the index file held in ``raw``, or None if it is damaged, foreign or outdated.

    Every check a derived file can fail (not Parquet, another schema, another version, a
    stamp that does not describe the rows) gives None: the caller rebuilds what it needs.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        # ParquetFile, not read_table: read_table goes through pyarrow.dataset, whose import
        # alone (it imports pandas when installed) costs more than reading the index.
        table = pq.ParquetFile(pa.BufferReader(raw)).read()
        meta = table.schema.metadata or {}
        stamp = json.loads(meta[_META_KEY])
        if (
            stamp.get("format") != _FORMAT
            or stamp.get("version") != INDEX_VERSION
            or stamp.get("part") != part
            or stamp.get("rows") != table.num_rows
            or not isinstance(stamp.get("id"), str)
            or not isinstance(stamp.get("refs"), dict)
        ):
            return None
        table = table.replace_schema_metadata(None)
        if not table.schema.equals(schema()):
            return None
        refs = stamp["refs"]
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in refs.items()):
            return None
        base = stamp.get("base")
        if part == "delta" and not isinstance(base, str):
            return None
    except Exception:  # derived data: anything unreadable is simply rebuilt
        return None
    return IndexPart(table=table, part=part, id=stamp["id"], base=base, refs=refs)


def arrow_strings(values: Iterable[str]) -> Any:
    """Return ``values`` as an Arrow string array, made without ``pa.array``.

    ``pa.array`` (like ``pa.scalar``, and a compute function given a Python value) makes
    pyarrow import pandas when it is installed, which costs more than a whole query; the
    JSON reader does not.
    """
    import pyarrow as pa
    import pyarrow.json as pj

    sch = pa.schema([pa.field("v", pa.string(), nullable=False)])
    data = b"\n".join(_row_encoder.encode({"v": v}) for v in values)
    if not data:
        return pa.Table.from_batches([], schema=sch).column("v").combine_chunks()
    table = pj.read_json(
        pa.BufferReader(data),
        read_options=pj.ReadOptions(block_size=max(_MIN_BLOCK, len(data) + 1)),
        parse_options=pj.ParseOptions(explicit_schema=sch),
    )
    return table.column("v").combine_chunks()


def nonzero_indices(mask: Any) -> Any:
    """Return the indices where ``mask`` is true, as ``pyarrow.compute.indices_nonzero``.

    A chunked array is combined first: pyarrow 25 (the newest for Python 3.10) crashes the
    process on a chunked array of no chunks, which an empty table's columns are.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    if isinstance(mask, pa.ChunkedArray):
        mask = mask.combine_chunks()
    return pc.indices_nonzero(mask)


def _latest_per_key(keys: Any, order: Any) -> Any:
    """Return the indices of the row with the greatest ``order`` for each distinct key.

    Ties go to the earlier row, as in :meth:`LineageMaps.extend`.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    both = pa.Table.from_arrays([keys, order], names=["k", "o"])
    idx = pc.sort_indices(both, sort_keys=[("k", "ascending"), ("o", "descending")])
    ranked = pc.take(keys, idx)
    if isinstance(ranked, pa.ChunkedArray):
        ranked = ranked.combine_chunks()
    n = len(ranked)
    if n <= 1:
        return idx
    # A key's rows are together after the sort: its first row is the first one, or one
    # whose key differs from the row before.
    changed = pc.indices_nonzero(pc.not_equal(ranked.slice(1), ranked.slice(0, n - 1)))
    return pa.concat_arrays([idx.slice(0, 1), idx.slice(1).take(changed)])


class _StoredMaps(msgspec.Struct):
    """``index/lineage/maps.msgpack``: what the graph and asset queries read."""

    format: str
    version: int
    refs: dict[str, str]
    latest: dict[str, tuple[int, str, int]]
    props: dict[str, tuple[int, str]]
    up: dict[str, list[str]]
    referenced: dict[str, int]


class LineageMaps:
    """The graph and each asset's state, derived from the index rows, keyed by a stamp.

    This is what :meth:`Lineage.upstream`, ``downstream``, ``graph`` and ``assets`` read:
    small (a few entries per asset, not per materialization), kept in memory, and stored as
    MessagePack beside the Parquet files, with the refs it reflects, so a new process
    answers those queries without importing pyarrow or reading every row.

    Attributes:
        refs: the asset refs (name -> head id) the maps reflect.
        latest: key -> (head_created, status, created) of its latest materialization.
        props: key -> (head_created, properties JSON) of its latest one that had properties.
        up: key -> the upstream keys of its latest materialization.
        down: key -> the keys whose latest materialization names it upstream.
        referenced: key -> the latest ``created`` of a materialization naming it upstream.
        nodes: every key materialized or named upstream.
    """

    def __init__(self, refs: Mapping[str, str]) -> None:
        self.refs = dict(refs)
        self.latest: dict[str, tuple[int, str, int]] = {}
        self.props: dict[str, tuple[int, str]] = {}
        self.up: dict[str, tuple[str, ...]] = {}
        self.down: dict[str, set[str]] = {}
        self.referenced: dict[str, int] = {}
        self.nodes: set[str] = set()

    @classmethod
    def from_table(cls, table: Any, refs: Mapping[str, str]) -> LineageMaps:
        """Return the maps of all of ``table``'s rows (Arrow kernels, no loop over rows)."""
        import pyarrow as pa
        import pyarrow.compute as pc

        m = cls(refs)
        if table.num_rows == 0:
            return m
        order = table.column("head_created").cast(pa.int64())
        pick = _latest_per_key(table.column("key"), order)
        latest = table.select(["key", "status", "created", "upstream"]).take(pick)
        when = order.take(pick)
        for key, at, status, made, edges in zip(
            latest.column("key").to_pylist(),
            when.to_pylist(),
            latest.column("status").to_pylist(),
            latest.column("created").cast(pa.int64()).to_pylist(),
            latest.column("upstream").to_pylist(),
            strict=True,
        ):
            m.latest[key] = (at, status, made)
            m._set_upstream(key, [e["key"] for e in edges])
        with_props = nonzero_indices(pc.is_valid(table.column("properties")))
        if len(with_props):
            sub = table.select(["key", "properties"]).take(with_props)
            sub_order = order.take(with_props)
            pick = _latest_per_key(sub.column("key"), sub_order)
            for key, at, raw in zip(
                sub.column("key").take(pick).to_pylist(),
                sub_order.take(pick).to_pylist(),
                sub.column("properties").take(pick).to_pylist(),
                strict=True,
            ):
                m.props[key] = (at, raw)
        upstream = table.column("upstream").combine_chunks()
        flat = upstream.flatten().field("key")
        if len(flat):
            made = table.column("created").cast(pa.int64()).take(pc.list_parent_indices(upstream))
            last = _latest_per_key(flat, made)
            keys, times = flat.take(last).to_pylist(), made.take(last).to_pylist()
            for key, at in zip(keys, times, strict=True):
                m.referenced[key] = at
        m.nodes.update(m.latest)
        m.nodes.update(m.referenced)
        return m

    def extend(self, rows: Iterable[MapRow]) -> None:
        """Take in rows newer in the index than those already taken in."""
        latest, props, referenced = self.latest, self.props, self.referenced
        for key, when, status, made, raw_props, edges in rows:
            cur = latest.get(key)
            if cur is None or when > cur[0]:
                latest[key] = (when, status, made)
                self._set_upstream(key, edges)
            if raw_props is not None:
                had = props.get(key)
                if had is None or when > had[0]:
                    props[key] = (when, raw_props)
            for up in edges:
                if referenced.get(up, -1) < made:
                    referenced[up] = made
            self.nodes.add(key)
            self.nodes.update(edges)

    def _set_upstream(self, key: str, edges: Iterable[str]) -> None:
        for old in self.up.get(key, ()):
            self.down[old].discard(key)
        new = tuple(dict.fromkeys(edges))
        self.up[key] = new
        for up in new:
            self.down.setdefault(up, set()).add(key)

    def encode(self) -> bytes:
        """Return the maps as stored in ``index/lineage/maps.msgpack``."""
        return msgspec.msgpack.encode(
            _StoredMaps(
                format=_FORMAT,
                version=INDEX_VERSION,
                refs=self.refs,
                latest=self.latest,
                props=self.props,
                up={k: list(v) for k, v in self.up.items()},
                referenced=self.referenced,
            )
        )

    @classmethod
    def decode(cls, raw: bytes) -> LineageMaps | None:
        """Return the maps stored in ``raw``, or None if it is damaged, foreign or outdated."""
        try:
            stored = msgspec.msgpack.decode(raw, type=_StoredMaps)
        except (msgspec.DecodeError, msgspec.ValidationError):
            return None
        if stored.format != _FORMAT or stored.version != INDEX_VERSION:
            return None
        m = cls(stored.refs)
        m.latest = stored.latest
        m.props = stored.props
        m.referenced = stored.referenced
        for key, edges in stored.up.items():
            m._set_upstream(key, edges)
        m.nodes.update(m.latest)
        m.nodes.update(m.referenced)
        return m
