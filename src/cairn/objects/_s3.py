"""Objects in an S3 bucket, and the one place where cairn talks to S3.

Every request cairn sends to S3 goes through :class:`S3Location`, which calls the
aiobotocore client of an ``s3fs.S3FileSystem`` directly (no s3fs listing cache, no
re-interpretation of conditional-write errors) and turns what botocore raises into cairn's
errors at this boundary. The object store, the ref store (``cairn.refs.S3RefStore``) and the
catalog's plain files all share one location's file system, so one catalog uses one
connection pool.

What cairn needs from the store (docs/FORMAT.md, "Compare-and-swap on S3"): ``PUT`` with
``If-None-Match: *`` and with ``If-Match: <ETag>``, answered with ``412 Precondition Failed``
when the condition does not hold; strong read-after-write consistency; and, for listings
that need no reads, ETags that are the MD5 of single-part uploads.

``s3fs`` (and with it botocore) is imported only when an S3 catalog is opened, so ``import
cairn`` stays fast and s3fs stays an optional extra (``pip install 'cairn[s3]'``).
"""

from __future__ import annotations

import asyncio
import base64
import email.utils
import io
import os
import time
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, NamedTuple

from cairn.errors import CorruptObjectError, InvalidURLError, ObjectNotFoundError, StorageError
from cairn.objects._base import ObjectStat, ObjectStore
from cairn.objects._ids import ObjectId, id_to_path, object_id, path_to_id

__all__ = ["S3Location", "S3Object", "S3ObjectStore", "S3RequestError", "s3_filesystem"]

INSTALL_HINT = "pip install 'cairn[s3]'"

# Bytes held in memory go in one PUT below this size, and in parts above it (S3 takes up to
# 5 GB in one PUT; parts bound the cost of a retry). Files are streamed in parts from a smaller
# size on, so that a big file is never read whole into memory.
_MULTIPART_THRESHOLD = 100 * 2**20
_FILE_MULTIPART_THRESHOLD = 16 * 2**20
# Parts of 8 MiB (as the AWS CLI sends them; S3's least is 5 MiB), bigger when an object
# would need more than S3's 10,000 parts; at most _UPLOAD_CONCURRENCY parts are in flight at
# once, each streamed from its source in small pieces (see _Range).
_PART_SIZE = 8 * 2**20
_MAX_PARTS = 10_000
_UPLOAD_CONCURRENCY = 8
# How many GETs one batch of reads keeps in flight.
_READ_BATCH = 32
# An object found already stored is freshened by copying it onto itself: one CopyObject
# up to S3's limit for it (5 GiB), in parts of 1 GiB above.
_COPY_LIMIT = 5 * 2**30
_COPY_PART = 2**30
# A DeleteObjects request names at most this many keys (S3's maximum).
_DELETE_BATCH = 1000
# A GET whose body breaks off mid-way is repeated this many times (reads are idempotent).
_READ_ATTEMPTS = 3
# "409 ConditionalRequestConflict": another conditional write to the same key is in progress.
# For an object (identical bytes under one name) waiting a moment and trying again is right.
_CONFLICT_ATTEMPTS = 6
# botocore's retries, unless the user configured them (storage_options' config_kwargs, the
# AWS_RETRY_MODE / AWS_MAX_ATTEMPTS variables, or the profile's retry_mode / max_attempts):
# see s3_filesystem.
RETRIES: dict[str, Any] = {"mode": "standard", "total_max_attempts": 5}
# How many connections a catalog's client keeps open at most (botocore's default is 10), so
# that many threads committing at once each have one; connections open only when needed.
MAX_POOL_CONNECTIONS = 64


class S3RequestError(StorageError):
    """An S3 request was answered with an error (or never answered).

    Attributes:
        status: the HTTP status (412, 404, ...), or None when no response arrived.
        code: S3's error code (``PreconditionFailed``, ``NoSuchKey``, ...), or ``""``.
        retried: the request was sent more than once as far as botocore knows (or no answer
            came at all), so an earlier attempt may have taken effect even though this answer
            says otherwise. aiohttp may also resend a request once, silently, when its
            connection drops: ``False`` does not prove the request was sent only once.
    """

    def __init__(self, message: str, status: int | None, code: str, retried: bool) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.retried = retried


