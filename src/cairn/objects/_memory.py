"""An object store in a dict: the exact fake that every other store is measured against."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Iterator

from cairn.errors import ObjectNotFoundError
from cairn.objects._base import ObjectStat, ObjectStore
from cairn.objects._ids import ObjectId, object_id

__all__ = ["MemoryObjectStore"]


class MemoryObjectStore(ObjectStore):
    """Objects kept in this process's memory; lost when the process ends.

    Each object keeps the time it was stored or last freshened (``time.time()``), so garbage
    collection works here exactly as on disk; checking that time and deleting happen under
    one lock, so a put that freshens an object is never lost to a sweep.
    """

    def __init__(self) -> None:
        self._data: dict[ObjectId, bytes] = {}
        self._times: dict[ObjectId, float] = {}
        self._lock = threading.Lock()

    def put(self, data: bytes) -> ObjectId:
        # docstring inherited
        oid = object_id(data)
        with self._lock:
            self._data.setdefault(oid, bytes(data))
            self._times[oid] = time.time()  # stored, or freshened
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

    def iter_stats(self, prefix: str = "") -> Iterator[ObjectStat]:
        # docstring inherited
        with self._lock:
            stats = [
                ObjectStat(oid, len(data), self._times[oid])
                for oid, data in self._data.items()
                if oid.startswith(prefix)
            ]
        return iter(stats)

    def delete(self, oid: str) -> bool:
        # docstring inherited
        oid = self._check(oid)
        with self._lock:
            self._times.pop(oid, None)
            return self._data.pop(oid, None) is not None

    def delete_stale(self, oids: Iterable[str], before: float) -> Iterator[ObjectId]:
        # docstring inherited
        for oid in oids:
            oid = self._check(oid)
            with self._lock:
                if oid not in self._data or self._times[oid] >= before:
                    continue
                del self._data[oid], self._times[oid]
            yield oid

    def describe(self, oid: str) -> str:
        # docstring inherited
        return f"memory:objects/{oid[:2]}/{oid[2:]}"

    def _corrupt(self, oid: str, data: bytes) -> None:
        """Replace the bytes of ``oid`` (tests use this to simulate damage)."""
        self._data[ObjectId(oid)] = data
        self._times.setdefault(ObjectId(oid), time.time())

    def _backdate(self, oid: str, seconds: float) -> None:
        """Make ``oid`` look stored ``seconds`` earlier (tests use this to age objects)."""
        with self._lock:
            self._times[ObjectId(oid)] -= seconds
