"""The object store interface: bytes in, object id out; nothing is ever overwritten."""

from __future__ import annotations

import hashlib
import os
import time
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from typing import NamedTuple

from cairn.errors import CorruptObjectError
from cairn.objects._ids import ObjectId, check_object_id, check_prefix, object_id

__all__ = ["ObjectStat", "ObjectStore"]

_CHUNK = 1 << 20


class ObjectStat(NamedTuple):
    """One stored object as a listing sees it (what garbage collection needs to know)."""

    oid: ObjectId
    size: int
    """The object's size in bytes."""
    mtime: float
    """When the object was stored or last freshened, in seconds since the Unix epoch, on the
    store's own clock (:meth:`ObjectStore.now`)."""


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
    * **Freshening.** :meth:`put` (and :meth:`put_file`) of bytes that are already stored
      makes the object's modification time (:attr:`ObjectStat.mtime`) now, as git does for
      loose objects. Garbage collection deletes only unreachable objects older than its grace
      period; a writer that finds its bytes already stored (perhaps as garbage) is about to
      make a ref reach them, and freshening keeps gc off the object until the ref has moved.
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
    def iter_stats(self, prefix: str = "") -> Iterator[ObjectStat]:
        """Yield the id, size and modification time of every stored object, in no order.

        Only objects whose id starts with ``prefix``; one listing, as :meth:`iter_ids`.
        """

    def now(self) -> float:
        """Return the current time on the clock that stamps :attr:`ObjectStat.mtime`.

        Garbage collection compares object times with this, not with its own machine's
        clock, which may be ahead of the store's. The default is this machine's clock.
        """
        return time.time()

    @abstractmethod
    def delete_stale(self, oids: Iterable[str], before: float) -> Iterator[ObjectId]:
        """Delete each object of ``oids`` last stored or freshened before ``before``.

        Garbage collection's sweep. ``before`` is a time on :meth:`now`'s clock; an object
        stored or freshened at or after it is kept. Yields the id of each object deleted, as
        it goes. Where a store can check an object's time as it deletes it
        (:attr:`checks_time_on_delete`), an object a writer freshened since it was listed
        survives, and an id that is not stored is skipped; where it cannot (S3 deletes up to
        1,000 keys a request, and does not say which were there), the caller must have
        listed the objects just before.
        """

    checks_time_on_delete: bool = True
    """Whether :meth:`delete_stale` checks each object's time at the moment it deletes it."""

    def remove_leftovers(self, before: float, *, dry_run: bool = False) -> int:
        """Remove what interrupted writes left behind, if begun before ``before``.

        Temporary files of a writer killed mid-write, multipart uploads never completed:
        never objects, never read. With ``dry_run``, only count them. Returns how many there
        were. The default (a store that leaves nothing behind) returns 0.
        """
        return 0

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
