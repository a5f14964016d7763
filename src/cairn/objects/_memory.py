"""An object store in a dict: the exact fake that every other store is measured against."""

from __future__ import annotations

import threading
from collections.abc import Iterator

from cairn.errors import ObjectNotFoundError
from cairn.objects._base import ObjectStore
from cairn.objects._ids import ObjectId, object_id

__all__ = ["MemoryObjectStore"]


class MemoryObjectStore(ObjectStore):
    """Objects kept in this process's memory; lost when the process ends."""

    def __init__(self) -> None:
        self._data: dict[ObjectId, bytes] = {}
        self._lock = threading.Lock()

    def put(self, data: bytes) -> ObjectId:
        # docstring inherited
        oid = object_id(data)
        with self._lock:
            self._data.setdefault(oid, bytes(data))
        return oid

    def get(self, oid: str) -> bytes:
        # docstring inherited
        oid = self._check(oid)
        try:
            data = self._data[oid]
        except KeyError:
            raise ObjectNotFoundError(oid, self.describe(oid)) from None
        return self._verify(oid, data)

    def exists(self, oid: str) -> bool:
        # docstring inherited
        return self._check(oid) in self._data

    def iter_ids(self, prefix: str = "") -> Iterator[ObjectId]:
        # docstring inherited
        with self._lock:
            ids = list(self._data)
        return (oid for oid in ids if oid.startswith(prefix))

    def delete(self, oid: str) -> bool:
        # docstring inherited
        oid = self._check(oid)
        with self._lock:
            return self._data.pop(oid, None) is not None

    def describe(self, oid: str) -> str:
        # docstring inherited
        return f"memory:objects/{oid[:2]}/{oid[2:]}"

    def _corrupt(self, oid: str, data: bytes) -> None:
        """Replace the bytes of ``oid`` (tests use this to simulate damage)."""
        self._data[ObjectId(oid)] = data
