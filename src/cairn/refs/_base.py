"""The ref store interface: named pointers to object ids, moved by compare-and-swap."""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Iterator
from typing import ClassVar, NewType

from cairn.errors import CorruptRefError, InvalidRefNameError
from cairn.objects import ObjectId, check_object_id
from cairn.objects._ids import _ID_RE

__all__ = ["RefName", "RefStore", "check_ref_name", "decode_ref_value", "encode_ref_value"]

RefName = NewType("RefName", str)
"""A ref's name: ``/``-separated segments such as ``artifacts/my-key``."""

# A segment starts with a letter, digit, dash or underscore (never a dot, so no "." or ".."
# and no hidden files), and holds only characters that are safe in every file system and in
# S3 keys. Names are mapped to paths by joining segments, so this check is what keeps a ref
# inside its store. A segment is at most 255 characters, the file-name limit of most file
# systems (the local store gives long names a hashed lock file name). A whole name is at most
# 512 characters, so that "<catalog prefix>/refs/<name>" fits in an S3 key (1,024 bytes) for
# any catalog prefix of up to 500 bytes; cairn's own refs are 265 characters at most.
_SEGMENT_RE = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,254}")
_MAX_NAME = 512


def check_ref_name(name: object) -> RefName:
    """Return ``name`` as a :data:`RefName`, or raise :class:`InvalidRefNameError`.

    Example:
        >>> check_ref_name("artifacts/my-key")
        'artifacts/my-key'
    """
    if not isinstance(name, str) or not name or len(name) > _MAX_NAME:
        raise InvalidRefNameError(f"{name!r} is not a ref name")
    for segment in name.split("/"):
        if not _SEGMENT_RE.fullmatch(segment) or segment.endswith((".lock", ".tmp")):
            raise InvalidRefNameError(
                f"{name!r} is not a ref name: segment {segment!r} must be 1 to 255 letters, "
                "digits, '.', '_' or '-', not start with '.', and not end in '.lock' or '.tmp'"
            )
    return RefName(name)


def encode_ref_value(oid: ObjectId) -> bytes:
    """Return the bytes a ref file holds for ``oid``: the id and a newline, as git writes."""
    return f"{check_object_id(oid)}\n".encode("ascii")


def decode_ref_value(name: str, raw: bytes, path: str | None = None) -> ObjectId:
    """Return the object id held in a ref file's bytes, or raise :class:`CorruptRefError`."""
    text = raw.strip()
    try:
        value = text.decode("ascii")
    except UnicodeDecodeError:
        raise CorruptRefError(name, raw, path) from None
    if not _ID_RE.fullmatch(value):
        raise CorruptRefError(name, raw, path)
    return ObjectId(value)


class RefStore(ABC):
    """Named, mutable pointers to object ids.

    The promises every implementation keeps (and that ``cairn.testing.RefStoreTests`` checks,
    across threads and across processes):

    * Updates are compare-and-swap: :meth:`set_if_equals`, :meth:`add_if_new` and
      :meth:`delete_if_equals` change the ref only if it holds the expected value at the
      instant of the change, and return whether they did. Of several writers racing from the
      same expected value, exactly one wins; the others get ``False``, re-read and retry.
      No update is ever lost.
    * A reader sees either the old value or the new one, never a mix, even after a writer is
      killed mid-update.
    * Names are checked with :func:`check_ref_name` before any path is built from them.
    * A ref whose stored bytes are not an object id raises :class:`~cairn.errors.CorruptRefError`.
    """

    ambiguous_failures: ClassVar[bool] = False
    """Whether a failed update may hide one that took effect.

    False (local disk, memory): :meth:`set_if_equals` returns False only if the ref was not
    changed, and raises only if it was not. True (S3): a request whose answer was lost is
    sent again, and although the store recognises its own earlier write (see
    :class:`~cairn.refs.S3RefStore`), it cannot once another writer has moved the ref on top
    of it before the store looked; it then reports False (or raises, if no answer came at
    all) for a write that landed. A caller that must not repeat such a write (a commit, which
    would add its version twice) checks whether its value is now in the ref's history before
    it tries again.
    """

    @abstractmethod
    def get(self, name: str) -> ObjectId | None:
        """Return the object id ref ``name`` points to, or None if there is no such ref."""

    @abstractmethod
    def set_if_equals(self, name: str, old: ObjectId | None, new: ObjectId) -> bool:
        """Point ``name`` at ``new`` if it now points at ``old`` (None: if it does not exist)."""

    def recent(self, name: str) -> ObjectId | None:
        """Return ref ``name``'s value as this store last saw it, reading it if it has none.

        Meant for right after :meth:`set_if_equals` returned False: a store that had to read
        the ref to decide (S3 re-reads a ref that refused a write) answers from that read,
        without a request. The value may be stale by then, as any read may; here (by
        default) the ref is read.
        """
        return self.get(name)

    def add_if_new(self, name: str, new: ObjectId) -> bool:
        """Create ref ``name`` pointing at ``new`` if it does not exist yet."""
        return self.set_if_equals(name, None, new)

    @abstractmethod
    def delete_if_equals(self, name: str, old: ObjectId) -> bool:
        """Delete ref ``name`` if it now points at ``old``."""

    @abstractmethod
    def iter_refs(self, prefix: str = "") -> Iterator[tuple[RefName, ObjectId]]:
        """Yield ``(name, object id)`` for every ref whose name starts with ``prefix``, by name.

        A ``prefix`` that ends in ``/`` lists a folder of refs; listing never fails on a
        missing folder, it yields nothing.
        """

    def iter_names(self, prefix: str = "") -> Iterator[RefName]:
        """Yield the name of every ref under ``prefix``, by name, without reading its value.

        A damaged ref is listed too (only reading it raises
        :class:`~cairn.errors.CorruptRefError`), so a checker can name every damaged ref
        where :meth:`iter_refs` stops at the first. Here (by default) the names come from
        :meth:`iter_tokens`, which reads no value on S3.
        """
        for name, _ in self.iter_tokens(prefix):
            yield name

    def iter_tokens(self, prefix: str = "") -> Iterator[tuple[RefName, str]]:
        """Yield ``(name, version token)`` for every ref under ``prefix``, by name.

        A version token changes whenever the ref's value does, and is cheaper to list than the
        value itself where reading each ref costs a request: on S3 it is the ETag that LIST
        returns. A cache that remembers the value it saw checks it with :meth:`value_token`
        and reads only the refs that moved. Here (by default) the token is the value.
        """
        return iter(self.iter_refs(prefix))

    def value_token(self, value: ObjectId) -> str:
        """Return the version token a ref holding ``value`` lists with (see :meth:`iter_tokens`)."""
        return value

    @abstractmethod
    def describe(self, name: str) -> str:
        """Return where ref ``name`` is (or would be) stored, for messages."""
