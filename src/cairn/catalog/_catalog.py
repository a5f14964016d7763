"""The Catalog: one object store, one ref store and a few plain files under one root URL."""

from __future__ import annotations

import json
import os
import re
import threading
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from cairn.catalog._area import FileArea, LocalFileArea, MemoryFileArea
from cairn.catalog.records import (
    FORMAT_VERSION,
    AnyRecord,
    Record,
    decode_record,
    encode_record,
)
from cairn.errors import (
    AmbiguousIdError,
    CatalogFormatError,
    InvalidURLError,
    NotFoundError,
)
from cairn.objects import (
    HASH_ALGORITHM,
    LocalObjectStore,
    MemoryObjectStore,
    ObjectId,
    ObjectStore,
)
from cairn.refs import LocalRefStore, MemoryRefStore, RefStore

__all__ = ["MARKER", "Catalog"]

MARKER = "CAIRN"
"""The name of the format marker file at a catalog's root."""

_memory_catalogs: dict[str, tuple[MemoryObjectStore, MemoryRefStore, MemoryFileArea]] = {}
_memory_lock = threading.Lock()


class Catalog:
    """A cairn catalog: artifacts, runs and (soon) assets, stored as plain files.

    Open one with :meth:`from_url`; the module-level API (``cairn.artifacts``) uses the default
    catalog (see :func:`cairn.use_catalog`). A catalog is created on its first write; reading
    a catalog that was never written finds nothing and creates nothing.

    Attributes:
        url: the catalog's root URL, as given.
        objects: the content-addressed object store (``objects/``).
        refs: the ref store (``refs/``).
        artifacts: artifact operations (:class:`cairn.catalog.Artifacts`).
        assets: materializations and asset histories (:class:`cairn.catalog.AssetRecords`).
        runs: flow and task run records (:class:`cairn.catalog.Runs`).
        lineage: asset lineage and health queries (:class:`cairn.catalog.Lineage`).

    Example:
        >>> from cairn.catalog import Catalog
        >>> cat = Catalog.from_url("memory://catalog-docstring")
        >>> artifact_id = cat.artifacts.create("markdown", "# hi", key="greeting")
        >>> cat.artifacts.latest("greeting").id == artifact_id
        True
    """

    def __init__(self, url: str, objects: ObjectStore, refs: RefStore, area: FileArea) -> None:
        from cairn.catalog._artifacts import Artifacts
        from cairn.catalog._assets import AssetRecords
        from cairn.catalog._lineage import Lineage
        from cairn.catalog._runs import Runs

        self.url = url
        self.objects = objects
        self.refs = refs
        self.area = area
        self._initialized = False
        self._init_lock = threading.Lock()
        self.artifacts = Artifacts(self)
        self.assets = AssetRecords(self)
        self.runs = Runs(self)
        self.lineage = Lineage(self)

    def __repr__(self) -> str:
        return f"Catalog({self.url!r})"

    # -- opening -------------------------------------------------------------------------

    @classmethod
    def from_url(cls, url: str, storage_options: dict[str, Any] | None = None) -> Catalog:
        """Open the catalog at ``url`` (nothing is written until the first commit).

        Args:
            url: a local path, ``file:///abs/path``, ``s3://bucket/prefix`` (needs the ``s3``
                extra: ``pip install 'cairn[s3]'``), or ``memory://name`` (a catalog that lives
                in this process, shared by every ``from_url`` with the same name).
            storage_options: options for the storage backend. For ``s3://``, keyword
                arguments of ``s3fs.S3FileSystem`` (``endpoint_url``, ``profile``,
                ``client_kwargs``...); credentials, region and ``AWS_ENDPOINT_URL`` are
                otherwise found where the AWS tools find them. For a local folder,
                ``{"fsync": True}`` flushes every write to disk.

        Raises:
            InvalidURLError: the URL is empty or names a backend cairn cannot use.
            CatalogFormatError: the catalog was written by a newer cairn.
        """
        if not isinstance(url, str) or not url.strip():
            raise InvalidURLError(f"{url!r} is not a catalog URL: give a folder or a URL")
        if "\x00" in url:
            raise InvalidURLError(f"{url!r} is not a catalog URL: it contains a NUL character")
        scheme = _scheme(url)
        if scheme == "memory":
            name = url[len("memory://") :].strip("/")
            with _memory_lock:
                stores = _memory_catalogs.get(name)
                if stores is None:
                    stores = _memory_catalogs[name] = (
                        MemoryObjectStore(),
                        MemoryRefStore(),
                        MemoryFileArea(),
                    )
            cat = cls(url, *stores)
        elif scheme in ("", "file", "local"):
            root = _local_root(url, scheme)
            fsync = bool((storage_options or {}).get("fsync", False))
            cat = cls(
                url,
                LocalObjectStore(root / "objects", fsync=fsync),
                LocalRefStore(root / "refs", fsync=fsync),
                LocalFileArea(root),
            )
        elif scheme in ("s3", "s3a"):
            cat = cls(url, *_s3_stores(url, storage_options))
        else:
            raise InvalidURLError(
                f"{url!r} uses the unsupported scheme {scheme!r}; cairn catalogs live in a local "
                "folder (a path or file:///abs/path), in a bucket (s3://bucket/prefix) or in "
                "memory (memory://name)"
            )
        cat._read_marker()
        return cat

    @classmethod
    def init(cls, url: str, storage_options: dict[str, Any] | None = None) -> Catalog:
        """Create the catalog at ``url`` (write its format marker) and return it.

        Initializing an existing catalog is harmless: it is opened as it is.
        """
        cat = cls.from_url(url, storage_options)
        cat._write_marker(allow_foreign=True)
        return cat

    # -- the format marker ---------------------------------------------------------------

    def exists(self) -> bool:
        """Return whether the catalog has been created (its marker is present)."""
        return self._initialized or self.area.read(MARKER) is not None

    def _read_marker(self) -> None:
        raw = self.area.read(MARKER)
        if raw is None:
            return
        try:
            info = json.loads(raw)
            version = int(info["format_version"])
            algorithm = info["hash"]
        except (ValueError, KeyError, TypeError):
            raise CatalogFormatError(
                f"{self.url!r} has a damaged {MARKER} marker file: {raw[:100]!r}"
            ) from None
        if version > FORMAT_VERSION:
            raise CatalogFormatError(
                f"{self.url!r} uses catalog format {version}, newer than the {FORMAT_VERSION} "
                "this cairn understands: upgrade cairn (pip install -U cairn)"
            )
        if algorithm != HASH_ALGORITHM:
            raise CatalogFormatError(
                f"{self.url!r} names its objects with {algorithm!r}; this cairn uses "
                f"{HASH_ALGORITHM!r}"
            )
        self._initialized = True

    def _write_marker(self, *, allow_foreign: bool = False) -> None:
        with self._init_lock:
            if self._initialized:
                return
            if not allow_foreign and self.area.is_nonempty_foreign():
                raise CatalogFormatError(
                    f"{self.url!r} exists, is not empty and is not a cairn catalog (it has no "
                    f"{MARKER} file); choose another folder, or run 'cairn init {self.url}' to "
                    "make this one a catalog"
                )
            marker = {"format": "cairn", "format_version": FORMAT_VERSION, "hash": HASH_ALGORITHM}
            data = (json.dumps(marker, sort_keys=True) + "\n").encode()
            if self.area.write(MARKER, data, exclusive=True):
                # This process created the catalog: check once that the backend enforces the
                # conditional writes that refs rely on (S3-compatible stores may not).
                self.area.verify_exclusive_writes(MARKER, data)
                self._initialized = True  # it holds what we wrote: no need to read it back
            else:
                self._read_marker()

    def ensure_initialized(self) -> None:
        """Create the catalog if it does not exist yet; every write path calls this first."""
        if not self._initialized:
            self._write_marker()

    # -- records -------------------------------------------------------------------------

    def put_record(self, record: Record) -> ObjectId:
        """Store ``record`` and return its object id.

        The record is encoded first, so one that cannot be stored is refused before the
        catalog is created.
        """
        data = encode_record(record)
        self.ensure_initialized()
        return self.objects.put(data)

    def get_record(self, oid: str) -> AnyRecord:
        """Return the record stored as object ``oid`` (verified against its id).

        Raises:
            ObjectNotFoundError: no such object.
            WrongTypeError: the object is a blob, not a record.
        """
        return decode_record(self.objects.get(oid))

    def resolve_id(self, id_or_prefix: str) -> ObjectId:
        """Return the one object id that starts with ``id_or_prefix`` (6 or more hex chars).

        Raises:
            InvalidIdError: not hexadecimal, or shorter than 6 characters.
            NotFoundError: no object matches.
            AmbiguousIdError: several objects match.
        """
        matches = self.objects.find_prefix(id_or_prefix)
        if not matches:
            raise NotFoundError(f"no object with id {id_or_prefix!r} in {self.url!r}")
        if len(matches) > 1:
            raise AmbiguousIdError(id_or_prefix, matches)
        return matches[0]


