"""The content-addressed object store: bytes in, object id out; nothing is ever overwritten.

This package knows nothing of artifacts or refs. An object's id is the SHA-256 of its stored
bytes, every read re-hashes what it fetched, and writing an object that exists is a no-op.

Example:
    >>> from cairn.objects import MemoryObjectStore
    >>> store = MemoryObjectStore()
    >>> oid = store.put(b"hello")
    >>> store.get(oid)
    b'hello'
"""

from typing import TYPE_CHECKING

from cairn._lazy import lazy_attributes
from cairn.objects._base import ObjectStat, ObjectStore
from cairn.objects._ids import (
    HASH_ALGORITHM,
    MIN_PREFIX,
    ObjectId,
    check_object_id,
    check_prefix,
    id_to_path,
    object_id,
)
from cairn.objects._local import LocalObjectStore
from cairn.objects._memory import MemoryObjectStore

if TYPE_CHECKING:
    from cairn.objects._fsspec import FsspecObjectStore
    from cairn.objects._s3 import S3ObjectStore

# The remote stores are loaded on first use: a local catalog never needs them.
_LAZY = {
    "FsspecObjectStore": "cairn.objects._fsspec",
    "S3ObjectStore": "cairn.objects._s3",
}

__all__ = [
    "HASH_ALGORITHM",
    "MIN_PREFIX",
    "FsspecObjectStore",
    "LocalObjectStore",
    "MemoryObjectStore",
    "ObjectId",
    "ObjectStat",
    "ObjectStore",
    "S3ObjectStore",
    "check_object_id",
    "check_prefix",
    "id_to_path",
    "object_id",
]

__getattr__, __dir__ = lazy_attributes(__name__, _LAZY, __all__)
