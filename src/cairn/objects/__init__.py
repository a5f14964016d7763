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

from cairn.objects._base import ObjectStat, ObjectStore
from cairn.objects._fsspec import FsspecObjectStore
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
from cairn.objects._s3 import S3ObjectStore

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