class S3Object(NamedTuple):
    """What a GET of an S3 object returns: its bytes, its ETag (quoted) and its metadata."""

    body: bytes
    etag: str
    metadata: dict[str, str]


def s3_filesystem(url: str, storage_options: dict[str, Any] | None = None) -> Any:
    """Return an ``s3fs.S3FileSystem`` for the catalog at ``url``.

    Credentials, region and endpoint come from where botocore finds them (the ``AWS_*``
    environment variables, including ``AWS_ENDPOINT_URL``, then ``~/.aws/config`` and
    ``~/.aws/credentials``, then instance roles); ``storage_options`` are passed to
    ``S3FileSystem`` as they are, for anything else (``endpoint_url``, ``profile``, ``key`` and
    ``secret``, ``client_kwargs``, ``config_kwargs``, ``anon``...). Each call makes a new file
    system (and so reads the environment again) unless ``skip_instance_cache=False`` is given.

    Raises:
        InvalidURLError: s3fs is not installed, or rejects ``storage_options``.
    """
    try:
        import s3fs
    except ImportError as exc:
        raise InvalidURLError(
            f"{url!r} is an S3 catalog and S3 support needs the s3fs package: {INSTALL_HINT}"
        ) from exc
    options = dict(storage_options or {})
    # fsspec would hand back a cached file system made with the same arguments, whose client
    # holds the credentials and endpoint of the environment at that time; a catalog opened
    # later must see the environment as it is now, as a new boto3 client would.
    options.setdefault("skip_instance_cache", True)
    config = options.get("config_kwargs")
    if config is None or isinstance(config, dict):
        config = dict(config or {})
        if not _retries_configured(options):
            config["retries"] = dict(RETRIES)
        # One catalog, one client, shared by every thread of the process: botocore's 10
        # connections would make an 11th concurrent request wait for a free one.
        config.setdefault("max_pool_connections", MAX_POOL_CONNECTIONS)
        options["config_kwargs"] = config
    try:
        return s3fs.S3FileSystem(**options)
    except (TypeError, ValueError) as exc:
        raise InvalidURLError(
            f"{url!r}: s3fs.S3FileSystem refused storage_options {sorted(options)}: {exc}"
        ) from exc


def _retries_configured(options: dict[str, Any]) -> bool:
    """Whether the user chose botocore's retry settings, which cairn then leaves alone.

    Retries are safe for every request cairn sends (see docs/FORMAT.md, "Lost responses"):
    object PUTs are create-only, ref PUTs carry a write token, reads are idempotent. cairn's
    default (:data:`RETRIES`) is botocore's "standard" mode with 5 attempts: it retries
    connection errors, timeouts, 500, 502, 503 (SlowDown), 504 and throttling, with jittered
    exponential backoff (at most 20 s a wait).
    """
    if "retries" in (options.get("config_kwargs") or {}):
        return True
    if os.environ.get("AWS_RETRY_MODE") or os.environ.get("AWS_MAX_ATTEMPTS"):
        return True
    try:
        import botocore.session

        session = botocore.session.Session(profile=options.get("profile"))
        scoped = session.get_scoped_config()
    except Exception:  # a missing profile is reported when the client is made
        return False
    return "retry_mode" in scoped or "max_attempts" in scoped


