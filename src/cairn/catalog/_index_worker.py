"""A worker process for rebuilding the lineage index: ``python -m cairn.catalog._index_worker``.

Reads a JSON request on stdin, ``{"url": <catalog URL>, "heads": [<asset-head id>, ...]}``,
walks each asset history from its head, and writes the rows on stdout as an Arrow IPC stream
(schema :func:`cairn.catalog._index_lineage.schema`, with the number of records read in the
schema metadata under ``cairn.records``). Exits with status 1 on any error, after printing it
on stderr; the parent then walks those histories itself.

Workers are plain child processes rather than ``multiprocessing`` ones because the spawn and
forkserver methods re-import the caller's ``__main__`` (running an unguarded script again)
and fork copies the caller's threads in whatever state they are in.
"""

from __future__ import annotations

import json
import sys


def main() -> int:
    """Serve one request from stdin; return the exit status."""
    try:
        import pyarrow as pa

        from cairn.catalog._catalog import Catalog
        from cairn.catalog._index_lineage import RowBuilder
        from cairn.catalog._lineage import Lineage

        request = json.loads(sys.stdin.buffer.read())
        lineage = Lineage(Catalog.from_url(str(request["url"])))
        builder = RowBuilder()
        for head in request["heads"]:
            lineage._walk_history(str(head), None, builder)
        table = builder.table()
        table = table.replace_schema_metadata({b"cairn.records": str(lineage._records_read)})
        with pa.ipc.new_stream(sys.stdout.buffer, table.schema) as writer:
            writer.write_table(table)
        sys.stdout.buffer.flush()
    except Exception as exc:  # the parent falls back to reading in its own process
        print(f"cairn index worker: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
