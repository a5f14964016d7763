"""Table artifacts: which tables are accepted, how they are cleaned, how they are stored.

Python tables (a dict of columns, a list of row dicts, a list of row lists) are kept exactly as
Prefect keeps them: ``data`` is ``json.dumps`` of the table with NaN (and, unlike Prefect,
infinities) replaced by null, so the shape and column order are the caller's.

Dataframes (pandas, polars) and Arrow tables are stored columnar, as a Parquet blob, so a
million-row table never becomes one giant JSON document in memory; their ``data`` (the JSON
list of row records) is produced only when someone reads it. So that it can be, a table whose
column names repeat, or with binary, decimal, duration or interval values, is refused when
it is given (its schema says so), as a Python table holding such values is; so is one with
a date or timestamp outside the years 1 to 9999, which Python's dates cannot hold.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import math
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from cairn.errors import InvalidTableError

__all__ = [
    "arrow_table_of",
    "check_arrow_table",
    "is_dataframe",
    "parquet_file",
    "read_parquet",
    "rows_json_from_arrow",
    "rows_json_from_parquet",
    "sanitize",
    "table_json",
]


def sanitize(value: Any) -> Any:
    """Return ``value`` with every NaN or infinite float, at any depth, replaced by None.

    Example:
        >>> sanitize({"a": [1.0, float("nan")], "b": [float("inf")]})
        {'a': [1.0, None], 'b': [None]}
    """
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: sanitize(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [sanitize(v) for v in value]
    return value


def _json_default(value: Any) -> Any:
    # numpy scalars and dates are common in real tables; Prefect fails on them, we accept them.
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    item = getattr(value, "item", None)
    if callable(item) and type(value).__module__ == "numpy":
        result = item()
        if isinstance(result, float) and not math.isfinite(result):
            return None
        return result
    raise TypeError(f"a value of type {type(value).__name__} cannot be stored in a table")


def _check_shape(table: Any) -> None:
    if isinstance(table, dict):
        for name, column in table.items():
            if not isinstance(name, str):
                raise InvalidTableError(
                    f"table column names must be strings, got {name!r}: give a dict of "
                    "lists, a list of dicts or a list of lists"
                )
            if not isinstance(column, (list, tuple)):
                raise InvalidTableError(
                    f"table column {name!r} is a {type(column).__name__}, not a list: a dict "
                    "table maps each column name to a list of values"
                )
        return
    if isinstance(table, (list, tuple)):
        if all(isinstance(row, dict) for row in table):
            for row in table:
                for name in row:
                    if not isinstance(name, str):
                        raise InvalidTableError(f"table column names must be strings, got {name!r}")
            return
        if all(isinstance(row, (list, tuple)) for row in table):
            return
        kinds = sorted({type(row).__name__ for row in table})
        raise InvalidTableError(
            f"table rows must be all dicts or all lists, got {', '.join(kinds)}: give a dict "
            "of lists, a list of dicts or a list of lists"
        )
    raise InvalidTableError(
        f"a table must be a dict of lists, a list of dicts, a list of lists, or a pandas, "
        f"polars or pyarrow table; got {type(table).__name__}"
    )


def table_json(table: Any) -> str:
    """Validate a Python table and return its ``data`` string (Prefect's exact format).

    Raises:
        InvalidTableError: the table has another shape, or holds a value JSON cannot hold.

    Example:
        >>> table_json([{"a": 1, "b": float("nan")}])
        '[{"a": 1, "b": null}]'
    """
    _check_shape(table)
    try:
        return json.dumps(sanitize(table), default=_json_default, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InvalidTableError(f"table cannot be stored: {exc}") from None
    except RecursionError:
        raise InvalidTableError(
            "table cannot be stored: it is nested too deeply, or contains itself"
        ) from None


def is_dataframe(table: Any) -> bool:
    """Return whether ``table`` is a pandas or polars DataFrame or a pyarrow Table/RecordBatch.

    Checked by type name, so none of those libraries is imported to find out.
    """
    cls = type(table)
    module = cls.__module__.split(".", 1)[0]
    return (module, cls.__name__) in {
        ("pandas", "DataFrame"),
        ("polars", "DataFrame"),
        ("pyarrow", "Table"),
        ("pyarrow", "RecordBatch"),
    }


def arrow_table_of(table: Any) -> Any:
    """Return a dataframe or Arrow object as a ``pyarrow.Table``, checked.

    Raises:
        InvalidTableError: the table cannot be converted, or its rows could not be given as
            JSON (see :func:`check_arrow_table`).
    """
    import pyarrow as pa

    module = type(table).__module__.split(".", 1)[0]
    try:
        if module == "pandas":
            arrow = pa.Table.from_pandas(table, preserve_index=False)
        elif module == "polars":
            arrow = table.to_arrow()
        elif isinstance(table, pa.RecordBatch):
            arrow = pa.Table.from_batches([table])
        else:
            arrow = table
    except (pa.ArrowException, TypeError, ValueError) as exc:
        raise InvalidTableError(f"table cannot be stored as Parquet: {exc}") from None
    check_arrow_table(arrow)
    return arrow


def check_arrow_table(table: Any) -> None:
    """Refuse an Arrow table whose ``data`` (its rows as JSON) could not be produced.

    Its column names must be unique (rows are objects keyed by them), and no column may
    hold binary, decimal, duration or interval values, at any depth: JSON has no such
    values, and a Python table holding them is refused too. Dates and timestamps must fall
    in the years 1 to 9999, which Python's dates can hold, in a time zone Python knows.
    Only the schema is read, and the smallest and largest value of date and timestamp
    columns.

    Raises:
        InvalidTableError: the table has one of those columns or values.
    """
    names = table.schema.names
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise InvalidTableError(f"table column names must be unique; {twice[0]!r} appears twice")
    for i, field in enumerate(table.schema):
        kind = _non_json_kind(field.type)
        if kind is not None:
            raise InvalidTableError(
                f"table column {field.name!r} holds {kind} values, which a table's JSON "
                "cannot hold: convert the column (to strings or numbers) first"
            )
        if _holds_dates(field.type):
            for chunk in table.column(i).chunks:
                for dates in _date_arrays(chunk):
                    _check_dates(field.name, dates)


def _non_json_kind(arrow_type: Any) -> str | None:
    """Return which kind of value of ``arrow_type`` JSON cannot hold, or None."""
    import pyarrow as pa

    t = pa.types
    if t.is_dictionary(arrow_type):
        return _non_json_kind(arrow_type.value_type)
    if isinstance(arrow_type, pa.ExtensionType):
        return _non_json_kind(arrow_type.storage_type)
    if t.is_decimal(arrow_type):
        return "decimal"
    if t.is_binary(arrow_type) or t.is_large_binary(arrow_type):
        return "binary"
    if t.is_fixed_size_binary(arrow_type):
        return "binary"
    if t.is_duration(arrow_type):
        return "duration"
    if t.is_interval(arrow_type):
        return "interval"
    for i in range(arrow_type.num_fields):  # lists, maps, structs, unions: their values
        found = _non_json_kind(arrow_type.field(i).type)
        if found is not None:
            return found
    return None


_DAY = 86_400
_FIRST_DAY = (dt.date.min - dt.date(1970, 1, 1)).days  # 0001-01-01, in days since 1970
_LAST_DAY = (dt.date.max - dt.date(1970, 1, 1)).days  # 9999-12-31
_PER_SECOND = {"s": 1, "ms": 1_000, "us": 1_000_000, "ns": 1_000_000_000}


def _holds_dates(arrow_type: Any) -> bool:
    """Return whether values of ``arrow_type`` hold dates or timestamps, at any depth."""
    import pyarrow as pa

    t = pa.types
    if t.is_date(arrow_type) or t.is_timestamp(arrow_type):
        return True
    if t.is_dictionary(arrow_type):
        return _holds_dates(arrow_type.value_type)
    if isinstance(arrow_type, pa.ExtensionType):
        return _holds_dates(arrow_type.storage_type)
    return any(_holds_dates(arrow_type.field(i).type) for i in range(arrow_type.num_fields))


def _date_arrays(array: Any) -> Iterator[Any]:
    """Yield the arrays of dates and timestamps inside ``array``, at any depth."""
    import pyarrow as pa

    if not _holds_dates(array.type):
        return
    if isinstance(array, pa.ExtensionArray):
        yield from _date_arrays(array.storage)
    elif isinstance(array, pa.DictionaryArray):
        yield from _date_arrays(array.dictionary)
    elif isinstance(array, pa.MapArray):
        yield from _date_arrays(array.keys)
        yield from _date_arrays(array.items)
    elif isinstance(array, pa.StructArray):
        for child in array.flatten():
            yield from _date_arrays(child)
    elif pa.types.is_date(array.type) or pa.types.is_timestamp(array.type):
        yield array
    elif hasattr(array, "flatten"):  # lists of any kind
        yield from _date_arrays(array.flatten())
    else:  # unions
        for i in range(array.type.num_fields):
            yield from _date_arrays(array.field(i))


def _check_dates(column: str, array: Any) -> None:
    """Refuse dates or timestamps that Python (and so a table's ``data``) cannot hold.

    Python's dates run from year 1 to year 9999; Arrow's much further. Such a value would be
    stored, and then reading the table's ``data`` would fail.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    kind = array.type
    if pa.types.is_date32(kind):
        first, last, ints = _FIRST_DAY, _LAST_DAY, pa.int32()
    else:
        per_day = _DAY * (1_000 if pa.types.is_date64(kind) else _PER_SECOND[kind.unit])
        first, last, ints = _FIRST_DAY * per_day, (_LAST_DAY + 1) * per_day - 1, pa.int64()
        zone = getattr(kind, "tz", None)
        if zone is not None:
            _check_zone(column, kind)
            if zone.upper() not in ("UTC", "Z", "+00:00"):
                # Read back in its zone, a time up to a day from the ends moves past them.
                first, last = first + per_day, last - per_day
    extremes = pc.min_max(array.view(ints))
    low, high = extremes["min"].as_py(), extremes["max"].as_py()
    if low is not None and (low < first or high > last):
        raise InvalidTableError(
            f"table column {column!r} holds a {kind} outside the years 1 to 9999, which a "
            "table's JSON cannot hold: correct the value, or store it as a string or number"
        )


def _check_zone(column: str, kind: Any) -> None:
    import pyarrow as pa

    try:
        pa.array([0], kind).to_pylist()
    except (pa.ArrowException, ValueError, LookupError):
        # pyarrow's own message blames a missing module: say what is wrong instead.
        raise InvalidTableError(
            f"table column {column!r} has time zone {kind.tz!r}, which Python does not know: "
            "give a zone name such as 'Europe/Paris', or an offset such as '+01:00'"
        ) from None


@contextmanager
def parquet_file(table: Any) -> Iterator[str]:
    """Write a dataframe or Arrow table to a temporary Parquet file and yield its path.

    Row groups are kept moderate so that writing never buffers the whole table a second time.
    """
    import pyarrow.parquet as pq

    arrow = arrow_table_of(table)
    fd, path = tempfile.mkstemp(prefix="cairn-table-", suffix=".parquet")
    os.close(fd)
    try:
        try:
            pq.write_table(
                arrow,
                path,
                row_group_size=65536,
                compression="zstd",
                use_dictionary=_dictionary_columns(arrow.schema),
            )
        except Exception as exc:
            raise InvalidTableError(f"table cannot be stored as Parquet: {exc}") from exc
        del arrow
        yield path
    finally:
        with contextlib.suppress(FileNotFoundError):  # pyarrow removes what it failed to write
            os.unlink(path)


def rows_json_from_arrow(table: Any) -> str:
    """Return a dataframe or Arrow table's rows as the JSON list of row records."""
    return json.dumps(
        sanitize(arrow_table_of(table).to_pylist()), default=_json_default, allow_nan=False
    )


def _dictionary_columns(schema: Any) -> Any:
    """Return which columns to dictionary-encode: all but floats.

    Float columns rarely repeat values; dictionary-encoding them made a million-row table of
    random floats 17% larger than the raw data and four times slower to write.
    """
    import pyarrow as pa

    if any(pa.types.is_nested(f.type) for f in schema):
        return True
    return [f.name for f in schema if not pa.types.is_floating(f.type)]


def read_parquet(data: bytes) -> Any:
    """Return a Parquet blob as a ``pyarrow.Table``."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    return pq.read_table(pa.BufferReader(data))


def rows_json_from_parquet(data: bytes) -> str:
    """Return a Parquet blob's rows as the JSON list of row records (NaN and inf as null)."""
    return json.dumps(
        sanitize(read_parquet(data).to_pylist()), default=_json_default, allow_nan=False
    )
