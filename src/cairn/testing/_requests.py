"""Count the HTTP requests cairn sends to S3, through botocore's event hooks.

Every request cairn makes goes through an s3fs file system's aiobotocore client (see
``cairn.objects._s3``). :class:`S3Requests` registers a ``before-send`` handler on those
clients: botocore emits it once per HTTP attempt, just before the request leaves, so a
request botocore repeats (a retry) is counted again. Counts are deterministic, unlike times,
which is why tests assert them exactly.

Example::

    with S3Requests() as requests:
        catalog.artifacts.create("markdown", "hi", key="k")
    assert requests.summary() == ["PUT objects", "PUT refs/artifacts/k"]
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

__all__ = ["S3Request", "S3Requests"]


@dataclass(frozen=True)
class S3Request:
    """One HTTP request sent to S3."""

    operation: str
    """botocore's name for it: ``PutObject``, ``GetObject``, ``ListObjectsV2``..."""
    method: str
    """``GET``, ``PUT``, ``POST``, ``HEAD``, ``DELETE``."""
    bucket: str
    key: str
    """The object key (path-style URL), or ``""`` for a bucket-level request."""
    headers: tuple[tuple[str, str], ...]

    def header(self, name: str) -> str | None:
        """Return the value of header ``name`` (case-insensitive), or None."""
        name = name.lower()
        return next((v for k, v in self.headers if k.lower() == name), None)

    def short(self, root: str = "") -> str:
        """``METHOD where``: the key below ``root`` shortened to what tells requests apart.

        Object keys become ``objects`` (their names are hashes); other keys stay whole; a
        ``ListObjectsV2`` shows as ``LIST``.
        """
        key = self.key
        if root and key.startswith(root.rstrip("/") + "/"):
            key = key[len(root.rstrip("/")) + 1 :]
        if key.startswith("objects/"):
            key = "objects"
        if self.operation == "ListObjectsV2":
            return "LIST"
        return f"{self.method} {key}".rstrip()


class S3Requests:
    """Record the requests of every S3 client cairn uses while active.

    As a context manager it watches the clients of every ``S3Location`` used inside the
    block (catalogs opened inside it included, from their very first request); :meth:`watch`
    adds an already open catalog or location. Thread-safe.
    """

    def __init__(self) -> None:
        self.requests: list[S3Request] = []
        self._lock = threading.Lock()
        self._clients: list[Any] = []
        self._active = False
        self._original: Any = None

    # -- recording ------------------------------------------------------------------------

    def _on_send(self, request: Any, **kwargs: Any) -> None:
        if not self._active:
            return
        parts = urlsplit(request.url)
        path = unquote(parts.path).lstrip("/")
        host_bucket = parts.hostname or ""
        bucket, _, key = path.partition("/")
        if ".s3." in host_bucket:  # virtual-hosted style: bucket.s3.region.amazonaws.com
            bucket, key = host_bucket.split(".s3.", 1)[0], path
        event = str(kwargs.get("event_name", ""))
        operation = event.rsplit(".", 1)[-1] if event else ""
        headers = tuple((_text(k), _text(v)) for k, v in request.headers.items())
        with self._lock:
            self.requests.append(S3Request(operation, request.method, bucket, key, headers))

    def _attach(self, client: Any) -> None:
        with self._lock:
            if any(c is client for c in self._clients):
                return
            self._clients.append(client)
        client.meta.events.register("before-send.s3", self._on_send)

    def watch(self, target: Any) -> None:
        """Also record requests of ``target``: a Catalog, an S3 store or an ``S3Location``."""
        from fsspec.asyn import sync

        location = _location_of(target)
        client = sync(location.fs.loop, location._client)
        self._attach(client)

    def __enter__(self) -> S3Requests:
        from cairn.objects._s3 import S3Location

        self._original = S3Location._client
        original = self._original
        counter = self

        async def _client(self: S3Location) -> Any:
            client = await original(self)
            counter._attach(client)
            return client

        S3Location._client = _client  # type: ignore[method-assign]
        self._active = True
        return self

    def __exit__(self, *exc: object) -> None:
        from cairn.objects._s3 import S3Location

        self._active = False
        if self._original is not None:
            S3Location._client = self._original  # type: ignore[method-assign]
            self._original = None
        with self._lock:
            clients, self._clients = self._clients, []
        for client in clients:
            client.meta.events.unregister("before-send.s3", self._on_send)

    # -- reading ------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self.requests)

    def __iter__(self) -> Iterator[S3Request]:
        return iter(list(self.requests))

    def clear(self) -> None:
        """Forget the requests recorded so far."""
        with self._lock:
            self.requests.clear()

    def take(self) -> list[S3Request]:
        """Return the requests recorded so far and forget them."""
        with self._lock:
            out, self.requests = self.requests, []
        return out

    def summary(self, root: str = "") -> list[str]:
        """Return :meth:`S3Request.short` of each request, in order."""
        return [r.short(root) for r in self.requests]

    def count(self, method: str | None = None, operation: str | None = None) -> int:
        """How many requests used ``method`` and/or were ``operation``."""
        return sum(
            1
            for r in self.requests
            if (method is None or r.method == method)
            and (operation is None or r.operation == operation)
        )


def _text(value: Any) -> str:
    return value.decode("latin-1") if isinstance(value, bytes) else str(value)


def _location_of(target: Any) -> Any:
    from cairn.objects._s3 import S3Location

    if isinstance(target, S3Location):
        return target
    for attr in ("location", "objects", "refs", "area"):
        inner = getattr(target, attr, None)
        if isinstance(inner, S3Location):
            return inner
        if inner is not None and isinstance(getattr(inner, "location", None), S3Location):
            return inner.location
    raise TypeError(f"{target!r} does not talk to S3")
