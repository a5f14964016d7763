"""Object ids: what they look like, how they are computed, where they live.

This module is the only place that turns bytes into an id and an id into a storage path, so
no user string ever reaches a path without passing :func:`check_object_id` first.
"""

from __future__ import annotations

import hashlib
import re
from typing import NewType

from cairn.errors import InvalidIdError

__all__ = [
    "HASH_ALGORITHM",
    "MIN_PREFIX",
    "ObjectId",
    "check_object_id",
    "check_prefix",
    "id_to_path",
    "object_id",
    "path_to_id",
]

ObjectId = NewType("ObjectId", str)
"""The lowercase hex SHA-256 of an object's exact stored bytes (64 characters)."""

HASH_ALGORITHM = "sha256"
MIN_PREFIX = 6
"""The shortest id prefix cairn accepts, as git does with abbreviated ids."""

_ID_RE = re.compile(r"[0-9a-f]{64}")
_PREFIX_RE = re.compile(r"[0-9a-f]{1,64}")
_HEX = frozenset("0123456789abcdef")


def object_id(data: bytes | bytearray | memoryview) -> ObjectId:
    """Return the id of ``data``: the hex SHA-256 of the bytes.

    Example:
        >>> object_id(b"")[:12]
        'e3b0c44298fc'
    """
    return ObjectId(hashlib.sha256(data).hexdigest())


def check_object_id(value: object) -> ObjectId:
    """Return ``value`` as an :data:`ObjectId`, or raise :class:`InvalidIdError`.

    Example:
        >>> check_object_id("0" * 64) == "0" * 64
        True
    """
    if not isinstance(value, str) or not _ID_RE.fullmatch(value):
        raise InvalidIdError(f"{value!r} is not an object id: {_what_is_wrong(value, 64)}")
    return ObjectId(value)


def check_prefix(value: object) -> str:
    """Return ``value`` if it is a usable id prefix (6 to 64 hex characters).

    Example:
        >>> check_prefix("abcdef")
        'abcdef'
    """
    if not isinstance(value, str) or not _PREFIX_RE.fullmatch(value):
        raise InvalidIdError(f"{value!r} is not an id or id prefix: {_what_is_wrong(value, None)}")
    if len(value) < MIN_PREFIX:
        raise InvalidIdError(
            f"id prefix {value!r} is too short: give at least {MIN_PREFIX} characters"
        )
    return value


def _what_is_wrong(value: object, length: int | None) -> str:
    """Say why ``value`` is not an id (``length`` 64) or an id prefix (``length`` None)."""
    if not isinstance(value, str):
        return f"expected a string, got {type(value).__name__}"
    bad = next((c for c in value if c not in _HEX), None)
    if bad is not None:
        upper = " (ids are lowercase)" if bad in "ABCDEF" else ""
        return f"{bad!r} is not a hexadecimal character (0-9, a-f){upper}"
    if length is None:
        return f"it has {len(value)} characters; an id has 64, a prefix from {MIN_PREFIX} to 64"
    return f"it has {len(value)} characters; an id has 64"


def id_to_path(oid: str) -> str:
    """Return the path of object ``oid`` relative to the catalog's ``objects/`` folder.

    The first two hex characters name a fan-out folder, as git does, so no folder holds
    more than a 256th of the objects.

    Example:
        >>> id_to_path("ab" + "0" * 62)[:5]
        'ab/00'
    """
    oid = check_object_id(oid)
    return f"{oid[:2]}/{oid[2:]}"


def path_to_id(fanout: str, rest: str) -> ObjectId | None:
    """Return the id named by a fan-out folder and file name, or None if they name none."""
    candidate = fanout + rest
    return ObjectId(candidate) if _ID_RE.fullmatch(candidate) else None
