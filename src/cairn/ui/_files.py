"""The files the viewer serves besides pages: downloads of artifact data, stored images.

* ``.md``: a markdown artifact's text, as stored;
* ``.csv``: a table artifact's rows (a header of column names; strings as they are, other
  values as JSON, blanks for nulls);
* ``.parquet``: a table stored as Parquet is served as its stored bytes; a table stored as
  JSON is converted (a column whose values have mixed types becomes strings of JSON);
* images stored in the catalog, served with the content type their bytes show
  (:func:`cairn.ui._views.image_blob`).

The server streams them and the exporter writes them as files, from the same functions.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cairn.ui._render import Table, cell_text, csv_text
from cairn.ui._views import PageNotFound, artifact_kind, image_blob, table_data

if TYPE_CHECKING:
    from cairn.catalog import ArtifactResponse, Catalog

__all__ = ["DOWNLOADS", "FileData", "download", "image_file"]

DOWNLOADS = {"markdown": ("md",), "table": ("csv", "parquet")}
"""The download formats of each kind of artifact."""

_MEDIA = {
    "md": "text/markdown; charset=utf-8",
    "csv": "text/csv; charset=utf-8",
    "parquet": "application/vnd.apache.parquet",
}


@dataclass(frozen=True)
class FileData:
    """A file to send or write: its bytes, content type and suggested name."""

    data: bytes
    media_type: str
    filename: str


def _filename(artifact: ArtifactResponse, extension: str) -> str:
    stem = (
        artifact.key if artifact.key and re.fullmatch(r"[a-z0-9-]+", artifact.key) else "artifact"
    )
    return f"{stem}-{artifact.id[:12]}.{extension}"


def download(catalog: Catalog, artifact: ArtifactResponse, fmt: str) -> FileData:
    """Return ``artifact``'s data in format ``fmt`` (``md``, ``csv`` or ``parquet``).

    Raises:
        PageNotFound: the artifact has no such download (a table has no ``.md``...).
    """
    kind = artifact_kind(artifact)
    if fmt not in DOWNLOADS.get(kind, ()):
        raise PageNotFound(f"a {artifact.type} artifact has no .{fmt} download")
    if fmt == "md":
        data = artifact.data if isinstance(artifact.data, str) else str(artifact.data)
        body = data.encode("utf-8", "surrogateescape")
    elif fmt == "csv":
        columns, rows = _csv_rows(artifact)
        body = "".join(csv_text(columns, rows)).encode("utf-8", "surrogateescape")
    else:
        body = _parquet(catalog, artifact)
    return FileData(body, _MEDIA[fmt], _filename(artifact, fmt))


def _csv_rows(artifact: ArtifactResponse) -> tuple[list[str], Iterator[list[Any]]]:
    """Return a table's columns and its rows, read in batches from Arrow when stored so."""
    record = artifact.record
    if record.blob is None or record.blob_format != "parquet":
        table = table_data(artifact)
        return table.columns, iter(table.rows)
    arrow = artifact.to_arrow()

    def rows() -> Iterator[list[Any]]:
        for batch in arrow.to_batches(max_chunksize=8192):
            columns = [batch.column(i).to_pylist() for i in range(batch.num_columns)]
            yield from (list(row) for row in zip(*columns, strict=True))

    return [str(c) for c in arrow.column_names], rows()


def _parquet(catalog: Catalog, artifact: ArtifactResponse) -> bytes:
    record = artifact.record
    if record.blob is not None and record.blob_format == "parquet":
        return catalog.objects.get(record.blob)  # stored as Parquet: the very bytes
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        arrow = artifact.to_arrow()
    except (pa.ArrowException, TypeError, ValueError, KeyError):
        arrow = _lenient_arrow(table_data(artifact))
    sink = io.BytesIO()
    try:
        pq.write_table(arrow, sink)
    except (pa.ArrowException, TypeError, ValueError):
        sink = io.BytesIO()
        pq.write_table(_lenient_arrow(table_data(artifact)), sink)
    return sink.getvalue()


def _lenient_arrow(table: Table) -> Any:
    """Return ``table`` as Arrow, a column at a time; mixed columns become JSON text."""
    import pyarrow as pa

    columns: dict[str, Any] = {}
    for i, name in enumerate(table.columns):
        values = [row[i] if i < len(row) else None for row in table.rows]
        try:
            columns[name] = pa.array(values)
        except (pa.ArrowException, TypeError, ValueError, OverflowError):
            columns[name] = pa.array(
                [None if v is None else (v if isinstance(v, str) else _json(v)) for v in values],
                type=pa.string(),
            )
    return pa.table(columns)


def _json(value: Any) -> str:
    try:
        return json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        return cell_text(value)


def image_file(catalog: Catalog, artifact: ArtifactResponse) -> FileData:
    """Return the image stored in the catalog for ``artifact``.

    Raises:
        PageNotFound: the artifact has no stored image the viewer serves.
    """
    found = image_blob(catalog, artifact)
    if found is None:
        raise PageNotFound(f"artifact {artifact.id[:12]!r} has no stored image")
    data, extension, media_type = found
    return FileData(data, media_type, _filename(artifact, extension))
