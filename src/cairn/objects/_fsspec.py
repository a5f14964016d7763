"""An object store on any fsspec file system that supports exclusive creation.

Writes use ``pipe_file(..., mode="create")``: on S3 (s3fs) that is a PUT with
``If-None-Match: *``, so two writers racing on one object cannot overwrite each other, and a
reader never sees a partial object because S3 publishes a PUT whole or not at all.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from cairn.errors import ObjectNotFoundError, StorageError
from cairn.objects._base import ObjectStore
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
            pass  # already stored: for content-addressed data that is success
        except OSError as exc:
            raise StorageError(f"could not store object {oid!r} at {path!r}: {exc}") from exc
        return oid

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
        if len(prefix) >= 2:
            folders = [f"{self.root}/{prefix[:2]}"]
        else:
            try:
                folders = [
                    p for p in self.fs.ls(self.root, detail=False)
                    if p.rstrip("/").rsplit("/", 1)[-1].startswith(prefix)
                ]
            except FileNotFoundError:
                return
        rest = prefix[2:]
        for folder in folders:
            fanout = folder.rstrip("/").rsplit("/", 1)[-1]
            try:
                names = self.fs.ls(folder, detail=False)
            except FileNotFoundError:
                continue
            for name in names:
                base = name.rstrip("/").rsplit("/", 1)[-1]
                if base.startswith(rest):
                    oid = path_to_id(fanout, base)
                    if oid is not None:
                        yield oid

    def delete(self, oid: str) -> bool:
        # docstring inherited
        path = self._path(self._check(oid))
        try:
            self.fs.rm_file(path)
        except FileNotFoundError:
            return False
        return True

    def describe(self, oid: str) -> str:
        # docstring inherited
        protocol = self.fs.protocol if isinstance(self.fs.protocol, str) else self.fs.protocol[0]
        return f"{protocol}://{self.root}/{oid[:2]}/{oid[2:]}"
