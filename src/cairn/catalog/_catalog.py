"""The Catalog: one object store, one ref store and a few plain files under one root URL."""

from __future__ import annotations

import json
import os
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
        from cairn.catalog._runs import Runs
        from cairn.catalog._lineage import Lineage

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
            url: a local path, ``file:///abs/path``, or ``memory://name`` (a catalog that lives
                in this process, shared by every ``from_url`` with the same name).
            storage_options: options for the storage backend (reserved for remote stores).

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
            raise InvalidURLError(
                f"{url!r}: S3 catalogs are not supported by this version of cairn yet; "
                "use a local folder or memory:// for now"
            )
        else:
            raise InvalidURLError(
                f"{url!r} uses the unsupported scheme {scheme!r}; cairn catalogs live in a local "
                "folder (a path or file:///abs/path) or in memory (memory://name)"
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
            self.area.write(MARKER, (json.dumps(marker, sort_keys=True) + "\n").encode(),
                            exclusive=True)
            self._read_marker()

    def ensure_initialized(self) -> None:
        """Create the catalog if it does not exist yet; every write path calls this first."""
        if not self._initialized:
            self._write_marker()

    # -- records -------------------------------------------------------------------------

    def put_record(self, record: Record) -> ObjectId:
        """Store ``record`` and return its object id."""
        self.ensure_initialized()
        return self.objects.put(encode_record(record))

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


def _local_root(url: str, scheme: str) -> Path:
    if scheme:
        parts = urlsplit(url)
        if parts.netloc not in ("", "localhost"):
            raise InvalidURLError(f"{url!r}: file URLs must name a local path (file:///abs/path)")
        path = unquote(parts.path)
    else:
        path = url
    return Path(os.path.abspath(os.path.expanduser(path)))
