"""Refs in a dict: the exact fake that every other ref store is measured against."""

from __future__ import annotations

import threading
from collections.abc import Iterator

from cairn.objects import ObjectId, check_object_id
from cairn.refs._base import RefName, RefStore, check_ref_name

__all__ = ["MemoryRefStore"]


class MemoryRefStore(RefStore):
    """Refs kept in this process's memory, safe across threads."""

    def __init__(self) -> None:
        self._refs: dict[RefName, ObjectId] = {}
        self._lock = threading.Lock()

    def get(self, name: str) -> ObjectId | None:
        # docstring inherited
        return self._refs.get(check_ref_name(name))

    def set_if_equals(self, name: str, old: ObjectId | None, new: ObjectId) -> bool:
        # docstring inherited
        ref = check_ref_name(name)
        new = check_object_id(new)
        with self._lock:
            if self._refs.get(ref) != old:
                return False
            self._refs[ref] = new
            return True

    def delete_if_equals(self, name: str, old: ObjectId) -> bool:
        # docstring inherited
        ref = check_ref_name(name)
        with self._lock:
            if old is None or self._refs.get(ref) != old:
                return False
            del self._refs[ref]
            return True

    def iter_refs(self, prefix: str = "") -> Iterator[tuple[RefName, ObjectId]]:
        # docstring inherited
        with self._lock:
            items = sorted((k, v) for k, v in self._refs.items() if k.startswith(prefix))
        return iter(items)

    def describe(self, name: str) -> str:
        # docstring inherited
        return f"memory:refs/{name}"
