"""Refs: named, mutable pointers to object ids, moved only by compare-and-swap.

This package knows nothing of what the objects hold. A ref is a small file (or S3 object)
holding one object id; updates say what they expect to replace, so no update is ever lost.

Example:
    >>> from cairn.objects import object_id
    >>> from cairn.refs import MemoryRefStore
    >>> refs = MemoryRefStore()
    >>> a, b = object_id(b"a"), object_id(b"b")
    >>> refs.add_if_new("artifacts/report", a)
    True
    >>> refs.set_if_equals("artifacts/report", b, a)  # stale expectation: refused
    False
    >>> refs.set_if_equals("artifacts/report", a, b)
    True
"""

from typing import TYPE_CHECKING

from cairn._lazy import lazy_attributes
from cairn.refs._base import (
    RefName,
    RefStore,
    check_ref_name,
    decode_ref_value,
    encode_ref_value,
)
from cairn.refs._local import LocalRefStore
from cairn.refs._memory import MemoryRefStore

if TYPE_CHECKING:
    from cairn.refs._s3 import S3RefStore

# The S3 store is loaded on first use: a local catalog never needs it.
_LAZY = {"S3RefStore": "cairn.refs._s3"}

__all__ = [
    "LocalRefStore",
    "MemoryRefStore",
    "RefName",
    "RefStore",
    "S3RefStore",
    "check_ref_name",
    "decode_ref_value",
    "encode_ref_value",
]

__getattr__, __dir__ = lazy_attributes(__name__, _LAZY, __all__)