def _scheme(url: str) -> str:
    if "://" not in url:
        return ""
    scheme = url.split("://", 1)[0].lower()
    if len(scheme) == 1:  # a Windows drive letter, such as C://x
        return ""
    return scheme


# Bucket names as AWS allows them (3 to 63 lowercase letters, digits, dots and dashes), and
# as older buckets and S3-compatible stores may have them (capitals, underscores).
_BUCKET_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{1,61}[A-Za-z0-9]")
# Keys of a catalog's files are "<prefix>/refs/<ref name of up to 512 characters>", and an S3
# key holds at most 1,024 bytes.
_MAX_S3_PREFIX = 500


def _s3_bucket_and_prefix(url: str) -> tuple[str, str]:
    """Return the bucket and key prefix of ``s3://bucket/prefix``, checked."""
    rest = url.split("://", 1)[1]
    bucket, _, prefix = rest.partition("/")
    prefix = prefix.strip("/")
    if not _BUCKET_RE.fullmatch(bucket):
        raise InvalidURLError(
            f"{url!r} does not name a bucket: expected s3://bucket/prefix, with a bucket name "
            "of 3 to 63 letters, digits, '.', '-' or '_'"
        )
    segments = prefix.split("/") if prefix else []
    bad = [s for s in segments if s in ("", ".", "..") or not s.isprintable() or "\\" in s]
    if bad or any(c in prefix for c in "?#"):
        raise InvalidURLError(
            f"{url!r}: the key prefix {prefix!r} must be '/'-separated names, without empty, "
            "'.' or '..' parts, control characters, backslashes, '?' or '#'"
        )
    if len(prefix.encode("utf-8")) > _MAX_S3_PREFIX:
        raise InvalidURLError(
            f"{url!r}: the key prefix is longer than {_MAX_S3_PREFIX} bytes, which leaves no "
            "room for cairn's keys in S3's 1,024"
        )
    return bucket, prefix