class S3Location:
    """A bucket and a key prefix, reached through one s3fs file system's S3 client.

    Args:
        fs: an ``s3fs.S3FileSystem``.
        bucket: the bucket name.
        prefix: the key prefix (no leading or trailing ``/``; ``""`` for the bucket's root).

    A location pickles as its file system's settings (fsspec rebuilds the file system in the
    receiving process), never as a live connection, so stores built on it can be handed to
    child processes.
    """

    page_size = 1000
    """How many keys one LIST request asks for (S3's maximum)."""

    def __init__(self, fs: Any, bucket: str, prefix: str = "") -> None:
        self.fs = fs
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self._endpoint_url: str | None = None

    def __repr__(self) -> str:
        return f"S3Location({self.url()!r})"

    def child(self, name: str) -> S3Location:
        """Return the location ``name`` below this one."""
        child = S3Location(self.fs, self.bucket, self.key(name))
        child.page_size = self.page_size
        return child

    def key(self, relpath: str = "") -> str:
        """Return the S3 key of ``relpath`` (a checked, ``/``-separated path) below here."""
        if not relpath:
            return self.prefix
        return f"{self.prefix}/{relpath}" if self.prefix else relpath

    def url(self, relpath: str = "") -> str:
        """Return ``s3://bucket/key`` of ``relpath`` below here, for messages."""
        key = self.key(relpath)
        return f"s3://{self.bucket}/{key}" if key else f"s3://{self.bucket}"

    # -- requests --------------------------------------------------------------------------

    def call(self, operation: str, **params: Any) -> dict[str, Any]:
        """Send one S3 request (``put_object``, ``delete_object``, ...) to this bucket.

        Raises:
            S3RequestError: S3 answered with an error, or the request failed on the way.
        """
        where = params.get("Key", params.get("Prefix", ""))
        return self._sync(operation, where, self._call, operation, params)  # type: ignore[no-any-return]

    def read(self, key: str) -> S3Object | None:
        """Return the object at ``key``, or None if there is none."""
        return self._sync("get_object", key, self._read, key)  # type: ignore[no-any-return]

    def read_many(self, keys: Sequence[str]) -> list[S3Object | None]:
        """Return what :meth:`read` would for each key, reading up to 32 at a time."""
        first = keys[0] if keys else ""
        return self._sync("get_object", first, self._read_many, list(keys))  # type: ignore[no-any-return]

    def upload(
        self,
        key: str,
        size: int,
        pread: Any,
        *,
        part_size: int,
        concurrency: int,
        **complete: Any,
    ) -> None:
        """Create ``key`` by a multipart upload of ``size`` bytes, streamed in parts.

        ``pread(length, offset)`` returns up to ``length`` bytes at ``offset`` (as
        ``os.pread`` does; it may be called from any thread). Each part is sent as a stream
        over its range, read in small pieces as botocore checksums it and aiohttp sends it,
        so an upload holds little more than those pieces in memory, whatever its size; at
        most ``concurrency`` parts are in flight at once. ``complete`` goes with the
        completing request (``IfNoneMatch="*"``). An upload that fails is aborted (best
        effort), so that no parts are left behind.

        Raises:
            S3RequestError: a request failed; ``status`` 412 if the completing request's
                condition did not hold.
        """
        self._sync(
            "multipart upload",
            key,
            self._upload,
            key,
            size,
            pread,
            part_size,
            concurrency,
            complete,
        )

    def head(self, key: str) -> dict[str, Any] | None:
        """Return the metadata of the object at ``key``, or None if there is none."""
        try:
            return self.call("head_object", Key=key)
        except S3RequestError as exc:
            if exc.status == 404:
                return None
            raise

    def endpoint(self) -> str:
        """Return the endpoint URL this location's client sends its requests to."""
        if self._endpoint_url is None:
            self._endpoint_url = str(self._sync("connect", "", self._endpoint))
        return self._endpoint_url

    async def _endpoint(self) -> str:
        return str((await self._client()).meta.endpoint_url)

    def pages(self, prefix: str, delimiter: str | None = None) -> Iterator[dict[str, Any]]:
        """Yield the pages of a ``ListObjectsV2`` of the keys that start with ``prefix``.

        One request per page of up to :attr:`page_size` keys, in the byte order of the keys.
        """
        params: dict[str, Any] = {"Prefix": prefix, "MaxKeys": self.page_size}
        if delimiter:
            params["Delimiter"] = delimiter
        while True:
            page = self.call("list_objects_v2", **params)
            yield page
            if not page.get("IsTruncated"):
                return
            params["ContinuationToken"] = page["NextContinuationToken"]

    def iter_keys(self, prefix: str) -> Iterator[tuple[str, str]]:
        """Yield ``(key, ETag)`` of every object whose key starts with ``prefix``, by key."""
        for page in self.pages(prefix):
            for entry in page.get("Contents", ()):
                yield entry["Key"], entry.get("ETag", "")

    # -- the bridge to the client's event loop ------------------------------------------------

    def _sync(self, operation: str, key: str, func: Any, *args: Any) -> Any:
        from fsspec.asyn import sync

        try:
            return sync(self.fs.loop, func, *args)
        except Exception as exc:
            raise self._translate(exc, operation, key) from exc

    async def _client(self) -> Any:
        await self.fs.set_session()
        return await self.fs.get_s3(self.bucket)

    async def _call(self, operation: str, params: dict[str, Any]) -> Any:
        client = await self._client()
        return await getattr(client, operation)(Bucket=self.bucket, **params)

    async def _read(self, key: str) -> S3Object | None:
        import aiohttp
        from botocore.exceptions import BotoCoreError, ClientError

        client = await self._client()
        for attempt in range(1, _READ_ATTEMPTS + 1):
            try:
                response = await client.get_object(Bucket=self.bucket, Key=key)
            except ClientError as exc:
                status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
                if status == 404 and _code(exc) != "NoSuchBucket":
                    return None
                raise
            body = response["Body"]
            try:
                data = await body.read()
            except (aiohttp.ClientError, BotoCoreError, OSError, asyncio.TimeoutError):
                # The response broke off mid-body: reads are idempotent, so ask again (the
                # caller checks what it reads against its hash or its ETag).
                if attempt == _READ_ATTEMPTS:
                    raise
                continue
            finally:
                body.close()
            return S3Object(
                bytes(data), str(response.get("ETag", "")), dict(response.get("Metadata") or {})
            )
        raise AssertionError("unreachable")  # pragma: no cover

    async def _read_many(self, keys: list[str]) -> list[S3Object | None]:
        out: list[S3Object | None] = []
        for start in range(0, len(keys), _READ_BATCH):
            batch = keys[start : start + _READ_BATCH]
            out.extend(await asyncio.gather(*(self._read(key) for key in batch)))
        return out

    async def _upload(
        self,
        key: str,
        size: int,
        pread: Any,
        part_size: int,
        concurrency: int,
        complete: dict[str, Any],
    ) -> None:
        client = await self._client()
        created = await client.create_multipart_upload(Bucket=self.bucket, Key=key)
        upload_id = created["UploadId"]
        slots = asyncio.Semaphore(concurrency)

        async def part(number: int, offset: int) -> dict[str, Any]:
            async with slots:
                body = _Range(pread, offset, min(part_size, size - offset))
                sent = await client.upload_part(
                    Bucket=self.bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=body
                )
                return {"PartNumber": number, "ETag": sent["ETag"]}

        tasks = [
            asyncio.ensure_future(part(number, offset))
            for number, offset in enumerate(range(0, max(size, 1), part_size), 1)
        ]
        try:
            parts = await asyncio.gather(*tasks)
            await client.complete_multipart_upload(
                Bucket=self.bucket,
                Key=key,
                UploadId=upload_id,
                MultipartUpload={"Parts": list(parts)},
                **complete,
            )
        except BaseException:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            try:
                await client.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id)
            except Exception:
                pass  # already completed (a lost answer), or unreachable: nothing more to do
            raise

    def _translate(self, exc: Exception, operation: str, key: str) -> S3RequestError:
        """Turn an error raised by botocore, aiohttp or s3fs into a cairn error."""
        from botocore.exceptions import (
            ClientError,
            EndpointConnectionError,
            NoCredentialsError,
            ParamValidationError,
        )

        where = f"s3://{self.bucket}/{key}" if key else f"s3://{self.bucket}"
        what = f"S3 {operation} of {where!r}"
        if isinstance(exc, ClientError):
            meta = exc.response.get("ResponseMetadata", {})
            status = meta.get("HTTPStatusCode")
            code = _code(exc)
            message = exc.response.get("Error", {}).get("Message") or str(exc)
            hint = _HINTS.get(code, "")
            if code == "NoSuchBucket":
                hint = f": create the bucket {self.bucket!r} first, or fix the catalog URL"
            retried = bool(meta.get("RetryAttempts"))
            return S3RequestError(
                f"{what} failed: {code or status} ({message}){hint}", status, code, retried
            )
        if isinstance(exc, NoCredentialsError):
            detail = (
                "no AWS credentials found: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY or "
                "AWS_PROFILE, or pass storage_options={'anon': True} for a public bucket"
            )
        elif isinstance(exc, EndpointConnectionError):
            detail = f"could not connect to the endpoint ({exc}); check AWS_ENDPOINT_URL"
        elif isinstance(exc, ParamValidationError):
            detail = (
                f"botocore refused the request ({exc}); cairn needs botocore 1.40.61 or newer "
                "for conditional writes: pip install -U 'cairn[s3]'"
            )
        else:
            detail = f"{type(exc).__name__}: {exc}"
        # No answer (or one that could not be read): the request may or may not have taken
        # effect, which ``retried`` says to callers that care.
        return S3RequestError(f"{what} failed: {detail}", None, "", True)


