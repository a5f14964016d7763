"""Refs as small S3 objects, moved by conditional writes.

A ref is created with ``PUT`` + ``If-None-Match: *`` and replaced with ``PUT`` +
``If-Match: <ETag of the value it replaces>``; S3 applies the condition atomically and answers
``412 Precondition Failed`` when it does not hold, so of several writers racing from one value
exactly one wins, with no lock and no server of our own.

The store remembers, per ref, the value and ETag it last read or wrote. A writer whose view is
current therefore replaces a ref with one conditional PUT and no read first; a stale view
costs one refused PUT, after which the store re-reads the ref and reports failure, and the
caller (which re-reads its own view too) retries.

Lost responses. A request whose response did not arrive (a dropped connection, a timeout, a
500) is sent again, by botocore and, for a dropped connection, silently by aiohttp below it.
If the first attempt of a conditional PUT took effect, the repeat is refused with ``412``: the
ref no longer holds the value it expected, because it holds ours. To tell that case from a
real loss, every ref PUT carries a random write token in the object's metadata
(``x-amz-meta-cairn-write``). After a refusal the store re-reads the ref (the GET returns the
metadata with the value, at no extra cost) and reports success if the ref holds exactly the
value *and* the token it was writing: then the write that blocks us is our own. Two writers
that race to write the same value (the conformance suite's counters do) carry different
tokens, so the loser is still told it lost.

What the store cannot see is a lost response followed by another writer moving the ref on top
of our value before the re-read: our token is gone, so it reports a loss for a write that
landed. Only the caller can tell (its value is then an ancestor of the ref's new value), and
the catalog's commit is where that check belongs.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
from collections.abc import Iterator
from typing import Any

from cairn.objects import ObjectId, check_object_id
from cairn.objects._s3 import S3Location, S3RequestError
from cairn.refs._base import (
    RefName,
    RefStore,
    check_ref_name,
    decode_ref_value,
    encode_ref_value,
)

__all__ = ["S3RefStore"]

# The answers to a conditional request whose condition did not hold: 412 (the ETag did not
# match, or the key exists), 404 (If-Match on a key that is gone), 409 (another conditional
# write to the key was in progress; S3 asks the caller to retry).
_REFUSED = (404, 409, 412)
# How many refs one batch of iter_refs lists before reading them.
_LIST_BATCH = 1000
# The user metadata that identifies one write of a ref (sent as x-amz-meta-cairn-write).
_TOKEN = "cairn-write"


class S3RefStore(RefStore):
    """Refs as objects under an S3 prefix (``s3://bucket/catalog/refs/artifacts/my-key``).

    Each ref object holds the object id and a newline (65 bytes), as on local disk. Listing
    (:meth:`iter_refs`, :meth:`iter_tokens`) uses ``ListObjectsV2``: one request per 1,000
    refs. :meth:`iter_tokens` yields the ETags the listing returns, which for a single-part
    PUT are the MD5 of the ref's bytes (:meth:`value_token`), so a cache of ref values is
    checked with listings alone.

    Args:
        location: the prefix that holds the refs (a catalog's ``refs/``).

    The store is safe to share between threads, and pickles (for child processes) as its
    location, without the cache.
    """

    ambiguous_failures = True
    # See RefStore.ambiguous_failures and "Lost responses" above: a refusal after a lost
    # answer whose write another writer has already built upon reads as a loss.

    def __init__(self, location: S3Location) -> None:
        self.location = location
        self._seen: dict[RefName, tuple[ObjectId, str]] = {}
        self._listed: dict[RefName, str] = {}  # ETags from the last listing (no values)
        self._lock = threading.Lock()

    def __getstate__(self) -> dict[str, Any]:
        return {"location": self.location}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["location"])  # type: ignore[misc]

    def _key(self, ref: RefName) -> str:
        # The name was checked: its "/"-separated segments are safe S3 key segments.
        return self.location.key(ref)

    # -- the cache of (value, ETag) ----------------------------------------------------------

    def _remember(self, ref: RefName, value: ObjectId | None, etag: str | None) -> None:
        with self._lock:
            self._listed.pop(ref, None)
            if value is None or not etag:
                self._seen.pop(ref, None)
            else:
                self._seen[ref] = (value, etag)

    def _etag_holding(self, ref: RefName, value: ObjectId) -> str | None:
        """Return the ETag of ``ref`` if it holds ``value`` (as far as we know), else None.

        From the cache when it says ``ref`` holds ``value``, or from the last listing when
        the ETag it gave is the one a ref holding ``value`` has (if the ref has moved since,
        the conditional request that uses the ETag is refused); otherwise from a read.
        """
        with self._lock:
            seen = self._seen.get(ref)
            listed = self._listed.get(ref)
        if seen is not None and seen[0] == value:
            return seen[1]
        if listed is not None and listed.strip('"') == self.value_token(value):
            return listed
        current, etag = self._read(ref)
        return etag if current == value else None

    def _read(self, ref: RefName) -> tuple[ObjectId | None, str | None]:
        value, etag, _ = self._read_with_token(ref)
        return value, etag

    def _read_with_token(self, ref: RefName) -> tuple[ObjectId | None, str | None, str | None]:
        got = self.location.read(self._key(ref))
        if got is None:
            self._remember(ref, None, None)
            return None, None, None
        value = decode_ref_value(ref, got.body, self.describe(ref))
        self._remember(ref, value, got.etag)
        return value, got.etag, got.metadata.get(_TOKEN)

    # -- the interface -------------------------------------------------------------------------

    def get(self, name: str) -> ObjectId | None:
        # docstring inherited
        return self._read(check_ref_name(name))[0]

    def recent(self, name: str) -> ObjectId | None:
        """Return ``name``'s value as last read or written here, else read it.

        After a refused :meth:`set_if_equals` that is the value the refusal made this store
        read (see :meth:`RefStore.recent`).
        """
        ref = check_ref_name(name)
        with self._lock:
            seen = self._seen.get(ref)
        return seen[0] if seen is not None else self._read(ref)[0]

    def set_if_equals(self, name: str, old: ObjectId | None, new: ObjectId) -> bool:
        # docstring inherited
        ref = check_ref_name(name)
        data = encode_ref_value(new)
        if old is None:
            condition = {"IfNoneMatch": "*"}
        else:
            etag = self._etag_holding(ref, old)
            if etag is None:
                return False
            condition = {"IfMatch": etag}
        token = secrets.token_hex(8)
        try:
            response = self.location.call(
                "put_object",
                Key=self._key(ref),
                Body=data,
                Metadata={_TOKEN: token},
                **condition,
            )
        except S3RequestError as exc:
            if exc.status not in _REFUSED:
                raise
            # Refused: by another writer, or by our own earlier attempt whose answer was lost
            # (see the module docstring). Only our own write leaves our token behind.
            current, _, current_token = self._read_with_token(ref)
            return current == new and current_token == token
        self._remember(ref, new, response.get("ETag"))
        return True

    def delete_if_equals(self, name: str, old: ObjectId) -> bool:
        """Delete ref ``name`` if it now points at ``old``.

        A ``DELETE`` with ``If-Match: <ETag>`` (S3 has had conditional deletes since
        September 2025). A delete whose condition fails because the ref is already gone
        (``404``) reports success: it may be its own earlier attempt, whose answer was lost,
        that removed it, and either way the ref no longer holds ``old``; so two writers
        deleting the same ref at the same moment may both be told they did.

        A store that ignores the header deletes unconditionally: a writer that moved the ref
        between this store's read and its delete then loses that move. cairn deletes refs
        only for things being deleted (a keyless artifact's anchor, whose value never
        changes; a deleted progress artifact's latest update), so there the race can drop at
        most an update of something that is being deleted anyway.
        """
        ref = check_ref_name(name)
        old = check_object_id(old)
        etag = self._etag_holding(ref, old)
        if etag is None:
            return False
        try:
            self.location.call("delete_object", Key=self._key(ref), IfMatch=etag)
        except S3RequestError as exc:
            if exc.status not in _REFUSED:
                raise
            current, _ = self._read(ref)
            return current is None and (exc.status == 404 or exc.retried)
        self._remember(ref, None, None)
        return True

    def iter_refs(self, prefix: str = "") -> Iterator[tuple[RefName, ObjectId]]:
        # docstring inherited
        names: list[RefName] = []
        for ref, _ in self._list(prefix):
            names.append(ref)
            if len(names) == _LIST_BATCH:
                yield from self._values(names)
                names = []
        yield from self._values(names)

    def _values(self, names: list[RefName]) -> Iterator[tuple[RefName, ObjectId]]:
        # One LIST gives the names; their values are read concurrently, in order.
        bodies = self.location.read_many([self._key(ref) for ref in names])
        for ref, got in zip(names, bodies, strict=True):
            if got is not None:  # else deleted since it was listed
                yield ref, decode_ref_value(ref, got.body, self.describe(ref))

    def iter_tokens(self, prefix: str = "") -> Iterator[tuple[RefName, str]]:
        """Yield ``(name, ETag)`` for every ref under ``prefix``, by name, from listings alone.

        See :meth:`RefStore.iter_tokens`; the ETag is given without its quotes.
        """
        for ref, etag in self._list(prefix):
            with self._lock:
                self._listed[ref] = etag
                seen = self._seen.get(ref)
                if seen is not None and seen[1] != etag:
                    del self._seen[ref]  # moved since we last read or wrote it
            yield ref, etag.strip('"')

    def value_token(self, value: ObjectId) -> str:
        """Return the ETag S3 gives a ref holding ``value``: the MD5 of its exact bytes."""
        return hashlib.md5(encode_ref_value(value), usedforsecurity=False).hexdigest()

    def _list(self, prefix: str) -> Iterator[tuple[RefName, str]]:
        folder, _, _ = prefix.rpartition("/")
        if folder:
            check_ref_name(folder)
        base = self.location.key("") + "/" if self.location.prefix else ""
        for key, etag in self.location.iter_keys(base + prefix):
            name = key[len(base) :]
            try:
                ref = check_ref_name(name)
            except ValueError:
                continue  # not a ref cairn wrote (a stray object under refs/)
            yield ref, etag

    def describe(self, name: str) -> str:
        # docstring inherited
        return self.location.url(name)
