"""An object store on any fsspec file system that supports exclusive creation.

Writes use ``pipe_file(..., mode="create")``: on S3 (s3fs) that is a PUT with
``If-None-Match: *``, so two writers racing on one object cannot overwrite each other, and a
reader never sees a partial object because S3 publishes a PUT whole or not at all.

An object found already stored is freshened with ``touch(truncate=False)`` where the file
system has it, else by writing its (identical) bytes again. Object times come from the
listing's ``mtime``, ``LastModified`` or ``created``, whichever the file system gives; an
object whose time cannot be told counts as just stored, which garbage collection never
deletes.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterable, Iterator
from typing import Any

from cairn.errors import ObjectNotFoundError, StorageError
from cairn.objects._base import ObjectStat, ObjectStore
from cairn.objects._ids import ObjectId, id_to_path, object_id, path_to_id

__all__ = ["FsspecObjectStore"]


class FsspecObjectStore(ObjectStore):
    """Objects under ``root`` on the fsspec file system ``fs``.

    Args:
        fs: an ``fsspec.AbstractFileSystem`` whose ``pipe_file`` honours ``mode="create"``
            (raising ``FileExistsError`` when the path exists).
        root: the folder, in ``fs``'s own path form (no protocol), that holds the fan-out
            folders (a catalog's ``objects/``).
    """

    def __init__(self, fs: Any, root: str) -> None:
        self.fs = fs
        self.root = root.rstrip("/")

    def _path(self, oid: str) -> str:
        return f"{self.root}/{id_to_path(oid)}"

    def put(self, data: bytes) -> ObjectId:
        # docstring inherited
        oid = object_id(data)
        path = self._path(oid)
        try:
            self.fs.pipe_file(path, bytes(data), mode="create")
        except FileExistsError:
            self._freshen(path, data)  # already stored: success, once freshened
        except OSError as exc:
            raise StorageError(f"could not store object {oid!r} at {path!r}: {exc}") from exc
        return oid

    def _freshen(self, path: str, data: bytes) -> None:
        try:
            self.fs.touch(path, truncate=False)
        except (NotImplementedError, ValueError):
            # No way to touch a file here: store the same bytes again, which is fresh.
            self.fs.pipe_file(path, bytes(data))

    def get(self, oid: str) -> bytes:
        # docstring inherited
        oid = self._check(oid)
        path = self._path(oid)
        try:
            data = self.fs.cat_file(path)
        except FileNotFoundError:
            raise ObjectNotFoundError(oid, path) from None
        except OSError as exc:
            raise StorageError(f"could not read object {oid!r} at {path!r}: {exc}") from exc
        return self._verify(oid, bytes(data))

    def exists(self, oid: str) -> bool:
        # docstring inherited
        return bool(self.fs.exists(self._path(self._check(oid))))

    def iter_ids(self, prefix: str = "") -> Iterator[ObjectId]:
        # docstring inherited
        for stat in self._scan(prefix, detail=False):
            yield stat.oid

    def iter_stats(self, prefix: str = "") -> Iterator[ObjectStat]:
        # docstring inherited
        return self._scan(prefix, detail=True)

    def _scan(self, prefix: str, detail: bool) -> Iterator[ObjectStat]:
        if len(prefix) >= 2:
            folders = [f"{self.root}/{prefix[:2]}"]
        else:
            try:
                folders = [
                    p
                    for p in self.fs.ls(self.root, detail=False)
                    if p.rstrip("/").rsplit("/", 1)[-1].startswith(prefix)
                ]
            except FileNotFoundError:
                return
        rest = prefix[2:]
        for folder in folders:
            fanout = folder.rstrip("/").rsplit("/", 1)[-1]
            try:
                entries = self.fs.ls(folder, detail=detail)
            except FileNotFoundError:
                continue
            for entry in entries:
                name = entry["name"] if detail else entry
                base = name.rstrip("/").rsplit("/", 1)[-1]
                if base.startswith(rest):
                    oid = path_to_id(fanout, base)
                    if oid is not None:
                        if detail:
                            yield ObjectStat(oid, int(entry.get("size") or 0), _mtime(entry))
                        else:
                            yield ObjectStat(oid, 0, 0.0)

    def delete(self, oid: str) -> bool:
        # docstring inherited
        path = self._path(self._check(oid))
        try:
            self.fs.rm_file(path)
        except FileNotFoundError:
            return False
        return True

    def delete_stale(self, oids: Iterable[str], before: float) -> Iterator[ObjectId]:
        # docstring inherited
        # Checked just before the delete, not atomically with it: file systems reached
        # through fsspec offer nothing better.
        for oid in oids:
            path = self._path(self._check(oid))
            try:
                if _mtime(self.fs.info(path)) >= before:
                    continue
                self.fs.rm_file(path)
            except FileNotFoundError:
                continue
            yield ObjectId(oid)

    def describe(self, oid: str) -> str:
        # docstring inherited
        protocol = self.fs.protocol if isinstance(self.fs.protocol, str) else self.fs.protocol[0]
        return f"{protocol}://{self.root}/{oid[:2]}/{oid[2:]}"


_TIME_FIELDS = ("mtime", "LastModified", "last_modified", "updated", "modified", "created")


def _mtime(info: dict[str, Any]) -> float:
    """Return the modification time a file system's ``info`` gives, or now if it gives none."""
    for name in _TIME_FIELDS:
        value = info.get(name)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            try:
                value = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
            except ValueError:
                continue
        if isinstance(value, dt.datetime):
            if value.tzinfo is None:
                value = value.replace(tzinfo=dt.timezone.utc)
            return value.timestamp()
    return time.time()