class _Range(io.RawIOBase):
    """A read-only, seekable stream over ``length`` bytes at ``offset`` of a source.

    The bytes are read on demand with ``pread(size, offset)``, piece by piece: botocore
    reads the stream to checksum (and, over plain HTTP, sign) it, then aiohttp reads it in
    64 KiB pieces as it sends; a retry seeks back to the start.
    """

    def __init__(self, pread: Any, offset: int, length: int) -> None:
        super().__init__()
        self._pread = pread
        self._offset = offset
        self._length = length
        self._pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._length}[whence]
        self._pos = min(max(base + offset, 0), self._length)
        return self._pos

    def readinto(self, buffer: Any) -> int:
        want = min(len(buffer), self._length - self._pos)
        if want <= 0:
            return 0
        data = self._pread(want, self._offset + self._pos)
        if not data:
            raise StorageError("the data being stored shrank while it was being uploaded")
        buffer[: len(data)] = data
        self._pos += len(data)
        return len(data)


_HINTS = {
    "AccessDenied": ": check the AWS credentials in use and the bucket's policy",
    "InvalidAccessKeyId": ": check AWS_ACCESS_KEY_ID (or the profile in use)",
    "SignatureDoesNotMatch": ": check AWS_SECRET_ACCESS_KEY (or the profile in use)",
}