def _s3_stores(
    url: str, storage_options: dict[str, Any] | None
) -> tuple[ObjectStore, RefStore, FileArea]:
    """Return the object store, ref store and file area of the S3 catalog at ``url``.

    All three share one s3fs file system (one connection pool). s3fs is imported here, and
    only here, when an S3 catalog is opened.
    """
    from cairn.catalog._area import S3FileArea
    from cairn.objects._s3 import S3Location, S3ObjectStore, s3_filesystem
    from cairn.refs._s3 import S3RefStore

    bucket, prefix = _s3_bucket_and_prefix(url)
    root = S3Location(s3_filesystem(url, storage_options), bucket, prefix)
    return S3ObjectStore(root.child("objects")), S3RefStore(root.child("refs")), S3FileArea(root)


def _local_root(url: str, scheme: str) -> Path:
    if scheme:
        refused = f"{url!r}: file URLs must name a local path (file:///abs/path)"
        try:
            parts = urlsplit(url)
        except ValueError:  # "file://[": an unclosed IPv6 host
            raise InvalidURLError(refused) from None
        if parts.netloc not in ("", "localhost") or not parts.path:
            raise InvalidURLError(refused)
        path = unquote(parts.path)
        if "\x00" in path:  # percent-encoded: "%00"
            raise InvalidURLError(f"{url!r} is not a catalog URL: it contains a NUL character")
    else:
        path = url
    try:
        os.fsencode(path)
    except UnicodeEncodeError:  # a lone surrogate that no file name can hold
        raise InvalidURLError(f"{url!r} is not a catalog URL: it is not a valid path") from None
    return Path(os.path.abspath(os.path.expanduser(path)))
