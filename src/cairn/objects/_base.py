"""The object store interface: bytes in, object id out; nothing is ever overwritten."""

from __future__ import annotations

import hashlib
import os
from abc import ABC, abstractmethod
from collections.abc import Iterator

from cairn.errors import CorruptObjectError
from cairn.objects._ids import ObjectId, check_object_id, check_prefix, object_id

__all__ = ["ObjectStore"]

_CHUNK = 1 << 20


class ObjectStore(ABC):
    """A content-addressed store of immutable objects.

    The promises every implementation keeps (and that ``cairn.testing.ObjectStoreTests``
    checks):

    * An object's id is the SHA-256 of its exact stored bytes (:func:`cairn.objects.object_id`).
    * :meth:`put` is write-once: a reader never sees a partly written object, and writing an
      object that already exists is a successful no-op, even when two writers race.
    * :meth:`get` re-hashes the bytes it fetched and raises
      :class:`~cairn.errors.CorruptObjectError` (naming the id and the path) if they do not
      match, before anyone decodes them.
    * A missing object raises :class:`~cairn.errors.ObjectNotFoundError`.
    * Ids are checked before any path is built from them.
    """

    @abstractmethod
    def put(self, data: bytes) -> ObjectId:
        """Store ``data`` and return its id. Storing bytes that are already stored is a no-op."""

    def put_file(self, path: str | os.PathLike[str]) -> ObjectId:
        """Store the content of the local file at ``path`` and return its id.

        Implementations may stream the file instead of reading it whole; the default reads it.
        """
        with open(path, "rb") as f:
            return self.put(f.read())

    @abstractmethod
    def get(self, oid: str) -> bytes:
        """Return the bytes of object ``oid``, verified against the id."""

    @abstractmethod
    def exists(self, oid: str) -> bool:
        """Return whether object ``oid`` is stored (without reading or verifying it)."""

    @abstractmethod
    def iter_ids(self, prefix: str = "") -> Iterator[ObjectId]:
        """Yield the id of every stored object whose id starts with ``prefix``, in no order."""

    @abstractmethod
    def delete(self, oid: str) -> bool:
        """Remove object ``oid`` and return whether it was there (for garbage collection)."""

    @abstractmethod
    def describe(self, oid: str) -> str:
        """Return where object ``oid`` is (or would be) stored, for messages."""

    def find_prefix(self, prefix: str) -> list[ObjectId]:
        """Return the ids of the stored objects that start with ``prefix`` (6 or more hex chars)."""
        prefix = check_prefix(prefix)
        if len(prefix) == 64:
            return [ObjectId(prefix)] if self.exists(prefix) else []
        return sorted(self.iter_ids(prefix))

    def _verify(self, oid: ObjectId, data: bytes) -> bytes:
        actual = object_id(data)
        if actual != oid:
            raise CorruptObjectError(oid, actual, self.describe(oid))
        return data

    @staticmethod
    def _check(oid: str) -> ObjectId:
        return check_object_id(oid)

    @staticmethod
    def _hash_file(path: str | os.PathLike[str]) -> tuple[ObjectId, int]:
        h = hashlib.sha256()
        size = 0
        with open(path, "rb") as f:
            while chunk := f.read(_CHUNK):
                h.update(chunk)
                size += len(chunk)
        return ObjectId(h.hexdigest()), size