def _hex(checksum: str) -> str:
    """Return a base64 SHA-256 checksum (as S3 reports it) in hex, as object ids are."""
    try:
        return base64.b64decode(checksum).hex()
    except ValueError:
        return checksum


def _code(exc: Any) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


class S3ObjectStore(ObjectStore):
    """Objects under an S3 prefix (``s3://bucket/catalog/objects/ab/cdef...``).

    Every object is created with ``If-None-Match: *``: a ``412`` means the name is taken,
    and since a name is the hash of the bytes, by the same bytes, so that is success. S3
    publishes a PUT whole or not at all, so a reader never sees a partial object.

    An object found already stored (the ``412``, or the ``HEAD`` before a big upload) is
    freshened: copied onto itself (``CopyObject`` with ``MetadataDirective: REPLACE``), which
    makes its ``LastModified`` now. That costs one request, and only when the bytes were
    already there; a commit writes new objects and pays nothing more.

    Args:
        location: the prefix that holds the fan-out folders (a catalog's ``objects/``).
    """

    def __init__(self, location: S3Location) -> None:
        self.location = location

    def _key(self, oid: str) -> str:
        return self.location.key(id_to_path(oid))

    def put(self, data: bytes) -> ObjectId:
        # docstring inherited
        oid = object_id(data)
        if len(data) >= _MULTIPART_THRESHOLD:
            view = memoryview(data)
            self._upload(oid, len(data), lambda size, start: view[start : start + size])
        else:
            self._create(oid, bytes(data))
        return oid

    def put_file(self, path: str | os.PathLike[str]) -> ObjectId:
        """Store the content of the local file at ``path`` and return its id.

        A file of 16 MiB or more is never read whole: a first pass hashes it (its id names
        the S3 key, which a multipart upload needs up front), then it is uploaded in parts of
        8 MiB, at most 8 at a time, each streamed from the file in small pieces, so memory
        stays flat whatever the file's size. The caller must not change the file meanwhile
        (cairn passes only its own temporary files). A smaller file is one PUT.
        """
        local = os.fspath(path)
        try:
            size = os.path.getsize(local)
            if size < _FILE_MULTIPART_THRESHOLD:
                with open(local, "rb") as f:
                    return self.put(f.read())  # named by the hash of the bytes sent
            oid, size = self._hash_file(local)
            fd = os.open(local, os.O_RDONLY | getattr(os, "O_BINARY", 0))
        except OSError as exc:
            raise StorageError(f"could not read {local!r}: {exc}") from exc
        try:
            self._upload(oid, size, lambda length, offset: os.pread(fd, length, offset))
        finally:
            os.close(fd)
        return oid

    def _create(self, oid: ObjectId, data: bytes) -> None:
        key = self._key(oid)
        for attempt in range(1, _CONFLICT_ATTEMPTS + 1):
            try:
                self.location.call("put_object", Key=key, Body=data, IfNoneMatch="*")
                return
            except S3RequestError as exc:
                if exc.status == 412:
                    # Already stored: for content-addressed data that is success, once
                    # freshened. Gone again before the copy (gc took it): store it again.
                    if self._freshen(key, len(data)):
                        return
                    continue
                if exc.status != 409 or attempt == _CONFLICT_ATTEMPTS:
                    raise
            time.sleep(0.05 * 2**attempt)

    def _upload(self, oid: ObjectId, size: int, read: Any) -> None:
        """Create a big object by a multipart upload, completed with ``If-None-Match: *``.

        One ``HEAD`` first: an object that is already stored is not uploaded again (a
        request saved is nothing beside the parts a repeated upload would send).
        """
        key = self._key(oid)
        if self.location.head(key) is not None and self._freshen(key, size):
            return
        part_size = max(_PART_SIZE, -(-size // _MAX_PARTS))
        try:
            self.location.upload(
                key,
                size,
                read,
                part_size=part_size,
                concurrency=_UPLOAD_CONCURRENCY,
                IfNoneMatch="*",
            )
        except S3RequestError as exc:
            if exc.status == 412 and self._freshen(key, size):
                return  # stored meanwhile, by the same bytes: success
            # A lost answer to the completing request, repeated after the first attempt took
            # effect, may come back as 404 NoSuchUpload (or 409 while a conditional write
            # is in progress): the object then exists.
            if (exc.status in (404, 409) or exc.retried) and self.location.head(key) is not None:
                return
            raise StorageError(
                f"could not store object {oid!r} at {self.describe(oid)!r}: {exc}"
            ) from exc

    def copy_from(self, source: S3ObjectStore, oid: str) -> int | None:
        """Copy object ``oid`` from ``source`` inside S3 (no bytes through this machine).

        For sync between two S3 catalogs behind one endpoint. One ``HEAD`` of the source
        gives the object's size and ETag (and the SHA-256 S3 keeps, if it was stored with
        one: a mismatch stops here, before anything is written). Then one ``CopyObject``,
        pinned to that ETag (``x-amz-copy-source-if-match``), created only if the key is free
        (``If-None-Match: *``) and asking S3 for the SHA-256 of the bytes it copied
        (``x-amz-checksum-algorithm``), which must equal the id: otherwise the copy is
        deleted at once and :class:`~cairn.errors.CorruptObjectError` raised. No ref reaches
        a copy before it is verified (sync moves refs last), so a corrupt object never
        becomes part of the destination.

        Returns:
            The object's size, or None when the copy cannot be made here (the endpoints
            differ, access is denied across the two buckets, or the store does not report
            the checksum): the caller then copies through the client, which verifies the
            bytes itself.

        Raises:
            ObjectNotFoundError: ``source`` has no such object.
            CorruptObjectError: the source's bytes do not hash to ``oid``.
        """
        oid = self._check(oid)
        if self.location.endpoint() != source.location.endpoint():
            return None
        expected = base64.b64encode(bytes.fromhex(oid)).decode("ascii")
        src_key = source._key(oid)
        try:
            head = source.location.call("head_object", Key=src_key, ChecksumMode="ENABLED")
        except S3RequestError as exc:
            if exc.status == 404:
                raise ObjectNotFoundError(oid, source.describe(oid)) from exc
            raise
        stored = head.get("ChecksumSHA256")
        if stored and "-" not in stored and stored != expected:
            raise CorruptObjectError(oid, _hex(stored), source.describe(oid))
        size = int(head.get("ContentLength", 0))
        try:
            result = self.location.call(
                "copy_object",
                Key=self._key(oid),
                CopySource={"Bucket": source.location.bucket, "Key": src_key},
                CopySourceIfMatch=head.get("ETag", ""),
                ChecksumAlgorithm="SHA256",
                IfNoneMatch="*",
            )
        except S3RequestError as exc:
            if exc.status == 412 and self._freshen(self._key(oid), size):
                return size  # already stored, by the same bytes: freshened, as put does
            if exc.status in (403, 501) or exc.code in ("NotImplemented", "InvalidRequest"):
                return None
            raise
        got = result.get("CopyObjectResult", {})
        copied = got.get("ChecksumSHA256")
        if copied == expected:
            return size
        # Wrong bytes, or no checksum to tell: remove exactly this copy, and refuse (wrong)
        # or leave the object to the caller's verified copy through the client (unknown).
        try:
            self.location.call("delete_object", Key=self._key(oid), IfMatch=got.get("ETag", ""))
        except S3RequestError:
            pass  # unreachable from any ref either way; gc reclaims it
        if copied:
            raise CorruptObjectError(oid, _hex(copied), source.describe(oid))
        return None

    def get(self, oid: str) -> bytes:
        # docstring inherited
        oid = self._check(oid)
        got = self.location.read(self._key(oid))
        if got is None:
            raise ObjectNotFoundError(oid, self.describe(oid))
        return self._verify(oid, got.body)

    def exists(self, oid: str) -> bool:
        # docstring inherited
        return self.location.head(self._key(self._check(oid))) is not None

    def iter_ids(self, prefix: str = "") -> Iterator[ObjectId]:
        # docstring inherited
        # One LIST of the whole prefix (1,000 keys a request), not one per fan-out folder.
        base = self.location.key("") + "/"
        wanted = f"{prefix[:2]}/{prefix[2:]}" if len(prefix) > 2 else prefix
        for key, _ in self.location.iter_keys(base + wanted):
            fanout, _, name = key[len(base) :].partition("/")
            oid = path_to_id(fanout, name) if len(fanout) == 2 else None
            if oid is not None:
                yield oid

    def delete(self, oid: str) -> bool:
        # docstring inherited
        # S3 answers a DELETE the same whether or not the key existed: look first (gc only).
        key = self._key(self._check(oid))
        if self.location.head(key) is None:
            return False
        self.location.call("delete_object", Key=key)
        return True

    def _freshen(self, key: str, size: int) -> bool:
        """Make the object at ``key`` look just stored; return False if it is not there.

        S3 has no "touch": the object is copied onto itself, which sets its
        ``LastModified`` (``MetadataDirective: REPLACE``, since S3 refuses a copy that
        changes nothing; objects carry no metadata to lose). Above 5 GiB, the largest
        single copy, it is copied in parts.
        """
        source = {"Bucket": self.location.bucket, "Key": key}
        try:
            if size <= _COPY_LIMIT:
                self.location.call(
                    "copy_object", Key=key, CopySource=source, MetadataDirective="REPLACE"
                )
            else:
                self._copy_in_parts(key, source, size)
        except S3RequestError as exc:
            if exc.status == 404:
                return False
            raise
        return True

    def _copy_in_parts(self, key: str, source: dict[str, str], size: int) -> None:
        call = self.location.call
        upload_id = call("create_multipart_upload", Key=key)["UploadId"]
        try:
            parts = []
            for number, start in enumerate(range(0, size, _COPY_PART), 1):
                end = min(start + _COPY_PART, size) - 1
                done = call(
                    "upload_part_copy", Key=key, UploadId=upload_id, PartNumber=number,
                    CopySource=source, CopySourceRange=f"bytes={start}-{end}",
                )  # fmt: skip
                parts.append({"PartNumber": number, "ETag": done["CopyPartResult"]["ETag"]})
            call(
                "complete_multipart_upload", Key=key, UploadId=upload_id,
                MultipartUpload={"Parts": parts},
            )  # fmt: skip
        except BaseException:
            try:
                call("abort_multipart_upload", Key=key, UploadId=upload_id)
            except S3RequestError:
                pass  # left for gc, which aborts stale uploads
            raise

    def iter_stats(self, prefix: str = "") -> Iterator[ObjectStat]:
        # docstring inherited
        # The LIST gives each key's size and LastModified: no request per object.
        base = self.location.key("") + "/"
        wanted = f"{prefix[:2]}/{prefix[2:]}" if len(prefix) > 2 else prefix
        for page in self.location.pages(base + wanted):
            for entry in page.get("Contents", ()):
                fanout, _, name = entry["Key"][len(base) :].partition("/")
                oid = path_to_id(fanout, name) if len(fanout) == 2 else None
                if oid is not None:
                    yield ObjectStat(oid, int(entry["Size"]), entry["LastModified"].timestamp())

    def now(self) -> float:
        """Return the time S3 gives in the ``Date`` of a response (one small LIST).

        ``LastModified`` is stamped by S3's clock, which this machine's may not agree with.
        Both have whole seconds: an object stored in the second the ``Date`` names is not
        earlier than it.
        """
        response = self.location.call(
            "list_objects_v2", Prefix=self.location.key("") + "/", MaxKeys=1
        )
        date = response.get("ResponseMetadata", {}).get("HTTPHeaders", {}).get("date")
        if date:
            try:
                return email.utils.parsedate_to_datetime(date).timestamp()
            except (TypeError, ValueError):
                pass
        return time.time()

    checks_time_on_delete = False

    def delete_stale(self, oids: Iterable[str], before: float) -> Iterator[ObjectId]:
        """Delete ``oids`` with ``DeleteObjects``, up to 1,000 keys a request.

        S3 cannot delete a key on the condition of its ``LastModified`` (outside directory
        buckets), so ``before`` is not checked again here: the caller listed the objects
        (:meth:`iter_stats`) and chose those older than ``before``. Keys already gone count
        as deleted (S3 does not tell them apart).

        Raises:
            StorageError: S3 refused to delete some keys (after yielding the others).
        """
        batch: list[ObjectId] = []
        for oid in oids:
            batch.append(self._check(oid))
            if len(batch) == _DELETE_BATCH:
                yield from self._delete_batch(batch)
                batch = []
        if batch:
            yield from self._delete_batch(batch)

    def _delete_batch(self, oids: list[ObjectId]) -> Iterator[ObjectId]:
        keys = {self._key(oid): oid for oid in oids}
        result = self.location.call(
            "delete_objects", Delete={"Objects": [{"Key": k} for k in keys], "Quiet": True}
        )
        errors = result.get("Errors") or []
        failed = {e.get("Key") for e in errors}
        yield from (oid for key, oid in keys.items() if key not in failed)
        if errors:
            first = errors[0]
            raise StorageError(
                f"S3 refused to delete {len(errors)} of {len(keys)} objects under "
                f"{self.location.url()!r}, such as {first.get('Key')!r}: "
                f"{first.get('Code')} ({first.get('Message')})"
            )

    def remove_leftovers(self, before: float, *, dry_run: bool = False) -> int:
        """Abort the multipart uploads below ``objects/`` begun before ``before``.

        An upload whose writer died keeps its parts (and S3 bills them) until it is
        aborted; one still going on is begun after ``before`` unless ``before`` is now
        (``--prune=now``), when a big upload in progress is aborted too and its commit fails
        (nothing else is lost: its ref had not moved).
        """
        params: dict[str, Any] = {"Prefix": self.location.key("") + "/"}
        count = 0
        while True:
            page = self.location.call("list_multipart_uploads", **params)
            for upload in page.get("Uploads", ()):
                initiated = upload.get("Initiated")
                if initiated is None or initiated.timestamp() >= before:
                    continue
                count += 1
                if dry_run:
                    continue
                try:
                    self.location.call(
                        "abort_multipart_upload", Key=upload["Key"], UploadId=upload["UploadId"]
                    )
                except S3RequestError as exc:
                    if exc.status != 404:  # completed or aborted meanwhile
                        raise
            if not page.get("IsTruncated"):
                return count
            params["KeyMarker"] = page.get("NextKeyMarker", "")
            params["UploadIdMarker"] = page.get("NextUploadIdMarker", "")

    def describe(self, oid: str) -> str:
        # docstring inherited
        return self.location.url(f"{oid[:2]}/{oid[2:]}")
